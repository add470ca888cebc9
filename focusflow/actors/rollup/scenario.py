"""Scenario ``rollups`` of ``focusflow sim``: rollups, relayers, hubs, a challenger.

``focusflow sim --rollups R --hubs H`` (either option picks this scenario) runs R
rollup sequencers (one bucket each, on their own nodes), a DA grid node, a link client,
a challenger (``watcher``), untrusted relayers, and H hubs: with H = 1 one global hub
takes every rollup; with H ≥ 2, H − 1 regional hubs take the rollups round robin and
forward what they accept to the global hub. Every supervised actor runs under a
one_for_one supervisor. The run has a *safety* phase (links flow, faults happen) and a
*drain* phase (the last ``--rollup-drain-ms``: no new links, everything must settle).

Faults (options): ``--rollup-liar K`` makes rollup K lie from its second claim;
``--relayer-faults`` makes every relayer drop, duplicate, reorder and delay;
``--hub-crash-ms T`` crashes every hub node at T (and again at 2T) and restarts it
``--hub-down-ms`` later; ``--rollup-churn`` starts the last rollup's workload late and
retires the first rollup mid-run.

Summary fields: ``global_sync_ms_p50``/``global_sync_ms_p99`` (link arrival at its
sequencer → the global hub commits a root that includes it, link-weighted),
``links_per_s`` (virtual), ``claims_merged``, ``slashed``, ``hub_restarts``. Invariants:
``rollup_cores``, ``no_double_delivery``, ``global_pi_consistent`` (every global
snapshot, re-checked each second and at the end: the merged π equals a from-scratch π
over all merged buckets' links, re-executed from the DA grid, within the bound),
``liar_slashed_only`` and ``all_claims_merged`` (end of the drain).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from focusflow.actors.hub.actor import HubActor
from focusflow.actors.ibc.relayer import RelayerActor
from focusflow.actors.rollup.actor import (
    TICK_RETIRE,
    DaGridActor,
    SequencerActor,
)
from focusflow.actors.rollup.claims import Replayer
from focusflow.actors.rollup.graph import union_focus
from focusflow.actors.rollup.messages import ClientControl, RollupTick
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.actors.rollup.topology import (
    DAMPING,
    EPS,
    HUBS_DEFAULT,
    ROLLUPS_DEFAULT,
    SUP,
    bucket_key,
    hub_of,
    option,
    pi_bound,
    public_key,
    rollup_name,
    seed_of,
    topology,
)
from focusflow.kernels import FocusParams
from focusflow.kernels._commit import dequantize
from focusflow.sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import ChildSpec, Node, Supervisor, SupervisorFlags

__all__ = ["DAMPING", "EPS", "HUBS_DEFAULT", "ROLLUPS_DEFAULT", "SUP", "World", "add_arguments",
           "bucket_key", "build", "build_world", "finish", "hub_of", "pi_bound", "public_key",
           "rollup_name", "seed_of", "topology"]

DURATION_MS = 12_000.0
CHECK_EVERY_MS = 1_000.0


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """The scenario's options (``--rollups`` / ``--hubs`` select it)."""
    group.add_argument("--rollups", type=int, default=None,
                       help=f"rollup sequencers, one bucket each (default {ROLLUPS_DEFAULT})")
    group.add_argument("--hubs", type=int, default=None,
                       help="hubs: 1 = one global hub; H >= 2 = H-1 regional + 1 global")
    group.add_argument("--rollup-links", type=int, default=40,
                       help="links per bucket every 50 ms (default 40)")
    group.add_argument("--rollup-settle-ms", type=float, default=500.0)
    group.add_argument("--rollup-merge-ms", type=float, default=1_000.0,
                       help="hub merge period, 1000-3000 in the design (default 1000)")
    group.add_argument("--rollup-window-ms", type=float, default=1_000.0,
                       help="challenge window (default 1000; short for the simulator)")
    group.add_argument("--rollup-liar", type=int, default=-1,
                       help="index of a lying rollup (default none)")
    group.add_argument("--relayer-faults", action="store_true",
                       help="relayers drop, duplicate, reorder and delay")
    group.add_argument("--hub-crash-ms", type=float, default=0.0,
                       help="crash every hub at this time and twice it (0: never)")
    group.add_argument("--hub-down-ms", type=float, default=300.0,
                       help="how long a crashed node stays down (every crash option)")
    group.add_argument("--da-down-ms", type=float, default=0.0,
                       help="how long the crashed DA grid stays down (0: --hub-down-ms)")
    group.add_argument("--torn-writes", action="store_true",
                       help="a crash keeps a random prefix of the unsynced writes (not none)")
    group.add_argument("--seq-crash-ms", type=float, default=0.0,
                       help="crash every sequencer node at this time and twice it (0: never)")
    group.add_argument("--da-crash-ms", type=float, default=0.0,
                       help="crash the DA grid node at this time and twice it (0: never)")
    group.add_argument("--watcher-crash-ms", type=float, default=0.0,
                       help="crash the challenger node at this time and twice it (0: never)")
    group.add_argument("--rollup-churn", action="store_true",
                       help="the last rollup joins late, the first retires mid-run")
    group.add_argument("--rollup-drain-ms", type=float, default=4_000.0)


