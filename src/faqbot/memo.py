"""A bounded memo for the answering path: results remembered per key, all forgotten at once when full."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """At most `size` remembered results. The keys come from visitors' questions, so they must be bounded;
    forgetting everything at once when full costs nothing on a hit, unlike an LRU's bookkeeping."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, key: K, value: V) -> V:
        if len(self) >= self.size:
            self.clear()
        self[key] = value
        return value
