"""``focusflow sim --validators N --byzantine F --latency MS``: the whole network, real blocks.

Registers the scenario ``network`` with the runtime's registry. It runs the consensus
validators exactly as the ``consensus`` scenario does (same options, same Byzantine
behaviours, same one-way latency with 10% jitter), but each validator executes its blocks
with a :class:`~focusflow.actors.chain.executor.BlockExecutor` instead of the toy hash
chain, and the client node submits signed cyberlinks in the state's tx format
(:mod:`.workload`). It claims ``--validators`` runs by default (priority above
``consensus``; ``--scenario consensus`` still runs the toy transition).

Summary: everything the ``consensus`` scenario reports (``finalized_height``,
``links_committed``, ``finality_ms_p50/p99``, ``links_per_second``,
``commits_fast/fallback``, invariants ``agreement`` and ``validity``) — with
``links_committed``/``links_per_second`` counting the links that finalized blocks applied
to the graph (a tx carries 1..4 links; rejected txs add none), and the consensus
scenario's per-tx figures kept as ``txs_committed``/``txs_per_second`` — plus a ``chain`` object (height, roots, particles, links, π
iterations, rejections by reason, DA samples, H/CYB supply) and the invariants

* ``state_roots_agree``: honest validators computed the same state root and π root at
  every height any two of them executed (checked at execution, not only at finality:
  divergence would stall finality rather than break agreement);
* ``pi_verified``: every executed block's π commitment passed the kernels' residual
  verifier, and every finalized header's π root is the executor's commitment;
* ``data_available``: a DA sampler core sampled every finalized block's square (16 cells,
  served by an honest validator that holds it) against the header's data root;
* ``supply_conserved``: after every block the economics ledger's supply moved only
  through journaled mints and burns, and the core reported no violation.

Shared-memory shortcuts of a one-process simulation (as in the ``consensus`` scenario):
the invariant checker and the client read validators' outcomes directly; signature checks
and DA squares are memoised across validators (pure functions).
"""

from __future__ import annotations

import argparse
import random  # runtime-ok: seeded from the run's seed, outside actor code
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from focusflow.actors.avalanche.core import AvalancheConfig
from focusflow.actors.bft.core import BftConfig
from focusflow.actors.chain.executor import (
    BlockExecutor,
    BlockOutcome,
    ChainConfig,
    SignatureCache,
    SquareCache,
    admit_txs,
)
from focusflow.actors.chain.workload import LinkWorkload, WorkloadConfig
from focusflow.actors.consensus import scenario as consensus_scenario
from focusflow.actors.consensus.actor import VALIDATOR_PATH, SubmitTxs, ValidatorActor
from focusflow.actors.consensus.adversary import Adversary
from focusflow.actors.consensus.blocks import DaRootOf
from focusflow.actors.consensus.crypto import DOMAIN_TX, CachingVerifier, Signer, digest
from focusflow.actors.consensus.node import NodeConfig
from focusflow.actors.consensus.types import ClientTx, Committee, Effect, Finalize, Validator
from focusflow.actors.da.actor import DaSamplerActor, ShareServerActor
from focusflow.actors.da.actor import Verdict as DaVerdict
from focusflow.actors.da.codec import DaHeader
from focusflow.actors.da.core import DaSamplerCore, RequestSample, SamplerConfig, Verdict
from focusflow.actors.da.pinning import ShareStore
from focusflow.actors.mempool.core import DagConfig
from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx, tx_hash_of
from focusflow.sim._sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import Actor, Node
from focusflow.wire import load_schema, message

_schema = load_schema(Path(__file__).with_name("chain.capnp"))

SUBMIT_EVERY_MS = 50.0
DA_SAMPLES = 16
SAMPLE_STEPS_MAX = 4 * DA_SAMPLES * 3  # requests a synchronous sampling may take
DA_EPOCH_BLOCKS = 16  # blocks per pinning epoch of the validators' share stores
LIGHT_NODE = "light"
SAMPLER_PATH = "/user/sampler"
SHARES_PATH = "/user/shares"
ROOTS_KEPT_MAX = 4096  # heights whose honest roots are remembered for comparison
LIGHT_SETTLE_MS = 1_000  # a finalized block older than this must have a light verdict


