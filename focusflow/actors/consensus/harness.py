"""Deterministic multi-validator harness: n consensus cores over a fake network.

Pure Python and seeded: virtual time, a heap of events, one-way latency plus jitter,
random drops, partitions that heal, crashes and restarts, and Byzantine behaviours
(equivocation, withholding, double votes, invalid signatures). Every message crosses the
fake wire as Cap'n Proto bytes. After every step the harness runs the stepped core's
``invariants()`` and the global safety checks: no two honest validators finalize
different blocks at one height (agreement) and every finalized transaction was submitted
by a client, at most once (validity). A failure message names the reproducing call.

This module is test and benchmark machinery (like ``focusflow/sim``), never imported by
a node.
"""

from __future__ import annotations

import heapq
import random  # runtime-ok: seeded generators of a test harness, not actor code
import time  # runtime-ok: a test harness measuring its own wall time, not actor code
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import blake3
import numpy as np

from focusflow.actors.avalanche.core import AvalancheConfig
from focusflow.actors.bft.core import BftConfig
from focusflow.actors.bft.reputation import ReputationConfig
from focusflow.actors.consensus.adversary import BEHAVIOURS, Adversary
from focusflow.actors.consensus.blocks import BlockConfig
from focusflow.actors.consensus.crypto import DOMAIN_TX, CachingVerifier, Signer, digest
from focusflow.actors.consensus.node import NodeConfig, ValidatorCore
from focusflow.actors.consensus.types import (
    Broadcast,
    ClientTx,
    Commit,
    Committee,
    Effect,
    Finalize,
    Misbehaviour,
    ModeChange,
    Reject,
    Send,
    SetTimer,
    Validator,
)
from focusflow.actors.mempool.budget import BudgetConfig
from focusflow.actors.mempool.core import DagConfig

events_max = 5_000_000


@dataclass(frozen=True)
class Scenario:
    """One harness run, fully determined by its fields (the seed included)."""

    validators: int = 4
    seed: int = 0
    latency_ms: float = 50.0
    jitter_ms: float = 5.0
    drop_rate: float = 0.0
    duration_ms: int = 10_000
    byzantine: tuple[tuple[int, tuple[str, ...]], ...] = ()
    partitions: tuple[tuple[int, int, tuple[int, ...]], ...] = ()  # (start_ms, end_ms, side A)
    crashes: tuple[tuple[int, int, int], ...] = ()  # (validator, start_ms, end_ms)
    tx_rate_per_s: float = 200.0
    submit_every_ms: int = 50
    clients: int = 16
    leader_timeout_ms: int | None = None
    beta: int | None = None
    header_txs_max: int = 512
    fallback_after_timeouts: int = 2
    # (validator, at_ms): its memory is lost and a new core resumes on the chain the
    # others finalized (block sync, instantaneous here), above its signing watermark
    restarts: tuple[tuple[int, int], ...] = ()
    votes_to_all: bool = True  # DagConfig.votes_to_all (False: votes to the author only)
    submit_until_ms: int | None = None  # clients stop here (None: run long); the rest drains
    reputation: bool = True  # BftConfig.reputation.enabled (False: plain round-robin leaders)
    slow: tuple[tuple[int, float], ...] = ()  # (validator, extra ms on everything it sends)
    # Execution cost (virtual CPU time per ordered tx): a validator that executes a block
    # is busy that long, and what arrives meanwhile waits (one event loop, as live). 0: free.
    exec_us_per_tx: float = 0.0
    queue_delay_ms: int | None = None  # the mempool's latency budget (None: the default)
    queue_bytes_min: int | None = None  # its floor (None: the default)

    def repro(self) -> str:
        """The call that reproduces this run."""
        return f"focusflow.actors.consensus.harness.run({self!r})"


def _payload_signer(clients: int, seed: int) -> list[Signer]:
    rng = random.Random(seed ^ 0x5EED)
    return [Signer(rng.randbytes(32)) for _ in range(clients)]


