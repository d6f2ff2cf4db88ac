"""A binary heap whose items can also be found, replaced and removed by key.

The scheduling queue needs more than ``heapq``: a pending pod changes (its priority, its
labels) or is deleted while it waits, and the queue must update or drop exactly that entry
without rebuilding everything. Upstream keeps the same structure (``backend/heap``): a list
ordered as a heap plus a map from key to position, both kept in step on every swap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyedHeap(Generic[T]):
    """Items ordered by ``less`` (the head is the item no other item is less than)."""

    __slots__ = ("_index", "_items", "_key", "_keys", "_less")

    def __init__(self, *, key: Callable[[T], str], less: Callable[[T, T], bool]) -> None:
        self._key = key
        self._less = less
        self._items: list[T] = []
        self._keys: list[str] = []  # in step with _items: a swap needs no key computed
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[T]:
        """Items in heap (not sorted) order."""
        return iter(list(self._items))

    def get(self, key: str) -> T | None:
        position = self._index.get(key)
        return None if position is None else self._items[position]

    def peek(self) -> T | None:
        return self._items[0] if self._items else None

    def add_or_update(self, item: T) -> None:
        """Insert ``item``, or replace the item with its key and restore the order."""
        key = self._key(item)
        position = self._index.get(key)
        if position is None:
            self._items.append(item)
            self._keys.append(key)
            self._index[key] = len(self._items) - 1
            self._up(len(self._items) - 1)
        else:
            self._items[position] = item
            self._fix(position)

    def pop(self) -> T:
        """Remove and return the head; IndexError when empty."""
        if not self._items:
            raise IndexError("pop from an empty heap")
        return self._remove_at(0)

    def delete(self, key: str) -> T | None:
        position = self._index.get(key)
        return None if position is None else self._remove_at(position)

    def _remove_at(self, position: int) -> T:
        last = len(self._items) - 1
        if position != last:
            self._swap(position, last)
        item = self._items.pop()
        del self._index[self._keys.pop()]
        if position < len(self._items):
            self._fix(position)
        return item

    def _fix(self, position: int) -> None:
        if not self._down(position):
            self._up(position)

    def _swap(self, i: int, j: int) -> None:
        items, keys = self._items, self._keys
        items[i], items[j] = items[j], items[i]
        keys[i], keys[j] = keys[j], keys[i]
        self._index[keys[i]] = i
        self._index[keys[j]] = j

    def _up(self, position: int) -> None:
        items, less = self._items, self._less
        while position > 0:
            parent = (position - 1) // 2
            if not less(items[position], items[parent]):
                break
            self._swap(position, parent)
            position = parent

    def _down(self, position: int) -> bool:
        """Sift down; True when the item moved."""
        items, less = self._items, self._less
        start, size = position, len(items)
        while True:
            smallest = position
            left = 2 * position + 1
            if left < size and less(items[left], items[smallest]):
                smallest = left
            if left + 1 < size and less(items[left + 1], items[smallest]):
                smallest = left + 1
            if smallest == position:
                return position != start
            self._swap(position, smallest)
            position = smallest
