"""A bounded, thread-safe memo of a pure function's results (least recently used out).

Why one class: several pure checks (signature verification, decoding a message) are
repeated on identical bytes, by every validator of a simulation and by a production node
that receives the same gossip from several peers. Remembering their results is sound only
when the result is a pure function of the key and immutable; each user says why its own
is. A bound keeps memory flat whatever a peer sends.
"""

from __future__ import annotations

import threading  # runtime-ok: ctx.run_blocking worker threads share a memo; the lock only guards it
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """At most ``entries_max`` remembered values; the least recently used one goes first."""

    def __init__(self, entries_max: int, *, weigh: Callable[[K], int] | None = None,
                 weight_max: int = 0) -> None:
        """With ``weigh`` (e.g. ``len`` of a bytes key whose value holds about as many bytes
        again: a decoded message), the summed weight is bounded by ``weight_max`` too, so a
        few huge entries cannot hold the gigabytes that ``entries_max`` alone would allow."""
        assert entries_max > 0, "a memo holds at least one entry"
        assert weigh is None or weight_max > 0, "a weighed memo needs a weight bound"
        self.entries_max = entries_max
        self.weight_max = weight_max
        self._weigh = weigh
        self._weight = 0
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        #: Lookups that found a value (tests, benchmarks).
        self.hits = 0

    def get(self, key: K) -> V | None:
        """The remembered value of ``key``, or None (a hit becomes the most recent)."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key``, evicting the least recently used beyond the bounds
        (an entry heavier than ``weight_max`` is not remembered at all)."""
        weigh = self._weigh
        weight = weigh(key) if weigh is not None else 0
        if weigh is not None and weight > self.weight_max:
            return
        with self._lock:
            if key not in self._items:
                self._weight += weight
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.entries_max or self._weight > self.weight_max:
                old, _ = self._items.popitem(last=False)
                self._weight -= weigh(old) if weigh is not None else 0

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The remembered value of ``key``, else ``compute()`` remembered. An exception of
        ``compute`` propagates and nothing is remembered (a rejection is checked again)."""
        hit = self.get(key)
        if hit is not None:
            return hit
        value = compute()
        self.put(key, value)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._items.clear()
            self._weight = 0
            self.hits = 0
