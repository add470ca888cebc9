"""``focusflow sim --validators N --byzantine F --latency MS``: the whole network, real blocks.

Registers the scenario ``network`` with the runtime's registry (``focusflow chaos
--scenario network`` runs it too). Every validator node starts **the tree ``focusflow
node`` starts** (``topology.node_tree``: the node supervisor and the production
``node.validator.Validator`` with its block log, state ledger, double-sign guard, block
sync and follower/resume logic), so a simulated seed, a chaos campaign and a replay test
the code operators run: a crashed and restarted validator follows the chain by block sync
and signs again exactly as a live one does. Byzantine validators (``--byzantine F``) run
a subclass of that validator whose consensus traffic the simulation's adversary rewrites.
The client node submits signed cyberlinks in the state's tx format (:mod:`.workload`) to
each neuron's validator; the chain's genesis funds the workload's neurons.

Each validator node's block log, ledger (``ctx.database``) and double-sign guard
(``ctx.storage``) live on its simulated disk, the Runtime's storage: ``crash_node`` keeps
what was synced and loses the rest, as ``kill -9`` does to a live node's files.

``--partition SPEC`` (``2|2``, ``minority``) cuts the validators at ``--partition-at-ms``
for ``--partition-for-ms`` and reports how long after the heal finality was back to
normal (``recovery_ms``, defined in :mod:`.recovery`; issue 19 item 3).

Summary: ``finalized_height`` (lowest honest log tip), ``txs_committed``/``txs_per_second``,
``links_committed``/``links_per_second`` (links the finalized blocks added to the graph),
``finality_ms_p50/p99`` (client submission to the block in the log of the validator it
was sent to) and a ``chain`` object (height, state and π roots, particles, roots compared,
rejoins, synced blocks, problems). Invariants, checked after every step by reading the
honest validators' block logs and ledgers (a one-process simulation's shortcut):

* ``agreement``: honest validators' logs hold the same block at every height;
* ``validity``: every finalized tx was submitted by a client (or a Byzantine validator
  slipped it in), and none is finalized at two heights;
* ``state_roots_agree``: honest validators executed every finalized block to the same
  state root and π root;
* ``pi_verified``: every finalized header carries the state and π roots its validator's
  ledger committed for that height, and the NMT data root of its txs' erasure-coded
  square (``node.chain.block_data_root``).
"""

from __future__ import annotations

import argparse
import random  # runtime-ok: seeded from the run's seed, outside actor code
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from focusflow.actors.avalanche.core import AvalancheConfig
from focusflow.actors.bft.core import BftConfig
from focusflow.actors.chain.recovery import partition_groups, recovery
from focusflow.actors.chain.workload import LinkWorkload, WorkloadConfig
from focusflow.actors.consensus import codec
from focusflow.actors.consensus import scenario as consensus_scenario
from focusflow.actors.consensus.adversary import Adversary
from focusflow.actors.consensus.crypto import DOMAIN_TX, Signer, digest
from focusflow.actors.consensus.node import NodeConfig
from focusflow.actors.consensus.types import ClientTx, Committee, Validator
from focusflow.actors.mempool.core import DagConfig
from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, TxRejected, decode_tx, make_tx, tx_hash_of
from focusflow.kernels import BACKENDS
from focusflow.node.chain import Ledger, block_data_root
from focusflow.node.messages import ConsensusFrame, SubmitTxs
from focusflow.node.validator import (
    LAST_SIGNED_KEY,
    VALIDATOR_PATH,
    CommitteeEntry,
    ValidatorSettings,
    write_last_signed,
)
from focusflow.node.validator import Validator as ValidatorActor
from focusflow.sim._sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import Actor, ChildSpec, Node
from focusflow.topology.node_tree import PeerRole, node_policy, node_tree
from focusflow.wire import load_schema, message

_schema = load_schema(Path(__file__).with_name("chain.capnp"))

SUBMIT_EVERY_MS = 50.0
#: ``--partition`` defaults: cut at 5 s (a settled chain to take the normal p50 from),
#: heal 20 s later (issue 19 item 3), run 10 s past the heal (a slow recovery still shows).
PARTITION_AT_MS = 5_000.0
PARTITION_FOR_MS = 20_000.0
AFTER_HEAL_MS = 10_000.0
CHAIN_ID = "focusflow-sim"
PROBLEMS_MAX = 20