@message(_schema.ChainClientTick)
class _ClientTick:
    unused: bool = False


class ChainValidatorActor(ValidatorActor):
    """A consensus validator whose block core commits the executor's data root.

    On each finalized block it hands the block's extended square to the share server of
    its node (``shares``: the server's store, a local hand-off inside one node) and, when
    ``announce`` is set, tells the light node's DA sampler the header (height, data root,
    width): the sampler then fetches cells over the network and verifies them.
    """

    def __init__(self, *, da_root_of: DaRootOf, executor: BlockExecutor, shares: ShareStore | None = None,
                 announce: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.core.blocks.da_root_of = da_root_of
        self.executor = executor
        self.shares = shares
        self.announce = announce

    def _apply(self, effects: list[Effect]) -> None:
        super()._apply(effects)
        for e in effects:
            if isinstance(e, Finalize):
                self._publish(e)
        self.executor.invariants()

    def _publish(self, e: Finalize) -> None:
        h = e.header.height
        square = self.executor.square(h)
        if square is None:
            return  # not kept (cannot happen while finality lags less than squares_kept_max)
        if self.shares is not None:
            epoch = h // DA_EPOCH_BLOCKS
            self.shares.add_block(h, epoch, square.eds)
            self.shares.prune(epoch)
        if self.announce:
            sampler = self.ctx.ref_for(LIGHT_NODE, SAMPLER_PATH)
            self.ctx.tell_nowait(sampler, DaHeader(h, e.header.da_root, square.width))


class _ShareServer(ShareServerActor):
    """The DA share server of a validator node, serving the store its validator fills."""

    def __init__(self, *, store: ShareStore) -> None:
        super().__init__()
        self.store = store


class _WithholdingStore(ShareStore):
    """A Byzantine validator's share store with ``--da-withhold``: it refuses every cell."""

    def sample(self, height: int, row: int, col: int) -> None:
        return None


class _DaCollector(Actor):
    """The light node's verdict subscriber: records each verdict for the invariant."""

    def __init__(self, *, state: NetworkState) -> None:
        self.state = state

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, DaVerdict) and msg.decided:
            self.state.light_verdict(msg.height, msg.available, msg.samples_verified, msg.reason)
        return None


