"""The one cache style of the package: a bounded dict that computes what it lacks.

The per-entry code looks up values that repeat heavily (a second's timestamp prefix, a tag set, an address's tag).
A dict subclass with `__missing__` answers a hit at the speed of a plain dict lookup (no Python call), and computes a
miss once. It is emptied when full: the values repeat, so it refills at once, and memory stays bounded whatever the
object holds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_LIMIT = 1 << 16


class BoundedCache(dict[K, V], Generic[K, V]):
    """`cache[key]` is `compute(key)`, remembered; at most `limit` keys are held (all dropped when full).

    Keys must determine their value exactly: `1`, `1.0` and `True` are equal dict keys, so callers cache only keys
    whose equality means the same output (strings, None, integers).
    """

    def __init__(self, compute: Callable[[K], V], limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self._compute = compute
        self._limit = limit

    def __missing__(self, key: K) -> V:
        value = self._compute(key)
        if len(self) >= self._limit:
            self.clear()
        self[key] = value
        return value