@message(_schema.ChainClientTick)
class _ClientTick:
    unused: bool = False


class ByzantineValidator(ValidatorActor):
    """The production validator with an adversary rewriting its consensus traffic.

    Simulation machinery only (``--byzantine F``): it signs with the validator's real key,
    so equivocations, double votes and bad signatures reach the honest validators exactly
    as a compromised node's would.
    """

    def __init__(self, settings: ValidatorSettings, *, adversary: Adversary) -> None:
        super().__init__(settings)
        self.adversary = adversary
        self.me = self.index_of[settings.node_name]

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, ConsensusFrame) and self.core is not None:
            self.adversary.incoming(self.me, self.core, msg.data)
        return await super().receive(msg)

    def _handle(self, effects: list[Any]) -> None:
        if self.core is not None:
            effects = self.adversary.outgoing(self.me, self.core, effects)
        super()._handle(effects)


class NetworkState:
    """What the invariants and the summary read: the honest validators' durable chains.

    ``observe`` runs after every simulator step (as the first invariant) and reads only the
    blocks each honest validator appended since it last looked, so a block is checked once
    per validator, whether it finalized it in consensus or fetched it by block sync.
    """

    def __init__(self, sim: Simulation, names: tuple[str, ...], honest: list[int],
                 workload: LinkWorkload) -> None:
        self.sim = sim
        self.names = names
        self.honest = honest
        self.workload = workload
        self.submitted: dict[bytes, tuple[int, int]] = {}  # tx digest -> (validator, ns)
        self.final: dict[int, bytes] = {}  # height -> digest (first honest log)
        self.roots: dict[int, tuple[bytes, bytes]] = {}  # height -> (state root, π root)
        self.tx_height: dict[bytes, int] = {}
        self.seen = dict.fromkeys(honest, 0)
        self.finality_ms: list[float] = []
        #: tx digest -> when the validator it was submitted to logged it final (every
        #: such tx, not only those that validator logged first: what recovery reads)
        self.final_ns: dict[bytes, int] = {}
        self.roots_compared = 0
        self.agreement = self.validity = self.state_roots_agree = self.pi_verified = True
        self.problems: list[str] = []
        self.fault_ns = self.heal_ns = 0  # the --partition fault, when there is one

    def validator(self, i: int) -> ValidatorActor | None:
        """Validator ``i``'s running actor (None while its node is down or it restarts)."""
        name = self.names[i]
        if not self.sim.is_up(name):
            return None
        cell = self.sim.node(name)._cells.get(VALIDATOR_PATH)
        actor = None if cell is None else cell.actor
        if not isinstance(actor, ValidatorActor) or actor.blocks is None or actor.ledger is None:
            return None
        return actor

    def observe(self) -> bool:
        """Check the blocks honest validators appended since the last step."""
        now = self.sim.now_ns()
        for i in self.honest:
            v = self.validator(i)
            if v is None or v.blocks is None or v.ledger is None or v.blocks.height <= self.seen[i]:
                continue
            start, top = self.seen[i] + 1, v.blocks.height
            state_roots = dict(v.ledger.state_roots(start, top))
            pi_roots = dict(v.ledger.pi_roots(start, top))
            for rec in v.blocks.records(start, top - start + 1):
                roots = (bytes.fromhex(state_roots.get(rec.height, "")),
                         bytes.fromhex(pi_roots.get(rec.height, "")))
                self._block(i, v, rec.height, rec.digest, rec.header, rec.txs, roots, now)
                self.seen[i] = rec.height
        return self.agreement

    def _block(self, i: int, v: ValidatorActor, h: int, block_digest: bytes, header_bytes: bytes,
               txs: tuple[bytes, ...], roots: tuple[bytes, bytes], now_ns: int) -> None:
        who = f"{self.names[i]} ({type(v).__name__} {VALIDATOR_PATH})"
        first = self.final.setdefault(h, block_digest)
        if first != block_digest:
            self._problem("agreement", f"{who} logged block {block_digest.hex()[:16]} at height "
                                       f"{h}, another honest validator {first.hex()[:16]}")
        header = codec.decode_block_header(header_bytes)
        if (header.state_root, header.pi_root) != roots:
            self._problem("pi_verified", f"{who} header {h} roots are not its ledger's")
        if header.da_root != block_data_root(txs):
            self._problem("pi_verified", f"{who} header {h} data root is not its txs' square's")
        known = self.roots.setdefault(h, roots)
        if known is not roots:
            self.roots_compared += 1
            if known != roots:
                self._problem("state_roots_agree", f"{who} height {h}: state/π roots differ")
        for tx in txs:
            d = digest(DOMAIN_TX, tx)
            origin = self.submitted.get(d)
            if origin is None:
                self._problem("validity", f"{who} height {h}: tx {d.hex()[:16]} never submitted")
                continue
            if self.tx_height.setdefault(d, h) != h:
                self._problem("validity", f"{who} tx {d.hex()[:16]} finalized at heights "
                                          f"{self.tx_height[d]} and {h}")
            elif origin[0] == i:
                self.final_ns.setdefault(d, now_ns)
                if first is block_digest:
                    self.finality_ms.append((now_ns - origin[1]) / 1e6)
        if first is block_digest:  # the first honest log with this block: feed the workload
            applied = []
            for tx in txs:
                try:
                    decoded = decode_tx(tx)
                except TxRejected:
                    continue
                if v.ledger is not None and v.ledger.core.next_nonce(decoded.neuron) > decoded.nonce:
                    applied.append(tx_hash_of(tx))
            self.workload.on_finalized(applied, (tx_hash_of(t) for t in txs))

    def detail(self, invariant: str) -> str:
        """The first problem recorded for ``invariant`` (what the violation prints)."""
        return next((p for p in self.problems if p.startswith(invariant + ":")), "")

    def _problem(self, invariant: str, detail: str) -> None:
        setattr(self, invariant, False)
        if len(self.problems) < PROBLEMS_MAX:
            self.problems.append(f"{invariant}: {detail}")