class NetworkState(consensus_scenario._State):
    """The consensus scenario's checks plus execution, π, DA and supply invariants."""

    def __init__(self, honest: set[int], executors: list[BlockExecutor], workload: LinkWorkload,
                 rng: random.Random) -> None:
        super().__init__(honest)
        self.executors = executors
        self.workload = workload
        self.rng = rng
        self.roots: dict[int, tuple[bytes, bytes]] = {}
        self.roots_compared = 0
        self.state_roots_agree = True
        self.pi_verified = True
        self.supply_conserved = True
        self.data_available = True
        self.sampler = DaSamplerCore(SamplerConfig(samples=DA_SAMPLES))
        self.sampled: dict[int, Verdict] = {}
        self.links_applied = 0
        self.problems: list[str] = []
        self.finalized_ns: dict[int, int] = {}  # height -> first honest finalization
        self.light: dict[int, tuple[bool, int]] = {}  # height -> (available, samples verified)

    def light_verdict(self, height: int, available: bool, verified: int, reason: str) -> None:
        """The light node's sampler decided ``height`` (over the simulated network)."""
        self.light[height] = (available, verified)
        if not available:
            self._problem("data_available", f"light node: height {height} unavailable: {reason}")

    def executed(self, i: int, outcome: BlockOutcome) -> None:
        """Validator ``i`` executed a block: compare its roots with the other honest ones."""
        if i not in self.honest:
            return
        roots = (outcome.state_root, outcome.pi_root)
        first = self.roots.setdefault(outcome.height, roots)
        while len(self.roots) > ROOTS_KEPT_MAX:  # heights arrive in order: drop the oldest
            del self.roots[next(iter(self.roots))]
        if first is not roots:
            self.roots_compared += 1
            if first != roots:
                self._problem("state_roots_agree", f"v{i} height {outcome.height} roots differ")
        if outcome.pi_verified is False or not outcome.pi_converged:
            self._problem("pi_verified", f"v{i} height {outcome.height} π rejected by the verifier")
        if not outcome.supply_ok or outcome.econ_violations:
            self._problem("supply_conserved", f"v{i} height {outcome.height}: {outcome.econ_violations}")

    def sink(self, i: int, now_ns: int, e: Effect) -> None:
        super().sink(i, now_ns, e)
        if i not in self.honest or not isinstance(e, Finalize):
            return
        h = e.header.height
        outcome = self.executors[i].outcome(h)
        if outcome is None:
            self._problem("state_roots_agree", f"v{i} finalized {h} without an execution record")
            return
        if (e.header.state_root, e.header.pi_root) != (outcome.state_root, outcome.pi_root):
            self._problem("pi_verified", f"v{i} header {h} roots are not the executor's")
        if h not in self.sampled:
            self.finalized_ns[h] = now_ns
            self.links_applied += outcome.links_added
            self.workload.on_finalized(outcome.applied_hashes, (tx_hash_of(t) for t in e.txs))
            self._sample(h, e.header.da_root, outcome.width, now_ns)

    def _sample(self, h: int, da_root: bytes, width: int, now_ns: int) -> None:
        """Core-level DA sampling of one finalized block against its header's data root."""
        holders = [j for j in sorted(self.honest) if self.executors[j].square(h) is not None]
        server = self.executors[holders[self.rng.randrange(len(holders))]] if holders else None
        queue: list[Any] = list(self.sampler.on_header(h, da_root, width, self.rng.randbytes(32), now_ns))
        for _ in range(SAMPLE_STEPS_MAX):
            if not queue:
                break
            eff = queue.pop(0)
            if isinstance(eff, RequestSample):
                square = server.square(h) if server is not None else None
                sample = square.eds.sample(eff.row, eff.col) if square is not None else None
                queue.extend(self.sampler.on_sample(h, eff.row, eff.col, sample, now_ns))
            elif isinstance(eff, Verdict):
                self.sampled[h] = eff
                if not eff.available:
                    self._problem("data_available", f"height {h}: {eff.reason}")
        if h not in self.sampled:
            self._problem("data_available", f"height {h}: sampling did not finish")

    def _problem(self, invariant: str, detail: str) -> None:
        setattr(self, invariant, False)
        if len(self.problems) < 20:
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
            by_node: dict[int, list[ClientTx]] = {}
            for sub in self.state.workload.make(count, now, self.ctx.random):
                i = self.honest[sub.neuron % len(self.honest)]
                self.state.submitted.setdefault(digest(DOMAIN_TX, sub.payload), (i, now))
                by_node.setdefault(i, []).append(ClientTx(sub.payload, sub.focus, sub.neuron))
            for i, txs in sorted(by_node.items()):
                self.ctx.tell_nowait(self.ctx.ref_for(self.names[i], VALIDATOR_PATH), SubmitTxs.of(txs, 0))
            self.ctx.start_timer("submit", SUBMIT_EVERY_MS, _ClientTick())
        return None


def _add_arguments(group: argparse._ArgumentGroup) -> None:
    """Only the network's own options: --validators/--byzantine/--latency/--tx-rate are the
    consensus scenario's (one definition, read by both)."""
    group.add_argument("--neurons", type=int, default=None,
                       help="network: funded neurons sending links (default 256)")
    group.add_argument("--invalid-share", type=float, default=None,
                       help="network: share of deliberately stale (replayed-nonce) txs (default 0.02)")
    group.add_argument("--da-withhold", action="store_true", default=None,
                       help="network: Byzantine validators' share servers refuse every DA sample")


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


def _adversary_tx(state: NetworkState, sim: Simulation, neuron: Neuron, chain_id: str,
                  rng: random.Random) -> Callable[[int], ClientTx]:
    """Txs a Byzantine validator slips into its equivocating headers: all reuse nonce 0."""

    def extra_tx(i: int) -> ClientTx:
        src, dst = cid_of(rng.randbytes(8)), cid_of(rng.randbytes(8))
        payload = make_tx(neuron, chain_id=chain_id, nonce=0, kind=TxKind.LINK, fee=1_000,
                          links=[(src, dst)])
        state.submitted.setdefault(digest(DOMAIN_TX, payload), (i, sim.now_ns()))
        return ClientTx(payload, 1_000_000, 0)

    return extra_tx


