"""Thin actor shells: shard workers and the coordinator under a rank supervisor.

Per host one supervisor ``/user/rank`` (one_for_one) starts the coordinator (on the first
host only) and the host's shard workers. A worker builds its shard from the host's
:class:`RankStore` in ``on_start`` (so a restart rebuilds it), announces itself with a
``Hello`` until the coordinator answers, and otherwise only carries its core's effects.
A worker that crashes (a bug, a GPU fault, a kill) is restarted by the supervisor on the
CPU path (:class:`Placement`); the coordinator sees the new incarnation and reopens the
block's epoch, so the chain does not stop.

Multi-GPU: :class:`Placement` spreads shards over the host's CUDA devices
(``shard % device_count``, CuPy device ids) when CuPy sees more than one; without CuPy
or a device every worker runs on the CPU kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from focusflow.actors.rank.coordinator import BlockOutcome, CoordinatorCore
from focusflow.actors.rank.effects import (
    COORDINATOR,
    Penalty,
    Publish,
    Send,
    StreamDelta,
    WriteGraph,
)
from focusflow.actors.rank.messages import (
    Committed,
    Fault,
    Hello,
    ProtocolError,
    RankBlock,
    RankTick,
)
from focusflow.actors.rank.shard import ShardCore
from focusflow.actors.rank.store import RankStore, ShardGraph
from focusflow.actors.state.actor import BlockApplied, FocusSliceUpdate
from focusflow.kernels import FocusParams
from focusflow.supervisor import Actor, ActorRef, ChildSpec, Supervisor, SupervisorFlags

SUPERVISOR_NAME = "rank"
HELLO_MS = 100.0  # a worker repeats Hello until the coordinator answers
TICK_MS = 50.0  # the coordinator's retransmit check
RESTART_INTENSITY = 20  # worker restarts per period before the supervisor gives up
RESTART_PERIOD_MS = 1_000
JOURNAL_KEPT_MAX = 1_024  # outcomes, writes, streams kept per list (oldest dropped)


class GpuFault(RuntimeError):
    """The worker's device failed (or a chaos plan said so): restart on the CPU."""


def gpu_count() -> int:
    """CUDA devices CuPy can see (0 without CuPy or a device: the CPU path)."""
    try:
        import cupy  # lazy: never imported unless a GPU placement is asked for

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


@dataclass
class Placement:
    """Which device each shard uses; a restarted worker goes to the CPU path.

    Lives on the host beside the store (it outlives worker incarnations, as the demo's
    synced counters do), so the next incarnation knows the last one failed.
    """

    gpus: int = 0
    starts: dict[int, int] = field(default_factory=dict)
    demoted: set[int] = field(default_factory=set)

    def device_for(self, shard: int) -> int | None:
        """Count a start of ``shard``; its CuPy device id, or None for the CPU path."""
        self.starts[shard] = self.starts.get(shard, 0) + 1
        if self.starts[shard] > 1:
            self.demoted.add(shard)  # killed or failed before: rebuild on the CPU
        if self.gpus <= 0 or shard in self.demoted:
            return None
        return shard % self.gpus


def build_core(graph: ShardGraph, shards: int, device: int | None, *,
               incarnation: int = 0) -> ShardCore:
    """A shard core on CuPy device ``device`` or, for None, on numpy (CPU kernels)."""
    if device is None:
        return ShardCore(graph, shards, incarnation=incarnation)
    import cupy  # lazy

    return ShardCore(graph, shards, xp=cupy, device=device, incarnation=incarnation)


@dataclass(frozen=True)
class RankTopology:
    """Where the shard workers and the coordinator live: shard k on hosts[k % H]."""

    shards: int
    hosts: tuple[str, ...]

    def __post_init__(self) -> None:
        assert self.shards >= 1 and len(self.hosts) >= 1

    def host_of(self, shard: int) -> str:
        """The node running ``shard`` (or the coordinator for COORDINATOR)."""
        return self.hosts[0] if shard == COORDINATOR else self.hosts[shard % len(self.hosts)]

    def path_of(self, shard: int) -> str:
        """The actor path of a shard worker (or of the coordinator)."""
        child = "coordinator" if shard == COORDINATOR else f"shard-{shard}"
        return f"/user/{SUPERVISOR_NAME}/{child}"

    def shards_on(self, host: str) -> list[int]:
        """The shards a host runs."""
        return [s for s in range(self.shards) if self.host_of(s) == host]


