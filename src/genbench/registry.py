"""A name -> object mapping whose look-up errors list the valid names.

Datasets, models, metrics and studies each keep one :class:`Registry`; adding an entry is
one line in the family's ``__init__``.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from genbench.errors import GenbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (e.g. "dataset"), looked up with helpful errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise GenbenchError(
                f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(self._entries)}"
            )
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self):
        return self._entries.items()