class World:
    """What the scenario built, and the checks over it."""

    def __init__(self, sim: Simulation, options: Mapping[str, Any]) -> None:
        self.sim = sim
        self.rollups = max(1, int(option(options, "rollups", ROLLUPS_DEFAULT)))
        self.hubs = max(1, int(option(options, "hubs", HUBS_DEFAULT)))
        self.liar = int(option(options, "rollup_liar", -1))
        self.duration_ms = float(option(options, "duration_ms", DURATION_MS))
        self.drain_ms = float(option(options, "rollup_drain_ms", 4_000.0))
        self.probe = RollupProbe()
        self.params = FocusParams(eps=EPS)
        self.replayers: dict[bytes, Replayer] = {}
        self.failures: list[str] = []
        self.checks = 0
        self.retired_buckets: set[bytes] = set()
        self.resume_failures: list[str] = []
        self.resumes_checked = 0
        self.before: dict[str, Any] = {}

    def rollup(self, i: int) -> str:
        """Node name of rollup i."""
        return rollup_name(i)

    def top(self) -> HubActor | None:
        node = self.sim.node("hub0") if self.sim.is_up("hub0") else None
        actor = node.actor_of(node.ref("hub0", f"{SUP}/hub")) if node else None
        return actor if isinstance(actor, HubActor) else None

    def da(self) -> DaGridActor:
        actor = self.da_or_none()
        assert actor is not None, "the DA grid is down"
        return actor

    def da_or_none(self) -> DaGridActor | None:
        """The DA grid actor, None while its node is down or restarting."""
        if not self.sim.is_up("da"):
            return None
        node = self.sim.node("da")
        actor = node.actor_of(node.ref("da", f"{SUP}/da"))
        return actor if isinstance(actor, DaGridActor) else None

    def hub_actors(self) -> list[HubActor]:
        out = []
        for j in range(self.hubs):
            name = f"hub{j}"
            if self.sim.is_up(name):
                node = self.sim.node(name)
                a = node.actor_of(node.ref(name, f"{SUP}/hub"))
                if isinstance(a, HubActor):
                    out.append(a)
        return out

    def sequencers(self) -> list[SequencerActor]:
        return [s for i in range(self.rollups) if (s := self.sequencer(i)) is not None]

    # ---------------------------------------------------------------- checks

    def check_consistency(self) -> bool:
        """Merged global π of the top hub vs a from-scratch π re-executed from DA."""
        top = self.top()
        da = self.da_or_none()
        if top is None or not top.core.height or da is None:
            return True  # nothing merged yet, or the DA grid is down (checked later)
        core = top.core
        graphs = []
        for b in core.order:
            rep = self.replayers.get(b)
            if rep is None:
                from focusflow.actors.rollup.bucket import Bucket

                rep = self.replayers[b] = Replayer(b, Bucket(b).namespace, self.params)
            if rep.spent:
                return False  # a fraudulent claim was accepted (reported when found)
            for claim in core.accepted[b].history[rep.period:core.snapshot[b]]:
                finding = rep.check(claim, da.squares.get)
                if finding.fraud:
                    self.failures.append(f"accepted claim {b!r}/{claim.period}: {finding}")
                    return False
            if rep.period != core.snapshot[b]:
                return True  # the checker is behind (cannot happen: history holds them)
            graphs.append(rep.graph)
        ref = union_focus(graphs, FocusParams(eps=1e-13))
        got = dequantize(core.global_q)
        self.checks += 1
        n = len(ref)
        bound = pi_bound(n)
        err = float(np.abs(got - ref).sum()) if len(got) == n else float("inf")
        if not err <= bound:
            self.failures.append(f"height {core.height}: |merged - scratch|_1 = {err:.3e} "
                                 f"> {bound:.3e} (n={n}, got {len(got)})")
            return False
        return True

    def cores_ok(self) -> bool:
        for a in self.hub_actors():
            a.invariants()
        for s in self.sequencers():
            s.invariants()
        return True

    def relayed(self) -> int:
        """Messages the relayers carried (duplicates included)."""
        if not self.sim.is_up("relayer"):
            return 0
        node = self.sim.node("relayer")
        total = 0
        for path in node.paths():
            a = node.actor_of(node.ref("relayer", path))
            if isinstance(a, RelayerActor):
                total += a.relayed
        return total

    def no_double_delivery(self) -> bool:
        return all(v == 1 for v in self.probe.delivered.values())

    # ---------------------------------------------------------------- crash and resume

    def sequencer(self, i: int) -> SequencerActor | None:
        """Rollup i's sequencer actor, if its node is up."""
        name = self.rollup(i)
        if not self.sim.is_up(name):
            return None
        node = self.sim.node(name)
        a = node.actor_of(node.ref(name, f"{SUP}/seq"))
        return a if isinstance(a, SequencerActor) else None

    def remember(self, node: str) -> None:
        """Just before a crash: what a node has committed (must come back exactly)."""
        if node == "da":
            da = self.da_or_none()
            if da is not None:
                self.before[node] = set(da.squares)
            return
        if not node.startswith("rollup"):
            return
        i = int(node.removeprefix("rollup"))
        s = self.sequencer(i)
        if s is not None:
            self.before[node] = _committed(s)

    def compare(self, node: str) -> None:
        """After a restart (and replay): nothing committed lost, nothing invented."""
        before = self.before.pop(node, None)
        if before is None:
            return
        self.resumes_checked += 1
        if node == "da":
            da = self.da_or_none()
            lost = before - (set() if da is None else set(da.squares))
            if lost:
                self.resume_failures.append(f"da lost {len(lost)} squares")
            return
        s = self.sequencer(int(node.removeprefix("rollup")))
        now = None if s is None else _committed(s)
        if now != before:
            self.resume_failures.append(f"{node}: before {before}, after {now}")