class Workload:
    """Signed cyberlinks: from-cid, to-cid, nonce, client key, Ed25519 signature."""

    def __init__(self, clients: int, seed: int) -> None:
        self.signers = _payload_signer(clients, seed)
        self.rng = random.Random(seed ^ 0xC11E)
        self.nonce = 0

    def make(self, count: int) -> list[ClientTx]:
        """``count`` fresh signed links with skewed focus tags."""
        out = []
        for _ in range(count):
            c = self.rng.randrange(len(self.signers))
            self.nonce += 1
            link = self.rng.randbytes(64) + self.nonce.to_bytes(8, "little")
            s = self.signers[c]
            payload = link + s.public_key + s.sign(link)
            focus = int(min(2**32 - 1, self.rng.paretovariate(1.5) * 1_000_000))
            out.append(ClientTx(payload, focus, c))
        return out


def admit_links(verifier: CachingVerifier) -> object:
    """Batch admission for ``Workload`` links: length and Ed25519 signature."""

    def admit(payloads: Sequence[bytes]) -> list[bool]:
        ok = []
        for p in payloads:
            if len(p) != 72 + 32 + 64:
                ok.append(False)
                continue
            ok.append(verifier.verify(p[72:104], p[:72], p[104:]))
        return ok

    return admit


def toy_state_transition(parent: bytes, txs: Sequence[bytes]) -> tuple[bytes, bytes]:
    """Stand-in for the state actor: a hash chain over the ordered transactions."""
    h = blake3.blake3(b"focusflow/harness/state/v1\x00" + parent)
    for t in txs:
        h.update(digest(DOMAIN_TX, t))
    state = h.digest()
    return state, blake3.blake3(b"focusflow/harness/pi/v1\x00" + state).digest()


@dataclass
class Result:
    """What a run produced; ``agreement`` and ``validity`` are the safety verdicts."""

    scenario: Scenario
    finalized_height: int = 0
    finalized_heights: dict[int, int] = field(default_factory=dict)
    links_committed: int = 0
    finality_ms: list[float] = field(default_factory=list)
    commits_via: dict[str, int] = field(default_factory=dict)
    mode_changes: list[tuple[int, int, str, int]] = field(default_factory=list)  # (t_ms, node, mode, slot)
    misbehaviour: dict[str, int] = field(default_factory=dict)
    rejections: int = 0
    rejected_txs: set[bytes] = field(default_factory=set)  # digests of explicitly refused txs
    agreement: bool = True
    validity: bool = True
    events: int = 0
    wall_s: float = 0.0
    fallback_commit_times_ms: list[float] = field(default_factory=list)
    fast_commit_times_ms: list[float] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float:
        """Finality percentile (ms of virtual time), NaN without data."""
        return float(np.percentile(self.finality_ms, q)) if self.finality_ms else float("nan")

    def summary(self) -> dict[str, object]:
        """JSON-ready figures (the ``focusflow sim`` summary keys)."""
        duration_s = self.scenario.duration_ms / 1000
        return {
            "validators": self.scenario.validators,
            "byzantine": len(self.scenario.byzantine),
            "latency_ms": self.scenario.latency_ms,
            "finalized_height": self.finalized_height,
            "links_committed": self.links_committed,
            "finality_ms_p50": round(self.percentile_ms(50), 1),
            "finality_ms_p99": round(self.percentile_ms(99), 1),
            "links_per_second": round(self.links_committed / duration_s, 1),
            "commits_fast": self.commits_via.get("fast", 0),
            "commits_fallback": self.commits_via.get("fallback", 0),
            "invariants": {"agreement": self.agreement, "validity": self.validity},
            "wall_s": round(self.wall_s, 2),
        }


class SafetyViolation(AssertionError):
    """Two honest validators disagree, or an unsubmitted transaction was finalized."""


def _budget(sc: Scenario) -> BudgetConfig:
    d = BudgetConfig()
    return BudgetConfig(queue_delay_ms=d.queue_delay_ms if sc.queue_delay_ms is None else sc.queue_delay_ms,
                        queue_bytes_min=d.queue_bytes_min if sc.queue_bytes_min is None else sc.queue_bytes_min)


