"""Scenario ``rank`` of ``focusflow sim``: a chain whose every block gets a sharded π.

``focusflow sim --shards S`` (the option picks this scenario unless ``--scenario`` says
otherwise) runs one validator host ``rank0`` with the state actor, a block producer and
the rank coordinator, and S shard workers spread over ``--rank-hosts`` hosts (default one
per shard, so every round crosses the simulated network with latency, jitter,
reordering, duplication and a little loss). Each block (every ``--block-ms``) is a few
signed link/unlink transactions; the state actor notifies the coordinator
(``BlockApplied``: the block's link deltas), the shards update incrementally and iterate,
the coordinator commits the π root, streams Δ-rank and, every 6 s, sends the changed
``/graph/pi/<shard>`` slices back to the producer, which puts them into the next block.
Shard workers are killed, crashed and "GPU-failed" in the middle of computations.

Invariants: ``rank_cores`` (core invariants after every step), ``pi_matches_single_kernel``
(each committed π within 2·ε·d/(1−d) in L1 of a tight single-kernel solve of the same
graph), ``chain_kept_going`` (end: every produced block got a converged π, no penalty),
``graph_focus_stored`` (end: the state actor answers GetFocus with the values last
written).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import numpy as np

from focusflow.actors.rank.actor import CoordinatorOptions
from focusflow.actors.rank.coordinator import BlockOutcome
from focusflow.actors.rank.messages import RankTick
from focusflow.actors.rank.simrun import Kill, NetworkFaults, ShardedRun, build_sharded
from focusflow.actors.rank.store import RankStore
from focusflow.actors.state import Neuron, TxKind, cid_of, make_tx
from focusflow.actors.state.actor import (
    ApplyBlock,
    BlockApplied,
    Focus,
    FocusSliceUpdate,
    GetFocus,
    StateActor,
    Subscribe,
)
from focusflow.kernels import CpuSolver, FocusParams
from focusflow.sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import Actor, Node

CHAIN = "focusflow-rank-sim"
SHARDS_DEFAULT = 4
BLOCK_MS_DEFAULT = 1_000.0
NEURONS = 8
PARTICLES = 400
LINKS_PER_TX_MAX = 24
RETRANSMIT_MS = 30.0  # ~10 link latencies: a lost mass stalls a round this long
KILL_EVERY_BLOCKS = 2  # a worker is failed in the middle of every other block


def people() -> list[Neuron]:
    """The scenario's neurons (deterministic keys)."""
    return [Neuron.from_seed(bytes([0x60 + i]) * 32) for i in range(NEURONS)]


def particle(i: int) -> bytes:
    """CID of the scenario's particle i."""
    return cid_of(b"rank-sim particle %d" % i)


