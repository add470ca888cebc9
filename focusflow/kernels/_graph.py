"""The kernels' graph store: cyberlinks (neuron, from, to) and stakes → edge weights.

Focus semantics: a link i→j made by neuron u carries ``stake_u / links_u``; W(i→j) sums
that over the neurons that made the link. A batch (insert, remove, restake) therefore
changes the weight of *every* link of each neuron it touches (their share moves), and the
store turns a batch into one aggregated :class:`EdgeDelta` that every resident copy of
the graph (the host CSR here, a CUDA copy in a solver) applies in place.

Two input shapes share the store: cyberlinks with neuron stakes, and plain weighted
edges (``src dst weight``), which are kept as edges with no neuron behind them.
Particles and neurons are dense non-negative integers; names belong to the loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from focusflow.kernels._csr import KEY_MASK, KEY_SHIFT, PARTICLES_MAX, EdgeDelta, InLinkCSR

BATCH_LINKS_MAX = 1 << 28  # one batch; bigger ones are split by the caller
SHARE_BITS = 24  # exact stores: a link carries floor(stake · 2^24 / links) (an integer)
STAKE_TOTAL_MAX = (1 << (62 - SHARE_BITS)) - 1  # exact: Σ stake·2^24 < 2^62, so out-weights fit
EDGE_WEIGHT_TOTAL_MAX = (1 << 62) - 1  # exact edge mode: Σ weights < 2^62


def _i64(a: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.int64).reshape(-1))


def _link_keys(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per-neuron link key: source in the high half, destination in the low half."""
    return (src.astype(np.uint64) << np.uint64(KEY_SHIFT)) | dst.astype(np.uint64)


@dataclass
class _Neuron:
    stake: float | int = 0.0
    links: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    @property
    def share(self) -> float:
        """What each of this neuron's links carries (0 without links: no division by 0)."""
        return self.stake / len(self.links) if len(self.links) else 0.0

    @property
    def share_exact(self) -> int:
        """The exact stores' integer share: floor(stake · 2^SHARE_BITS / links)."""
        return (int(self.stake) << SHARE_BITS) // len(self.links) if len(self.links) else 0


