"""The block executor: consensus's ``StateTransition`` over the real components.

Consensus orders transactions and asks ``execute(parent_state_root, txs) -> (state_root,
pi_root)``; this module answers with the network's actual state machine instead of the
harness's hash chain, so that a notarised header commits to what the block *did*:

1. **State.** The txs are the state engineer's signed transactions (``state/tx.py``). The
   state core (``state/core.py``) validates and applies them in order; a rejected tx is
   counted by its :class:`~focusflow.actors.state.tx.Reject` reason and never applied.
   The block's writes are folded into an in-memory committed map and the core's
   sparse Merkle tree: the header's ``state_root`` is the real SMT root over ``/graph``
   and ``/token``.
2. **Focus.** The block's link deltas (``BlockResult.deltas``) feed the kernels'
   incremental :class:`~focusflow.kernels.GraphStore` (particles and neurons numbered by
   first appearance, stake = the neuron's ``/token`` balance after the block); the CPU
   solver re-converges from the previous π (warm start) and the block commits the
   kernels' fixed-point :class:`~focusflow.kernels.Commitment`: the header's ``pi_root``.
   The executor then checks that commitment with the kernels' one-iteration residual
   verifier (what a validator that did not solve would run) and records the verdict.
3. **Economics.** Each applied tx's fee is paid as gas in H through the economics core
   (its in-memory ledger), which splits it (buyback-and-burn, rewards, liquidity); after
   every block the executor records ``supply_conserved`` and the core's violations.

Data availability (the block's erasure-coded square, its NMT data root, sampling before
signing) is the live node's executor's, ``node.chain.Ledger`` (issue 15 item 2), which is
also what the simulated network runs; this executor no longer has a DA path of its own.
It remains the only place economics runs per block (docs/architecture.md, "Known seams
still open").

Sans-IO and deterministic: no clock, no randomness, no I/O; validators that execute the
same ordered txs get bit-identical roots (float64 numpy/scipy on one platform, the same
warm-start history). The executor keeps only bounded history (``outcomes_kept_max``
outcomes).

Block h's quantised π is written into ``/graph/pi`` slices with block h + 1 (the state core
takes focus slices before the txs whose deltas the π depends on), so the state root binds
the committed π one block late (``ChainConfig.pi_in_state``).

Deliberate simplifications (see docs/chain.md): state lives in memory (the state actor's
SQLite store is not in the loop); the economics ledger is a parallel H ledger funded with the same genesis
balances, not yet the ``/token`` keyspace (the state core burns the fee it charges; the
economics core distributes the same amount).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from focusflow.actors.economics import (
    CYB,
    BlockInput,
    EconGenesis,
    EconomicsCore,
    H,
    MemoryLedger,
    supply_conserved,
)
from focusflow.actors.state.core import (
    BlockResult,
    FocusSlice,
    LinkDeltas,
    Receipt,
    StateCore,
    decode_block,
)
from focusflow.actors.state.smt import SparseMerkleTree
from focusflow.actors.state.tx import Tx, verify_signatures
from focusflow.kernels import Commitment, CpuSolver, FocusParams, GraphStore, verify

__all__ = [
    "BlockExecutor",
    "BlockOutcome",
    "ChainConfig",
    "ChainFault",
    "SignatureCache",
    "admit_txs",
]

GENESIS_PARENT = bytes(32)
"""The parent root the block core passes for block 1 (it starts from zeros)."""


class ChainFault(AssertionError):
    """A local bug: the executor was driven out of order. It stays failed afterwards."""


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """What every validator of one chain must agree on, plus local limits."""

    chain_id: str = "focusflow-sim"
    fee_min: int = 1
    focus_eps: float = 1e-6
    focus_iterations_max: int = 1000
    verify_pi: bool = True
    pi_in_state: bool = True  # write each block's π into /graph/pi with the next block
    outcomes_kept_max: int = 4096
    particles_max: int = 1 << 24
    econ_pool: int = 10**15  # genesis protocol pool, CYB and H each
    econ_treasury_cyb: int = 10**15

    def __post_init__(self) -> None:
        assert self.focus_eps > 0 and self.focus_iterations_max >= 1
        assert self.outcomes_kept_max >= 1
        assert self.fee_min >= 0


@dataclass(frozen=True, slots=True)
class BlockOutcome:
    """What executing one block produced (kept for invariants and the summary)."""

    height: int
    state_root: bytes
    pi_root: bytes
    txs: int
    applied: int
    links_added: int
    links_removed: int
    rejected: Mapping[str, int]
    applied_hashes: frozenset[bytes]
    particles: int
    pi_iterations: int
    pi_converged: bool
    pi_verified: bool | None  # None: verification off
    pi_residual: float
    gas_h: int
    burned_cyb: int
    focus_h: int  # H of the block's gas accrued to neurons for the focus their links gained
    supply_ok: bool
    econ_violations: tuple[str, ...]


class SignatureCache:
    """Memo of tx decoding and Ed25519 checks shared by simulated validators (pure functions).

    In one simulator process every validator verifies the same signatures; verifying
    each once keeps large runs affordable. Wall-clock figures then understate per-validator
    CPU (as the consensus harness's ``CachingVerifier`` does); results are unchanged.
    """

    def __init__(self, entries_max: int = 1 << 20) -> None:
        assert entries_max >= 1
        self.entries_max = entries_max
        self._ok: OrderedDict[bytes, bool] = OrderedDict()
        self._decoded: OrderedDict[bytes, Tx | Receipt] = OrderedDict()
        self.hits = 0

    def decode(self, raw_txs: Sequence[bytes]) -> list[Tx | Receipt]:
        """``decode_block`` with a memo keyed by the raw bytes (decoding is a pure function)."""
        out: list[Tx | Receipt] = []
        for raw in raw_txs:
            item = self._decoded.get(raw)
            if item is None:
                item = decode_block([raw])[0]
                self._decoded[raw] = item
            out.append(item)
        while len(self._decoded) > self.entries_max:
            self._decoded.popitem(last=False)
        return out

    def verify(self, txs: Sequence[Tx]) -> list[bool]:
        """``verify_signatures`` with a memo keyed by the tx hash (covers body and signature)."""
        out: list[bool | None] = [self._ok.get(t.tx_hash) for t in txs]
        todo = [i for i, v in enumerate(out) if v is None]
        self.hits += len(txs) - len(todo)
        for i, ok in zip(todo, verify_signatures([txs[i] for i in todo]), strict=True):
            out[i] = ok
            self._ok[txs[i].tx_hash] = ok
        while len(self._ok) > self.entries_max:
            self._ok.popitem(last=False)
        return [bool(v) for v in out]


class _Committed:
    """Committed key-value map: the state core's :class:`StateReader` (in memory)."""

    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}

    def get(self, keypath: bytes) -> bytes | None:
        return self.values.get(keypath)

    def fold(self, result: BlockResult) -> None:
        for key, value in result.writes.items():
            if value is None:
                self.values.pop(key, None)
            else:
                self.values[key] = value