class Harness:
    """Runs a ``Scenario``; see module docstring."""

    def __init__(self, scenario: Scenario) -> None:
        sc = scenario
        assert sc.validators >= 4 or not sc.byzantine
        assert 3 * len(sc.byzantine) < sc.validators, "the harness keeps f < n/3"
        self.sc = sc
        self.rng = random.Random(sc.seed)
        seeds = [random.Random(sc.seed * 1000 + i).randbytes(32) for i in range(sc.validators)]
        self.signers = [Signer(s) for s in seeds]
        self.committee = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(self.signers)))
        self.verifier = CachingVerifier()
        admit = admit_links(self.verifier)
        timeout = sc.leader_timeout_ms or int(max(600, 8 * sc.latency_ms + 4 * sc.jitter_ms))
        poll_timeout = int(max(100, 5 * (sc.latency_ms + sc.jitter_ms)))  # >= 2 RTT: room for one re-ask
        avalanche = AvalancheConfig(poll_timeout_ms=poll_timeout)
        if sc.beta is not None:
            from focusflow.actors.avalanche.core import SnowballParams

            avalanche = replace(avalanche, params=SnowballParams.scaled(sc.validators, beta=sc.beta))
        config = NodeConfig(
            dag=DagConfig(
                resend_ms=int(max(200, 4 * sc.latency_ms)),
                header_txs_max=sc.header_txs_max,
                votes_to_all=sc.votes_to_all,
                budget=_budget(sc),
            ),
            bft=BftConfig(
                leader_timeout_ms=timeout,
                fallback_after_timeouts=sc.fallback_after_timeouts,
                reputation=ReputationConfig(enabled=sc.reputation),
            ),
            avalanche=avalanche,
            blocks=BlockConfig(),
            fallback_fetch_timeout_ms=timeout,
        )
        self.byzantine = dict(sc.byzantine)
        self.slow_ms = dict(sc.slow)
        assert all(b in BEHAVIOURS for bs in self.byzantine.values() for b in bs)
        self.nodes = [
            ValidatorCore(
                committee=self.committee,
                me=i,
                signer=self.signers[i],
                verifier=self.verifier,
                admit_batch=admit,  # type: ignore[arg-type]
                execute=toy_state_transition,
                rng=random.Random(sc.seed * 7919 + i),
                config=config,
            )
            for i in range(sc.validators)
        ]
        self.honest = [i for i in range(sc.validators) if i not in self.byzantine]
        self.adversary = Adversary(
            committee=self.committee,
            signers={i: self.signers[i] for i in self.byzantine},
            behaviours=self.byzantine,
            rng=self.rng,
            extra_tx=self._extra_tx,
        )
        self.workload = Workload(sc.clients, sc.seed)
        self.queue: list[tuple[int, int, str, tuple[object, ...]]] = []
        self.seq = 0
        self.now_ns = 0
        self.timers: set[tuple[int, int]] = set()
        self.submitted: dict[bytes, tuple[int, int]] = {}  # tx digest -> (node, t_ns)
        self.final_digest: dict[int, bytes] = {}
        self.finalized_txs: set[bytes] = set()
        self.chain: dict[int, Finalize] = {}  # height -> the first honest Finalize
        self.signers_at: dict[int, set[int]] = {}  # height -> every signer any honest node saw
        self.resumed_at: dict[int, int] = {}  # validator -> height it resumed on
        self.busy_until: list[int] = [0] * sc.validators  # ns: executing (exec_us_per_tx)
        self.result = Result(sc)

    # ------------------------------------------------------------------ plumbing

    def _push(self, at_ns: int, kind: str, *args: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at_ns, self.seq, kind, args))

    def _crashed(self, i: int, t_ns: int) -> bool:
        return any(v == i and s * 1e6 <= t_ns < e * 1e6 for v, s, e in self.sc.crashes)

    def _cut(self, a: int, b: int, t_ns: int) -> bool:
        for s, e, side in self.sc.partitions:
            if s * 1e6 <= t_ns < e * 1e6 and ((a in side) != (b in side)):
                return True
        return False

    def _send(self, sender: int, to: int, data: bytes) -> None:
        if to == sender or self.rng.random() < self.sc.drop_rate or self._cut(sender, to, self.now_ns):
            return
        delay_ms = self.sc.latency_ms + self.rng.random() * self.sc.jitter_ms + self.slow_ms.get(sender, 0.0)
        self._push(self.now_ns + int(delay_ms * 1e6), "deliver", to, sender, data)

    def _apply(self, i: int, effects: list[Effect]) -> None:
        for e in self._byzantine_filter(i, effects):
            if isinstance(e, Send):
                self._send(i, e.to, e.data)
            elif isinstance(e, Broadcast):
                for j in range(self.sc.validators):
                    self._send(i, j, e.data)
            elif isinstance(e, SetTimer):
                at = max(e.at_ns, self.now_ns + 1)
                if (i, at) not in self.timers:
                    self.timers.add((i, at))
                    self._push(at, "tick", i)
            elif isinstance(e, Finalize):
                self._on_finalize(i, e)
            elif isinstance(e, Commit):
                cost_ns = int(self.sc.exec_us_per_tx * 1000 * len(e.txs))
                self.busy_until[i] = max(self.busy_until[i], self.now_ns) + cost_ns
                if i in self.honest:
                    self.result.commits_via[e.via] = self.result.commits_via.get(e.via, 0) + 1
                    lst = self.result.fast_commit_times_ms if e.via == "fast" else self.result.fallback_commit_times_ms
                    lst.append(self.now_ns / 1e6)
            elif isinstance(e, ModeChange):
                self.result.mode_changes.append((int(self.now_ns / 1e6), i, e.mode, e.slot))
            elif isinstance(e, Misbehaviour):
                if i in self.honest:
                    self.result.misbehaviour[e.kind] = self.result.misbehaviour.get(e.kind, 0) + 1
            elif isinstance(e, Reject):
                self.result.rejections += 1
                self.result.rejected_txs.add(e.tx_digest)

    def _on_finalize(self, i: int, e: Finalize) -> None:
        if i not in self.honest:
            return
        h = e.header.height
        if (len(e.signatures) != len(e.signers)
                or self.committee.stake_of(e.signers) < self.committee.quorum_stake):
            raise SafetyViolation(f"height {h} finalized without the quorum stake of signatures; "
                                  f"reproduce: {self.sc.repro()}")
        prior = self.final_digest.setdefault(h, e.digest)
        if prior != e.digest:
            self.result.agreement = False
            raise SafetyViolation(f"validators disagree at height {h}; reproduce: {self.sc.repro()}")
        self.result.finalized_heights[i] = h
        self.chain.setdefault(h, e)
        self.signers_at.setdefault(h, set()).update(e.signers)
        for tx in e.txs:
            d = digest(DOMAIN_TX, tx)
            origin = self.submitted.get(d)
            if origin is None:
                self.result.validity = False
                raise SafetyViolation(f"unsubmitted tx finalized at {h}; reproduce: {self.sc.repro()}")
            if origin[0] == i:
                if d in self.finalized_txs:
                    self.result.validity = False
                    raise SafetyViolation(f"tx finalized twice; reproduce: {self.sc.repro()}")
                self.finalized_txs.add(d)
                self.result.links_committed += 1
                self.result.finality_ms.append((self.now_ns - origin[1]) / 1e6)

    # ------------------------------------------------------------------ Byzantine

    def _byzantine_filter(self, i: int, effects: list[Effect]) -> list[Effect]:
        return self.adversary.outgoing(i, self.nodes[i], effects)

    def _extra_tx(self, i: int) -> ClientTx:
        extra = self.workload.make(1)[0]
        self.submitted[digest(DOMAIN_TX, extra.payload)] = (i, self.now_ns)
        return extra

    def _deliver(self, to: int, sender: int, data: bytes) -> list[Effect]:
        node = self.nodes[to]
        self.adversary.incoming(to, node, data)
        return node.receive(data, sender, self.now_ns)

    # ------------------------------------------------------------------ run

    def run(self) -> Result:
        """Run to ``duration_ms`` of virtual time, checking safety after every step."""
        sc = self.sc
        t0 = time.perf_counter()  # runtime-ok: wall time of the run, reported only
        for i in range(sc.validators):
            self._push(0, "tick", i)
        for i, at_ms in sc.restarts:
            self._push(int(at_ms * 1e6), "restart", i)
        per_submit = sc.tx_rate_per_s * sc.submit_every_ms / 1000
        carry = 0.0
        t = 0
        submit_end = sc.duration_ms if sc.submit_until_ms is None else min(sc.duration_ms, sc.submit_until_ms)
        while t < submit_end:
            carry += per_submit
            count = int(carry)
            carry -= count
            if count:
                self._push(int(t * 1e6), "submit", count)
            t += sc.submit_every_ms
        end_ns = int(sc.duration_ms * 1e6)
        while self.queue and self.queue[0][0] <= end_ns:
            at, _, kind, args = heapq.heappop(self.queue)
            self.now_ns = at
            self.result.events += 1
            assert self.result.events <= events_max, "events_max reached"
            self._step(kind, args)
        self.result.wall_s = time.perf_counter() - t0  # runtime-ok: reported only
        heights = [self.result.finalized_heights.get(i, 0) for i in self.honest]
        self.result.finalized_height = min(heights) if heights else 0
        return self.result

    def _step(self, kind: str, args: tuple[object, ...]) -> None:
        if kind == "submit":
            (count,) = args
            assert isinstance(count, int)
            targets = [i for i in self.honest if not self._crashed(i, self.now_ns)]
            if not targets:
                return
            txs = self.workload.make(count)
            by_node: dict[int, list[ClientTx]] = {}
            for tx in txs:
                node = targets[self.rng.randrange(len(targets))]
                self.submitted[digest(DOMAIN_TX, tx.payload)] = (node, self.now_ns)
                by_node.setdefault(node, []).append(tx)
            for node, batch in sorted(by_node.items()):
                self._step("submit_to", (node, batch))
            return
        i = args[0]
        assert isinstance(i, int)
        if self._crashed(i, self.now_ns):
            return
        if self.busy_until[i] > self.now_ns:  # still executing: it waits in the mailbox
            self._push(self.busy_until[i], kind, *args)
            return
        if kind == "submit_to":
            arrived = args[1]
            assert isinstance(arrived, list)
            self._apply(i, self.nodes[i].submit(arrived, self.now_ns))
            self.nodes[i].invariants()
            return
        if kind == "restart":
            self._restart(i)
            return
        if kind == "tick":
            self.timers.discard((i, self.now_ns))
            effects = self.nodes[i].tick(self.now_ns)
        else:
            _, sender, data = args
            assert isinstance(sender, int) and isinstance(data, bytes)
            effects = self._deliver(i, sender, data)
        self._apply(i, effects)
        self.nodes[i].invariants()


    def _restart(self, i: int) -> None:
        """Replace validator ``i`` by a fresh core resumed on the finalized chain, as the
        live node does after SIGKILL (``focusflow/node/validator.py``): watermark and signed
        height are what its shell persisted before anything left."""
        old = self.nodes[i]
        watermark, signed_height = old.dag.watermark(), old.blocks.height
        height = max(self.chain, default=0)
        if height < signed_height or any(h not in self.chain for h in range(1, height + 1)):
            self._push(self.now_ns + 50_000_000, "restart", i)  # sync further first
            return
        tip = self.chain[height] if height else None
        recent = [tx for h in range(max(1, height - 64), height + 1) for tx in self.chain[h].txs]
        core = ValidatorCore(
            committee=self.committee,
            me=i,
            signer=self.signers[i],
            verifier=self.verifier,
            admit_batch=old.dag.admit_batch,
            execute=toy_state_transition,
            rng=random.Random(self.sc.seed * 7919 + i + 1_000_003),
            config=old.config,
        )
        core.resume_chain(
            watermark=watermark,
            height=height,
            parent=tip.digest if tip else bytes(32),
            state_root=tip.header.state_root if tip else bytes(32),
            anchor_round=tip.header.anchor_round if tip else 0,
            recent_txs=recent,
            recent_headers=[self.chain[h].header for h in range(
                max(1, height - old.config.bft.reputation.window_anchors
                    - 2 * old.config.bft.reputation.every_anchors + 1), height + 1)],
        )
        self.nodes[i] = core
        self.resumed_at[i] = height
        self._apply(i, core.tick(self.now_ns))
        core.invariants()