class BlockProducer(Actor):
    """Makes a block every ``block_ms``: signed link/unlink txs, plus the Δ-rank slices
    the coordinator sent since the last block (``FocusSliceUpdate``)."""

    def __init__(self, coordinator: tuple[str, str], block_ms: float,
                 applied_focus: list[tuple[int, FocusSliceUpdate]]) -> None:
        self.coordinator, self.block_ms = coordinator, block_ms
        self.applied_focus = applied_focus
        self.people = people()
        self.nonce = {p.address: 0 for p in self.people}
        self.links: dict[bytes, list[tuple[bytes, bytes]]] = {p.address: [] for p in self.people}
        self.pending: dict[int, FocusSliceUpdate] = {}
        self.height = 1

    async def on_start(self) -> None:
        state = self.ctx.ref_for(self.ctx.node_name, "/user/state")
        await self.ctx.ask(state, Subscribe(*self.coordinator))
        self.ctx.start_timer("block", self.block_ms, RankTick())

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, FocusSliceUpdate):
            self.pending[msg.shard] = msg
        elif isinstance(msg, RankTick):
            await self._produce()
            self.ctx.start_timer("block", self.block_ms, RankTick())
        return None

    def _txs(self) -> tuple[list[bytes], list[tuple[bytes, str, list[tuple[bytes, bytes]]]]]:
        rng = self.ctx.random
        txs, plan = [], []
        for p in rng.sample(self.people, rng.randint(1, 4)):
            mine = self.links[p.address]
            if mine and rng.random() < 0.25:
                gone = rng.sample(mine, min(len(mine), rng.randint(1, 6)))
                kind, links = TxKind.UNLINK, gone
            else:
                have = set(mine)
                links = []
                for _ in range(rng.randint(1, LINKS_PER_TX_MAX)):
                    a = rng.randrange(PARTICLES)
                    b = int(rng.paretovariate(1.2)) % PARTICLES
                    pair = (particle(a), particle(b))
                    if a != b and pair not in have:
                        have.add(pair)
                        links.append(pair)
                kind = TxKind.LINK
            if not links:
                continue
            txs.append(make_tx(p, chain_id=CHAIN, nonce=self.nonce[p.address], kind=kind,
                               links=links))
            plan.append((p.address, kind.value, links))
        return txs, plan

    async def _produce(self) -> None:
        txs, plan = self._txs()
        focus = tuple(self.pending[s] for s in sorted(self.pending))
        state = self.ctx.ref_for(self.ctx.node_name, "/user/state")
        reply = await self.ctx.ask(state, ApplyBlock(self.height, tuple(txs), focus))
        if not isinstance(reply, BlockApplied):
            return  # a gap answered with Head: try the same height next time
        for (addr, kind, links), code in zip(plan, reply.status.tolist(), strict=True):
            if code != 0:
                continue
            self.nonce[addr] += 1
            if kind == "link":
                self.links[addr].extend(links)
            else:
                gone = set(links)
                self.links[addr] = [x for x in self.links[addr] if x not in gone]
        self.applied_focus.extend((self.height, f) for f in focus)
        self.pending = {}
        self.height += 1


def _add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--shards", type=int, default=None, action=_ShardsAction,
                       help=f"rank: shard workers (default {SHARDS_DEFAULT}; selects the "
                       "'rank' scenario unless --scenario names another)")
    group.add_argument("--rank-hosts", type=int, default=None,
                       help="rank: simulated hosts the shards spread over (default: one each)")
    group.add_argument("--block-ms", type=float, default=BLOCK_MS_DEFAULT,
                       help=f"rank: block interval (default {BLOCK_MS_DEFAULT:g} ms)")