@dataclass
class RankJournal:
    """What a host's rank actors report outward (committed outcomes, Δ-rank, penalties),
    and the few facts that must outlive an incarnation (highest epoch, live cores)."""

    committed: list[Committed] = field(default_factory=list)
    outcomes: list[BlockOutcome] = field(default_factory=list)
    writes: list[WriteGraph] = field(default_factory=list)
    streams: list[StreamDelta] = field(default_factory=list)
    penalties: list[Penalty] = field(default_factory=list)
    epoch_high: int = 0
    cores: dict[int, ShardCore] = field(default_factory=dict)
    coordinator: CoordinatorCore | None = None
    observer: Callable[[BlockOutcome, RankStore], None] | None = None
    faults: list[tuple[int, str]] = field(default_factory=list)


class ShardWorker(Actor):
    """One shard: builds its core from the store, carries the core's effects."""

    def __init__(self, shard: int, topology: RankTopology, store: RankStore,
                 placement: Placement, journal: RankJournal) -> None:
        self.shard, self.topology, self.store = shard, topology, store
        self.placement, self.journal = placement, journal
        self.core: ShardCore | None = None

    async def on_start(self) -> None:
        device = self.placement.device_for(self.shard)
        self.core = build_core(self.store.shard_graph(self.shard), self.topology.shards, device,
                               incarnation=self.ctx.incarnation)
        self.journal.cores[self.shard] = self.core
        await self._hello()
        self.ctx.start_timer("hello", HELLO_MS, RankTick(), repeat=True)

    async def _hello(self) -> None:
        assert self.core is not None
        await self.ctx.tell(self._ref(COORDINATOR),
                            Hello(self.shard, self.core.height, self.ctx.incarnation,
                                  self.core.backend))

    def _ref(self, to: int) -> ActorRef:
        return self.ctx.ref_for(self.topology.host_of(to), self.topology.path_of(to))

    async def receive(self, msg: Any) -> Any:
        core = self.core
        assert core is not None
        if isinstance(msg, Fault):
            self.journal.faults.append((self.shard, msg.kind))
            if msg.kind == "gpu":
                raise GpuFault(f"shard {self.shard}: device fault on {core.backend}")
            raise RuntimeError(f"shard {self.shard}: injected crash")
        if isinstance(msg, RankTick):
            if core.epoch == 0:
                await self._hello()
            else:
                self.ctx.cancel_timer("hello")
            return None
        try:
            effects = core.receive(msg)
        except ProtocolError as exc:  # a peer's fault: drop the message, keep the core
            self.ctx.log.warning("rank message refused", shard=self.shard, why=str(exc))
            return None
        for e in effects:
            await self.ctx.tell(self._ref(e.to), e.msg)
        return None


@dataclass(frozen=True)
class CoordinatorOptions:
    """How a host's coordinator runs: solver parameters, cadence, where blocks come from
    and where Δ-rank goes.

    ``stakes`` gives a neuron's stake the first time it links (the /token balances feed
    is not wired: a neuron not in it weighs 1). ``graph_sink`` (node, path) is told every
    on-chain Δ-rank write as the state actor's ``FocusSliceUpdate`` messages (the block
    producer puts them into its next ``ApplyBlock``).
    """

    params: FocusParams | None = None
    begin: bool = True
    retransmit_ms: float = 250.0
    graph_write_ms: float = 6_000.0
    stakes: Mapping[bytes, float] = field(default_factory=dict)
    graph_sink: tuple[str, str] | None = None


