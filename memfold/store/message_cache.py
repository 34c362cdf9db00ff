"""A bounded in-process cache of stored messages, by id.

A stored message never changes, so a turn only needs to read the in-context messages it has
not seen before. This keeps loading an agent's context from costing a full re-read and
re-validation of the window on every turn. Turns of different agents load in worker threads
at the same time, so the cache is guarded by a lock (never held across a database read).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import Connection

from memfold.schemas.messages import Message
from memfold.store import messages as message_rows


class MessageCache:
    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Message] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, messages: list[Message]) -> None:
        with self._lock:
            for m in messages:
                self._items[m.id] = m
                self._items.move_to_end(m.id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get_many(self, conn: Connection, ids: list[str]) -> list[Message]:
        """The messages with these ids, in order; only the ones not cached are read."""
        with self._lock:
            found = {i: m for i in ids if (m := self._items.get(i)) is not None}
        missing = [i for i in ids if i not in found]
        if missing:
            fetched = message_rows.get_messages(conn, missing)
            self.put(fetched)
            found.update((m.id, m) for m in fetched)
        return [found[i] for i in ids if i in found]

    def __len__(self) -> int:
        return len(self._items)