class _ShardsAction(argparse.Action):
    """``--shards`` also picks this scenario when no ``--scenario`` was given."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        if getattr(namespace, "scenario", None) is None:
            namespace.scenario = "rank"


_runs: dict[int, tuple[ShardedRun, dict[str, Any]]] = {}


def _build(sim: Simulation, options: Mapping[str, Any]) -> None:
    shards = int(options.get("shards") or SHARDS_DEFAULT)
    hosts = int(options.get("rank_hosts") or shards)
    block_ms = float(options.get("block_ms") or BLOCK_MS_DEFAULT)
    if not 1 <= shards <= 64 or not 1 <= hosts <= shards or block_ms < 100:
        raise ValueError("rank: 1..64 shards, 1..shards hosts, blocks of at least 100 ms")
    params = FocusParams()
    bound = 2 * params.eps * params.damping / (1 - params.damping)
    facts: dict[str, Any] = {"errors": [], "bound": bound, "applied_focus": []}

    def observe(outcome: BlockOutcome, store: RankStore) -> None:
        if not outcome.converged or not len(outcome.pi):
            return
        exact = CpuSolver(store.graph, FocusParams(eps=1e-13)).solve(warm=False).pi
        facts["errors"].append(float(np.abs(outcome.pi - exact).sum()))

    stakes = {p.address: float(10**6 * (i + 1)) for i, p in enumerate(people())}
    coord_host = "rank0"

    def extra_boot(node: Node) -> None:
        if node.name != coord_host:
            return
        node.spawn(StateActor, chain_id=CHAIN, genesis_balances={a: int(v) for a, v in
                                                                 stakes.items()},
                   focus_shards=shards, name="state")
        node.spawn(BlockProducer, (coord_host, "/user/rank/coordinator"), block_ms,
                   facts["applied_focus"], name="producer")

    duration_ms = float(options.get("duration_ms") or _DURATION_MS)
    blocks = int(duration_ms // block_ms)
    kills = [Kill(block_ms * b + 5.0 + 10.0 * (b % 3), (b * 7 + 3) % shards,
                  ("kill", "crash", "gpu")[b % 3])
             for b in range(1, blocks, KILL_EVERY_BLOCKS)]
    run = build_sharded(sim, RankStore(shards), hosts=hosts, params=params,
                        faults=NetworkFaults(loss=0.01), kills=kills, observer=observe,
                        options=CoordinatorOptions(params=params, stakes=stakes,
                                                   retransmit_ms=RETRANSMIT_MS,
                                                   graph_sink=(coord_host, "/user/producer")),
                        extra_boot=extra_boot)
    _runs[id(sim)] = (run, facts)
    sim.add_invariant("pi_matches_single_kernel",
                      lambda: all(e <= bound for e in facts["errors"]))
    sim.add_invariant("chain_kept_going", lambda: True)  # decided at the end
    sim.add_invariant("graph_focus_stored", lambda: True)  # decided at the end


def _finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    run, facts = _runs.pop(id(sim))
    journal = run.journal
    produced = journal.coordinator.store.height if journal.coordinator else 0
    done = [c for c in journal.committed if c.converged]
    kept = bool(done) and not journal.penalties and len(done) >= produced - 1
    sim.invariant_results["chain_kept_going"] = kept
    stored = _check_stored(sim, facts["applied_focus"])
    sim.invariant_results["graph_focus_stored"] = stored is not False
    stats = sim.statistics()["nodes"]
    return {"rank": {
        "shards": run.topology.shards, "hosts": len(run.topology.hosts),
        "blocks_produced": produced, "blocks_committed": len(done),
        "rounds_last": done[-1].iterations if done else 0,
        "epochs": sum(c.epochs for c in journal.committed),
        "kills": len(run.kills_done),
        "restarts": sum(n.get("restarts", 0) for n in stats.values()),
        "graph_writes": len(journal.writes), "graph_slices_applied": len(facts["applied_focus"]),
        "streams": len(journal.streams), "penalties": len(journal.penalties),
        "error_l1_max": max(facts["errors"], default=0.0), "error_bound": facts["bound"],
        "graph_focus_checked": stored,
    }}


def _check_stored(sim: Simulation, applied: list[tuple[int, FocusSliceUpdate]]) -> bool | None:
    """Ask the state actor for a few particles of the last applied slices (None: none)."""
    if not applied or not sim.is_up("rank0"):
        return None
    node = sim.node("rank0")
    state = node.ref("rank0", "/user/state")
    last = {f.shard: f for _h, f in applied}
    for f in last.values():
        cids = np.asarray(f.cids, np.uint8).reshape(-1, 36)
        for i in range(0, len(cids), max(1, len(cids) // 3)):
            answer = sim.run_until_complete(node.ask(state, GetFocus(bytes(cids[i]))),
                                            timeout_ms=5_000)
            if not (isinstance(answer, Focus) and answer.found and
                    answer.value == int(f.values[i])):
                return False
    return True


_DURATION_MS = 14_000.0

register_scenario("rank", help="sharded focus: state actor blocks, S shard workers over the "
                  "simulated network, kills mid-computation, Δ-rank to /graph every 6 s",
                  add_arguments=_add_arguments, finish=_finish,
                  duration_ms=_DURATION_MS)(_build)
