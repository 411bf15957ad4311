"""A name -> object mapping whose look-up errors list the valid names.

Datasets, models, trainers, metrics, feature extractors and executors each keep one
:class:`Registry`; adding a built-in entry is one line in the family's ``__init__``, and
a plugin adds its own through ``genbench.register_*``. Each entry remembers the plugin
that registered it (None for built-ins), so a run can record the plugins it depends on.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from genbench.errors import GenbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (e.g. "dataset"), looked up with helpful errors."""

    instances: list[Registry] = []  # every registry, so a plugin that fails half-way can be undone

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._providers: dict[str, str | None] = {}  # name -> source of the plugin that registered it
        Registry.instances.append(self)

    def register(self, name: str, entry: T) -> T:
        from genbench.plugins import loading_source

        if not isinstance(name, str) or not name or not name.isprintable() or name != name.strip():
            raise GenbenchError(f"{self.kind} name {name!r} is not usable: give a non-empty name without spaces "
                                f"at either end or control characters")
        source = loading_source()
        if name in self._entries:
            first = self._providers[name] or "genbench itself"
            raise GenbenchError(f"{self.kind} {name!r} is registered twice (first by {first}, again by "
                                f"{source or 'genbench itself'}); rename one of them")
        self._entries[name] = entry
        self._providers[name] = source
        return entry

    def get(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise GenbenchError(
                f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(self._entries)} "
                f"(or load the plugin that registers it with --plugin)"
            )
        return self._entries[name]

    def forget(self, source: str) -> None:
        """Remove every entry the plugin ``source`` registered."""
        for name in [n for n, s in self._providers.items() if s == source]:
            del self._entries[name], self._providers[name]

    def provider(self, name: str) -> str | None:
        """The source of the plugin that registered ``name``; None for a built-in."""
        return self._providers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self):
        return self._entries.items()