def _committed(s: SequencerActor) -> tuple[Any, ...]:
    """A sequencer's committed state: batches, period, vector root, graph size, channel
    sequence numbers. Not the acknowledgements it had taken: an ack is logged without a
    sync, so a crash may take it back (the relayer brings it again), and a relayer may
    bring new ones between the restart and this check."""
    c, ch = s.core, s.ibc.channels["hub"]
    return (c.seq, c.first_unclaimed, c.period, c.root, c.links_ordered, c.graph.store.n,
            c.graph.links, c.retiring, ch.next_send)


def _boot_supervised(children: list[ChildSpec]) -> Any:
    def boot(node: Node) -> None:
        node.spawn(Supervisor, SupervisorFlags(intensity=5, period_ms=1_000), children,
                   name="sup")
    return boot


def build_world(sim: Simulation, options: Mapping[str, Any]) -> World:
    """Build the hierarchy on ``sim``; returns the world with its probe and checks."""
    w = World(sim, options)
    sim.network.set_default(latency_ms=5.0, jitter_ms=2.0)
    torn = bool(options.get("torn_writes"))
    for name, children in topology(options, w.probe).items():
        sim.add_node(name, boot=_boot_supervised(children), torn_writes=torn)
    _schedule(w, options, [f"bucket-{i}" for i in range(w.rollups)])
    return w


def _control(w: World, node: str, path: str, msg: Any) -> None:
    if w.sim.is_up(node):
        n = w.sim.node(node)
        n.tell(n.ref(node, path), msg)


def _restart(sim: Simulation, name: str) -> None:
    sim.restart_node(name)


def _crash(w: World, name: str) -> None:
    if w.sim.is_up(name):
        w.remember(name)
        w.sim.crash_node(name)


