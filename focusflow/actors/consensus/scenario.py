"""``focusflow sim --validators N --byzantine F --latency MS``: consensus under the simulator.

Registers the scenario "consensus" with the runtime's scenario registry
(``focusflow.sim.scenarios``). Each validator is a ``ValidatorActor`` on its own simulated
node; the last F validators are Byzantine (they equivocate, withhold their anchors and
send broken signatures: ``adversary.py``); a client node submits signed cyberlinks at
``--tx-rate`` per second to random honest validators. One-way latency is ``--latency`` ms
with 10% jitter.

Summary fields: ``finalized_height`` (lowest among honest validators), ``links_committed``,
``finality_ms_p50``, ``finality_ms_p99`` (client submit -> block notarised at the validator
it was submitted to, virtual time), ``links_per_second`` (per virtual second),
``commits_fast``, ``commits_fallback``; invariants ``agreement`` (no two honest validators
finalize different blocks at one height) and ``validity`` (every finalized link was
submitted, none twice).
"""

from __future__ import annotations

import argparse
import random  # runtime-ok: seeded by the scenario's seed when building, not in actors
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from focusflow.actors.avalanche.core import AvalancheConfig
from focusflow.actors.bft.core import BftConfig
from focusflow.actors.bft.reputation import ReputationConfig
from focusflow.actors.consensus.actor import VALIDATOR_PATH, SubmitTxs, ValidatorActor
from focusflow.actors.consensus.adversary import Adversary
from focusflow.actors.consensus.crypto import DOMAIN_TX, CachingVerifier, Signer, digest
from focusflow.actors.consensus.harness import Workload, admit_links, toy_state_transition
from focusflow.actors.consensus.node import NodeConfig
from focusflow.actors.consensus.types import (
    ClientTx,
    Commit,
    Committee,
    Effect,
    Finalize,
    Validator,
)
from focusflow.actors.mempool.core import DagConfig
from focusflow.sim._sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import Actor, Node
from focusflow.wire import load_schema, message

_schema = load_schema(Path(__file__).with_name("consensus.capnp"))

VALIDATORS_MAX = 100
BYZANTINE_BEHAVIOURS = ("equivocate", "withhold", "bad_sig")
SUBMIT_EVERY_MS = 50.0


@message(_schema.ClientTick)
class _ClientTick:
    unused: bool = False


class _State:
    """What the invariants and the summary read (shared by the actors of one run)."""

    def __init__(self, honest: set[int]) -> None:
        self.honest = honest
        self.submitted: dict[bytes, tuple[int, int]] = {}
        self.final: dict[int, bytes] = {}
        self.heights: dict[int, int] = {}
        self.finalized_txs: set[bytes] = set()
        self.finality_ms: list[float] = []
        self.via: dict[str, int] = {}
        self.agreement = True
        self.validity = True

    def sink(self, i: int, now_ns: int, e: Effect) -> None:
        if i not in self.honest:
            return
        if isinstance(e, Commit):
            self.via[e.via] = self.via.get(e.via, 0) + 1
        if not isinstance(e, Finalize):
            return
        h = e.header.height
        if self.final.setdefault(h, e.digest) != e.digest:
            self.agreement = False
        if h <= self.heights.get(i, 0):
            return  # a restarted validator re-finalizing history: agreement checked above
        self.heights[i] = h
        for tx in e.txs:
            d = digest(DOMAIN_TX, tx)
            origin = self.submitted.get(d)
            if origin is None:
                self.validity = False
            elif origin[0] == i:
                if d in self.finalized_txs:
                    self.validity = False
                self.finalized_txs.add(d)
                self.finality_ms.append((now_ns - origin[1]) / 1e6)


class _Client(Actor):
    """Submits signed cyberlinks every ``SUBMIT_EVERY_MS`` to random honest validators."""

    def __init__(self, *, names: tuple[str, ...], honest: list[int], rate: float, state: _State, seed: int) -> None:
        self.names = names
        self.honest = honest
        self.per_tick = rate * SUBMIT_EVERY_MS / 1000
        self.carry = 0.0
        self.state = state
        self.workload = Workload(16, seed)

    async def on_start(self) -> None:
        self.ctx.start_timer("submit", SUBMIT_EVERY_MS, _ClientTick())

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, _ClientTick):
            self.carry += self.per_tick
            count = int(self.carry)
            self.carry -= count
            now = self.ctx.now_ns()
            by_node: dict[int, list[ClientTx]] = {}
            for tx in self.workload.make(count):
                i = self.honest[self.ctx.random.randrange(len(self.honest))]
                self.state.submitted[digest(DOMAIN_TX, tx.payload)] = (i, now)
                by_node.setdefault(i, []).append(tx)
            for i, txs in sorted(by_node.items()):
                self.ctx.tell_nowait(self.ctx.ref_for(self.names[i], VALIDATOR_PATH), SubmitTxs.of(txs, 0))
            self.ctx.start_timer("submit", SUBMIT_EVERY_MS, _ClientTick())
        return None