class GraphStore:
    """Host-side graph: link bookkeeping per neuron plus an incremental in-link CSR.

    Build with :meth:`from_cyberlinks` or :meth:`from_edges`; change with :meth:`update`
    (cyberlinks) or :meth:`update_edges` (weighted edges). Each change returns the
    :class:`EdgeDelta` it applied, for solvers that keep their own copy on a device.
    """

    def __init__(self, n: int = 0, *, compact_fraction: float = 0.1, exact: bool = False) -> None:
        assert 0 <= n < PARTICLES_MAX
        empty = np.zeros(0, dtype=np.int64)
        w0 = np.zeros(0, dtype=np.int64 if exact else np.float64)
        self.csr = InLinkCSR(np, n, empty, empty, w0, compact_fraction=compact_fraction)
        self._neurons: dict[int, _Neuron] = {}
        self._stake_total = 0  # exact stores: Σ stakes, bounded by STAKE_TOTAL_MAX

    @property
    def exact(self) -> bool:
        """Integer weights (the exact focus definition, ``_exact.py``) rather than float64."""
        return bool(self.csr.exact)

    @property
    def n(self) -> int:
        """Number of particles (rows)."""
        return self.csr.n

    @property
    def links(self) -> int:
        """Number of cyberlinks held (edge mode: 0)."""
        return sum(len(nr.links) for nr in self._neurons.values())

    def cyberlinks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(neuron, src, dst) int64 arrays of every live cyberlink, by neuron then link key.

        Why: a caller that keeps the graph here (the live validator) need not keep a second
        copy of its links to list them (restart tests, the durable link index).
        """
        parts = [(np.full(len(nr.links), u, np.int64), nr.links)
                 for u, nr in sorted(self._neurons.items()) if len(nr.links)]
        if not parts:
            z = np.zeros(0, np.int64)
            return z, z.copy(), z.copy()
        u = np.concatenate([p[0] for p in parts])
        keys = np.concatenate([p[1] for p in parts])
        return (u, (keys >> np.uint64(KEY_SHIFT)).astype(np.int64),
                (keys & np.uint64(KEY_MASK)).astype(np.int64))

    def linked(self, neurons: object, src: object, dst: object) -> np.ndarray:
        """Whether each (neuron, src, dst) is a live cyberlink (bool array)."""
        u, keys = _i64(neurons), _link_keys(_i64(src), _i64(dst))
        out = np.zeros(len(u), dtype=bool)
        order = np.argsort(u, kind="stable")
        bounds = np.flatnonzero(np.diff(u[order])) + 1
        for rows in np.split(order, bounds) if len(u) else []:
            nr = self._neurons.get(int(u[rows[0]]))
            if nr is not None and len(nr.links):
                out[rows] = _contains(nr.links, keys[rows])
        return out

    def grow(self, n: int) -> EdgeDelta:
        """Admit particles up to ``n`` without edges (e.g. named by a link made and undone
        in one batch); returns the (edgeless) delta for resident copies."""
        z = np.zeros(0, dtype=np.int64)
        delta = EdgeDelta(z, z, np.zeros(0, dtype=self.csr.wdtype), z, max(n, self.n))
        self.csr.apply(delta)
        return delta

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_edges(
        cls, src: object, dst: object, weight: object | None = None, *, n: int | None = None,
        exact: bool = False,
    ) -> GraphStore:
        """Weighted edges; duplicates sum their weights; weights must be finite and ≥ 0.

        ``exact`` stores integer weights (they must be whole numbers summing below 2^62).
        Raises ValueError on negative, non-finite or (exact) fractional weights, or indices
        out of range.
        """
        s, d = _i64(src), _i64(dst)
        w = np.ones(len(s)) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
        if len(s) != len(d) or len(w) != len(s):
            raise ValueError("src, dst and weight must have the same length")
        _check_weights(w)
        if exact:
            w = _exact_weights(weight, len(s))
        n_all = _count(n, s, d)
        store = cls(0, exact=exact)
        store.csr = InLinkCSR(np, n_all, s, d, w)
        return store

    @classmethod
    def from_cyberlinks(
        cls,
        neurons: object,
        src: object,
        dst: object,
        stakes: Mapping[int, float] | None = None,
        *,
        n: int | None = None,
        exact: bool = False,
    ) -> GraphStore:
        """Cyberlinks (neuron, src, dst) and stakes (missing neuron ⇒ stake 0).

        A repeated (neuron, src, dst) is one link. ``exact`` needs integer stakes (see
        :meth:`update`). Raises ValueError on bad shapes, negative stakes or indices out
        of range.
        """
        store = cls(_count(n, _i64(src), _i64(dst)), exact=exact)
        store.update(insert=(neurons, src, dst), stakes=stakes or {})
        return store

    # -- cyberlink batches ----------------------------------------------------------------
    def update(
        self,
        *,
        insert: tuple[object, object, object] | None = None,
        remove: tuple[object, object, object] | None = None,
        stakes: Mapping[int, float] | None = None,
    ) -> EdgeDelta:
        """Apply one batch: insert links, remove links, set stakes. Returns the delta.

        Inserting a link that exists and removing one that does not are no-ops (links
        are a set per neuron). Raises ValueError on negative or non-finite stakes; an
        exact store also on fractional stakes and on a stake total above
        STAKE_TOTAL_MAX (its integer out-weights must fit), before changing anything.
        """
        ins = _split_by_neuron(insert)
        rem = _split_by_neuron(remove)
        stakes = dict(stakes or {})
        for u, s in stakes.items():
            if not np.isfinite(s) or s < 0:
                raise ValueError(f"stake of neuron {u} must be finite and non-negative")
        if self.exact:
            stakes = self._exact_stakes(stakes)
        touched = set(ins) | set(rem) | set(stakes)
        n_new = self.n
        for keys in ins.values():
            if len(keys):
                n_new = max(n_new, int((keys >> np.uint64(KEY_SHIFT)).max()) + 1,
                            int((keys & np.uint64(KEY_MASK)).max()) + 1)
        assert n_new < PARTICLES_MAX
        parts_src, parts_dst, parts_dw, parts_dc = [], [], [], []
        for u in touched:
            nr = self._neurons.setdefault(u, _Neuron())
            old_links, old_share = nr.links, nr.share_exact if self.exact else nr.share
            # sorted unique key arrays throughout: membership by binary search, O(batch ·
            # log links) per neuron (a restake, the common case, touches no set at all)
            empty = old_links[:0]
            gone = _members(old_links, rem[u]) if u in rem else empty
            kept = old_links
            if len(gone):
                kept = old_links[~_contains(gone, old_links)]
            added = ins[u][~_contains(kept, ins[u])] if u in ins else empty
            new_links = kept
            if len(added):
                new_links = np.insert(kept, np.searchsorted(kept, added), added)
            nr.links = new_links
            if u in stakes:
                nr.stake = stakes[u] if self.exact else float(stakes[u])
            new_share = nr.share_exact if self.exact else nr.share
            if len(gone) and len(added):  # a link removed and re-inserted in one batch
                back = _contains(added, gone)
                kept = np.union1d(kept, gone[back]) if back.any() else kept
                gone, added = gone[~back], added[~_contains(gone, added)]
            for keys, dw, dc in ((kept, new_share - old_share, 0), (gone, -old_share, -1),
                                 (added, new_share, 1)):
                if len(keys) == 0 or (dw == 0.0 and dc == 0):
                    continue
                parts_src.append((keys >> np.uint64(KEY_SHIFT)).astype(np.int64))
                parts_dst.append((keys & np.uint64(KEY_MASK)).astype(np.int64))
                parts_dw.append(np.full(len(keys), dw, dtype=self.csr.wdtype))
                parts_dc.append(np.full(len(keys), dc, dtype=np.int64))
            if not len(nr.links) and nr.stake == 0.0:
                del self._neurons[u]
        return self._apply(parts_src, parts_dst, parts_dw, parts_dc, n_new)

    def _exact_stakes(self, stakes: dict[int, float]) -> dict[int, float]:
        """Integer stakes with the new total checked, before any state changes."""
        out: dict[int, float] = {}
        total = self._stake_total
        for u, s in stakes.items():
            if s != int(s):
                raise ValueError(f"an exact store needs integer stakes (neuron {u}: {s})")
            old = self._neurons[u].stake if u in self._neurons else 0
            total += int(s) - int(old)
            out[u] = int(s)
        if total > STAKE_TOTAL_MAX:
            raise ValueError(f"exact store: total stake {total} exceeds {STAKE_TOTAL_MAX}")
        self._stake_total = total
        return out

    # -- weighted-edge batches ------------------------------------------------------------
    def update_edges(
        self,
        *,
        insert: tuple[object, object, object] | None = None,
        remove: tuple[object, object] | None = None,
        reweight: tuple[object, object, object] | None = None,
    ) -> EdgeDelta:
        """Edge-mode batch: add weight to edges, remove edges, set edge weights.

        Removing or reweighting an absent edge is a no-op. Raises ValueError on
        negative or non-finite weights.
        """
        parts_src, parts_dst, parts_dw, parts_dc = [], [], [], []
        n_new = self.n
        if insert is not None:
            s, d, w = _i64(insert[0]), _i64(insert[1]), np.asarray(insert[2], dtype=np.float64)
            _check_weights(w)
            if self.exact:
                w = _exact_weights(insert[2], len(s))
            n_new = max(n_new, _count(None, s, d))
            parts_src.append(s)
            parts_dst.append(d)
            parts_dw.append(w)
            parts_dc.append(np.ones(len(s), dtype=np.int64))
        for pair, new_w in ((remove, None), (reweight, reweight[2] if reweight else None)):
            if pair is None:
                continue
            s, d = _i64(pair[0]), _i64(pair[1])
            keep = (s < self.n) & (d < self.n)
            s, d = s[keep], d[keep]
            s, d = _dedupe(s, d)
            cur_w, cur_c = self.csr.lookup(s, d)
            live = cur_c > 0
            s, d, cur_w, cur_c = s[live], d[live], cur_w[live], cur_c[live]
            if new_w is None:
                dw, dc = -cur_w, -cur_c
            else:
                target = np.asarray(new_w, dtype=np.float64)[keep]
                _check_weights(target)
                if self.exact:
                    target = _exact_weights(np.asarray(new_w)[keep], len(target))
                target = _dedupe_values(_i64(pair[0])[keep], _i64(pair[1])[keep], target)[live]
                dw, dc = target - cur_w, np.zeros(len(s), dtype=np.int64)
            parts_src.append(s)
            parts_dst.append(d)
            parts_dw.append(dw)
            parts_dc.append(dc)
        return self._apply(parts_src, parts_dst, parts_dw, parts_dc, n_new)

    def _apply(self, ps: list, pd: list, pw: list, pc: list, n_new: int) -> EdgeDelta:
        from focusflow.kernels._csr import aggregate, pack_keys

        if ps:
            src, dst = np.concatenate(ps), np.concatenate(pd)
            keys, dw, dc = aggregate(np, pack_keys(np, dst, src), np.concatenate(pw),
                                     np.concatenate(pc))
            dst = (keys >> np.uint64(KEY_SHIFT)).astype(np.int64)
            src = (keys & np.uint64(KEY_MASK)).astype(np.int64)
            live = (dw != 0) | (dc != 0)
            delta = EdgeDelta(src[live], dst[live], dw[live], dc[live], n_new)
            if self.exact:
                # the total after the batch (net: a batch that moves a large stake from one
                # neuron to another must pass, as the chain's transfers do); while it is
                # applied a sum holds at most old + added < 2^62 + 2^62: int64 cannot wrap
                grown = int(self.csr.out_w.sum()) + int(dw.sum())
                if grown > EDGE_WEIGHT_TOTAL_MAX or int(dw[dw > 0].sum()) > EDGE_WEIGHT_TOTAL_MAX:
                    raise ValueError(f"exact store: total weight {grown} exceeds 2^62 - 1")
        else:
            z = np.zeros(0, dtype=np.int64)
            delta = EdgeDelta(z, z, np.zeros(0, dtype=self.csr.wdtype), z, n_new)
        self.csr.apply(delta)
        return delta


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of ``keys`` is in the sorted array ``sorted_keys`` (binary search)."""
    if not len(sorted_keys) or not len(keys):
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.asarray(sorted_keys[pos] == keys)


