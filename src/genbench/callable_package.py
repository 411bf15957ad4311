"""Packages that are also the API function of the same name.

``genbench.train`` and ``genbench.report`` are both subpackages (``genbench.train.adam``,
``genbench.report.grid``) and public functions (``genbench.train("moons", "mlp-vae", ...)``,
``genbench.report(folder)``). A module attribute can only be one of the two, so the package
module itself is made callable: calling it calls the function, and its submodules stay
reachable as attributes and by ``import ... as``.
"""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


class CallablePackage(types.ModuleType):
    """A package whose call is its ``__wrapped__`` function's (``inspect.signature``
    follows ``__wrapped__``, as for a ``functools.wraps`` wrapper)."""

    __wrapped__: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)


def make_callable(package: types.ModuleType, function: Callable[..., Any]) -> None:
    """Make ``package`` call ``function``, with its docstring ahead of the package's for ``help``."""
    package.__class__ = CallablePackage
    package.__wrapped__ = function  # type: ignore[attr-defined]
    package.__doc__ = f"{function.__doc__}\n\nAlso the package {package.__name__}:\n\n{package.__doc__}"
