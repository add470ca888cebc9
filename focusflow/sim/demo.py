"""The demonstration network of ``focusflow sim`` (scenario "demo").

Several simulated nodes, each running a supervisor tree::

    /user/sup (one_for_one, intensity 5 in 1 s)
        counter   permanent: counts gossip, persists the count (sync every 16)
        gossiper  permanent: every ~50 ms asks a random peer's counter

Faults (all from the seed): the network has latency, jitter, loss, duplication and
reordering; at 1 s one counter is told to crash (its supervisor restarts it: the healed
crash); at 2 s the network is partitioned, healed at 2.5 s; at 3 s one node crashes and
at 3.5 s it restarts, recovering its counter from the synced part of its disk.

Invariants (checked after every step, or at the end where marked):
* ``no_malformed_frames``: no node ever saw a malformed frame.
* ``acks_bounded``: no gossiper has more acks than asks it sent.
* ``counters_monotonic``: a counter's value never decreases within an incarnation and
  an incarnation never starts below the last value synced to disk (durability).
* ``crash_healed`` (end): 500 ms after the injected crash, the counter runs again as a
  new incarnation (its supervisor restarted it), and at the end every node is up with
  both children alive.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from focusflow.sim._network import LinkConfig
from focusflow.sim._sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import (
    Actor,
    ActorCrashed,
    AskTimeout,
    ChildSpec,
    MailboxFull,
    Node,
    Supervisor,
    SupervisorFlags,
)
from focusflow.supervisor._errors import ActorNotFound
from focusflow.wire import load_schema, message

_schema = load_schema(Path(__file__).with_name("demo.capnp"))

NODES_DEFAULT = 4
SYNC_EVERY = 16


@message(_schema.Gossip)
class Gossip:
    origin: str
    seq: int


@message(_schema.Ack)
class Ack:
    count: int


@message(_schema.Tick)
class Tick:
    pass


@message(_schema.Crash)
class Crash:
    why: str


class Counter(Actor):
    """Counts gossip; the count survives restarts as far as it was synced to disk."""

    def __init__(self, observed: list[list[Any]], synced: dict[str, int]) -> None:
        self.synced = synced
        self.count = 0
        #: [node, floor (synced count when started), values seen...] for the invariants.
        self.record: list[Any] = [self.ctx.node_name, synced.get(self.ctx.node_name, 0)]
        observed.append(self.record)

    async def on_start(self) -> None:
        data = await self.ctx.storage.read("counter")
        self.count = int(data.decode()) if data else 0
        self._observe()

    def _observe(self) -> None:
        self.record.append(self.count)

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Crash):
            raise RuntimeError(f"injected crash: {msg.why}")
        if isinstance(msg, Gossip):
            self.count += 1
            self._observe()
            if self.count % SYNC_EVERY == 0:
                await self.ctx.storage.write("counter", str(self.count).encode())
                await self.ctx.storage.sync()
                self.synced[self.ctx.node_name] = self.count
            return Ack(self.count)
        return None


class Gossiper(Actor):
    """Every ~50 ms, asks the counter of a random peer (the seeded RNG picks it)."""

    def __init__(self, peers: tuple[str, ...], tallies: dict[str, list[int]]) -> None:
        self.peers = peers
        self.tally = tallies.setdefault(self.ctx.node_name, [0, 0])  # [asked, acked]
        self.seq = 0

    async def on_start(self) -> None:
        self.ctx.start_timer("tick", 50.0 * self.ctx.random.random() + 1.0, Tick())

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Tick):
            peer = self.peers[self.ctx.random.randrange(len(self.peers))]
            self.seq += 1
            self.tally[0] += 1
            target = self.ctx.ref_for(peer, "/user/sup/counter")
            try:
                await self.ctx.ask(target, Gossip(self.ctx.node_name, self.seq), timeout_ms=100)
                self.tally[1] += 1
            except (AskTimeout, ActorNotFound, ActorCrashed, MailboxFull):
                pass  # lost, partitioned, crashed or overloaded: try another next time
            self.ctx.start_timer("tick", 40.0 + 20.0 * self.ctx.random.random(), Tick())
        return None


def _add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--nodes", type=int, default=NODES_DEFAULT,
                       help=f"demo: number of simulated nodes (default {NODES_DEFAULT})")


def _build(sim: Simulation, options: Mapping[str, Any]) -> None:
    n = int(options.get("nodes") or NODES_DEFAULT)
    if not 2 <= n <= 256:
        raise ValueError("the demo needs 2..256 nodes")
    names = tuple(f"node{i}" for i in range(n))
    sim.network.set_default(latency_ms=5.0, jitter_ms=3.0, loss=0.01, duplicate=0.005,
                            reorder=0.01)
    observed: list[list[Any]] = []
    synced: dict[str, int] = {}
    tallies: dict[str, list[int]] = {}
    injected: list[str] = []
    state: dict[str, Any] = {"observed": observed, "synced": synced, "tallies": tallies,
                             "injected": injected}
    sim.scenario_state = state  # type: ignore[attr-defined]

    def boot(node: Node) -> None:
        peers = tuple(p for p in names if p != node.name)
        node.spawn(Supervisor, SupervisorFlags(intensity=5, period_ms=1_000), [
            ChildSpec("counter", Counter, (observed, synced)),
            ChildSpec("gossiper", Gossiper, (peers, tallies)),
        ], name="sup")

    for name in names:
        sim.add_node(name, boot=boot)

    healed: list[bool] = []
    state["healed"] = healed

    def inject_crash() -> None:
        # A chaos campaign may already have taken nodes down: pick among those up.
        up = [name for name in names if sim.is_up(name)]
        if not up:
            return
        victim = up[sim._fault_rng.randrange(len(up))]
        node = sim.node(victim)
        counter = node.ref(victim, "/user/sup/counter")
        injected.append(victim)
        before = node.incarnation(counter)
        node.tell(counter, Crash("demo fault"))

        def check() -> None:  # 500 ms later, before any other fault
            if not sim.is_up(victim):  # a campaign crashed the node meanwhile: no verdict
                state["interfered"] = True
                return
            now = node.incarnation(counter)
            healed.append(node.is_alive(counter) and now not in (0, before))

        sim.call_later(500, check)

    half = [list(names[: n // 2]), list(names[n // 2:])]
    sim.call_later(1_000, inject_crash)
    sim.call_later(2_000, lambda: sim.network.partition(*half))
    sim.call_later(2_500, sim.network.heal)
    def crash_last() -> None:
        if sim.is_up(names[-1]):  # a campaign's own crash may have come first
            sim.crash_node(names[-1])

    def restart_last() -> None:
        if not sim.is_up(names[-1]):
            sim.restart_node(names[-1])

    sim.call_later(3_000, crash_last)

    sim.call_later(3_500, restart_last)
    _register_invariants(sim, names, state)


def _register_invariants(sim: Simulation, names: tuple[str, ...], state: dict[str, Any]) -> None:
    observed: list[list[Any]] = state["observed"]
    tallies: dict[str, list[int]] = state["tallies"]

    def no_malformed() -> bool:
        return all(sim.node(n).stats["malformed"] == 0 for n in names if sim.is_up(n))

    def acks_bounded() -> bool:
        return all(acked <= asked for asked, acked in tallies.values())

    checked: list[int] = []  # per record: values verified so far (incremental: O(new))

    def counters_monotonic() -> bool:
        checked.extend([2] * (len(observed) - len(checked)))
        for k, record in enumerate(observed):
            start = checked[k]
            if start >= len(record):
                continue
            if start == 2 and record[2] < record[1]:
                return False  # restarted below what had been synced: lost durable state
            values = record[max(2, start - 1):]
            if any(b < a for a, b in itertools.pairwise(values)):
                return False
            checked[k] = len(record)
        return True

    sim.add_invariant("no_malformed_frames", no_malformed)
    sim.add_invariant("acks_bounded", acks_bounded)
    sim.add_invariant("counters_monotonic", counters_monotonic)
    sim.add_invariant("crash_healed", lambda: True)  # decided in _finish


def _finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    state = sim.scenario_state  # type: ignore[attr-defined]
    all_alive = True
    for name in sim.node_names():
        if not sim.is_up(name):
            all_alive = False
            continue
        node = sim.node(name)
        for child in ("counter", "gossiper"):
            all_alive &= node.is_alive(node.ref(name, f"/user/sup/{child}"))
    nodes = sim.statistics()["nodes"]
    restarts = sum(c["restarts"] for c in nodes.values())
    crashes = sum(c["crashes"] for c in nodes.values())
    judged = bool(state["healed"]) or bool(state.get("interfered"))
    healed = judged and all(state["healed"]) and all_alive
    sim.invariant_results["crash_healed"] = healed
    asked = sum(t[0] for t in state["tallies"].values())
    acked = sum(t[1] for t in state["tallies"].values())
    return {"restarts": restarts, "actor_crashes": crashes,
            "injected_crashes": len(state["injected"]),
            "gossip_asked": asked, "gossip_acked": acked, "nodes_up": sum(
                sim.is_up(n) for n in sim.node_names())}


register_scenario("demo", help="supervised gossip counters on N nodes with a healed crash, "
                  "a partition and a node crash/restart", add_arguments=_add_arguments,
                  finish=_finish, duration_ms=5_000.0)(_build)

__all__ = ["Ack", "Counter", "Crash", "Gossip", "Gossiper", "LinkConfig", "Tick"]
