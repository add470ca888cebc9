"""Latency-bounded admission: how many bytes a validator may hold admitted but not ordered.

Why (issue 18 item 4, issue 21): the per-round QoS cut-off (``qos``) bounds what enters a
header, not how long a transaction waits. When execution falls behind, rounds and blocks
grow: the devnet at 20x overload ordered 700-tx blocks that took seconds to execute, and
finality p50 was 4-12 s. Here a validator bounds the bytes it admitted and that were not
yet ordered (``in_flight_bytes``) by ``budget``, which it steers toward a target queueing
delay from what it measures (Little's law, controlled on the delay itself): each time some
of its txs are ordered, the oldest of them waited ``d``; the budget is multiplied by
``queue_delay_ms / d``, clamped to [1/2, 5/4] (grow while the wait is under the target,
shrink in proportion when it is over). It grows only while it was at least half used (an
idle validator's budget does not inflate), and stays within
[``queue_bytes_min``, ``queue_bytes_max``]. A validator that stops ordering admits nothing
new: its in-flight bytes stay at the budget.

Over the budget, the lowest focus gives way: an arrival evicts queued (not yet proposed)
transactions of strictly lower focus, lowest first, when that makes room, else it is
refused (``overloaded``). Evicted transactions were accepted earlier; their rejection
says ``shed``. Sans-IO: time is the caller's ``now_ns``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

QUEUE_DELAY_MS_DEFAULT = 1000
"""The target wait from admission to ordering (node.toml ``[consensus] queue_delay_ms``)."""


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """The admission budget's constants (table in docs/operations.md, "Limits")."""

    queue_delay_ms: int = QUEUE_DELAY_MS_DEFAULT  # target wait from admission to ordering; 0: no budget
    queue_bytes_min: int = 64 * 1024  # ~17 txs of 50 links: the floor of the budget
    queue_bytes_max: int = 64 * 1024 * 1024  # its ceiling (pending_txs_max bounds memory too)
    rate_window_ms: int = 2000  # ordered bytes/s (reported in /status) over this window
    in_flight_ttl_ms: int = 30_000  # forget an admitted tx never seen ordered (lost)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one submission: arrivals to admit, queued txs to evict."""

    admit: list[bool]  # per arrival
    evict: list[int]  # indices into the queue, lowest focus first