def _schedule(w: World, options: Mapping[str, Any], names: list[str]) -> None:
    sim, R = w.sim, w.rollups
    end = w.duration_ms
    drain = float(option(options, "rollup_drain_ms", 4_000.0))
    churn = bool(options.get("rollup_churn")) and R >= 2
    client = f"{SUP}/client"
    for i, name in enumerate(names):
        start = 0.5 * (end - drain) if churn and i == R - 1 else 1.0
        sim.call_later(start, partial(_control, w, "client", client, ClientControl(name, True)))
        sim.call_later(end - drain,
                       partial(_control, w, "client", client, ClientControl(name, False)))
    if churn:
        t = 0.4 * (end - drain)
        sim.call_later(t, lambda: _control(w, "client", client, ClientControl(names[0], False)))
        sim.call_later(t + 100.0, lambda: _control(w, w.rollup(0), f"{SUP}/seq",
                                                   RollupTick(TICK_RETIRE)))
        w.retired_buckets.add(bucket_key(0))
    down = float(option(options, "hub_down_ms", 300.0))
    crashes = {"hub_crash_ms": [f"hub{j}" for j in range(w.hubs)],
               "seq_crash_ms": [w.rollup(i) for i in range(R)],
               "da_crash_ms": ["da"], "watcher_crash_ms": ["watcher"]}
    da_down = float(option(options, "da_down_ms", 0.0)) or down
    for opt, nodes in crashes.items():
        crash = float(option(options, opt, 0.0))
        if crash <= 0:
            continue
        gone = da_down if opt == "da_crash_ms" else down
        for at in (crash, 2 * crash):
            for j, name in enumerate(nodes):
                sim.call_later(at + 37.0 * j, partial(_crash, w, name))
                sim.call_later(at + 37.0 * j + gone, partial(_restart, sim, name))
                # replay runs in the node's first steps; batches start 100 ms later
                sim.call_later(at + 37.0 * j + gone + 50.0, partial(w.compare, name))

    def periodic() -> None:
        w.check_consistency()
        sim.call_later(CHECK_EVERY_MS, periodic)

    sim.call_later(CHECK_EVERY_MS, periodic)


def _select(options: Mapping[str, Any]) -> bool:
    return options.get("rollups") is not None or options.get("hubs") is not None


_WORLDS: dict[int, World] = {}


@register_scenario("rollups", help="semantic rollups, relayers and supply-rank hubs",
                   add_arguments=add_arguments, duration_ms=DURATION_MS, priority=-1,
                   select=_select, finish=lambda sim, o: finish(sim, o))
def build(sim: Simulation, options: Mapping[str, Any]) -> None:
    """Register the world and its invariants on ``sim``."""
    w = build_world(sim, options)
    _WORLDS[id(sim)] = w
    sim.add_invariant("rollup_cores", w.cores_ok)
    sim.add_invariant("no_double_delivery", w.no_double_delivery)
    sim.add_invariant("global_pi_consistent", lambda: not w.failures)
    sim.add_invariant("crashed_nodes_resume_exactly", lambda: not w.resume_failures)


def finish(sim: Simulation, options: Mapping[str, Any]) -> dict[str, Any]:
    """End-of-run checks and the summary fields."""
    w = _WORLDS.pop(id(sim), None)
    return {} if w is None else end_checks(w)


def end_checks(w: World) -> dict[str, Any]:
    """Run the end-of-drain checks on ``w``; returns the summary fields."""
    sim = w.sim
    consistent = w.check_consistency() and not w.failures
    top = w.top()
    liar_key = public_key(w.rollup(w.liar)) if 0 <= w.liar < w.rollups else None
    slashed = set(w.probe.slashed)
    liar_ok = slashed == ({liar_key} if liar_key else set())
    merged_all = top is not None
    missing: list[str] = []
    for i in range(w.rollups):
        s = w.sequencer(i)
        if s is None:
            merged_all = False
            missing.append(f"rollup{i} is down at the end")
            continue
        b = s.core.bucket.key
        if i == w.liar or top is None:
            continue
        acc = top.core.accepted.get(b)
        got = acc.period if acc else 0
        if got != s.core.period or (b not in w.retired_buckets and top.core.snapshot.get(
                b, 0) != s.core.period):
            merged_all = False
            missing.append(f"{b!r}: sent {s.core.period}, accepted {got}")
    sim.invariant_results["global_pi_consistent"] = consistent
    sim.invariant_results["liar_slashed_only"] = liar_ok
    sim.invariant_results["all_claims_merged"] = merged_all
    links = w.probe.links_ordered
    active_s = max(w.duration_ms - w.drain_ms, 1.0) / 1e3
    return {
        "global_sync_ms_p50": round(w.probe.percentile_ms(50), 3),
        "global_sync_ms_p99": round(w.probe.percentile_ms(99), 3),
        "links_ordered": links,
        "links_per_s": round(links / active_s, 1),
        "claims_merged": sum(len(a.history) for a in top.core.accepted.values()) if top else 0,
        "global_height": top.core.height if top else 0,
        "slashed": len(slashed),
        "hub_restarts": w.probe.hub_restarts,
        "resumes_checked": w.resumes_checked,
        "resume_failures": w.resume_failures[:5],
        "packets_refused": sum(a.refused for a in w.hub_actors()),
        "relayed": w.relayed(),
        "consistency_checks": w.checks,
        "consistency_failures": w.failures[:5],
        "unmerged": missing[:5],
        "rollups": w.rollups,
        "hubs": w.hubs,
        "buckets_in_snapshot": len(top.core.order) if top else 0,
        "buckets_retired": len(top.core.retired) if top else 0,
    }