def run(scenario: Scenario) -> Result:
    """Run one scenario (the reproduce entry point printed on failure)."""
    return Harness(scenario).run()


def headers_unique_across(h: Harness) -> bool:
    """No two honest validators hold different certificates for one (round, author)."""
    seen: dict[tuple[int, int], bytes] = {}
    for i in h.honest:
        for r, certs in h.nodes[i].dag.by_round.items():
            for a, c in certs.items():
                if seen.setdefault((r, a), c.digest) != c.digest:
                    return False
    return True


__all__ = [
    "BEHAVIOURS",
    "Harness",
    "Result",
    "SafetyViolation",
    "Scenario",
    "campaign",
    "headers_unique_across",
    "random_scenario",
    "run",
]


def random_scenario(seed: int, n: int, *, duration_ms: int = 4000) -> Scenario:
    """A scenario drawn from ``seed``: f Byzantine validators with random behaviours, and
    maybe drops, jitter, a partition that heals, a crash and restart."""
    rng = random.Random(seed * 7_919 + n)
    f = (n - 1) // 3
    mixes = [b for b in BEHAVIOURS if b != "silent"]
    byz = tuple(sorted((i, tuple(sorted(rng.sample(mixes, rng.randint(1, 3))))) for i in rng.sample(range(n), f)))
    honest = [i for i in range(n) if i not in dict(byz)]
    partitions: tuple[tuple[int, int, tuple[int, ...]], ...] = ()
    if rng.random() < 0.4:
        start = rng.randrange(200, duration_ms // 2)
        side = tuple(sorted(rng.sample(range(n), rng.randint(1, n // 2))))
        partitions = ((start, start + rng.randrange(300, duration_ms // 3), side),)
    crashes: tuple[tuple[int, int, int], ...] = ()
    if rng.random() < 0.3 and honest:
        start = rng.randrange(200, duration_ms // 2)
        crashes = ((rng.choice(honest), start, start + rng.randrange(200, 1500)),)
    return Scenario(
        validators=n,
        seed=seed,
        latency_ms=rng.choice([10.0, 50.0, 100.0]),
        jitter_ms=rng.choice([1.0, 20.0, 80.0]),
        drop_rate=rng.choice([0.0, 0.0, 0.01, 0.05]),
        duration_ms=duration_ms,
        byzantine=byz,
        partitions=partitions,
        crashes=crashes,
        tx_rate_per_s=100,
        fallback_after_timeouts=rng.choice([1, 2]),
    )


def campaign(seeds: range, sizes: Sequence[int], *, duration_ms: int = 4000) -> dict[str, int]:
    """Safety campaign: run ``random_scenario`` for every (seed, n); a violation raises
    ``SafetyViolation`` with the reproducing call. Returns counts for the report."""
    counts = {"runs": 0, "stalled": 0, "fallback_commits": 0, "fast_commits": 0}
    for n in sizes:
        for seed in seeds:
            h = Harness(random_scenario(seed, n, duration_ms=duration_ms))
            r = h.run()
            if not headers_unique_across(h):
                raise SafetyViolation(f"two certificates for one (round, author); reproduce: {h.sc.repro()}")
            counts["runs"] += 1
            counts["stalled"] += int(r.finalized_height == 0)
            counts["fallback_commits"] += r.commits_via.get("fallback", 0)
            counts["fast_commits"] += r.commits_via.get("fast", 0)
    return counts


if __name__ == "__main__":  # pragma: no cover - manual campaigns
    import argparse
    import json

    ap = argparse.ArgumentParser(description="consensus safety campaign over seeds")
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 7, 10])
    ap.add_argument("--duration-ms", type=int, default=4000)
    a = ap.parse_args()
    out = campaign(range(a.first_seed, a.first_seed + a.seeds), a.sizes, duration_ms=a.duration_ms)
    print(json.dumps(out))