class _Client(Actor):
    """Submits the workload's txs every ``SUBMIT_EVERY_MS``; each neuron sticks to one validator."""

    def __init__(self, *, names: tuple[str, ...], honest: list[int], rate: float, state: NetworkState) -> None:
        self.names = names
        self.honest = honest
        self.per_tick = rate * SUBMIT_EVERY_MS / 1000
        self.carry = 0.0
        self.state = state

    async def on_start(self) -> None:
        self.ctx.start_timer("submit", SUBMIT_EVERY_MS, _ClientTick())

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, _ClientTick):
            self.carry += self.per_tick
            count = int(self.carry)
            self.carry -= count
            now = self.ctx.now_ns()
            by_node: dict[int, list[tuple[bytes, int]]] = {}
            for sub in self.state.workload.make(count, now, self.ctx.random):
                i = self.honest[sub.neuron % len(self.honest)]
                self.state.submitted.setdefault(digest(DOMAIN_TX, sub.payload), (i, now))
                by_node.setdefault(i, []).append((sub.payload, sub.focus))
            for i, txs in sorted(by_node.items()):
                self.ctx.tell_nowait(self.ctx.ref_for(self.names[i], VALIDATOR_PATH),
                                     SubmitTxs(tuple(t for t, _ in txs), tuple(f for _, f in txs)))
            self.ctx.start_timer("submit", SUBMIT_EVERY_MS, _ClientTick())
        return None


def _add_arguments(group: argparse._ArgumentGroup) -> None:
    """Only the network's own options: --validators/--byzantine/--latency/--tx-rate/
    --crash-restart are the consensus scenario's (one definition, read by both)."""
    group.add_argument("--neurons", type=int, default=None,
                       help="network: funded neurons sending links (default 256)")
    group.add_argument("--invalid-share", type=float, default=None,
                       help="network: share of deliberately stale (replayed-nonce) txs (default 0.02)")
    group.add_argument("--focus-backends", default=None,
                       help="network: where validator i solves the exact π, a comma list cycled "
                            "over the validators, e.g. webgpu,cpu (default cpu; every backend "
                            "commits the same root)")
    group.add_argument("--partition", default=None, metavar="SPEC",
                       help="network: cut the validators into groups at --partition-at-ms for "
                            "--partition-for-ms, then heal, and report recovery_ms (time from "
                            "the heal to normal finality, docs/sim.md): sizes like 2|2 or "
                            "'minority' (the last f validators, 3 of 10); clients reach all sides")
    group.add_argument("--partition-at-ms", type=float, default=None,
                       help=f"network: when the partition starts (default {PARTITION_AT_MS:g})")
    group.add_argument("--partition-for-ms", type=float, default=None,
                       help=f"network: how long it lasts (default {PARTITION_FOR_MS:g}); the run "
                            f"lasts {AFTER_HEAL_MS:g} ms past the heal unless --duration-ms")


