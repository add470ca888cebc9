"""Jepsen-style nemeses against a live devnet: one fault pattern within tolerance, a heal,
then a verdict on safety and liveness (issue 16, "fuzzing and nemeses as part of the suite").

A 4-validator devnet tolerates f = 1 faulty validator at any time. Each nemesis below keeps
to that; what it does, then how it heals:

* ``kill9``: SIGKILL one validator (nothing runs on the way down); restart it.
* ``pause``: SIGSTOP one validator (frozen mid-step, its sockets open); SIGCONT it.
* ``restart_while_down``: SIGKILL validator A and leave it down; SIGKILL validator B and
  restart it while A is still down (two faults in sequence, one at a time); the chain must
  move with B back and A down; then restart A.
* ``full_restart``: SIGKILL all four; start all four (no validator is faulty afterwards,
  but none kept anything in memory).
* ``partition``: cut one validator's cable (network namespaces: root only); reconnect it.

After the heal the nemesis asserts, as an :class:`Outcome`:

* **no committed block lost or changed**: every node's block digests read (paged
  ``/v1/blocks``) before the fault are all still there, unchanged, after it; a killed node's
  durable block log, read while its process is down, holds them too; and all nodes agree
  height by height (:func:`focusflow.topology.verdict.compare`);
* **progress**: within ``progress_s`` (10 s) of the heal, the finalized height grows past
  the highest one any node reported at the heal (itself at least the pre-fault tip);
* **recovery**: within ``settle_s`` every validator is back in consensus mode, at the tip
  of the heal or above, so that the next nemesis starts within tolerance again.

A failed expectation is recorded as a problem with each node's view (mode, round, heights)
so that a stall can be diagnosed from the outcome alone. The faults are made by the harness
(signals, ``ip link``), never by the node: the same binary an operator runs is under test.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from focusflow.node import client
from focusflow.node.chain import ChainError, read_durable_chain
from focusflow.topology.devnet import Devnet, Workload
from focusflow.topology.netns import Fabric
from focusflow.topology.verdict import DISAGREE, View, compare, fetch_rows

NEMESES = ("kill9", "pause", "restart_while_down", "full_restart", "partition")
PROGRESS_S = 10.0
SETTLE_S = 45.0
FAULT_S = 2.0
PROBE_TIMEOUT_S = 2.0
POLL_S = 0.2
STATUS_KEYS = ("mode", "mode_reason", "round", "finalized_height", "built_height",
               "consensus_mode", "last_signed")


@dataclass
class Outcome:
    """What one nemesis did and what held (see module docstring)."""

    nemesis: str
    victims: list[str]
    tip_before: int = 0  # highest finalized height any node reported before the fault
    tip_at_heal: int = 0  # highest finalized height any node reported once healed
    progress_s: float | None = None  # heal -> a height above tip_at_heal; None: not in time
    settle_s: float | None = None  # heal -> every validator in consensus; None: not in time
    progress_one_down_s: float | None = None  # restart_while_down: B back, A still down
    heights_checked: int = 0  # heights every node's after-view was compared at
    safety: list[str] = field(default_factory=list)  # a block lost, changed, or nodes disagree
    liveness: list[str] = field(default_factory=list)  # no progress, no recovery, no restart
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # each node's last view

    @property
    def problems(self) -> list[str]:
        """Every failed expectation, safety first."""
        return [*self.safety, *self.liveness]

    @property
    def ok(self) -> bool:
        """Safety, progress and recovery all held."""
        return not self.problems

    def describe(self) -> str:
        """A few lines for an assertion message or a terminal."""
        head = (f"{self.nemesis} on {','.join(self.victims)}: tip {self.tip_before} -> heal at "
                f"{self.tip_at_heal}, progress {self.progress_s}, settled {self.settle_s}, "
                f"{self.heights_checked} heights checked")
        lines = [head, *(f"  PROBLEM {p}" for p in self.problems)]
        if self.problems:
            lines += [f"  {name}: {view}" for name, view in sorted(self.nodes.items())]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The outcome as the benchmark's JSON summary carries it."""
        return {"nemesis": self.nemesis, "victims": self.victims, "ok": self.ok,
                "tip_before": self.tip_before, "tip_at_heal": self.tip_at_heal,
                "progress_s": self.progress_s, "settle_s": self.settle_s,
                "progress_one_down_s": self.progress_one_down_s,
                "heights_checked": self.heights_checked, "problems": self.problems,
                "nodes": self.nodes if self.problems else {}}


class Load:
    """A light stream of signed link transactions to the running validators, in a thread of
    the harness, while a nemesis runs (a node that does not answer is skipped)."""

    def __init__(self, net: Devnet, *, seed: int = 1, batch: int = 4, pause_s: float = 0.25) -> None:
        self.net = net
        self.work = Workload(chain_id=net.chain_id, seed=seed, links_per_tx=10)
        self.batch, self.pause_s = batch, pause_s
        self.accepted = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="nemesis-load", daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        turn = 0
        while not self.stopping.wait(self.pause_s):
            alive = self.net.alive()
            if not alive:
                continue
            txs, tags = self.work.txs(self.batch)
            target = self.net.nodes[alive[turn % len(alive)]]
            turn += 1
            with contextlib.suppress(client.NodeUnavailable):
                reply = client.submit(target.url, txs, tags, timeout_s=PROBE_TIMEOUT_S)
                self.accepted += int(reply.get("accepted", 0))


