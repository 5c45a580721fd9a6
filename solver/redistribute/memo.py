"""Models remembered between proposals, in one object that the caller owns (memo.Models).

The service's runtime keeps one for all its requests, so that what-ifs on the same wishes with other weights or
rules reuse the models built for the first; a proposal given none builds every model afresh. Models are
remembered under keys that name everything they are built from, so a hit is the same model; the oldest is
forgotten first when a memory is full. The requests of the service run in threads, so each memory has a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    def __init__(self, size: int):
        self.size = size
        self._items: dict[Hashable, T] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable | None, build: Callable[[], T]) -> T:
        """The value kept under `key`, built (outside the lock) and kept when missing; `key` None: not kept."""
        if key is None:
            return build()
        with self._lock:
            value = self._items.get(key)
        if value is None:
            value = build()
            with self._lock:
                while len(self._items) >= self.size:
                    self._items.pop(next(iter(self._items)))
                self._items[key] = value
        return value

    def __len__(self) -> int:
        return len(self._items)


class Models:
    """Every model memory of the solvers (the values are typed where they are used)."""

    def __init__(self) -> None:
        self.problems: Kept[Any] = Kept(16)  # full market models, by the setup's inputs (problem.build_problem)
        self.aggregates: Kept[Any] = Kept(16)  # aggregate models, by inputs, limit and mode (aggregate.build)
        self.translated: Kept[Any] = Kept(8)  # CP-SAT models, by their content (cpsat.Session)
        self.strategies: Kept[Any] = Kept(8)  # the tie-break's search strategies, by their order (cpsat)
        self.constructions: Kept[Any] = Kept(16)  # the construction's tables, by inputs (solve._construction)


def remembered(models: Models | None, memory: str, key: Hashable | None, build: Callable[[], T]) -> T:
    """The value `build` makes, kept in the caller's `memory` of `models` under `key` (built afresh without them)."""
    if models is None or key is None:
        return build()
    kept: Kept[T] = getattr(models, memory)
    return kept.get(key, build)