def _members(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The ``keys`` (sorted unique) that are in ``sorted_keys``."""
    return keys[_contains(sorted_keys, keys)]


def _count(n: int | None, s: np.ndarray, d: np.ndarray) -> int:
    if len(s) and (s.min() < 0 or d.min() < 0):
        raise ValueError("particle indices must be non-negative")
    top = int(max(s.max(initial=-1), d.max(initial=-1))) + 1
    if n is not None and top > n:
        raise ValueError(f"particle index {top - 1} out of range for n={n}")
    out = top if n is None else n
    if out >= PARTICLES_MAX:
        raise ValueError(f"at most {PARTICLES_MAX - 1} particles")
    return out


def _exact_weights(weight: object, size: int) -> np.ndarray:
    """Whole-number weights as int64 (exact stores); raises ValueError otherwise."""
    if weight is None:
        return np.ones(size, dtype=np.int64)
    raw = np.asarray(weight).reshape(-1)
    if raw.dtype.kind in "iu":
        w = raw.astype(np.int64)
    else:
        f = raw.astype(np.float64)
        if len(f) and (not np.all(f == np.floor(f)) or f.max() >= 2.0**62):
            raise ValueError("an exact store needs whole-number edge weights below 2^62")
        w = f.astype(np.int64)
    if len(w) and (w.min() < 0 or int(w.sum()) > EDGE_WEIGHT_TOTAL_MAX):
        raise ValueError("exact edge weights must be non-negative and sum below 2^62")
    return w


def _check_weights(w: np.ndarray) -> None:
    if len(w) and (not np.all(np.isfinite(w)) or np.any(w < 0)):
        raise ValueError("edge weights must be finite and non-negative")


def _dedupe(s: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(_link_keys(s, d))
    return ((keys >> np.uint64(KEY_SHIFT)).astype(np.int64),
            (keys & np.uint64(KEY_MASK)).astype(np.int64))


def _dedupe_values(s: np.ndarray, d: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Values aligned with ``_dedupe(s, d)``; for a repeated edge the last value wins."""
    keys = _link_keys(s, d)
    _uniq, last = np.unique(keys[::-1], return_index=True)
    return v[::-1][last]


def _split_by_neuron(links: tuple[object, object, object] | None) -> dict[int, np.ndarray]:
    """Group (neuron, src, dst) arrays into sorted unique link keys per neuron."""
    if links is None:
        return {}
    u, s, d = (_i64(a) for a in links)
    if not (len(u) == len(s) == len(d)):
        raise ValueError("neuron, src and dst must have the same length")
    if len(u) > BATCH_LINKS_MAX:
        raise ValueError(f"a batch holds at most {BATCH_LINKS_MAX} links")
    if len(u) == 0:
        return {}
    if u.min() < 0 or s.min() < 0 or d.min() < 0:
        raise ValueError("neuron and particle indices must be non-negative")
    if max(int(s.max()), int(d.max())) >= PARTICLES_MAX:
        raise ValueError("particle index out of range")
    keys = _link_keys(s, d)
    order = np.lexsort((keys, u))
    u, keys = u[order], keys[order]
    bounds = np.flatnonzero(np.diff(u)) + 1
    out: dict[int, np.ndarray] = {}
    for uu, kk in zip(np.split(u, bounds), np.split(keys, bounds), strict=True):
        out[int(uu[0])] = np.unique(kk)
    return out