class Nemesis:
    """Runs the nemeses of the module docstring against ``net`` (started, 4 validators);
    ``fabric`` is the namespace fabric the devnet runs in, needed only by ``partition``."""

    def __init__(self, net: Devnet, *, rng: random.Random | None = None,
                 fabric: Fabric | None = None, progress_s: float = PROGRESS_S,
                 settle_s: float = SETTLE_S, fault_s: float = FAULT_S) -> None:
        self.net = net
        self.rng = rng or random.Random(0)
        self.fabric = fabric
        self.progress_s, self.settle_s, self.fault_s = progress_s, settle_s, fault_s
        self.everyone = list(range(len(net.nodes)))

    def run(self, name: str, victims: list[int] | None = None) -> Outcome:
        """Run nemesis ``name`` (one of :data:`NEMESES`) on ``victims`` (random if None)."""
        runs: dict[str, Callable[[list[int]], Outcome]] = {
            "kill9": self.kill9, "pause": self.pause, "restart_while_down": self.restart_while_down,
            "full_restart": self.full_restart, "partition": self.partition}
        if name not in runs:
            raise ValueError(f"unknown nemesis {name!r}; known: {', '.join(NEMESES)}")
        want = 2 if name == "restart_while_down" else 1
        chosen = victims if victims is not None else self.rng.sample(self.everyone, want)
        return runs[name](chosen)

    # ------------------------------------------------------------------ the nemeses
    def kill9(self, victims: list[int]) -> Outcome:
        """SIGKILL one validator, restart it."""
        (v,) = victims
        out, before = self._begin("kill9", victims)
        self.net.kill(v)
        self._check_durable(out, v, before)
        time.sleep(self.fault_s)
        self._restart(out, [v])
        return self._judge(out, before)

    def pause(self, victims: list[int]) -> Outcome:
        """SIGSTOP one validator, SIGCONT it."""
        (v,) = victims
        out, before = self._begin("pause", victims)
        self.net.pause(v)
        try:
            time.sleep(self.fault_s)
        finally:
            self.net.resume(v)
        return self._judge(out, before)

    def restart_while_down(self, victims: list[int]) -> Outcome:
        """SIGKILL A; SIGKILL B and restart it while A is down; then restart A."""
        a, b = victims
        out, before = self._begin("restart_while_down", victims)
        self.net.kill(a)
        self._check_durable(out, a, before)
        time.sleep(self.fault_s / 2)
        self.net.kill(b)
        self._check_durable(out, b, before)
        time.sleep(self.fault_s / 2)
        self._restart(out, [b])
        up = [i for i in self.everyone if i != a]
        tip = self._tip(up)
        out.progress_one_down_s = self._progress(up, tip)
        if out.progress_one_down_s is None:
            out.liveness.append(f"no block above {tip} within {self.progress_s:.0f} s of "
                                f"restarting {self.net.nodes[b].name} while "
                                f"{self.net.nodes[a].name} is down")
        self._restart(out, [a])
        return self._judge(out, before)

    def full_restart(self, victims: list[int]) -> Outcome:
        """SIGKILL every validator; start them all."""
        out, before = self._begin("full_restart", list(self.everyone))
        for i in self.everyone:
            self.net.kill(i)
        for i in self.everyone:
            self._check_durable(out, i, before)
        time.sleep(self.fault_s / 2)
        self._restart(out, list(self.everyone))
        return self._judge(out, before)

    def partition(self, victims: list[int]) -> Outcome:
        """Cut one validator's cable at the bridge; reconnect it."""
        if self.fabric is None:
            raise ValueError("the partition nemesis needs the devnet in a namespace fabric")
        (v,) = victims
        out, before = self._begin("partition", victims)
        self.fabric.cut(v)
        try:
            time.sleep(self.fault_s)
        finally:
            self.fabric.cut(v, up=True)
        return self._judge(out, before)

    # ------------------------------------------------------------------ measuring
    def _begin(self, name: str, victims: list[int]) -> tuple[Outcome, dict[str, View]]:
        """Wait until every validator is in consensus, then read every node's digests."""
        out = Outcome(name, [self.net.nodes[i].name for i in victims])
        if self._settle(self.everyone) is None:
            out.liveness.append(f"before the fault: not every validator in consensus within "
                                f"{self.settle_s:.0f} s")
        before = self._views(out, self.everyone, "before the fault")
        out.tip_before = self._tip(self.everyone)
        return out, before

    def _judge(self, out: Outcome, before: dict[str, View]) -> Outcome:
        """After the heal: progress, recovery, then safety against ``before``."""
        out.tip_at_heal = self._tip(self.everyone)
        healed = time.monotonic()
        out.progress_s = self._progress(self.everyone, out.tip_at_heal)
        if out.progress_s is None:
            out.liveness.append(f"no block above {out.tip_at_heal} within "
                                f"{self.progress_s:.0f} s of the heal")
        settled = self._settle(self.everyone, out.tip_at_heal)
        out.settle_s = None if settled is None else round(time.monotonic() - healed, 2)
        if settled is None:
            out.liveness.append(f"not every validator back in consensus at height "
                                f"{out.tip_at_heal} or above within "
                                f"{self.settle_s:.0f} s of the heal")
        after = self._views(out, self.everyone, "after the heal")
        for name, rows in before.items():
            self._same_prefix(out, name, rows, after.get(name), "after the heal")
        verdict = compare("block digest", after)
        out.heights_checked = verdict.heights_checked
        if verdict.status == DISAGREE:
            out.safety.append(verdict.describe())
        elif not verdict.agree:  # fewer than two nodes answered: unavailability, not a fork
            out.liveness.append(verdict.describe())
        out.nodes = self._statuses()
        return out

    def _check_durable(self, out: Outcome, i: int, before: dict[str, View]) -> None:
        """A stopped node's durable block log holds what it served before the fault."""
        n = self.net.nodes[i]
        try:
            chain = read_durable_chain(n.home / "data")
        except ChainError as exc:
            out.safety.append(f"{n.name}'s durable block log unreadable while down: {exc}")
            return
        self._same_prefix(out, n.name, before.get(n.name, []), chain.digests,
                          "in its durable log while down")

    @staticmethod
    def _same_prefix(out: Outcome, name: str, rows: Iterable[tuple[int, str]],
                     later: Iterable[tuple[int, str]] | None, when: str) -> None:
        if later is None:
            return  # not read: already a problem of its own
        now = dict(later)
        lost = [h for h, _ in rows if h not in now]
        changed = [h for h, d in rows if h in now and now[h] != d]
        if lost:
            out.safety.append(f"{name}: {len(lost)} committed block(s) lost {when}, "
                                f"first at height {lost[0]}")
        if changed:
            out.safety.append(f"{name}: {len(changed)} committed block(s) changed {when}, "
                                f"first at height {changed[0]}")

    def _views(self, out: Outcome, indices: list[int], when: str) -> dict[str, View]:
        views: dict[str, View] = {}
        for i in indices:
            n = self.net.nodes[i]
            try:
                views[n.name] = fetch_rows(n.url, "blocks")
            except client.NodeUnavailable as exc:
                out.liveness.append(f"{n.name}: blocks unreadable {when}: {exc}")
        return views

    def _restart(self, out: Outcome, indices: list[int]) -> None:
        for i in indices:
            self.net.start(i)
        try:
            self.net.wait_ready(indices)
        except (TimeoutError, RuntimeError) as exc:
            out.liveness.append(f"restart failed: {exc}")

    def _height(self, i: int) -> int | None:
        height = self._view(i).get("finalized_height")
        return height if isinstance(height, int) else None

    def _tip(self, indices: list[int]) -> int:
        return max((h for i in indices if (h := self._height(i)) is not None), default=0)

    def _progress(self, indices: list[int], tip: int) -> float | None:
        """Seconds until some listed node reports a height above ``tip``; None: not in time."""
        start = time.monotonic()
        while time.monotonic() - start < self.progress_s:
            if self._tip(indices) > tip:
                return round(time.monotonic() - start, 2)
            time.sleep(POLL_S)
        return None

    def _settle(self, indices: list[int], height: int = 0) -> float | None:
        """Seconds until every listed validator answers in consensus mode at ``height`` or
        above (a cut-off validator stays in consensus mode while it catches up by DAG
        sync); None: not in time."""
        start = time.monotonic()
        while time.monotonic() - start < self.settle_s:
            views = [self._view(i) for i in indices]
            if all(v.get("mode") == "consensus" and int(v.get("finalized_height", -1)) >= height
                   for v in views):
                return round(time.monotonic() - start, 2)
            time.sleep(POLL_S)
        return None

    def _view(self, i: int) -> dict[str, Any]:
        """The validator part of node ``i``'s /status ({} when it does not answer)."""
        with contextlib.suppress(client.NodeUnavailable):
            data = client.get(self.net.nodes[i].url, "/status", timeout_s=PROBE_TIMEOUT_S)
            view = data.get("validator", {}) if isinstance(data, dict) else {}
            return view if isinstance(view, dict) else {}
        return {}

    def _statuses(self) -> dict[str, dict[str, Any]]:
        """Each node's mode, round and heights now (the diagnosis of a failed outcome)."""
        views: dict[str, dict[str, Any]] = {}
        for n in self.net.nodes:
            try:
                data = client.get(n.url, "/status", timeout_s=PROBE_TIMEOUT_S)
                v = data.get("validator", {}) if isinstance(data, dict) else {}
                views[n.name] = {k: v.get(k) for k in STATUS_KEYS} if isinstance(v, dict) \
                    else {"error": str(v)}
            except client.NodeUnavailable as exc:
                views[n.name] = {"error": str(exc)}
        return views