def _add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--validators", type=int, default=None, help="consensus: validators (4..100)")
    group.add_argument("--byzantine", type=int, default=0, help="consensus: Byzantine validators (f < n/3)")
    group.add_argument("--latency", type=float, default=50.0, help="consensus: one-way latency in ms")
    group.add_argument("--tx-rate", type=float, default=200.0, help="consensus: links submitted per second")
    group.add_argument(
        "--no-leader-reputation",
        action="store_true",
        default=None,
        help="consensus scenario: round-robin leaders (BftConfig.reputation off; on by default)",
    )
    group.add_argument(
        "--crash-restart",
        action="store_true",
        help="consensus: crash validator v0 at 1 s and restart it 400 ms later (memory lost)",
    )


def _build(sim: Simulation, options: Mapping[str, Any]) -> None:
    n = int(options.get("validators") or 4)
    f = int(options.get("byzantine") or 0)
    latency = float(options.get("latency") or 50.0)
    seed = int(options.get("seed") or 0)
    if not 4 <= n <= VALIDATORS_MAX or not 0 <= 3 * f < n:
        raise ValueError(f"need 4 <= validators <= {VALIDATORS_MAX} and 3*byzantine < validators")
    rng = random.Random(seed)
    signers = [Signer(rng.randbytes(32)) for _ in range(n)]
    committee = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(signers)))
    names = tuple(f"v{i}" for i in range(n))
    byzantine = {i: BYZANTINE_BEHAVIOURS for i in range(n - f, n)}
    honest = [i for i in range(n) if i not in byzantine]
    state = _State(set(honest))
    sim.scenario_state = state  # type: ignore[attr-defined]
    verifier = CachingVerifier()
    workload = Workload(4, seed ^ 0xB1A5)

    def extra_tx(i: int) -> ClientTx:
        tx = workload.make(1)[0]
        state.submitted[digest(DOMAIN_TX, tx.payload)] = (i, sim.now_ns())
        return tx

    adversary = Adversary(
        committee=committee,
        signers={i: signers[i] for i in byzantine},
        behaviours=byzantine,
        rng=random.Random(seed ^ 0xAD),
        extra_tx=extra_tx,
    )
    jitter = latency / 10
    sim.network.set_default(latency_ms=latency, jitter_ms=jitter)
    timeout = int(max(600, 8 * latency + 8 * jitter))
    config = NodeConfig(
        dag=DagConfig(resend_ms=int(max(200, 4 * latency))),
        bft=BftConfig(
            leader_timeout_ms=timeout,
            reputation=ReputationConfig(enabled=not options.get("no_leader_reputation")),
        ),
        avalanche=AvalancheConfig(poll_timeout_ms=int(max(100, 5 * (latency + jitter)))),
        fallback_fetch_timeout_ms=timeout,
    )

    def boot_validator(index: int) -> Any:
        def boot(node: Node) -> None:
            node.spawn(
                ValidatorActor,
                name="validator",
                mailbox_depth_max=1 << 16,
                index=index,
                names=names,
                committee=committee,
                signer=signers[index],
                verifier=verifier,
                admit_batch=admit_links(verifier),
                execute=toy_state_transition,
                sink=state.sink,
                config=config,
                adversary=adversary if index in byzantine else None,
            )

        return boot

    for i, name in enumerate(names):
        sim.add_node(name, boot=boot_validator(i))

    def boot_client(node: Node) -> None:
        rate = float(options.get("tx_rate") or 200.0)
        node.spawn(_Client, name="client", names=names, honest=honest, rate=rate, state=state, seed=seed)

    sim.add_node("clients", boot=boot_client)
    if options.get("crash_restart"):
        sim.call_later(1_000, lambda: sim.crash_node(names[0]))

        def restart() -> None:
            sim.restart_node(names[0])

        sim.call_later(1_400, restart)
    sim.add_invariant("agreement", lambda: state.agreement)
    sim.add_invariant("validity", lambda: state.validity)


def _finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    state: _State = sim.scenario_state  # type: ignore[attr-defined]
    heights = [state.heights.get(i, 0) for i in state.honest]
    seconds = sim.virtual_seconds or 1.0
    lat = state.finality_ms

    def pct(q: float) -> float | None:
        return round(float(np.percentile(lat, q)), 1) if lat else None

    return {
        "validators": int(options.get("validators") or 4),
        "byzantine": int(options.get("byzantine") or 0),
        "latency_ms": float(options.get("latency") or 50.0),
        "finalized_height": min(heights) if heights else 0,
        "links_committed": len(state.finalized_txs),
        "finality_ms_p50": pct(50),
        "finality_ms_p99": pct(99),
        "links_per_second": round(len(state.finalized_txs) / seconds, 1),
        "commits_fast": state.via.get("fast", 0),
        "commits_fallback": state.via.get("fallback", 0),
    }


register_scenario(
    "consensus",
    help="validators under DAG consensus (--validators N --byzantine F --latency MS)",
    add_arguments=_add_arguments,
    finish=_finish,
    duration_ms=10_000.0,
    priority=-1,  # never the default run: only when --validators claims it (select)
    select=lambda o: o.get("validators") is not None,
)(_build)
