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
link carries ``stake_u / links_u`` (float64, one division per neuron); the live links are
kept sorted by (destination, source, neuron address) — a block's links are merged in, not
re-sorted — and an edge's weight sums its links in that order with ``np.bincount``
(sequential, in input order); the kernels' :meth:`GraphStore.from_edges` then holds
exactly those weights, and :class:`CpuSolver` (float64, scipy CSR, no threads) iterates
from the committed start. Cost: O(L) per block for L links plus the solve (see
docs/operations.md).

A block with no link change and no stake change of a linking neuron keeps π as it was
(no solve: π would only drift by one more iteration).

Sans-IO: no clock, no disk; ``node.chain.Ledger`` persists what :meth:`FocusState.apply`
returns in the same SQLite transaction as the state, and :meth:`FocusState.restore`
rebuilds from it. Bit identity holds across processes with the same numpy/scipy build on
the same instruction set; across different builds the design's fallback is the residual
check (:func:`focusflow.kernels.verify`), whose verdict every block records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from focusflow.actors.state import keys as KEYS
from focusflow.actors.state.core import FocusSlice, LinkDeltas
from focusflow.actors.state.ids import CID_LEN
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
ADDRESS_BYTES = 20
CANON_KEY_BYTES = 8 + ADDRESS_BYTES
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
        # Live links, kept sorted by the canonical key: edge key (dst << 32 | src, 8 bytes
        # big-endian) then neuron address (20 bytes), as one 28-byte string per link, so
        # that a block merges its links in (O(L) moves) instead of sorting them all again.
        self._ck = np.zeros(0, f"S{CANON_KEY_BYTES}")
        self._ek = np.zeros(0, np.uint64)  # edge key of each link, same order
        self._ln = np.zeros(0, np.int64)  # neuron index of each link, same order
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
        return len(self._ck)

    def inbound(self) -> np.ndarray:
        """Live in-links per particle."""
        dst = (self._ek >> np.uint64(EDGE_KEY_SHIFT)).astype(np.int64)
        return np.bincount(dst, minlength=self.n)

    def link_rows(self) -> list[tuple[bytes, int, int]]:
        """(neuron address, src id, dst id) of every live link, in canonical order."""
        mask = np.uint64((1 << EDGE_KEY_SHIFT) - 1)
        src = (self._ek & mask).astype(np.int64)
        dst = (self._ek >> np.uint64(EDGE_KEY_SHIFT)).astype(np.int64)
        return [(self.addresses[u], int(a), int(b))
                for u, a, b in zip(self._ln.tolist(), src.tolist(), dst.tolist(), strict=True)]

    def invariants(self) -> None:
        """The link arrays are strictly sorted, aligned, and agree with the counts."""
        assert len(self._ck) == len(self._ek) == len(self._ln)
        assert len(self._ck) < 2 or bool(np.all(self._ck[1:] > self._ck[:-1]))
        counts = np.bincount(self._ln, minlength=len(self.addresses))
        assert counts.tolist() == self.link_counts

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
        if len(deltas):
            neurons = np.fromiter((self._neuron(a, balances) for a in _addresses(deltas.neuron)),
                                  np.int64, len(deltas))
            self._merge(neurons, src, dst, deltas.sign)
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
        rows = [(st._neuron(neuron, balances), st.particles.get(s, -1), st.particles.get(d, -1))
                for neuron, s, d in links]
        if any(s < 0 or d < 0 for _, s, d in rows):
            raise ValueError("a stored link names a particle the focus table lacks")
        if rows:
            u, a, b = (np.array(col, np.int64) for col in zip(*rows, strict=True))
            st._merge(u, a, b, np.ones(len(rows), np.int8))
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

    def _canon(self, neurons: np.ndarray, src: np.ndarray,
               dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(canonical 28-byte keys, edge keys) of links given as index arrays."""
        ek = (dst.astype(np.uint64) << np.uint64(EDGE_KEY_SHIFT)) | src.astype(np.uint64)
        names = np.frombuffer(b"".join(self.addresses), np.uint8).reshape(-1, ADDRESS_BYTES)
        raw = np.concatenate([ek.astype(">u8").view(np.uint8).reshape(-1, 8), names[neurons]],
                             axis=1)
        return np.ascontiguousarray(raw).view(f"S{CANON_KEY_BYTES}").reshape(-1), ek

    def _merge(self, neurons: np.ndarray, src: np.ndarray, dst: np.ndarray,
               sign: np.ndarray) -> None:
        """Apply link (+1) and unlink (−1) rows in order, keeping the arrays sorted.

        Rows on one link alternate (the state core refuses a duplicate link and an unlink
        of an absent one), so the net effect is the last row's sign against whether the
        link was live before the block.
        """
        keys, ek = self._canon(neurons, src, dst)
        uniq, first = np.unique(keys, return_index=True)
        last = len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]
        pos = np.searchsorted(self._ck, uniq)
        live = np.zeros(len(uniq), bool)
        if len(self._ck):
            live = (pos < len(self._ck)) & (self._ck[np.minimum(pos, len(self._ck) - 1)] == uniq)
        assert np.array_equal(sign[first] > 0, ~live), \
            "a link made twice or an unlink of an absent link (the state core refuses both)"
        want = sign[last] > 0
        add, gone = want & ~live, ~want & live
        assert len(self._ck) + int(add.sum()) <= LINKS_MAX, "LINKS_MAX reached"
        counts = np.zeros(len(self.addresses), np.int64)
        np.add.at(counts, neurons[last[add]], 1)
        np.add.at(counts, neurons[last[gone]], -1)
        if gone.any():
            keep = np.ones(len(self._ck), bool)
            keep[pos[gone]] = False
            self._ck, self._ek, self._ln = self._ck[keep], self._ek[keep], self._ln[keep]
        if add.any():
            at = np.searchsorted(self._ck, uniq[add])  # uniq is sorted: so are the inserts
            self._ck = np.insert(self._ck, at, uniq[add])
            self._ek = np.insert(self._ek, at, ek[last[add]])
            self._ln = np.insert(self._ln, at, neurons[last[add]])
        for u in np.flatnonzero(counts):
            self.link_counts[u] += int(counts[u])
            assert self.link_counts[u] >= 0, "an unlink of a link that was never made"

    def _canonical_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(src, dst, W) of every edge, W summed over its links in canonical order."""
        counts = np.asarray(self.link_counts, dtype=np.int64)
        stake = np.asarray(self.stakes, dtype=np.float64) + float(STAKE_FLOOR)
        share = np.divide(stake, counts, out=np.zeros(len(stake)), where=counts > 0)
        keys, w = self._ek, share[self._ln]  # already in canonical order
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


def _addresses(rows: np.ndarray) -> list[bytes]:
    """The (n, 20) uint8 neuron column as bytes, one per row."""
    flat = np.ascontiguousarray(rows, np.uint8).tobytes()
    return [flat[i:i + ADDRESS_BYTES] for i in range(0, len(flat), ADDRESS_BYTES)]


class StateSlices:
    """Which ``/graph/pi`` slices a block must rewrite so that the state holds a given π.

    The node writes block h's committed π into the state with block h + 1 (as the
    simulator's executor does, ``ChainConfig.pi_in_state``), through the state core's
    :class:`~focusflow.actors.state.core.FocusSlice` input: a slice is a whole shard
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