class RankCoordinator(Actor):
    """The coordinator core's shell: blocks in, rounds driven, outcomes journaled."""

    def __init__(self, topology: RankTopology, store: RankStore, journal: RankJournal,
                 options: CoordinatorOptions) -> None:
        self.topology, self.store, self.journal, self.options = topology, store, journal, options
        self.core = CoordinatorCore(store, params=options.params, epoch_base=journal.epoch_high,
                                    retransmit_ms=options.retransmit_ms,
                                    graph_write_ms=options.graph_write_ms,
                                    proposer=self.ctx.node_name)

        def observe(outcome: BlockOutcome, store: RankStore) -> None:
            journal.outcomes.append(outcome)
            for kept in (journal.outcomes, journal.committed, journal.writes, journal.streams):
                del kept[:-JOURNAL_KEPT_MAX]
            if journal.observer is not None:
                journal.observer(outcome, store)

        self.core.observer = observe

    async def on_start(self) -> None:
        self.journal.coordinator = self.core
        tick_ms = min(TICK_MS, self.options.retransmit_ms / 2)
        self.ctx.start_timer("tick", tick_ms, RankTick(), repeat=True)
        if self.options.begin and self.store.n:
            await self._carry(self.core.begin(self.ctx.now_ns()))

    async def receive(self, msg: Any) -> Any:
        now = self.ctx.now_ns()
        if isinstance(msg, RankTick):
            await self._carry(self.core.tick(now))
        elif isinstance(msg, BlockApplied):
            if not msg.replayed:
                await self._carry(self._block_applied(msg, now))
        elif isinstance(msg, RankBlock):
            k = len(msg.stake)
            keys = msg.stake_neuron.reshape(k, 20) if k else np.zeros((0, 20), np.uint8)
            stakes = {bytes(keys[i]): float(msg.stake[i]) for i in range(k)}
            await self._carry(self.core.block(msg, stakes, now))
        else:
            try:
                effects = self.core.receive(msg, now)
            except ProtocolError as exc:
                self.ctx.log.warning("rank message refused", why=str(exc))
                return None
            await self._carry(effects)
        return None

    def _block_applied(self, msg: BlockApplied, now: int) -> list[Any]:
        """The state actor's notification: its link deltas become this block's input.

        A block that does not extend the store (a notification lost while this actor was
        down) cannot be applied without the missing deltas: it is logged and counted, and
        rank stays at its height (no resync from the state actor yet)."""
        d = msg.deltas()
        fresh = {bytes(r) for r in d.neuron} - self.store.neurons.keys()
        stakes = {u: float(self.options.stakes.get(u, 1.0)) for u in sorted(fresh)}
        try:
            return self.core.block_arrays(msg.height, d.neuron, d.src, d.dst, d.sign, stakes,
                                          now)
        except ValueError as exc:
            self.core.stats["gaps"] = self.core.stats.get("gaps", 0) + 1
            self.ctx.log.error("rank block refused", height=msg.height, why=str(exc))
            return []

    async def _carry(self, effects: list[Any]) -> None:
        self.journal.epoch_high = max(self.journal.epoch_high, self.core.epoch)
        for e in effects:
            if isinstance(e, Send):
                await self.ctx.tell(self.ctx.ref_for(self.topology.host_of(e.to),
                                                     self.topology.path_of(e.to)), e.msg)
            elif isinstance(e, Publish):
                self.journal.committed.append(e.msg)
            elif isinstance(e, WriteGraph):
                self.journal.writes.append(e)
                await self._write_graph(e)
            elif isinstance(e, StreamDelta):
                self.journal.streams.append(e)
            elif isinstance(e, Penalty):
                self.journal.penalties.append(e)

    async def _write_graph(self, write: WriteGraph) -> None:
        sink = self.options.graph_sink
        if sink is None:
            return
        ref = self.ctx.ref_for(*sink)
        for sl in write.slices:
            await self.ctx.tell(ref, FocusSliceUpdate(sl.shard, sl.cids.reshape(-1), sl.values))


def rank_supervisor(host: str, topology: RankTopology, store: RankStore, placement: Placement,
                    journal: RankJournal, options: CoordinatorOptions | None = None
                    ) -> tuple[type[Supervisor], tuple[Any, ...]]:
    """(Supervisor class, args) for a host's ``/user/rank`` tree: ``node.spawn(cls, *args,
    name="rank")``. The coordinator starts first on the first host."""
    children = []
    if host == topology.host_of(COORDINATOR):
        children.append(ChildSpec("coordinator", RankCoordinator,
                                  (topology, store, journal, options or CoordinatorOptions())))
    for s in topology.shards_on(host):
        children.append(ChildSpec(f"shard-{s}", ShardWorker,
                                  (s, topology, store, placement, journal)))
    flags = SupervisorFlags(intensity=RESTART_INTENSITY, period_ms=RESTART_PERIOD_MS)
    return Supervisor, (flags, children)
