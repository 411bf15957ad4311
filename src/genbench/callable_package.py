"""Packages that are also the API function of the same name.

``genbench.train`` and ``genbench.report`` are both subpackages (``genbench.train.adam``,
``genbench.report.grid``) and public functions (``genbench.train("moons", "mlp-vae", ...)``,
``genbench.report(folder)``). A module attribute can only be one of the two, so the package
module itself is made callable: calling it calls :mod:`genbench.api`'s function of the
same name, and its submodules stay reachable as attributes and by ``import ... as``.
"""
from __future__ import annotations

import inspect
import sys
import types
from typing import Any


class CallablePackage(types.ModuleType):
    """A package whose call forwards to ``genbench.api.<last part of its name>``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.api_function()(*args, **kwargs)

    def api_function(self) -> Any:
        from genbench import api  # imported on call: genbench.api imports this package

        return getattr(api, self.__name__.rpartition(".")[2])


def make_callable(module_name: str) -> None:
    """Turn the (already imported) package ``module_name`` into a :class:`CallablePackage`."""
    sys.modules[module_name].__class__ = CallablePackage


def describe_call(package: CallablePackage) -> None:
    """Give the package the API function's signature and docstring, for ``help`` and
    ``inspect.signature``, once :mod:`genbench.api` is importable."""
    function = package.api_function()
    package.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    package.__doc__ = f"{function.__doc__}\n\nAlso the package {package.__name__}:\n\n{package.__doc__}"
