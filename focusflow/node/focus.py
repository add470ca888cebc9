"""π committed with every block: the exact (integer) focus, incremental, a pure function of
durable state.

Every validator signs the header of block h, and the header carries ``pi_root``: the
merkle root (``kernels.merkle_root``) of the **exact** π after block h — the integer
fixed-point iteration of docs/kernels.md ("Exact focus": weights, π at scale 2^60, one
hi64 rounding per link, integer stop rule). Every sum in it is an integer sum that cannot
overflow, so its bits do not depend on the summation order, the backend (CPU, WebGPU,
CUDA), or the history of edits of the graph store. That is what lets this module keep the
graph **resident** and apply each block incrementally (``GraphStore(exact=True)``, whose
integers after any history equal a fresh build's), and lets validators on different
hardware sign one root.

π of block h is a function of what is durable after block h only:

* **particles** numbered by first appearance in chain order (the block's link deltas,
  all sources then all destinations); the numbering is persisted (it orders the vector);
* **links** (neuron, from, to) and **stakes**, both in the state store; a neuron's stake
  is ``stake_units`` = ⌊balance / unit⌋ + ``STAKE_FLOOR`` while it has live links, else 0
  (``unit``: the chain's stake unit, fixed by its genesis supply);
* **the start vector**: the π committed at h − 1 (persisted, exact integers), new
  particles padded as the definition says (``padded_start``) — never a solver's memory.

The exact result depends on the start vector (the stop rule ends the iteration near, not
at, the fixed point), which is why the start is the *committed* π: a validator restarted
from the tables and a follower that block-synced start block h from the same integers and
so compute the same bits (tests/node/test_focus.py restarts every k blocks and compares
roots). A block whose links and stakes leave every edge weight unchanged and number no new
particle keeps π as it was (no solve: a solve would move it by one more iteration).

**Stakes at the door.** The definition needs Σ stake ≤ 2^38 − 1 (``STAKE_TOTAL_MAX``: the
integer out-weights stake·2^24 must fit 62 bits). The chain guarantees it without a cap
and without ever refusing a block: neurons' balances never grow in total (no minting: a
fee leaves its payer for the economics' gas account, whose rebates and rewards go back to
neurons only out of fees they paid; transfers move value); the chain's stake unit is ``stake_unit_for(genesis
supply)`` = ⌈supply / 2^37⌉ (1 for any supply up to 2^37 ≈ 1.4·10^11: balances are the
stakes), fixed at genesis and persisted (``node.chain.Ledger``); and only neurons with
live links carry a stake, so Σ stake ≤ supply/unit + LINKS_MAX·STAKE_FLOOR ≤ 2^37 + 2^26
< 2^38 − 1. A neuron's units are its balance rounded down to whole units, plus the floor.

**Backends.** ``backend`` = ``cpu`` (default), ``webgpu``, ``cuda`` or ``auto`` (the
kernels' ``backend_for``). A backend that cannot start, or fails during a solve, is
replaced by the CPU solver on the same (host) store, with one log line; the block is
solved again from the same start and commits the same root (the definition guarantees it).

Sans-IO: no clock, no disk; ``node.chain.Ledger`` persists what :meth:`FocusState.apply`
returns in the same SQLite transaction as the state, and :meth:`FocusState.restore`
rebuilds from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog

from focusflow.actors.state import keys as KEYS
from focusflow.actors.state.core import FocusSlice, LinkDeltas
from focusflow.actors.state.ids import CID_LEN
from focusflow.kernels import (
    BACKENDS,
    Commitment,
    EdgeDelta,
    ExactCpuSolver,
    ExactResult,
    ExactSolver,
    FocusParams,
    GraphStore,
    backend_for,
    merkle_root,
)
from focusflow.kernels._csr import KEY_SHIFT
from focusflow.kernels._exact import MASS, padded_start
from focusflow.kernels._graph import STAKE_TOTAL_MAX

STAKE_FLOOR = 1
"""Stake every linking neuron carries on top of its balance: without it a chain whose
genesis funds nobody (the devnet's) would give every link weight 0 and π would be the
teleport."""
PARTICLES_MAX = 1 << 24
LINKS_MAX = 1 << 26
STAKE_UNITS_MAX = 1 << 37
"""Σ ⌊balance / unit⌋ never exceeds this (the unit is chosen from the genesis supply, and
the supply never grows), so Σ stake ≤ STAKE_UNITS_MAX + LINKS_MAX·STAKE_FLOOR ≤
STAKE_TOTAL_MAX (the exact store's bound) whatever the chain does later."""
assert STAKE_UNITS_MAX + LINKS_MAX * STAKE_FLOOR <= STAKE_TOTAL_MAX
ADDRESS_BYTES = 20
EMPTY_ROOT = Commitment.of(np.zeros(0)).root
_LOG = structlog.get_logger("focusflow.node.focus")


def stake_unit_for(supply: int) -> int:
    """Tokens per unit of stake for a chain whose genesis hands out ``supply`` tokens:
    the least unit with supply / unit ≤ STAKE_UNITS_MAX (1 up to 2^37 tokens)."""
    return max(1, -(-int(supply) // STAKE_UNITS_MAX))


def stake_units(balance: int, links: int, unit: int = 1) -> int:
    """What a neuron's links weigh in the exact store: whole units of its balance plus the
    floor while it links, 0 otherwise (a neuron without links is in no weight)."""
    return int(balance) // unit + STAKE_FLOOR if links > 0 else 0


@dataclass(frozen=True, slots=True)
class FocusBlock:
    """What committing π for one block produced (the ledger persists it)."""

    height: int
    root: bytes
    q: np.ndarray  # uint64 exact π at scale 2^60, particle order
    new_cids: tuple[bytes, ...]  # particles first seen in this block, in id order
    particles: int
    links: int
    iterations: int  # 0: π unchanged (nothing moved)
    converged: bool  # the integer stop rule was met before the iteration cap
    residual: float  # the last iteration's integer L1 change, / 2^60
    verified: bool  # converged (the exact definition needs no separate float check)
    backend: str = "cpu"  # the backend that solved it ("" when no solve ran)


class FocusState:
    """The committed graph and exact π of one validator (see the module docstring)."""

    def __init__(self, params: FocusParams | None = None, *, backend: str = "cpu",
                 log: Any = None, stake_unit: int = 1) -> None:
        assert stake_unit >= 1
        if backend not in BACKENDS:
            raise ValueError(f"focus backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.params = params or FocusParams()
        self.backend = backend
        self.stake_unit = stake_unit
        self._log = log if log is not None else _LOG
        self.height = 0
        self.cids: list[bytes] = []
        self.particles: dict[bytes, int] = {}
        self.addresses: list[bytes] = []
        self.neurons: dict[bytes, int] = {}
        self.stakes: list[int] = []  # by neuron index: balance (without the floor)
        self.link_counts: list[int] = []  # by neuron index: live links
        self._links = 0
        self.store = GraphStore(0, exact=True)  # resident, edited incrementally
        self._solver: ExactSolver | None = None  # made at the first solve, then fed deltas
        self.q = np.zeros(0, np.uint64)
        self.root = EMPTY_ROOT
        #: Particle ids of the last applied block's link targets, row-aligned with its
        #: deltas (the economics' focus gains read them: ``economics.onchain``).
        self.last_dst = np.zeros(0, np.int64)

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Particles numbered so far (never shrinks: the committed vector only grows)."""
        return len(self.cids)

    @property
    def links(self) -> int:
        """Live links."""
        return self._links

    @property
    def solver_backend(self) -> str:
        """The backend actually solving ("" before the first solve; "cpu" after a fallback)."""
        return self._solver.backend if self._solver is not None else ""

    def inbound(self) -> np.ndarray:
        """Live in-links per particle (the store's per-edge link counts, summed per row)."""
        csr = self.store.csr
        out = np.zeros(self.n, np.int64)
        for keys, count in ((csr.keys, csr.count), (csr.d_keys, csr.d_count)):
            if len(keys):
                dst = (keys >> np.uint64(KEY_SHIFT)).astype(np.int64)
                out += np.bincount(dst, weights=count, minlength=self.n).astype(np.int64)
        return out

    def link_rows(self) -> list[tuple[bytes, int, int]]:
        """(neuron address, src id, dst id) of every live link."""
        u, src, dst = self.store.cyberlinks()
        return [(self.addresses[a], int(b), int(c))
                for a, b, c in zip(u.tolist(), src.tolist(), dst.tolist(), strict=True)]

    def invariants(self) -> None:
        """The store's links agree with the per-neuron counts; π covers every particle."""
        u, _, _ = self.store.cyberlinks()
        counts = np.bincount(u, minlength=len(self.addresses))
        assert counts.tolist() == self.link_counts
        assert sum(self.link_counts) == self._links
        assert len(self.q) == self.n and int(self.q.sum(dtype=np.uint64)) <= MASS

    def top(self, count: int) -> list[tuple[bytes, int, int]]:
        """(cid, committed fixed-point π, in-links) of the ``count`` highest, ties by id."""
        if self.n == 0 or count <= 0:
            return []
        order = np.lexsort((np.arange(self.n), -self.q.astype(np.float64)))[:count]
        inbound = self.inbound()
        return [(self.cids[i], int(self.q[i]), int(inbound[i])) for i in order]

    # ------------------------------------------------------------------ blocks
    def apply(self, height: int, deltas: LinkDeltas, balances: Mapping[bytes, int]) -> FocusBlock:
        """Fold block ``height``'s link deltas and written balances in; commit exact π.

        ``balances`` holds every ``/token`` balance the block wrote (address -> value):
        the state core writes the sender's balance with every applied tx, so a neuron in
        the deltas always appears there.

        Raises:
            AssertionError: out of order, an insert of an existing link or a removal of an
                absent one (the state core refuses both: a local bug).
        """
        assert height == self.height + 1, (height, self.height)
        first_new = self.n
        src = self._particle_ids(deltas.src)
        dst = self._particle_ids(deltas.dst)
        self.last_dst = dst
        touched: set[int] = set()
        for address, balance in sorted(balances.items()):
            index = self.neurons.get(address)
            if index is not None and self.stakes[index] != balance:
                self.stakes[index] = balance
                touched.add(index)
        edges: list[EdgeDelta] = []
        if len(deltas):
            neurons = np.fromiter((self._neuron(a, balances) for a in _addresses(deltas.neuron)),
                                  np.int64, len(deltas))
            edges.append(self._links_delta(neurons, src, dst, deltas.sign, touched))
        elif touched:
            edges.append(self._feed({}, {}, touched))
        if self.store.n < self.n:  # a particle named only by a link made and undone
            edges.append(self.store.grow(self.n))
        self.height = height
        new = tuple(self.cids[first_new:])
        for e in edges:
            if self._solver is not None:
                self._solver.apply(e)
        if not any(len(e) for e in edges) and len(self.q) == self.n:
            return self._block(new, iterations=0, converged=True, backend="")
        return self._solve(new)

    @classmethod
    def restore(cls, *, height: int, cids: Iterable[bytes],
                links: Iterable[tuple[bytes, bytes, bytes]], balances: Mapping[bytes, int],
                q: np.ndarray, params: FocusParams | None = None, backend: str = "cpu",
                log: Any = None, stake_unit: int = 1) -> FocusState:
        """Rebuild from durable state: particle numbering, (neuron, from, to) links, the
        balances of their neurons and the exact π committed at ``height``.

        Raises:
            ValueError: the pieces do not fit together (a link to an unnumbered particle,
                a π of another length, a π summing above 2^60 — e.g. one written by the
                float path before the exact definition): the store is not the one that
                committed them.
        """
        st = cls(params, backend=backend, log=log, stake_unit=stake_unit)
        st.height = height
        for cid in cids:
            st.particles[cid] = len(st.cids)
            st.cids.append(cid)
        q = np.asarray(q, np.uint64)
        if len(q) != st.n:
            raise ValueError(f"committed π has {len(q)} values for {st.n} particles")
        if int(q.sum(dtype=np.uint64)) > MASS or (len(q) and int(q.max()) > MASS):
            raise ValueError("committed π sums above 2^60: not an exact π")
        rows = [(st._neuron(neuron, balances), st.particles.get(s, -1), st.particles.get(d, -1))
                for neuron, s, d in links]
        if any(s < 0 or d < 0 for _, s, d in rows):
            raise ValueError("a stored link names a particle the focus table lacks")
        if rows:
            u, a, b = (np.array(col, np.int64) for col in zip(*rows, strict=True))
            st._links_delta(u, a, b, np.ones(len(rows), np.int8), set())
        if st.store.n < st.n:
            st.store.grow(st.n)
        st.q = q.copy()
        st.root = merkle_root(st.q)
        return st

    # ------------------------------------------------------------------ internals
    def _particle_ids(self, cids: np.ndarray) -> np.ndarray:
        out = np.empty(cids.shape[0], np.int64)
        for i, row in enumerate(cids):
            cid = row.tobytes()
            pid = self.particles.get(cid)
            if pid is None:
                pid = self.particles[cid] = len(self.cids)
                self.cids.append(cid)
            out[i] = pid
        assert self.n <= PARTICLES_MAX, f"{self.n} particles > PARTICLES_MAX"
        return out

    def _neuron(self, address: bytes, balances: Mapping[bytes, int]) -> int:
        index = self.neurons.get(address)
        if index is None:
            index = self.neurons[address] = len(self.addresses)
            self.addresses.append(address)
            self.stakes.append(int(balances.get(address, 0)))
            self.link_counts.append(0)
        return index

    def _links_delta(self, neurons: np.ndarray, src: np.ndarray, dst: np.ndarray,
                     sign: np.ndarray, touched: set[int]) -> EdgeDelta:
        """Apply link (+1) and unlink (−1) rows and the stakes of ``touched`` neurons to
        the store as one batch; returns its edge delta.

        Rows on one link alternate (the state core refuses a duplicate link and an unlink
        of an absent one), so the net effect is the last row's sign against whether the
        link was live before the block.
        """
        lk = (src.astype(np.uint64) << np.uint64(32)) | dst.astype(np.uint64)
        order = np.lexsort((np.arange(len(lk)), lk, neurons))
        u_s, k_s = neurons[order], lk[order]
        head = np.ones(len(order), bool)
        head[1:] = (u_s[1:] != u_s[:-1]) | (k_s[1:] != k_s[:-1])
        first = order[head]
        last = order[np.append(np.flatnonzero(head)[1:] - 1, len(order) - 1)]
        live = self.store.linked(neurons[first], src[first], dst[first])
        assert np.array_equal(sign[first] > 0, ~live), \
            "a link made twice or an unlink of an absent link (the state core refuses both)"
        want = sign[last] > 0
        add, gone = last[want & ~live], last[~want & live]
        assert self._links + len(add) - len(gone) <= LINKS_MAX, "LINKS_MAX reached"
        for rows, step in ((add, 1), (gone, -1)):
            for u in neurons[rows].tolist():
                self.link_counts[u] += step
                assert self.link_counts[u] >= 0, "an unlink of a link that was never made"
                touched.add(u)
        self._links += len(add) - len(gone)
        return self._feed({"insert": (neurons[add], src[add], dst[add])},
                          {"remove": (neurons[gone], src[gone], dst[gone])}, touched)

    def _feed(self, insert: dict[str, Any], remove: dict[str, Any],
              touched: set[int]) -> EdgeDelta:
        stakes = {u: stake_units(self.stakes[u], self.link_counts[u], self.stake_unit)
                  for u in sorted(touched)}
        return self.store.update(**insert, **remove, stakes=stakes)

    def _new_solver(self) -> ExactSolver:
        """The configured backend's exact solver, or the CPU's (logged) if it cannot start."""
        if self.backend != "cpu":
            try:
                return backend_for(self.backend).exact_solver(self.store, self.params)
            except Exception as exc:  # BackendUnavailable, a driver error, anything
                self._log.warning("focus_backend_fallback", backend=self.backend,
                                  stage="start", error=str(exc)[:200])
        return ExactCpuSolver(self.store, self.params)

    def _solve(self, new: tuple[bytes, ...]) -> FocusBlock:
        if self._solver is None:
            self._solver = self._new_solver()
        start = padded_start(self.q, self.n)
        try:
            result = self._solver.solve(start=start)
        except Exception as exc:
            if self._solver.backend == "cpu":  # no device to blame: a bug, not a fallback
                raise
            self._log.warning("focus_backend_fallback", backend=self._solver.backend,
                              stage="solve", height=self.height, error=str(exc)[:200])
            self._solver = ExactCpuSolver(self.store, self.params)
            result = self._solver.solve(start=start)
        self.q, self.root = result.q, result.root
        return self._result_block(new, result)

    def _result_block(self, new: tuple[bytes, ...], result: ExactResult) -> FocusBlock:
        return self._block(new, iterations=result.iterations, converged=result.converged,
                           residual=result.residual / float(MASS), verified=result.converged,
                           backend=result.backend)

    def _block(self, new: tuple[bytes, ...], *, iterations: int, converged: bool,
               residual: float = 0.0, verified: bool = True, backend: str) -> FocusBlock:
        if len(self.q) != self.n:  # new particles but nothing to solve: cannot happen
            raise AssertionError("π does not cover every particle")
        return FocusBlock(self.height, self.root, self.q, new, self.n, self.links, iterations,
                          converged, residual, verified, backend)


def _addresses(rows: np.ndarray) -> list[bytes]:
    """The (n, 20) uint8 neuron column as bytes, one per row."""
    flat = np.ascontiguousarray(rows, np.uint8).tobytes()
    return [flat[i:i + ADDRESS_BYTES] for i in range(0, len(flat), ADDRESS_BYTES)]


class StateSlices:
    """Which ``/graph/pi`` slices a block must rewrite so that the state holds a given π.

    The node writes block h's committed π into the state with block h + 1, through the
    state core's :class:`~focusflow.actors.state.core.FocusSlice` input: a slice is a whole shard
    (``/graph/pi/<shard>``: every particle of the shard, CIDs sorted, fixed-point π), and
    only the shards in which some value changed, or a particle appeared, are rewritten
    (as the rank coordinator's ``_delta_rank`` does). Why: π of every particle rewritten
    every block is N·44 bytes into SQLite and the tree; a block that moved nothing writes
    nothing, and one that did still skips the shards it did not touch.

    What the state holds is a pure function of the chain (the rule is "rewrite the shards
    whose content differs"), so a validator that restarted and rebuilt this from the
    state's own slices (:meth:`restore`) writes what an uninterrupted one writes.

    Sans-IO. Two steps per block: :meth:`plan` (the slices to hand to
    ``StateCore.prepare_block``), then :meth:`committed` once the store made the block
    durable (a block that fails to commit leaves this unchanged).
    """

    def __init__(self, *, shard_of: Callable[[bytes], int], shards: int) -> None:
        assert shards > 0
        self._shard_of = shard_of
        self.shards = shards
        self._shard = np.zeros(0, np.int64)  # particle id -> shard
        self._rows = np.zeros((0, CID_LEN), np.uint8)  # particle id -> CID bytes
        self._members: list[np.ndarray] = [np.zeros(0, np.int64) for _ in range(shards)]
        self._written = np.zeros(0, np.uint64)  # what the state holds, by particle id (a prefix)
        self._pending: np.ndarray | None = None
        self.last_slices = 0  # slices the last planned block rewrites
        self.last_bytes = 0  # their encoded size (what goes into SQLite and the tree)

    @property
    def written(self) -> int:
        """Particles the state holds a committed value for (ids ``0..written-1``)."""
        return len(self._written)

    def plan(self, cids: Sequence[bytes], q: np.ndarray) -> list[FocusSlice]:
        """The slices that make the state hold ``q`` (π over ``cids``, in particle order).

        Raises:
            AssertionError: ``q`` covers fewer particles than the state already holds, or
                does not match ``cids`` (the caller's bug: particle numbering only grows).
        """
        q = np.asarray(q, np.uint64)
        n, held = len(q), len(self._written)
        assert n == len(cids) and n >= held, (n, len(cids), held)
        self._number(cids)
        changed = np.flatnonzero(q[:held] != self._written)
        hits = np.bincount(self._shard[changed], minlength=self.shards)  # O(N), no sort
        hits += np.bincount(self._shard[held:n], minlength=self.shards)
        out = [FocusSlice(s, self._rows[self._members[s]], q[self._members[s]])
               for s in np.flatnonzero(hits).tolist()]
        self._pending = q.copy()
        self.last_slices = len(out)
        self.last_bytes = sum(4 + len(sl.values) * (CID_LEN + 8) for sl in out)
        return out

    def committed(self) -> None:
        """The block carrying the last planned slices is durable: the state holds its π."""
        assert self._pending is not None, "committed() without plan()"
        self._written, self._pending = self._pending, None

    def invariants(self) -> None:
        """Every numbered particle belongs to exactly one shard's member list."""
        assert len(self._shard) == len(self._rows) >= len(self._written)
        assert sum(len(m) for m in self._members) == len(self._shard)

    @classmethod
    def restore(cls, *, shard_of: Callable[[bytes], int], shards: int,
                particles: Mapping[bytes, int], cids: Sequence[bytes],
                stored: Mapping[int, bytes]) -> StateSlices:
        """Rebuild from the state's own ``/graph/pi`` values (``stored``: shard -> bytes).

        Raises:
            ValueError: a stored slice is malformed, names a particle the numbering lacks,
                sits in the wrong shard, or the values held are not a prefix of the
                numbering (the state was not written by this rule).
        """
        out = cls(shard_of=shard_of, shards=shards)
        out._number(cids)
        held: dict[int, int] = {}
        for shard, raw in sorted(stored.items()):
            rows, values = KEYS.decode_focus_slice(raw)
            for row, value in zip(rows, values.tolist(), strict=True):
                pid = particles.get(row.tobytes(), -1)
                if pid < 0 or int(out._shard[pid]) != shard:
                    raise ValueError(f"slice {shard} holds a particle that is not its own")
                held[pid] = int(value)
        if sorted(held) != list(range(len(held))):
            raise ValueError(f"the state holds π for {len(held)} particles, not a prefix")
        out._written = np.array([held[i] for i in range(len(held))], np.uint64)
        return out

    def _number(self, cids: Sequence[bytes]) -> None:
        """Extend the shard and CID tables to every particle of ``cids`` (ids only grow)."""
        known = len(self._shard)
        if len(cids) == known:
            return
        new = list(cids[known:])
        shard = np.array([self._shard_of(c) for c in new], np.int64)
        assert bool(np.all((shard >= 0) & (shard < self.shards)))
        rows = np.frombuffer(b"".join(new), np.uint8).reshape(len(new), CID_LEN)
        self._shard = np.concatenate([self._shard, shard])
        self._rows = np.concatenate([self._rows, rows])
        ids = known + np.arange(len(new), dtype=np.int64)
        for s in np.unique(shard).tolist():
            self._members[s] = np.concatenate([self._members[s], ids[shard == s]])