def _node_config(latency: float) -> NodeConfig:
    """The consensus scenario's timing rules for this latency (kept identical on purpose)."""
    jitter = latency / 10
    timeout = int(max(600, 8 * latency + 8 * jitter))
    return NodeConfig(
        dag=DagConfig(resend_ms=int(max(200, 4 * latency))),
        bft=BftConfig(leader_timeout_ms=timeout),
        avalanche=AvalancheConfig(poll_timeout_ms=int(max(100, 3 * (latency + jitter)))),
        fallback_fetch_timeout_ms=timeout,
    )


def _adversary_tx(state: NetworkState, sim: Simulation, neuron: Neuron,
                  rng: random.Random) -> Callable[[int], ClientTx]:
    """Txs a Byzantine validator slips into its equivocating headers: all reuse nonce 0."""

    def extra_tx(i: int) -> ClientTx:
        src, dst = cid_of(rng.randbytes(8)), cid_of(rng.randbytes(8))
        payload = make_tx(neuron, chain_id=CHAIN_ID, nonce=0, kind=TxKind.LINK, fee=1_000,
                          links=[(src, dst)])
        state.submitted.setdefault(digest(DOMAIN_TX, payload), (i, sim.now_ns()))
        return ClientTx(payload, 1_000_000, 0)

    return extra_tx


def add_validator_node(sim: Simulation, settings: ValidatorSettings, *, spec: ChildSpec | None = None,
                       peers: Sequence[PeerRole] = ()) -> None:
    """Add a simulated node that boots what ``focusflow node`` boots for ``settings``.

    The same node tree (``spec``: ``node_tree(settings)`` unless a Byzantine subclass is
    wanted), the same remote-message door (``node.app`` installs ``node_policy``), and a
    new disk prepared as ``focusflow init`` prepares a new home: a zero double-sign guard
    ("signed nothing yet"; without it a validator cannot tell a new disk from wiped data
    and only follows, issue 16 finding 10). Scenarios and tests build validator nodes
    through this one function.
    """
    tree = spec if spec is not None else node_tree(settings)
    policy = node_policy(settings.committee, list(peers))

    name = settings.node_name

    def boot(node: Node) -> None:
        node.set_remote_policy(policy)
        root = node.spawn_spec(tree)
        # ``focusflow node`` exits non-zero when its top supervisor gives up (node.app,
        # NodeFailed) and its process manager starts it again; the simulated node goes
        # down the same way (a chaos run's settle phase then restarts it), rather than
        # living on with no tree.
        node.stopped(root).add_done_callback(lambda _f: _exiting(node))

    def _exiting(node: Node) -> None:
        sim.call_later(0, lambda: _exited(node))  # a step of its own, not mid-termination

    def _exited(node: Node) -> None:
        if sim.is_up(name) and sim.node(name) is node:
            sim.crash_node(name)

    sim.add_node(name, boot=boot)
    write_last_signed(sim.disk(name), LAST_SIGNED_KEY, 0, 0)


