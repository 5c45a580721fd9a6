"""A small bounded memory of built models, shared by the threads of a process (the service solves in threads).

Models are remembered under keys that name everything they are built from, so a hit is the same model; the
oldest is forgotten first when the memory is full."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class KeptFor(Generic[T]):
    """Values derived from lists (a model's variables or constraints), each made once per set of lists and kept
    under the lists' ids and lengths. Problems built from one remembered structure share its lists
    (problem.py), so the value is shared with them; the entry holds the lists themselves, so that no other list
    takes those ids while it is kept, and a list that grew is a new key."""

    def __init__(self, size: int):
        self._kept: Kept[tuple] = Kept(size)

    def get(self, lists: tuple[list, ...], build: Callable[[], T]) -> T:
        key = tuple((id(x), len(x)) for x in lists)
        return self._kept.get(key, lambda: (lists, build()))[1]