class QueueBudget:
    """Bytes admitted by this validator and not yet ordered, against a measured budget."""

    def __init__(self, config: BudgetConfig | None = None) -> None:
        self.config = config or BudgetConfig()
        assert self.config.queue_delay_ms >= 0
        assert 0 < self.config.queue_bytes_min <= self.config.queue_bytes_max
        self.budget = self.config.queue_bytes_min
        self.in_flight: OrderedDict[bytes, tuple[int, int]] = OrderedDict()  # digest -> (ns, bytes)
        self.in_flight_bytes = 0
        self._ordered: deque[tuple[int, int]] = deque()  # (ns, bytes) of our ordered txs
        self._ordered_bytes = 0
        self._since_ns: int | None = None  # first admission: the window's start until it fills

    @property
    def enabled(self) -> bool:
        """Whether the budget applies (``queue_delay_ms`` > 0)."""
        return self.config.queue_delay_ms > 0

    def rate_bytes_per_s(self, now_ns: int) -> float:
        """Our ordered bytes per second over the last ``rate_window_ms`` (or since start)."""
        self._expire(now_ns)
        window_ns = self.config.rate_window_ms * 1_000_000
        span_ns = window_ns if self._since_ns is None else min(window_ns, now_ns - self._since_ns)
        return self._ordered_bytes / max(span_ns, 1_000_000_000) * 1e9

    def plan(self, arrivals: Sequence[tuple[int, int]], queue: Sequence[tuple[int, int]]) -> Plan:
        """Admit/evict for arrivals ``(focus, bytes)`` given the evictable ``queue``.

        Arrivals are taken highest focus first (ties: arrival order); one that does not fit
        evicts queued txs of strictly lower focus, lowest first (ties: newest first), only
        when that frees enough room, else it is refused. So nothing is evicted while a
        lower-focus tx stays queued, no arrival at or below the queue's floor evicts, and
        once a tx was evicted no arrival at or below its focus is admitted in its room.
        """
        if not self.enabled:
            return Plan([True] * len(arrivals), [])
        avail = self.budget - self.in_flight_bytes
        q_focus = np.fromiter((f for f, _ in queue), np.int64, len(queue))
        # lowest focus first; among equals the newest (highest index) first
        by_low = sorted(range(len(queue)), key=lambda i: (int(q_focus[i]), -i))
        next_low = 0
        admit = [False] * len(arrivals)
        order = sorted(range(len(arrivals)), key=lambda i: (-arrivals[i][0], i))
        evict: list[int] = []
        shed_floor = -1  # the highest focus evicted so far: nothing at or below it enters
        for i in order:
            focus, size = arrivals[i]
            if focus <= shed_floor:
                continue
            if size <= avail:
                admit[i] = True
                avail -= size
                continue
            freed, j = 0, next_low
            while avail + freed < size and j < len(by_low) and queue[by_low[j]][0] < focus:
                freed += queue[by_low[j]][1]
                j += 1
            if avail + freed >= size:
                if j > next_low:
                    shed_floor = max(shed_floor, int(queue[by_low[j - 1]][0]))
                evict.extend(by_low[next_low:j])
                next_low = j
                avail += freed - size
                admit[i] = True
        return Plan(admit, evict)

    def admitted(self, tx_digest: bytes, size: int, now_ns: int) -> None:
        """An admitted tx is in flight until it is ordered, dropped or expires."""
        if self._since_ns is None:
            self._since_ns = now_ns
        if tx_digest not in self.in_flight:
            self.in_flight[tx_digest] = (now_ns, size)
            self.in_flight_bytes += size

    def dropped(self, tx_digest: bytes) -> None:
        """A tx left without being ordered (evicted, trimmed)."""
        entry = self.in_flight.pop(tx_digest, None)
        if entry is not None:
            self.in_flight_bytes -= entry[1]

    def ordered(self, tx_digests: Iterable[bytes], now_ns: int) -> None:
        """Txs were ordered: ours leave the in-flight set, count toward the rate, and the
        oldest one's wait steers the budget (module docstring)."""
        got, oldest_ns = 0, now_ns
        used = self.in_flight_bytes
        for d in tx_digests:
            entry = self.in_flight.pop(d, None)
            if entry is not None:
                self.in_flight_bytes -= entry[1]
                got += entry[1]
                oldest_ns = min(oldest_ns, entry[0])
        if got:
            self._ordered.append((now_ns, got))
            self._ordered_bytes += got
            waited_ms = max(1.0, (now_ns - oldest_ns) / 1e6)
            factor = min(1.25, max(0.5, self.config.queue_delay_ms / waited_ms))
            if factor < 1.0 or 2 * used >= self.budget:
                c = self.config
                self.budget = min(c.queue_bytes_max, max(c.queue_bytes_min, int(self.budget * factor)))
        self._expire(now_ns)

    def _expire(self, now_ns: int) -> None:
        window_ns = self.config.rate_window_ms * 1_000_000
        while self._ordered and self._ordered[0][0] < now_ns - window_ns:
            self._ordered_bytes -= self._ordered.popleft()[1]
        ttl_ns = self.config.in_flight_ttl_ms * 1_000_000
        while self.in_flight:
            d, (ns, size) = next(iter(self.in_flight.items()))
            if ns >= now_ns - ttl_ns:
                break
            del self.in_flight[d]
            self.in_flight_bytes -= size
        assert self.in_flight_bytes >= 0 and self._ordered_bytes >= 0
