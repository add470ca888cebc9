"""CSR over in-links that takes incremental edge deltas without a full rebuild.

Why this shape: every solver pulls ``y_j = Σ_i W_ij · x_i`` over the in-links of j, so the
matrix is stored row = destination, column = source. Batches of link changes must not
rebuild the structure each time (that rebuild is what makes the plain CuPy program take
0.34 s per batch), so the store is a *base* CSR whose weights are edited in place plus a
small sorted *delta* segment of edges that the base does not hold yet. Removed edges
become tombstones (weight 0, link count 0). When delta plus tombstones pass
``compact_fraction`` of the base, one merge folds them in (amortised O(1) per change).

The class is written once against an array namespace ``xp`` (numpy on the host, CuPy on
a CUDA device), so the same code keeps the graph resident on a GPU between batches.
It does no I/O and imports no GPU library itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or cupy.ndarray: the namespace decides
KEY_SHIFT = 32
KEY_MASK = (1 << KEY_SHIFT) - 1
PARTICLES_MAX = 1 << 31  # int32 indices in the kernels
NNZ_MAX = (1 << 31) - 1
OUT_WEIGHT_MIN = 1e-300  # below this a source's weights are treated as none
SNAP_RELATIVE = 1e-12  # |W| below this share of the terms that made it is rounding noise


@dataclass(frozen=True)
class EdgeDelta:
    """Aggregated changes to edge weights, one row per distinct edge (src → dst).

    ``dw`` is the change of W(src→dst); ``dcount`` the change of the number of links that
    support the edge (+1 insert, −1 remove, 0 reweight). A store produces it from a link
    batch and every resident copy of the graph (CPU, CUDA) applies the same delta.
    """

    src: np.ndarray  # int64
    dst: np.ndarray  # int64
    dw: np.ndarray  # float64
    dcount: np.ndarray  # int64
    n: int  # particle count after the batch

    def __post_init__(self) -> None:
        size = len(self.src)
        assert len(self.dst) == size and len(self.dw) == size and len(self.dcount) == size
        assert self.n >= 0

    def __len__(self) -> int:
        return len(self.src)


def pack_keys(xp: Any, dst: Array, src: Array) -> Array:
    """Edge keys ordered as the CSR is: by destination, then source."""
    return (dst.astype(xp.uint64) << xp.uint64(KEY_SHIFT)) | src.astype(xp.uint64)


def aggregate(xp: Any, keys: Array, *values: Array) -> tuple[Array, ...]:
    """Sum ``values`` over equal ``keys``; returns (unique sorted keys, sums...).

    Written with sort + segment ids rather than ``unique(return_inverse)`` so that it
    runs the same on numpy and CuPy.
    """
    if len(keys) == 0:
        return (keys, *values)
    order = xp.argsort(keys, kind="stable") if xp is np else xp.argsort(keys)
    k = keys[order]
    start = xp.ones(len(k), dtype=bool)
    start[1:] = k[1:] != k[:-1]
    seg = xp.cumsum(start) - 1
    nseg = int(seg[-1]) + 1
    out = [k[start]]
    for v in values:
        vs = v[order]
        if vs.dtype.kind == "f":
            out.append(xp.bincount(seg, weights=vs, minlength=nseg))
        else:
            acc = xp.zeros(nseg, dtype=xp.int64)
            scatter_add(xp, acc, seg, vs.astype(xp.int64))
            out.append(acc)
    return tuple(out)


def scatter_add(xp: Any, target: Array, index: Array, values: Array) -> None:
    """``target[index] += values`` with repeated indices summed (numpy and CuPy)."""
    if xp is np:
        np.add.at(target, index, values)
        return
    if target.dtype == xp.int64:  # CuPy's atomics lack int64: add as uint64, which wraps
        # to the same two's-complement bits, so the sums stay exact
        t, v = target.view(xp.uint64), values.astype(xp.int64).view(xp.uint64)
        at = getattr(xp.add, "at", None)
        if at is not None:
            at(t, index, v)
            return
        import cupyx  # lazy: older CuPy without ufunc.at

        cupyx.scatter_add(t, index, v)
        return
    if target.dtype.kind in "iu":  # other integer widths: count through bincount
        sums = xp.bincount(index, weights=values.astype(xp.float64), minlength=len(target))
        target += xp.rint(sums).astype(target.dtype)
        return
    at = getattr(xp.add, "at", None)
    if at is not None:
        at(target, index, values)
        return
    import cupyx  # lazy: older CuPy without ufunc.at

    cupyx.scatter_add(target, index, values)


class InLinkCSR:
    """Weighted in-link CSR with in-place reweights, a delta segment and tombstones.

    Rows are destinations, ``indices`` are sources, ``data`` the float64 weights W and
    ``count`` how many links support each edge. ``out_w[i]`` is Σ_j W(i→j) and
    ``out_deg[i]`` the number of live out-edges, kept in step with every change so that a
    solver never rescans the edges to find the normalisation or the dangling set.
    """

    def __init__(
        self,
        xp: Any,
        n: int,
        src: Array,
        dst: Array,
        w: Array,
        count: Array | None = None,
        *,
        compact_fraction: float = 0.1,
    ) -> None:
        assert 0 <= n < PARTICLES_MAX, "particle count out of range"
        assert 0.0 < compact_fraction <= 1.0
        self.xp = xp
        self.n = n
        self.compact_fraction = compact_fraction
        self.version = 0  # bumps when the base layout (indptr/indices) changes
        if count is None:
            count = xp.ones(len(src), dtype=xp.int64)
        # integer weights make an exact store (focusflow.kernels._exact): every edit is an
        # integer add, so any history of edits leaves the same bits as a fresh build
        self.exact = w.dtype.kind in "iu"
        self.wdtype = xp.int64 if self.exact else xp.float64
        keys, w_sum, c_sum = aggregate(xp, pack_keys(xp, dst, src), w.astype(self.wdtype), count)
        self._set_base(keys, w_sum, c_sum)
        self._clear_delta()

    # -- construction -------------------------------------------------------------
    def _set_base(self, keys: Array, w: Array, count: Array) -> None:
        xp = self.xp
        assert len(keys) <= NNZ_MAX
        live = count > 0
        keys, w, count = keys[live], w[live], count[live]
        w = xp.where(w < 0, 0, w)  # a negative residue is rounding noise (float stores)
        self.keys = keys
        self.data = w
        self.count = count.astype(xp.int32)
        dst = (keys >> xp.uint64(KEY_SHIFT)).astype(xp.int64)
        self.indices = (keys & xp.uint64(KEY_MASK)).astype(xp.int32)
        self.indptr = xp.zeros(self.n + 1, dtype=xp.int64)
        self.indptr[1:] = xp.cumsum(xp.bincount(dst, minlength=self.n))
        src = self.indices.astype(xp.int64)
        if self.exact:
            self.out_w = xp.zeros(self.n, dtype=xp.int64)
            scatter_add(xp, self.out_w, src, w)
        else:
            self.out_w = xp.bincount(src, weights=w, minlength=self.n).astype(xp.float64)
        self.out_deg = xp.bincount(src, minlength=self.n).astype(xp.int64)
        self.tombstones = 0
        self.version += 1

    def _clear_delta(self) -> None:
        xp = self.xp
        self.d_keys = xp.zeros(0, dtype=xp.uint64)
        self.d_data = xp.zeros(0, dtype=self.wdtype)
        self.d_count = xp.zeros(0, dtype=xp.int32)

    # -- views ----------------------------------------------------------------------
    @property
    def nnz(self) -> int:
        """Stored edges (base, tombstones included, plus delta)."""
        return len(self.keys) + len(self.d_keys)

    def delta_coo(self) -> tuple[Array, Array, Array]:
        """The delta segment as (dst, src, W) arrays."""
        xp = self.xp
        dst = (self.d_keys >> xp.uint64(KEY_SHIFT)).astype(xp.int64)
        src = (self.d_keys & xp.uint64(KEY_MASK)).astype(xp.int64)
        return dst, src, self.d_data

    def inv_out(self) -> Array:
        """1/out-weight, 0 for dangling particles (no live out-weight): no NaN, ever.

        A source whose whole out-weight is below OUT_WEIGHT_MIN counts as dangling: its
        reciprocal would overflow to inf and turn 0·inf into NaN.
        """
        xp = self.xp
        pos = self.out_w > OUT_WEIGHT_MIN
        return xp.where(pos, 1.0 / xp.where(pos, self.out_w, 1.0), 0.0)

    def lookup(self, src: Array, dst: Array) -> tuple[Array, Array]:
        """Current (W, link count) of the given edges; absent edges give (0, 0)."""
        xp = self.xp
        keys = pack_keys(xp, dst, src)
        w = xp.zeros(len(keys), dtype=self.wdtype)
        c = xp.zeros(len(keys), dtype=xp.int64)
        for seg_keys, seg_w, seg_c in ((self.keys, self.data, self.count),
                                       (self.d_keys, self.d_data, self.d_count)):
            if len(seg_keys) == 0:
                continue
            pos = xp.minimum(xp.searchsorted(seg_keys, keys), len(seg_keys) - 1)
            hit = seg_keys[pos] == keys
            w = xp.where(hit, seg_w[pos], w)
            c = xp.where(hit, seg_c[pos].astype(xp.int64), c)
        return w, c

    # -- updates --------------------------------------------------------------------
    def grow(self, n: int) -> None:
        """Admit particles up to ``n`` (rows without edges yet)."""
        xp = self.xp
        assert n >= self.n and n < PARTICLES_MAX
        if n == self.n:
            return
        extra = n - self.n
        self.indptr = xp.concatenate([self.indptr, xp.full(extra, int(self.indptr[-1]), dtype=xp.int64)])
        self.out_w = xp.concatenate([self.out_w, xp.zeros(extra, dtype=self.wdtype)])
        self.out_deg = xp.concatenate([self.out_deg, xp.zeros(extra, dtype=xp.int64)])
        self.n = n

    def apply(self, delta: EdgeDelta) -> bool:
        """Apply an edge delta in place; returns True when it triggered a compaction.

        Raises AssertionError when the delta removes links an edge does not have (a bug
        in whoever built the delta: the store never produces one).
        """
        xp = self.xp
        self.grow(delta.n)
        if len(delta) == 0:
            return False
        src = xp.asarray(delta.src, dtype=xp.int64)
        dst = xp.asarray(delta.dst, dtype=xp.int64)
        if self.exact and delta.dw.dtype.kind not in "iu":
            raise TypeError("an exact (integer) store takes integer weight deltas")
        dw = xp.asarray(delta.dw, dtype=self.wdtype)
        dc = xp.asarray(delta.dcount, dtype=xp.int64)
        keys = pack_keys(xp, dst, src)
        was = xp.zeros(len(keys), dtype=bool)
        now = xp.zeros(len(keys), dtype=bool)
        done = xp.zeros(len(keys), dtype=bool)
        for segment in ("base", "delta"):
            seg_keys = self.keys if segment == "base" else self.d_keys
            if len(seg_keys) == 0:
                continue
            pos = xp.minimum(xp.searchsorted(seg_keys, keys), len(seg_keys) - 1)
            hit = (seg_keys[pos] == keys) & ~done
            p = pos[hit]
            seg_w = self.data if segment == "base" else self.d_data
            seg_c = self.count if segment == "base" else self.d_count
            old_w, old_c = seg_w[p], seg_c[p].astype(xp.int64)
            new_c = old_c + dc[hit]
            assert bool(xp.all(new_c >= 0)), "delta removes links the edge does not have"
            new_w = old_w + dw[hit]
            if self.exact:  # integers: a link-less edge is 0 exactly, no noise to snap
                assert bool(xp.all(new_w >= 0)), "delta drives an edge weight negative"
                new_w = xp.where(new_c == 0, 0, new_w)
            else:
                noise = xp.abs(new_w) <= SNAP_RELATIVE * (xp.abs(old_w) + xp.abs(dw[hit]))
                new_w = xp.where((new_c == 0) | noise | (new_w < 0), 0.0, new_w)
            seg_w[p] = new_w
            seg_c[p] = new_c.astype(xp.int32)
            was[hit] = old_c > 0
            now[hit] = new_c > 0
            if segment == "base":
                self.tombstones += int(xp.sum((old_c > 0) & (new_c == 0)))
                self.tombstones -= int(xp.sum((old_c == 0) & (new_c > 0)))
            done |= hit
        fresh = ~done
        if bool(xp.any(fresh)):
            assert bool(xp.all(dc[fresh] > 0)), "delta reweights or removes an absent edge"
            now[fresh] = True
            self._insert_delta(keys[fresh], xp.maximum(dw[fresh], 0), dc[fresh])
        # out-weights and live out-degrees follow the same delta
        touched = xp.unique(src)
        scale = xp.abs(self.out_w[touched])
        scatter_add(xp, self.out_w, src, dw)
        scatter_add(xp, self.out_deg, src, now.astype(xp.int64) - was.astype(xp.int64))
        if self.exact:  # exact sums: nothing to snap
            return self._maybe_compact()
        moved = xp.zeros(self.n, dtype=xp.float64)
        scatter_add(xp, moved, src, xp.abs(dw))
        scale = scale + moved[touched]
        ow = self.out_w[touched]
        dead = (self.out_deg[touched] == 0) | (ow <= SNAP_RELATIVE * scale)
        self.out_w[touched] = xp.where(dead, 0.0, ow)
        return self._maybe_compact()

    def _maybe_compact(self) -> bool:
        if len(self.d_keys) + self.tombstones > self.compact_fraction * max(len(self.keys), 1):
            self.compact()
            return True
        return False

    def _insert_delta(self, keys: Array, w: Array, count: Array) -> None:
        xp = self.xp
        all_keys = xp.concatenate([self.d_keys, keys])
        order = xp.argsort(all_keys)
        self.d_keys = all_keys[order]
        self.d_data = xp.concatenate([self.d_data, w])[order]
        self.d_count = xp.concatenate([self.d_count, count.astype(xp.int32)])[order]

    def compact(self) -> None:
        """Fold delta and tombstones into a fresh base; out-weights recomputed exactly."""
        xp = self.xp
        a, b = self.keys, self.d_keys  # both sorted and disjoint: merge, don't sort
        pa = xp.arange(len(a), dtype=xp.int64) + xp.searchsorted(b, a)
        pb = xp.arange(len(b), dtype=xp.int64) + xp.searchsorted(a, b)
        total = len(a) + len(b)
        keys = xp.empty(total, dtype=xp.uint64)
        w = xp.empty(total, dtype=self.wdtype)
        c = xp.empty(total, dtype=xp.int64)
        keys[pa], keys[pb] = a, b
        w[pa], w[pb] = self.data, self.d_data
        c[pa], c[pb] = self.count, self.d_count
        self._set_base(keys, w, c)
        self._clear_delta()

    def invariants(self) -> None:
        """Check the structure (tests call this after every batch)."""
        xp = self.xp
        assert len(self.indptr) == self.n + 1 and int(self.indptr[-1]) == len(self.keys)
        if len(self.keys) > 1:
            assert bool(xp.all(self.keys[1:] > self.keys[:-1]))
        if len(self.d_keys) > 1:
            assert bool(xp.all(self.d_keys[1:] > self.d_keys[:-1]))
        assert bool(xp.all(self.data >= 0)) and bool(xp.all(self.d_data >= 0))
        assert bool(xp.all(self.out_deg >= 0)) and bool(xp.all(self.out_w >= 0))


# (max in-degree, lanes per row): rows of a bin share one kernel width, so a power-law
# degree spread does not leave most lanes idle behind one long row. WGSL uses this table;
# CUDA has its own, tuned on the H100 (``_cuda.CUDA_ROW_BINS``).
ROW_BINS: tuple[tuple[float, int], ...] = ((3, 1), (16, 4), (64, 16), (512, 64),
                                           (float("inf"), 256))


def row_bins(xp: Any, indptr: Array, *, plain: bool = False,
             bins: tuple[tuple[float, int], ...] | None = None
             ) -> tuple[Array, list[tuple[int, int, int]]]:
    """Rows grouped by in-degree bin: (row list, [(lanes, offset, count) per bin]).

    Rows keep ascending order inside a bin (writes of π stay local). ``plain`` gives the
    naive one-thread-per-row layout (one bin), kept for benchmarks.
    """
    deg = indptr[1:] - indptr[:-1]
    if plain:
        return xp.arange(len(deg), dtype=xp.uint32), [(1, 0, len(deg))] if len(deg) else []
    parts, table, offset, low = [], [], 0, -1.0
    for high, lanes in bins or ROW_BINS:
        sel = xp.flatnonzero((deg > low) & (deg <= high)).astype(xp.uint32)
        low = high
        if len(sel) == 0:
            continue
        parts.append(sel)
        table.append((lanes, offset, len(sel)))
        offset += len(sel)
    rows = xp.concatenate(parts) if parts else xp.zeros(0, dtype=xp.uint32)
    assert offset == len(deg)
    return rows, table


@dataclass(frozen=True)
class Relabel:
    """The kernels' private numbering: particles sorted by out-degree, hubs first.

    Why: a pull iteration gathers x[source] for every link; with labels in arbitrary
    order those reads scatter over the whole vector. Numbering the busiest sources first
    packs the hot part of x into few cache lines. Rows move with the same numbering.
    ``order[k]`` is the external id of internal id k, ``new_id`` the inverse;
    ``edge_from[p]`` is the base position of the link at kernel position p.
    """

    order: Array
    new_id: Array
    indptr: Array
    indices: Array
    edge_from: Array


def relabel_by_out_degree(xp: Any, indptr: Array, indices: Array, out_deg: Array, *,
                          sort_rows: bool = False) -> Relabel:
    """Permute a CSR (rows = destinations) into the hubs-first numbering.

    ``sort_rows`` also orders each row's sources by their new number, so that the lanes
    of a row read x in ascending addresses (one extra sort of the links).
    """
    n, nnz = len(indptr) - 1, int(indptr[-1])
    if not bool(xp.any(out_deg)):  # nothing to sort by: identity (also the opt-out)
        order = xp.arange(n, dtype=xp.int64)
    else:
        order = xp.argsort(-out_deg, kind="stable") if xp is np else xp.argsort(-out_deg)
    new_id = xp.empty(n, dtype=xp.int64)
    new_id[order] = xp.arange(n, dtype=xp.int64)
    deg = (indptr[1:] - indptr[:-1])[order]
    new_ptr = xp.zeros(n + 1, dtype=xp.int64)
    new_ptr[1:] = xp.cumsum(deg)
    pos = xp.arange(nnz, dtype=xp.int64)
    row = xp.searchsorted(new_ptr, pos, side="right") - 1
    edge_from = indptr[order][row] + (pos - new_ptr[row])
    new_indices = new_id[indices[edge_from]].astype(xp.int32)
    if sort_rows and nnz:
        by = (row.astype(xp.uint64) << xp.uint64(KEY_SHIFT)) | new_indices.astype(xp.uint64)
        perm = xp.argsort(by)
        edge_from, new_indices = edge_from[perm], new_indices[perm]
    return Relabel(order, new_id, new_ptr, new_indices, edge_from)
