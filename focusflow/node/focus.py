"""π committed with every block: a pure function of durable state, bit for bit.

Every validator signs the header of block h, and the header carries ``pi_root``: the
kernels' fixed-point :class:`~focusflow.kernels.Commitment` root of π after block h. A
quorum of signatures over one header needs every validator to compute the *same bits*,
including one that was killed with SIGKILL and rebuilt its state from SQLite, and a
follower that re-executes blocks it fetched by block sync. So π of block h is defined as
a pure function of what is durable after block h:

* **particles** numbered by first appearance in chain order (the block's link deltas,
  all sources then all destinations, as ``actors/chain/executor.py`` numbers them); the
  numbering is persisted (it orders the committed vector);
* **links** (neuron, from, to) and **stakes** (the neuron's ``/token`` balance plus
  ``STAKE_FLOOR``), both in the state store;
* **the start vector**: the *quantised* π committed at h − 1 (persisted), padded with the
  teleport for new particles: never the solver's in-memory float history.

The graph is rebuilt each block in a canonical float order (why not the kernels'
incremental in-place CSR: it edits weights as ``old + dw`` and splits a base and a delta
segment by history, so two validators with different histories — one restarted — sum in
different orders and disagree in the last bits, which the 2^-60 commitment sees). Each
link carries ``stake_u / links_u`` (float64, one division per neuron); an edge's weight sums
its links sorted by (destination, source, neuron address) with ``np.bincount`` (sequential,
in input order); the kernels' :meth:`GraphStore.from_edges` then holds exactly those
weights, and :class:`CpuSolver` (float64, scipy CSR, no threads) iterates from the
committed start. Cost: O(L log L) per block for L links (see docs/operations.md).

A block with no link change and no stake change of a linking neuron keeps π as it was
(no solve: π would only drift by one more iteration).

Sans-IO: no clock, no disk; ``node.chain.Ledger`` persists what :meth:`FocusState.apply`
returns in the same SQLite transaction as the state, and :meth:`FocusState.restore`
rebuilds from it. Bit identity holds across processes with the same numpy/scipy build on
the same instruction set; across different builds the design's fallback is the residual
check (:func:`focusflow.kernels.verify`), whose verdict every block records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from focusflow.actors.state.core import LinkDeltas
from focusflow.kernels import (
    Commitment,
    CpuSolver,
    FocusParams,
    GraphStore,
    dequantize,
    merkle_root,
    verify,
)

STAKE_FLOOR = 1
"""Stake every neuron carries on top of its balance: without it a chain whose genesis funds
nobody (the devnet's) would give every link weight 0 and π would be the teleport."""
PARTICLES_MAX = 1 << 24
LINKS_MAX = 1 << 26
EDGE_KEY_SHIFT = 32
EMPTY_ROOT = Commitment.of(np.zeros(0)).root


@dataclass(frozen=True, slots=True)
class FocusBlock:
    """What committing π for one block produced (the ledger persists it)."""

    height: int
    root: bytes
    q: np.ndarray  # uint64 fixed point, particle order
    new_cids: tuple[bytes, ...]  # particles first seen in this block, in id order
    particles: int
    links: int
    iterations: int  # 0: π unchanged (nothing moved)
    converged: bool
    residual: float  # the one-iteration verifier's residual of the committed π
    verified: bool


class FocusState:
    """The committed graph and π of one validator (see the module docstring)."""

    def __init__(self, params: FocusParams | None = None) -> None:
        self.params = params or FocusParams()
        self.height = 0
        self.cids: list[bytes] = []
        self.particles: dict[bytes, int] = {}
        self.addresses: list[bytes] = []
        self.neurons: dict[bytes, int] = {}
        self.stakes: list[int] = []  # by neuron index: balance (without the floor)
        self.link_counts: list[int] = []  # by neuron index: live links
        self._links: dict[tuple[int, int, int], int] = {}  # (neuron, src, dst) -> row
        self._u = np.zeros(0, np.int64)
        self._s = np.zeros(0, np.int64)
        self._d = np.zeros(0, np.int64)
        self.q = np.zeros(0, np.uint64)
        self.root = EMPTY_ROOT

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Particles numbered so far (never shrinks: the committed vector only grows)."""
        return len(self.cids)

    @property
    def links(self) -> int:
        """Live links."""
        return len(self._links)

    def inbound(self) -> np.ndarray:
        """Live in-links per particle."""
        size = len(self._links)
        return np.bincount(self._d[:size], minlength=self.n)

    def top(self, count: int) -> list[tuple[bytes, int, int]]:
        """(cid, committed fixed-point π, in-links) of the ``count`` highest, ties by id."""
        if self.n == 0 or count <= 0:
            return []
        order = np.lexsort((np.arange(self.n), -self.q.astype(np.float64)))[:count]
        inbound = self.inbound()
        return [(self.cids[i], int(self.q[i]), int(inbound[i])) for i in order]

    # ------------------------------------------------------------------ blocks
    def apply(self, height: int, deltas: LinkDeltas, balances: Mapping[bytes, int]) -> FocusBlock:
        """Fold block ``height``'s link deltas and written balances in; commit π.

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
        moved = len(deltas) > 0
        for address, balance in sorted(balances.items()):
            index = self.neurons.get(address)
            if index is not None and self.stakes[index] != balance:
                self.stakes[index] = balance
                # Only a linking neuron's stake is in the graph; a restarted validator
                # does not even know neurons without links.
                moved = moved or self.link_counts[index] > 0
        for row in range(len(deltas)):
            u = self._neuron(bytes(deltas.neuron[row]), balances)
            key = (u, int(src[row]), int(dst[row]))
            if deltas.sign[row] > 0:
                self._insert(key)
            else:
                self._remove(key)
        self.height = height
        new = tuple(self.cids[first_new:])
        if not moved:
            return self._block(new, iterations=0, converged=True)
        return self._solve(new)

    @classmethod
    def restore(cls, *, height: int, cids: Iterable[bytes],
                links: Iterable[tuple[bytes, bytes, bytes]], balances: Mapping[bytes, int],
                q: np.ndarray, params: FocusParams | None = None) -> FocusState:
        """Rebuild from durable state: particle numbering, (neuron, from, to) links, the
        balances of their neurons and the π committed at ``height``.

        Raises:
            ValueError: the pieces do not fit together (a link to an unnumbered particle,
                a π of another length): the store is not the one that committed them.
        """
        st = cls(params)
        st.height = height
        for cid in cids:
            st.particles[cid] = len(st.cids)
            st.cids.append(cid)
        q = np.asarray(q, np.uint64)
        if len(q) != st.n:
            raise ValueError(f"committed π has {len(q)} values for {st.n} particles")
        for neuron, s, d in links:
            if s not in st.particles or d not in st.particles:
                raise ValueError("a stored link names a particle the focus table lacks")
            st._insert((st._neuron(neuron, balances), st.particles[s], st.particles[d]))
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

    def _insert(self, key: tuple[int, int, int]) -> None:
        assert key not in self._links, f"link {key} inserted twice"
        row = len(self._links)
        assert row < LINKS_MAX, "LINKS_MAX reached"
        if row == len(self._u):  # grow by doubling: amortised O(1) per link
            cap = max(1024, 2 * row)
            self._u, self._s, self._d = (np.resize(a, cap) for a in (self._u, self._s, self._d))
        self._u[row], self._s[row], self._d[row] = key
        self._links[key] = row
        self.link_counts[key[0]] += 1

    def _remove(self, key: tuple[int, int, int]) -> None:
        """Swap-remove: the last row moves into the hole (row order is not semantic)."""
        row = self._links.pop(key)
        self.link_counts[key[0]] -= 1
        last = len(self._links)
        if row != last:
            moved = (int(self._u[last]), int(self._s[last]), int(self._d[last]))
            self._u[row], self._s[row], self._d[row] = moved
            self._links[moved] = row

    def _canonical_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(src, dst, W) of every edge, W summed over its links in canonical order."""
        size = len(self._links)
        u, s, d = self._u[:size], self._s[:size], self._d[:size]
        counts = np.asarray(self.link_counts, dtype=np.int64)
        stake = np.asarray(self.stakes, dtype=np.float64) + float(STAKE_FLOOR)
        share = np.divide(stake, counts, out=np.zeros(len(stake)), where=counts > 0)
        names = np.array(self.addresses, dtype=f"S{len(self.addresses[0])}") if self.addresses \
            else np.zeros(0, "S1")
        rank = np.empty(len(names), np.int64)
        rank[np.argsort(names, kind="stable")] = np.arange(len(names))
        keys = (d.astype(np.uint64) << np.uint64(EDGE_KEY_SHIFT)) | s.astype(np.uint64)
        order = np.lexsort((rank[u], keys))
        keys, w = keys[order], share[u[order]]
        start = np.ones(len(keys), bool)
        start[1:] = keys[1:] != keys[:-1]
        weight = np.bincount(np.cumsum(start) - 1, weights=w) if len(keys) else np.zeros(0)
        edges = keys[start]
        mask = np.uint64((1 << EDGE_KEY_SHIFT) - 1)
        return (edges & mask).astype(np.int64), (edges >> np.uint64(EDGE_KEY_SHIFT)).astype(np.int64), weight

    def _solve(self, new: tuple[bytes, ...]) -> FocusBlock:
        src, dst, weight = self._canonical_edges()
        store = GraphStore.from_edges(src, dst, weight, n=self.n)
        start = self._start_vector()
        result = _CommittedStart(store, self.params, start).solve(warm=True)
        commitment = Commitment.of(result.pi)
        verdict = verify(store, commitment, eps=self.params.eps, params=self.params)
        self.q, self.root = commitment.q, commitment.root
        return self._block(new, iterations=result.iterations, converged=result.converged,
                           residual=verdict.residual_l1, verified=verdict.accepted)

    def _start_vector(self) -> np.ndarray:
        """The committed π of the previous block, the teleport for particles new since."""
        n = self.n
        v = self.params.teleport_for(n)
        pi = np.concatenate([dequantize(self.q), v[len(self.q):]])
        total = float(pi.sum())
        return pi / total if total > 0 else v

    def _block(self, new: tuple[bytes, ...], *, iterations: int, converged: bool,
               residual: float = 0.0, verified: bool = True) -> FocusBlock:
        if len(self.q) != self.n:  # new particles but nothing to solve: cannot happen
            raise AssertionError("π does not cover every particle")
        return FocusBlock(self.height, self.root, self.q, new, self.n, self.links, iterations,
                          converged, residual, verified)


class _CommittedStart(CpuSolver):
    """The kernels' CPU solver, warm-started from a given (committed) vector instead of its
    own in-memory float π, which a restarted validator would not have."""

    def __init__(self, store: GraphStore, params: FocusParams, start: np.ndarray) -> None:
        super().__init__(store, params)
        assert len(start) == store.n
        self._committed_start = start

    def start_vector(self, *, warm: bool) -> np.ndarray:
        return self._committed_start if warm else super().start_vector(warm=False)