def _build(sim: Simulation, options: Mapping[str, Any]) -> None:
    n = int(options.get("validators") or 4)
    f = int(options.get("byzantine") or 0)
    latency = float(options.get("latency") or 50.0)
    seed = int(options.get("seed") or 0)
    if not 4 <= n <= consensus_scenario.VALIDATORS_MAX or not 0 <= 3 * f < n:
        raise ValueError(f"need 4 <= validators <= {consensus_scenario.VALIDATORS_MAX} and 3*byzantine < validators")
    if options.get("crash_restart"):
        raise ValueError("network: --crash-restart is not supported yet (a restarted validator would need "
                         "its executed state back: no state sync); use --scenario consensus")
    rng = random.Random(seed)
    signers = [Signer(rng.randbytes(32)) for _ in range(n)]
    committee = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(signers)))
    names = tuple(f"v{i}" for i in range(n))
    byzantine = {i: consensus_scenario.BYZANTINE_BEHAVIOURS for i in range(n - f, n)}
    honest = [i for i in range(n) if i not in byzantine]
    chain = ChainConfig()
    wl = WorkloadConfig(
        chain_id=chain.chain_id,
        neurons=int(options.get("neurons") or 256),
        invalid_share=0.02 if options.get("invalid_share") is None else float(options["invalid_share"]),
    )
    workload = LinkWorkload(wl, seed=seed)
    rogue = Neuron.from_seed(random.Random(seed ^ 0xBAD).randbytes(32))
    genesis = {**workload.genesis_balances(), rogue.address: wl.balance}
    signatures, squares = SignatureCache(), SquareCache()
    executors = [BlockExecutor(genesis_balances=genesis, config=chain, signatures=signatures, squares=squares)
                 for _ in range(n)]
    state = NetworkState(set(honest), executors, workload, random.Random(seed ^ 0xDA))
    sim.scenario_state = state  # type: ignore[attr-defined]
    verifier = CachingVerifier()
    adversary = Adversary(
        committee=committee, signers={i: signers[i] for i in byzantine}, behaviours=byzantine,
        rng=random.Random(seed ^ 0xAD),
        extra_tx=_adversary_tx(state, sim, rogue, chain.chain_id, random.Random(seed ^ 0xE7)),
    )  # fmt: skip
    sim.network.set_default(latency_ms=latency, jitter_ms=latency / 10)
    config = _node_config(latency)
    admit = admit_txs(signatures)
    withhold = bool(options.get("da_withhold"))

    def execute_for(i: int) -> Callable[[bytes, Any], tuple[bytes, bytes]]:
        ex = executors[i]

        def execute(parent: bytes, txs: Any) -> tuple[bytes, bytes]:
            roots = ex.execute(parent, txs)
            outcome = ex.outcome(ex.height)
            assert outcome is not None
            state.executed(i, outcome)
            return roots

        return execute

    def boot_validator(index: int) -> Callable[[Node], None]:
        def boot(node: Node) -> None:
            store = _WithholdingStore() if index in byzantine and withhold else ShareStore()
            node.spawn(_ShareServer, name="shares", store=store)
            node.spawn(
                ChainValidatorActor, name="validator", mailbox_depth_max=1 << 16, index=index,
                names=names, committee=committee, signer=signers[index], verifier=verifier,
                admit_batch=admit, execute=execute_for(index), da_root_of=executors[index].da_root_of,
                executor=executors[index], shares=store, announce=index not in byzantine,
                sink=state.sink, config=config, adversary=adversary if index in byzantine else None,
            )  # fmt: skip

        return boot

    for i, name in enumerate(names):
        sim.add_node(name, boot=boot_validator(i))

    def boot_light(node: Node) -> None:
        collector = node.spawn(_DaCollector, name="da-verdicts", state=state)
        peers = tuple(node.ref(name, SHARES_PATH) for name in names)
        node.spawn(DaSamplerActor, name="sampler", peers=peers,
                   # A cell is unavailable only when every validator's server refused it: the
                   # sampler retries at the next server, and with the default retries_max (2) f >= 3
                   # consecutive withholding servers fail an available block (docs/chain.md).
                   config=SamplerConfig(samples=DA_SAMPLES, timeout_ms=int(max(500, 10 * latency)),
                                        retries_max=len(names) - 1),
                   subscriber=collector)

    sim.add_node(LIGHT_NODE, boot=boot_light)

    def boot_client(node: Node) -> None:
        rate = float(options.get("tx_rate") or 200.0)
        node.spawn(_Client, name="client", names=names, honest=honest, rate=rate, state=state)

    sim.add_node("clients", boot=boot_client)
    for name in ("agreement", "validity", "state_roots_agree", "pi_verified", "data_available",
                 "supply_conserved"):
        sim.add_invariant(name, _reader(state, name))


