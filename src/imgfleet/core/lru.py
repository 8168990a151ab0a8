"""A least-recently-used map bounded by the summed size of its values (bytes, or a count)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    """Keeps the most recently used values while their summed size stays under `capacity`.

    A value larger than the whole capacity is not kept at all, so one huge item never
    flushes the cache. `on_evict(key)` hears of every key that leaves other than by `pop`
    (an attribute: its owner may set it after construction).
    """

    def __init__(
        self,
        capacity: int,
        size_of: Callable[[V], int],
        on_evict: Callable[[K], object] = lambda key: None,
    ) -> None:
        self.capacity = capacity
        self._size_of = size_of
        self.on_evict = on_evict
        self._items: OrderedDict[K, V] = OrderedDict()
        self.size = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def pop(self, key: K) -> None:
        """Forget `key` (nothing happens when it is not there)."""
        value = self._items.pop(key, None)
        if value is not None:
            self.size -= self._size_of(value)

    def put(self, key: K, value: V) -> None:
        size = self._size_of(value)
        if size > self.capacity:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= self._size_of(old)
        self._items[key] = value
        self.size += size
        while self.size > self.capacity:
            gone, evicted = self._items.popitem(last=False)
            self.size -= self._size_of(evicted)
            self.on_evict(gone)
