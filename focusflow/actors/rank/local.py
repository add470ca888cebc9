"""Shard cores and a coordinator core wired in one process, without any runtime.

What the tests and the benchmark drive: every message is encoded to Cap'n Proto bytes and
decoded again on delivery (the cost a real hop has), and a seeded fake wire may deliver
in any order, duplicate, drop, or restart a shard core mid-computation (rebuilt from the
store, announced by a ``Hello`` with a new incarnation, as the actor shell does).
"""

from __future__ import annotations

import random  # runtime-ok: seeded from the run's seed, outside actor code
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from focusflow.actors.rank.actor import build_core
from focusflow.actors.rank.coordinator import BlockOutcome, CoordinatorCore
from focusflow.actors.rank.effects import COORDINATOR, Penalty, Publish, Send
from focusflow.actors.rank.messages import Hello, ProtocolError, RankBlock
from focusflow.actors.rank.shard import ShardCore
from focusflow.actors.rank.store import RankStore
from focusflow.kernels import FocusParams
from focusflow.wire import decode_message, encode_message

STEPS_MAX_DEFAULT = 2_000_000


class LocalRank:
    """S shard cores + a coordinator core over a seeded fake wire."""

    def __init__(self, store: RankStore, *, params: FocusParams | None = None,
                 seed: int | None = None, duplicate: float = 0.0, loss: float = 0.0,
                 encode: bool = True, devices: Sequence[int | None] | None = None,
                 verify_commit: bool = True) -> None:
        """``devices[s]`` is shard s's CUDA device id (None or no list: the CPU path);
        ``verify_commit`` False skips the coordinator's residual self-check of each
        commit (one CPU iteration over the host graph; benchmarks of the device path)."""
        assert 0.0 <= duplicate < 1.0 and 0.0 <= loss < 1.0
        self.store = store
        self.rng = random.Random(seed) if seed is not None else None
        self.duplicate, self.loss, self.encode = duplicate, loss, encode
        self.coordinator = CoordinatorCore(store, params=params, verify_commit=verify_commit)
        self.devices = list(devices) if devices is not None else [None] * store.shards
        assert len(self.devices) == store.shards
        self.shards = [build_core(store.shard_graph(s), store.shards, self.devices[s],
                                  incarnation=1) for s in range(store.shards)]
        self.incarnation = [1] * store.shards
        self.queue: list[tuple[int, bytes | Any]] = []
        self.now_ns = 0
        self.delivered = 0
        self.refused = 0
        self.bytes = 0
        self.penalties: list[Penalty] = []
        self.published: list[Any] = []
        self.hooks: list[Callable[[LocalRank], None]] = []
        self._post([Send(COORDINATOR, Hello(s, store.height, 1, "cpu"))
                    for s in range(store.shards)])

    # -- the wire -------------------------------------------------------------------------
    def _post(self, effects: list[Any]) -> None:
        for e in effects:
            if isinstance(e, Send):
                if self.loss and self.rng is not None and self.rng.random() < self.loss:
                    continue
                item: Any = e.msg
                if self.encode:
                    item = encode_message(e.msg)
                    self.bytes += len(item[1])
                copies = 2 if self.duplicate and self.rng and self.rng.random() < self.duplicate else 1
                self.queue.extend([(e.to, item)] * copies)
            elif isinstance(e, Penalty):
                self.penalties.append(e)
            elif isinstance(e, Publish):
                self.published.append(e.msg)

    def _deliver_one(self) -> None:
        i = self.rng.randrange(len(self.queue)) if self.rng is not None else 0
        to, item = self.queue.pop(i)
        msg = decode_message(*item) if self.encode else item
        self.delivered += 1
        self.now_ns += 1_000  # 1 µs of virtual time per delivery (drives retransmits)
        try:
            if to == COORDINATOR:
                self._post(self.coordinator.receive(msg, self.now_ns))
            else:
                self._post(self.shards[to].receive(msg))
        except ProtocolError:
            self.refused += 1  # as the actor shells do: a peer's bad message is dropped
        for hook in self.hooks:
            hook(self)

    def restart_shard(self, shard: int) -> None:
        """Replace a shard core by one rebuilt from the store (its π and rounds are lost)."""
        self.incarnation[shard] += 1
        self.shards[shard] = ShardCore(self.store.shard_graph(shard), self.store.shards,
                                       incarnation=self.incarnation[shard])
        self.devices[shard] = None  # a restarted worker comes back on the CPU path
        self._post([Send(COORDINATOR, Hello(shard, self.store.height, self.incarnation[shard],
                                            "cpu"))])

    # -- driving --------------------------------------------------------------------------
    def run(self, *, steps_max: int = STEPS_MAX_DEFAULT) -> None:
        """Deliver until the coordinator is idle and the wire empty (retransmitting when
        the wire runs dry mid-block). Raises RuntimeError past ``steps_max``."""
        for _ in range(steps_max):
            if self.queue:
                self._deliver_one()
                continue
            if self.coordinator.phase == "idle":
                return
            self.now_ns += self.coordinator.retransmit_ns
            self._post(self.coordinator.tick(self.now_ns))
        raise RuntimeError(f"rank did not finish in {steps_max} deliveries")

    def begin(self) -> BlockOutcome:
        """π of the store as it is."""
        self._post(self.coordinator.begin(self.now_ns))
        self.run()
        return self.coordinator.outcomes[-1]

    def block(self, blk: RankBlock, stakes: Mapping[bytes, float]) -> BlockOutcome:
        """Apply one block and compute its π."""
        self._post(self.coordinator.block(blk, stakes, self.now_ns))
        self.run()
        return self.coordinator.outcomes[-1]

    def edge_block(self, src: Any, dst: Any, weight: Any) -> BlockOutcome:
        """Add weighted edges between known particles as the next block; its π."""
        height = self.store.height + 1
        self._post(self.coordinator.edge_block(height, src, dst, weight, self.now_ns))
        self.run()
        return self.coordinator.outcomes[-1]

    def invariants(self) -> None:
        """Every core's invariants."""
        self.coordinator.invariants()
        for core in self.shards:
            core.invariants()
