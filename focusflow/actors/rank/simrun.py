"""Sharded focus under the deterministic simulator: hosts, network faults, kills.

Used by ``focusflow rank --shards S`` (the default way it runs), by the ``rank`` sim
scenario and by the tests. Each simulated host runs a ``/user/rank`` supervisor with its
share of the shard workers (the first host also runs the coordinator); with one shard per
host every round's masses cross the simulated network, with its latency, jitter,
reordering, duplication and loss.

The hosts share one :class:`RankStore` object: a simulation shortcut for "every host has
the same committed graph" (each validator's state actor holds it); nothing else is shared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from focusflow.actors.rank.actor import (
    CoordinatorOptions,
    Placement,
    RankJournal,
    RankTopology,
    rank_supervisor,
)
from focusflow.actors.rank.coordinator import BlockOutcome
from focusflow.actors.rank.messages import Fault, RankBlock
from focusflow.actors.rank.store import RankStore
from focusflow.kernels import FocusParams
from focusflow.sim import Simulation
from focusflow.supervisor import Node

RUN_MS_MAX_DEFAULT = 3_600_000.0


@dataclass(frozen=True)
class NetworkFaults:
    """Link behaviour between the simulated hosts (see ``focusflow.sim.LinkConfig``)."""

    latency_ms: float = 2.0
    jitter_ms: float = 1.5
    reorder: float = 0.2
    duplicate: float = 0.02
    loss: float = 0.0


@dataclass(frozen=True)
class Kill:
    """At ``at_ms`` of virtual time, fail shard ``shard``'s worker: ``kind`` "kill"
    (brutal stop), "crash" (an exception) or "gpu" (a device fault)."""

    at_ms: float
    shard: int
    kind: str = "kill"


@dataclass
class ShardedRun:
    """A built simulation with its journal, ready to run."""

    sim: Simulation
    topology: RankTopology
    store: RankStore
    journal: RankJournal
    placement: Placement
    kills_done: list[Kill] = field(default_factory=list)

    def outcome(self, height: int) -> BlockOutcome | None:
        """The last outcome computed for ``height`` (None if not yet)."""
        found = [o for o in self.journal.outcomes if o.height == height]
        return found[-1] if found else None


def build_sharded(sim: Simulation, store: RankStore, *, hosts: int | None = None,
                  params: FocusParams | None = None, faults: NetworkFaults | None = None,
                  kills: Sequence[Kill] = (), gpus: int = 0, begin: bool = True,
                  observer: Callable[[BlockOutcome, RankStore], None] | None = None,
                  options: CoordinatorOptions | None = None,
                  extra_boot: Callable[[Node], None] | None = None) -> ShardedRun:
    """Add ``hosts`` nodes (default: one per shard) running the rank trees to ``sim``."""
    shards = store.shards
    hosts = shards if hosts is None else hosts
    if not 1 <= hosts <= shards:
        raise ValueError(f"hosts must be in 1..{shards}")
    f = faults or NetworkFaults()
    sim.network.set_default(latency_ms=f.latency_ms, jitter_ms=f.jitter_ms, reorder=f.reorder,
                            duplicate=f.duplicate, loss=f.loss)
    topology = RankTopology(shards, tuple(f"rank{h}" for h in range(hosts)))
    journal = RankJournal(observer=observer)
    placement = Placement(gpus=gpus)
    run = ShardedRun(sim, topology, store, journal, placement)

    def boot(node: Node) -> None:
        if extra_boot is not None:
            extra_boot(node)  # e.g. the state actor and a block producer, before rank
        cls, args = rank_supervisor(node.name, topology, store, placement, journal,
                                    options or CoordinatorOptions(params=params, begin=begin))
        node.spawn(cls, *args, name="rank")

    for name in topology.hosts:
        sim.add_node(name, boot=boot)
    for kill in kills:
        sim.call_later(kill.at_ms, functools.partial(_kill, run, kill))
    sim.add_invariant("rank_cores", lambda: _invariants(run))
    return run


def _kill(run: ShardedRun, kill: Kill) -> None:
    host = run.topology.host_of(kill.shard)
    node = run.sim.node(host)
    ref = node.ref(host, run.topology.path_of(kill.shard))
    if not node.is_alive(ref):
        return
    run.kills_done.append(kill)
    if kill.kind == "kill":
        node.stop(ref, shutdown_ms=0)  # brutal: no on_stop, the supervisor restarts it
    else:
        node.tell(ref, Fault("gpu" if kill.kind == "gpu" else "crash"))


def _invariants(run: ShardedRun) -> None:
    if run.journal.coordinator is not None:
        run.journal.coordinator.invariants()
    for core in run.journal.cores.values():
        assert core.phase in ("idle", "loading", "iterating", "stopped")
        assert len(core.pi) == core.n_local


def feed_blocks(run: ShardedRun, blocks: Sequence[tuple[RankBlock, dict[bytes, float]]], *,
                block_ms: float, start_ms: float = 0.0) -> None:
    """Schedule one block every ``block_ms`` at the coordinator (as the state actor would)."""
    host = run.topology.host_of(-1)

    def send(blk: RankBlock) -> None:
        node = run.sim.node(host)
        node.tell(node.ref(host, run.topology.path_of(-1)), blk)

    for i, (blk, _stakes) in enumerate(blocks):
        run.sim.call_later(start_ms + block_ms * (i + 1), functools.partial(send, blk))


def sharded_focus(store: RankStore, *, seed: int = 1, hosts: int | None = None,
                  params: FocusParams | None = None, faults: NetworkFaults | None = None,
                  kills: Sequence[Kill] = (), gpus: int = 0,
                  run_ms_max: float = RUN_MS_MAX_DEFAULT) -> tuple[BlockOutcome, ShardedRun]:
    """π of ``store`` as it is, computed by S shard workers under the simulator.

    Raises TimeoutError when no outcome came within ``run_ms_max`` of virtual time.
    """
    sim = Simulation(seed)
    run = build_sharded(sim, store, hosts=hosts, params=params, faults=faults, kills=kills,
                        gpus=gpus)
    height = store.height
    sim.run(until=lambda: run.outcome(height) is not None
            and all(k in run.kills_done or k.at_ms * 1e6 > sim.now_ns() for k in kills)
            and sim.now_ns() >= max((k.at_ms for k in kills), default=0.0) * 1e6,
            until_ns=int(run_ms_max * 1e6))
    out = run.outcome(height)
    if out is None:
        raise TimeoutError(f"no π after {sim.virtual_seconds:.3f} virtual s (seed {seed})")
    return out, run


def summary(run: ShardedRun) -> dict[str, Any]:
    """Counters for a report."""
    core = run.journal.coordinator
    return {
        "shards": run.topology.shards,
        "hosts": len(run.topology.hosts),
        "blocks": len(run.journal.committed),
        "penalties": len(run.journal.penalties),
        "graph_writes": len(run.journal.writes),
        "streams": len(run.journal.streams),
        "kills": len(run.kills_done),
        "coordinator": dict(core.stats) if core is not None else {},
        "backends": dict(core.backends) if core is not None else {},
    }