def _build(sim: Simulation, options: Mapping[str, Any]) -> None:
    n = int(options.get("validators") or 4)
    f = int(options.get("byzantine") or 0)
    latency = float(options.get("latency") or 50.0)
    seed = int(options.get("seed") or 0)
    if not 4 <= n <= consensus_scenario.VALIDATORS_MAX or not 0 <= 3 * f < n:
        raise ValueError(f"need 4 <= validators <= {consensus_scenario.VALIDATORS_MAX} and 3*byzantine < validators")
    rng = random.Random(seed)
    seeds = [rng.randbytes(32) for _ in range(n)]
    signers = [Signer(s) for s in seeds]
    names = tuple(f"v{i}" for i in range(n))
    byzantine = {i: consensus_scenario.BYZANTINE_BEHAVIOURS for i in range(n - f, n)}
    honest = [i for i in range(n) if i not in byzantine]
    wl = WorkloadConfig(
        chain_id=CHAIN_ID,
        neurons=int(options.get("neurons") or 256),
        invalid_share=0.02 if options.get("invalid_share") is None else float(options["invalid_share"]),
    )
    workload = LinkWorkload(wl, seed=seed)
    rogue = Neuron.from_seed(random.Random(seed ^ 0xBAD).randbytes(32))
    genesis = tuple(sorted({**workload.genesis_balances(), rogue.address: wl.balance}.items()))
    state = NetworkState(sim, names, honest, workload)
    sim.scenario_state = state  # type: ignore[attr-defined]
    entries = tuple(CommitteeEntry(names[i], signers[i].public_key, 1) for i in range(n))
    committee = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(signers)))
    adversary = Adversary(
        committee=committee, signers={i: signers[i] for i in byzantine}, behaviours=byzantine,
        rng=random.Random(seed ^ 0xAD),
        extra_tx=_adversary_tx(state, sim, rogue, random.Random(seed ^ 0xE7)),
    )  # fmt: skip
    sim.network.set_default(latency_ms=latency, jitter_ms=latency / 10)

    backends = _focus_backends(options.get("focus_backends"))

    def boot_validator(index: int) -> None:
        settings = ValidatorSettings(
            node_name=names[index], role="validator", chain_id=CHAIN_ID, committee=entries,
            validator_seed=seeds[index], consensus=_node_config(latency), genesis_balances=genesis,
            focus_backend=backends[index % len(backends)],
        )  # fmt: skip
        spec = (node_tree(settings, validator=ByzantineValidator, validator_kwargs={"adversary": adversary})
                if index in byzantine else node_tree(settings))

        # the simulated clients submit over the node-to-node path: a full node's peer here
        add_validator_node(sim, settings, spec=spec, peers=[PeerRole("clients", "full")])

    for i in range(len(names)):
        boot_validator(i)

    def boot_client(node: Node) -> None:
        rate = float(options.get("tx_rate") or 200.0)
        node.spawn(_Client, name="client", names=names, honest=honest, rate=rate, state=state)

    sim.add_node("clients", boot=boot_client)
    if options.get("crash_restart"):  # the consensus scenario's option: crash v0, restart it
        sim.call_later(1_000, lambda: sim.crash_node(names[0]))

        def restart() -> None:
            sim.restart_node(names[0])

        sim.call_later(1_400, restart)
    if options.get("partition"):
        at_ms, for_ms = _partition_window(options)
        groups = partition_groups(str(options["partition"]), names)
        state.fault_ns, state.heal_ns = int(at_ms * 1e6), int((at_ms + for_ms) * 1e6)
        sim.call_later(at_ms, lambda: sim.network.partition(*groups, everywhere=["clients"]))
        sim.call_later(at_ms + for_ms, sim.network.heal)
    sim.add_invariant("agreement", lambda: _check(state, "agreement", state.observe()))
    for name in ("validity", "state_roots_agree", "pi_verified"):
        sim.add_invariant(name, _reader(state, name))


def _partition_window(options: Mapping[str, Any]) -> tuple[float, float]:
    """(start, length) in virtual ms of the ``--partition`` fault."""
    at_ms = options.get("partition_at_ms")
    for_ms = options.get("partition_for_ms")
    at = PARTITION_AT_MS if at_ms is None else float(at_ms)
    length = PARTITION_FOR_MS if for_ms is None else float(for_ms)
    if at <= 0 or length <= 0:
        raise ValueError("--partition-at-ms and --partition-for-ms must be positive")
    return at, length


def _duration(options: Mapping[str, Any]) -> float | None:
    """With ``--partition``, long enough to see the recovery (AFTER_HEAL_MS past the heal)."""
    if not options.get("partition"):
        return None
    at, length = _partition_window(options)
    return at + length + AFTER_HEAL_MS