def _reader(state: NetworkState, name: str) -> Callable[[], bool]:
    return lambda: bool(getattr(state, name))


def _finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    state: NetworkState = sim.scenario_state  # type: ignore[attr-defined]
    out = dict(consensus_scenario._finish(sim, options))
    seconds = sim.virtual_seconds or 1.0
    top = out["finalized_height"]
    auditor = min(state.honest)
    ex = state.executors[auditor]
    outcomes = [ex.outcome(h) for h in range(1, ex.height + 1)]
    done = [o for o in outcomes if o is not None and o.height <= top]
    last = done[-1] if done else None
    out["txs_committed"], out["txs_per_second"] = out["links_committed"], out["links_per_second"]
    out["links_committed"] = state.links_applied
    out["links_per_second"] = round(state.links_applied / seconds, 1)
    out["chain"] = {
        "height": top,
        "state_root": last.state_root.hex() if last else None,
        "pi_root": last.pi_root.hex() if last else None,
        "particles": last.particles if last else 0,
        "links_applied": state.links_applied,
        "txs_applied": sum(o.applied for o in done),
        "rejected": _sum_rejections(done),
        "pi_iterations_mean": round(float(np.mean([o.pi_iterations for o in done])), 2) if done else None,
        "pi_residual_max": max((o.pi_residual for o in done), default=0.0),
        "roots_compared": state.roots_compared,
        "da_blocks_sampled": len(state.sampled),
        "da_samples_verified": sum(v.samples_verified for v in state.sampled.values()),
        **_light_coverage(state, sim.now_ns()),
        "gas_h": sum(o.gas_h for o in done),
        "burned_cyb": sum(o.burned_cyb for o in done),
        "focus_rewards_h": sum(o.focus_h for o in done),
        **{k: v for k, v in ex.statistics().items() if k in ("h_supply", "cyb_supply")},
        "signature_cache_hits": ex.signatures.hits if ex.signatures is not None else 0,
        "problems": list(state.problems),
    }
    out["workload"] = state.workload.statistics()
    return out


def _light_coverage(state: NetworkState, end_ns: int) -> dict[str, int]:
    """How many finalized blocks the light node decided, among those finalized long enough
    before the end for its sampling to finish (a timeout's worth of virtual time)."""
    settled = [h for h, t in state.finalized_ns.items() if end_ns - t >= LIGHT_SETTLE_MS * 1_000_000]
    return {
        "da_light_verdicts": len(state.light),
        "da_light_available": sum(ok for ok, _ in state.light.values()),
        "da_light_samples_verified": sum(n for _, n in state.light.values()),
        "da_light_settled_blocks": len(settled),
        "da_light_settled_decided": sum(h in state.light for h in settled),
    }


def _sum_rejections(outcomes: list[BlockOutcome]) -> dict[str, int]:
    total: dict[str, int] = {}
    for o in outcomes:
        for reason, count in o.rejected.items():
            total[reason] = total.get(reason, 0) + count
    return dict(sorted(total.items()))


register_scenario(
    "network",
    help="the whole network: consensus validators executing real blocks (state SMT root, "
         "kernels π root, DA data root, economics gas) (--validators N --byzantine F --latency MS)",
    add_arguments=_add_arguments,
    finish=_finish,
    duration_ms=10_000.0,
    priority=0,  # above "consensus" (-1): claims --validators runs; "demo" stays the plain default
    select=lambda o: o.get("validators") is not None,
)(_build)