@dataclass
class _Focus:
    """The kernels' graph and solver, with the numbering of particles and neurons."""

    params: FocusParams
    store: GraphStore = field(default_factory=GraphStore)
    particles: dict[bytes, int] = field(default_factory=dict)
    cids: list[bytes] = field(default_factory=list)  # particle index -> CID
    shards: list[int] = field(default_factory=list)  # particle index -> /graph/pi shard
    unwritten: bool = False  # π changed since the last slices went into the state
    neurons: dict[bytes, int] = field(default_factory=dict)
    solver: CpuSolver | None = None
    commitment: Commitment = field(default_factory=lambda: Commitment.of(np.zeros(0)))
    iterations: int = 0
    converged: bool = True


class BlockExecutor:
    """One validator's deterministic block execution (see the module docstring).

    Pass :meth:`execute` as a ``StateTransition``. Blocks must come in height order, each
    once.
    """

    def __init__(
        self,
        *,
        genesis_balances: Mapping[bytes, int],
        config: ChainConfig | None = None,
        signatures: SignatureCache | None = None,
    ) -> None:
        self.config = config or ChainConfig()
        self.signatures = signatures
        self.committed = _Committed()
        self.state = StateCore(
            chain_id=self.config.chain_id, reader=self.committed, tree=SparseMerkleTree(),
            height=-1, fee_min=self.config.fee_min,
        )  # fmt: skip
        self._commit(self.state.genesis(balances=genesis_balances))
        self.genesis_root = self.state.root
        self.height = 0
        self.root = self.state.root
        self.focus = _Focus(FocusParams(eps=self.config.focus_eps,
                                        iterations_max=self.config.focus_iterations_max))
        self.econ = EconomicsCore(MemoryLedger(), EconGenesis(
            balances={_account(a): (0, amount) for a, amount in sorted(genesis_balances.items())},
            pool=(self.config.econ_pool, self.config.econ_pool),
            treasury_cyb=self.config.econ_treasury_cyb,
        ))  # fmt: skip
        self.outcomes: OrderedDict[int, BlockOutcome] = OrderedDict()
        self.rejected_total: Counter[str] = Counter()
        self.failed: str | None = None

    # ----------------------------------------------------------------- the two hooks

    def execute(self, parent_root: bytes, txs: Sequence[bytes]) -> tuple[bytes, bytes]:
        """Consensus's ``StateTransition``: apply block ``height + 1``; return its roots.

        Raises:
            ChainFault: the parent root is not the last root this executor returned (a
                local bug: blocks out of order or executed twice); the executor stays failed.
        """
        self._check_alive()
        expected = GENESIS_PARENT if self.height == 0 else self.root
        if parent_root not in (expected, self.root):
            self._fail(f"block {self.height + 1}: parent {parent_root.hex()[:16]} is not our root")
        h = self.height + 1
        memo = self.signatures
        items = memo.decode(txs) if memo is not None else decode_block(txs)  # decoded once
        decoded = [t for t in items if isinstance(t, Tx)]
        sig_ok = self.signatures.verify(decoded) if self.signatures is not None else None
        result = self.state.prepare_block(h, txs, signatures_ok=sig_ok, decoded=items,
                                          focus=self._focus_slices())
        self._commit(result)
        rejected = Counter(r.reason.value for r in result.receipts if not r.ok and r.reason is not None)
        self.rejected_total.update(rejected)
        applied = [r.tx_hash for r in result.receipts if r.ok]
        stakes = self._stakes(result.deltas, decoded, set(applied))
        q_before = self.focus.commitment.q
        pi_verified, residual = self._focus_block(result.deltas, stakes)
        gas = self._gas(decoded, result)
        gains = self._focus_gains(result.deltas, q_before)
        record = self.econ.apply_block(BlockInput(h, gas=gas, focus_gains=gains))
        violations = tuple(self.econ.violations())
        outcome = BlockOutcome(
            height=h, state_root=result.root, pi_root=self.focus.commitment.root, txs=len(txs),
            applied=len(applied), links_added=int((result.deltas.sign > 0).sum()),
            links_removed=int((result.deltas.sign < 0).sum()), rejected=dict(rejected),
            applied_hashes=frozenset(applied), particles=self.focus.store.n,
            pi_iterations=self.focus.iterations, pi_converged=self.focus.converged,
            pi_verified=pi_verified, pi_residual=residual, gas_h=record.gas_h,
            burned_cyb=record.burned_cyb, focus_h=record.focus_h,
            supply_ok=supply_conserved(self.econ.ledger, self.econ.journal),
            econ_violations=violations,
        )  # fmt: skip
        self.height = h
        self.root = result.root
        self._keep(outcome)
        assert len(outcome.state_root) == 32 and len(outcome.pi_root) == 32
        return outcome.state_root, outcome.pi_root

    # ----------------------------------------------------------------- queries

    def outcome(self, height: int) -> BlockOutcome | None:
        """The recorded outcome of ``height`` (None when not executed or forgotten)."""
        return self.outcomes.get(height)

    def balance(self, address: bytes) -> int:
        """Committed ``/token`` balance of a neuron."""
        return self.state.balance(address)

    def next_nonce(self, address: bytes) -> int:
        """Committed next nonce of a neuron."""
        return self.state.next_nonce(address)

    def statistics(self) -> dict[str, object]:
        """Counters for the summary and monitoring."""
        return {
            "height": self.height,
            "particles": self.focus.store.n,
            "links": self.focus.store.links,
            "rejected": dict(sorted(self.rejected_total.items())),
            "h_supply": self.econ.ledger.supply(H),
            "cyb_supply": self.econ.ledger.supply(CYB),
        }

    def invariants(self) -> None:
        """Cheap checks after every step."""
        assert self.state.root == self.root and self.state.height == self.height
        assert len(self.outcomes) <= self.config.outcomes_kept_max

    # ----------------------------------------------------------------- internals

    def _commit(self, result: BlockResult) -> None:
        """In-memory 'durable' first, then the core: the store's order (state/store.py)."""
        self.committed.fold(result)
        self.state.block_committed(result)

    def _stakes(self, deltas: LinkDeltas, decoded: Sequence[Tx], applied: set[bytes]) -> dict[int, float]:
        """Stake of every neuron whose balance or links changed: its balance after the block."""
        addresses = {t.neuron for t in decoded if t.tx_hash in applied}
        addresses.update(bytes(row) for row in np.unique(deltas.neuron, axis=0))
        stakes: dict[int, float] = {}
        for address in sorted(addresses):
            index = self.focus.neurons.setdefault(address, len(self.focus.neurons))
            stakes[index] = float(self.state.balance(address))
        return stakes

    def _focus_block(self, deltas: LinkDeltas, stakes: dict[int, float]) -> tuple[bool | None, float]:
        """Feed the block's link deltas to the graph store, re-solve warm, commit, verify."""
        f = self.focus
        if len(deltas) == 0 and not stakes:
            return (True if self.config.verify_pi else None), 0.0
        neuron_ids = np.fromiter(
            (f.neurons.setdefault(bytes(r), len(f.neurons)) for r in deltas.neuron), np.int64, len(deltas)
        )
        src = self._particle_ids(deltas.src)
        dst = self._particle_ids(deltas.dst)
        add = deltas.sign > 0
        delta = f.store.update(
            insert=(neuron_ids[add], src[add], dst[add]) if add.any() else None,
            remove=(neuron_ids[~add], src[~add], dst[~add]) if (~add).any() else None,
            stakes=stakes,
        )  # fmt: skip
        if f.solver is None:
            f.solver = CpuSolver(f.store, f.params)
        else:
            f.solver.apply(delta)
        result = f.solver.solve(warm=True)
        f.iterations, f.converged = result.iterations, result.converged
        if not result.converged:
            # Committing a non-fixed point would make honest verifiers reject the block.
            self._fail(f"π did not converge in {result.iterations} iterations")
        f.commitment = Commitment.of(result.pi)
        f.unwritten = True
        if not self.config.verify_pi:
            return None, 0.0
        verdict = verify(f.store, f.commitment, eps=f.params.eps, params=f.params)
        return verdict.accepted, verdict.residual_l1

    def _focus_gains(self, deltas: LinkDeltas, q_before: np.ndarray) -> tuple[tuple[str, int], ...]:
        """Δπ a neuron's new links point at: Σ of (q_after − q_before)⁺ over its new targets.

        Fixed point (the commitment's 2^60 scale), integers only, sorted by neuron: the
        economics core shares the block's focus budget in proportion to these gains.
        """
        f = self.focus
        q_after = f.commitment.q
        add = deltas.sign > 0
        if not add.any():
            return ()
        before = np.zeros(len(q_after), np.uint64)
        before[: len(q_before)] = q_before
        gains: dict[str, int] = {}
        for neuron, dst in {(bytes(u), f.particles[bytes(d)]) for u, d in zip(deltas.neuron[add], deltas.dst[add],
                                                                              strict=True)}:
            up = int(q_after[dst]) - int(before[dst])
            if up > 0:
                gains[_account(neuron)] = gains.get(_account(neuron), 0) + up
        return tuple(sorted(gains.items()))

    def _focus_slices(self) -> list[FocusSlice]:
        """The previous block's π as ``/graph/pi`` slices (one per shard holding particles).

        π of block h is computed after block h's txs are applied, so it enters the state
        with block h + 1 (one block of lag, the usual end-of-block pattern): the state
        root of h + 1 then binds the π committed by the header of h, and
        ``StateCore.focus(cid)`` answers from it. Only written when π changed.
        """
        f = self.focus
        if not f.unwritten or not self.config.pi_in_state:
            return []
        f.unwritten = False
        q = f.commitment.q
        assert len(q) == len(f.cids) == len(f.shards)
        shards = np.asarray(f.shards, np.int64)
        cids = np.frombuffer(b"".join(f.cids), np.uint8).reshape(-1, len(f.cids[0]))
        out = []
        for shard in np.unique(shards):
            rows = np.flatnonzero(shards == shard)
            out.append(FocusSlice(int(shard), cids[rows], np.asarray(q[rows], np.uint64)))
        return out

    def _particle_ids(self, cids: np.ndarray) -> np.ndarray:
        f = self.focus
        index = f.particles
        out = np.empty(cids.shape[0], np.int64)
        for i, row in enumerate(cids):
            cid = row.tobytes()
            pid = index.get(cid)
            if pid is None:
                pid = index[cid] = len(f.cids)
                f.cids.append(cid)
                f.shards.append(self.state.focus_shard(cid))
            out[i] = pid
        if len(index) > self.config.particles_max:
            self._fail(f"{len(index)} particles > particles_max {self.config.particles_max}")
        return out

    def _gas(self, decoded: Sequence[Tx], result: BlockResult) -> tuple[tuple[str, int], ...]:
        """Each applied tx pays its fee as gas in H, in block order (one entry per receipt)."""
        by_hash = {t.tx_hash: t for t in decoded}
        payers = (by_hash[r.tx_hash] for r in result.receipts if r.ok)
        return tuple((_account(t.neuron), t.fee) for t in payers if t.fee > 0)

    def _keep(self, outcome: BlockOutcome) -> None:
        self.outcomes[outcome.height] = outcome
        while len(self.outcomes) > self.config.outcomes_kept_max:
            self.outcomes.popitem(last=False)

    def _check_alive(self) -> None:
        if self.failed is not None:
            raise ChainFault(f"executor failed earlier: {self.failed}")

    def _fail(self, why: str) -> None:
        self.failed = why
        raise ChainFault(why)


def _account(address: bytes) -> str:
    """Economics account name of a neuron address (hex; the ledger is keyed by str)."""
    assert len(address) == 20
    return "neuron:" + address.hex()


def admit_txs(signatures: SignatureCache | None = None) -> Callable[[Sequence[bytes]], list[bool]]:
    """Mempool batch admission for state txs: decodable and correctly signed.

    What a voter re-checks before voting for a header (consensus validity); the state
    core repeats the checks that need state (nonce, balance, duplicate links) at execution.
    """

    def admit(payloads: Sequence[bytes]) -> list[bool]:
        decoded = signatures.decode(payloads) if signatures is not None else decode_block(payloads)
        txs = [t for t in decoded if isinstance(t, Tx)]
        ok = iter(signatures.verify(txs) if signatures is not None else verify_signatures(txs))
        out = [isinstance(t, Tx) and next(ok) for t in decoded]
        assert len(out) == len(payloads)
        return out

    return admit