def _focus_backends(raw: object) -> tuple[str, ...]:
    """The ``focus_backends`` option (a comma list or a sequence) as names, checked."""
    if isinstance(raw, str):
        names: tuple[str, ...] = tuple(raw.split(","))
    else:
        names = tuple(str(n) for n in raw or ()) if isinstance(raw, (list, tuple)) else ()
    for name in names:
        if name not in BACKENDS:
            raise ValueError(f"focus backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    return names or ("cpu",)


def _check(state: NetworkState, name: str, held: bool) -> bool:
    assert held, state.detail(name)
    return True


def _reader(state: NetworkState, name: str) -> Callable[[], bool]:
    return lambda: _check(state, name, bool(getattr(state, name)))


def _finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    state: NetworkState = sim.scenario_state  # type: ignore[attr-defined]
    state.observe()
    seconds = sim.virtual_seconds or 1.0
    lat = state.finality_ms

    def pct(q: float) -> float | None:
        return round(float(np.percentile(lat, q)), 1) if lat else None

    live = [v for i in state.honest if (v := state.validator(i)) is not None]
    auditor = max(live, key=lambda v: v.blocks.height if v.blocks else 0, default=None)
    ledger = auditor.ledger if auditor is not None else None
    blocks = auditor.blocks if auditor is not None else None
    top = min((state.seen[i] for i in state.honest), default=0)
    links = blocks.links if blocks is not None else 0
    txs = len(state.tx_height)
    fault: dict[str, Any] = {}
    if options.get("partition"):
        at_ms, for_ms = _partition_window(options)
        groups = partition_groups(str(options["partition"]), state.names)
        side = {state.names.index(name): k for k, group in enumerate(groups) for name in group}
        fault = {"partition": {"spec": str(options["partition"]), "at_ms": at_ms, "for_ms": for_ms,
                               "groups": groups},
                 **recovery({d: t for d, (_, t) in state.submitted.items()}, state.final_ns,
                            fault_ns=state.fault_ns, heal_ns=state.heal_ns, end_ns=sim.now_ns(),
                            side_of={d: side[i] for d, (i, _) in state.submitted.items()})}
    return {
        "validators": int(options.get("validators") or 4),
        "byzantine": int(options.get("byzantine") or 0),
        "latency_ms": float(options.get("latency") or 50.0),
        "finalized_height": top,
        "finality_ms_p50": pct(50),
        "finality_ms_p99": pct(99),
        "txs_committed": txs,
        "txs_per_second": round(txs / seconds, 1),
        "links_committed": links,
        "links_per_second": round(links / seconds, 1),
        "chain": {
            "height": blocks.height if blocks is not None else 0,
            "state_root": ledger.core.root.hex() if ledger is not None else None,
            "pi_root": (ledger.pi_root_at(ledger.core.height) or b"").hex() if ledger is not None else None,
            "particles": ledger.focus.n if ledger is not None else 0,
            "links_applied": links,
            "roots_compared": state.roots_compared,
            "rejoins": sum(v.counters["rejoins"] for v in live),
            "synced_blocks": sum(v.counters["synced_blocks"] for v in live),
            "da_blocks_sampled": sum(v.ledger.da_blocks_sampled for v in live if v.ledger),
            "economics": _economics(ledger),
            "modes": {state.names[i]: v.mode for i in state.honest
                      if (v := state.validator(i)) is not None},
            "problems": list(state.problems),
        },
        "workload": state.workload.statistics(),
        **fault,
    }


def _economics(ledger: Ledger | None) -> dict[str, Any] | None:
    """The auditor's economics at the end (the executor's, under its state root): supplies
    and whether every invariant holds (supply conservation included; O(accounts), once)."""
    if ledger is None:
        return None
    econ = ledger.econ
    supply = {d: econ.core.ledger.supply(d) for d in ("H", "CYB")}
    problems = econ.violations(ledger.reader.get)
    return {"height": econ.core.height, "h_supply": supply["H"], "cyb_supply": supply["CYB"],
            "split_ppb": list(econ.core.split), "supply_conserved": not problems,
            "problems": problems[:4]}


def _progress(sim: Simulation) -> dict[str, int]:
    """Each honest validator's finalized height (its durable log's tip; -1 while its
    node or validator is down): what a chaos run's settle phase requires to grow."""
    state: NetworkState = sim.scenario_state  # type: ignore[attr-defined]
    out = {}
    for i in state.honest:
        v = state.validator(i)
        out[state.names[i]] = v.blocks.height if v is not None and v.blocks is not None else -1
    return out


register_scenario(
    "network",
    help="the whole network: each validator node the production tree of `focusflow node` "
         "(block log, state ledger with π, double-sign guard, block sync) "
         "(--validators N --byzantine F --latency MS)",
    add_arguments=_add_arguments,
    finish=_finish,
    duration_ms=10_000.0,
    priority=0,  # above "consensus" (-1): claims --validators runs; "demo" stays the plain default
    select=lambda o: o.get("validators") is not None or bool(o.get("partition")),
    duration=_duration,
    progress=_progress,
)(_build)

