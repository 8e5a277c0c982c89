"""Follow-up context: the drug each conversation is about, bounded in number and expiring."""

from __future__ import annotations

import time
from collections import OrderedDict
from threading import Lock


class Sessions:
    """session_id -> doc_id of the last drug talked about; least recently used sessions go first."""

    def __init__(self, max_sessions: int = 10_000, ttl_s: float = 1800.0) -> None:
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_sessions
        self._ttl = ttl_s
        self._lock = Lock()

    def get(self, session_id: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            item = self._items.get(session_id)
            if item is None:
                return None
            if now - item[1] > self._ttl:
                del self._items[session_id]
                return None
            return item[0]

    def set(self, session_id: str, doc_id: str) -> None:
        with self._lock:
            self._items[session_id] = (doc_id, time.monotonic())
            self._items.move_to_end(session_id)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def pop(self, session_id: str) -> None:
        with self._lock:
            self._items.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._items)
