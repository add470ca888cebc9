"""CUDA backend (CuPy): the graph and π stay resident on the device between batches.

The device holds an :class:`InLinkCSR` built with the CuPy namespace (the same code as the
host store), a float32 copy of the weights for the kernel, the degree bins, and two
ping-pong π/x buffers. A batch (:meth:`CudaSolver.apply`) edits the resident CSR in place
(binary search for the changed edges, a delta segment for new ones, scatter for the
out-weights) and refreshes only the float32 weights it touched; the bins are rebuilt only
after a compaction. Internally particles are renumbered hubs-first (see ``Relabel``) so the
gathers hit few cache lines. One iteration is one fused kernel per degree bin
(``focus.cu``) plus a one-block fold that computes the next teleport coefficient on the
device; iterations are enqueued in groups and one read-back per group fetches residuals.
Imported only by ``backend_for("cuda" | "auto")``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import cupy as cp
import numpy as np

from focusflow.kernels._csr import (
    SNAP_RELATIVE,
    EdgeDelta,
    InLinkCSR,
    pack_keys,
    relabel_by_out_degree,
    row_bins,
)
from focusflow.kernels._result import FocusParams
from focusflow.kernels._solver import Solver, next_group

THREADS = 256
GROUP_ITERATIONS_MAX = 32  # iterations enqueued before one residual read-back
_MODULE: Any = None
_LANES = (1, 2, 4, 8, 16, 32, 64, 256)
_UNROLL = (1, 2, 4)
UNROLL_DEFAULT = 1  # 2 and 4 measured no faster on the H100 (R-MAT 2^23)
INF = float("inf")
# CUDA's degree bins: tuned on the H100 (R-MAT 2^23, 10^8 links): 0.946 ms per iteration
# vs 1.007 with the WGSL table, 1.16-1.31 with more lanes per row (tune_kernels_gpu.py)
CUDA_ROW_BINS: tuple[tuple[float, int], ...] = ((7, 1), (64, 8), (512, 32), (INF, 256))


def _module() -> Any:
    global _MODULE
    if _MODULE is None:
        src = resources.files("focusflow.kernels").joinpath("focus.cu").read_text()
        _MODULE = cp.RawModule(code=src, options=("-std=c++17",),
                               name_expressions=[f"focus_bin<{lanes}, {u}>" for lanes in _LANES
                                                 for u in _UNROLL])
    return _MODULE


class DeviceStore:
    """A graph that lives only on the device (e.g. generated there): ``csr`` and ``n``."""

    def __init__(self, csr: InLinkCSR) -> None:
        assert csr.xp is cp
        self.csr = csr

    @property
    def n(self) -> int:
        """Number of particles."""
        return self.csr.n

    @classmethod
    def from_edges(cls, src: Any, dst: Any, weight: Any, n: int) -> DeviceStore:
        """Build from device arrays (duplicates sum)."""
        return cls(InLinkCSR(cp, n, cp.asarray(src), cp.asarray(dst), cp.asarray(weight)))


class CudaSolver(Solver):
    """float32 fused-kernel solver with a resident, incrementally updated graph."""

    backend = "cuda"
    dtype = "float32"

    def __init__(self, store: Any, params: FocusParams | None = None, *,
                 relabel: bool = True, sort_rows: bool = False,
                 bins: tuple[tuple[float, int], ...] | None = None,
                 unroll: int = UNROLL_DEFAULT) -> None:
        super().__init__(store, params)
        assert unroll in _UNROLL and all(lanes in _LANES for _, lanes in bins or ())
        self.bins = bins or CUDA_ROW_BINS  # degree bins; benchmarks try others
        self.unroll = unroll  # independent loads per lane in the gather loop
        self.relabel = relabel  # hubs-first numbering (benchmarks can turn it off)
        self.sort_rows = sort_rows  # sources ascending within each row (benchmarks)
        host = store.csr
        if host.xp is cp:
            self.dcsr = host
        else:  # copy the host store's CSR to the device once
            self.dcsr = InLinkCSR(cp, 0, cp.zeros(0, cp.int64), cp.zeros(0, cp.int64),
                                  cp.zeros(0), compact_fraction=host.compact_fraction)
            self.dcsr.n = host.n
            self.dcsr.keys = cp.asarray(host.keys)
            self.dcsr.data = cp.asarray(host.data)
            self.dcsr.count = cp.asarray(host.count)
            self.dcsr.indices = cp.asarray(host.indices)
            self.dcsr.indptr = cp.asarray(host.indptr)
            self.dcsr.out_w = cp.asarray(host.out_w)
            self.dcsr.out_deg = cp.asarray(host.out_deg)
            self.dcsr.tombstones = host.tombstones
            self.dcsr.d_keys = cp.asarray(host.d_keys)
            self.dcsr.d_data = cp.asarray(host.d_data)
            self.dcsr.d_count = cp.asarray(host.d_count)
        self._mod = _module()
        self._layout_version = -1
        self._parity = 0

    # -- resident graph ---------------------------------------------------------------------
    def _refresh_layout(self) -> None:
        """(Re)build what depends on the base layout: hubs-first numbering, int32 CSR,
        float32 weights, degree bins. Runs at load and after a compaction or growth."""
        c = self.dcsr
        assert len(c.keys) < 2**31
        out_deg = c.out_deg if self.relabel else cp.zeros(c.n, dtype=cp.int64)  # stable: identity
        rl = relabel_by_out_degree(cp, c.indptr, c.indices, out_deg, sort_rows=self.sort_rows)
        self._order, self._new_id = rl.order, rl.new_id
        self._indptr32 = rl.indptr.astype(cp.int32)
        self._indices = rl.indices
        self._kpos = cp.empty(len(c.keys), dtype=cp.int64)  # base position → kernel position
        self._kpos[rl.edge_from] = cp.arange(len(c.keys), dtype=cp.int64)
        self._w32 = c.data[rl.edge_from].astype(cp.float32)
        del rl
        rows, table = row_bins(cp, self._indptr32, bins=self.bins)
        self._rows = rows
        self._bins = []
        blocks_total = 0
        for lanes, offset, count in table:
            blocks = -(-count // (THREADS // lanes))
            kernel = self._mod.get_function(f"focus_bin<{lanes}, {self.unroll}>")
            self._bins.append((kernel, offset, count, blocks, blocks_total))
            blocks_total += blocks
        self._blocks_total = blocks_total
        self._partials = cp.zeros(2 * max(blocks_total, 1), dtype=cp.float64)
        self._state = cp.zeros(2 + GROUP_ITERATIONS_MAX, dtype=cp.float64)
        self._moved = cp.zeros(c.n, dtype=cp.float64)  # scratch for apply(): |Δw| per source
        self._layout_version = c.version

    def _refresh_values(self) -> None:
        c = self.dcsr
        self._inv32 = c.inv_out()[self._order].astype(cp.float32)
        self._dangling = self._inv32 == 0
        self._delta: tuple[Any, Any, Any] | None = None
        if len(c.d_keys):
            d_dst, d_src, d_w = c.delta_coo()
            self._delta = (self._new_id[d_dst], self._new_id[d_src], d_w.astype(cp.float32))

    def apply(self, delta: EdgeDelta) -> None:
        """Bring the resident graph up to date with ``delta`` (in place, no rebuild).

        With a host GraphStore the host applied it already; the device copy applies it
        here. With a DeviceStore the device CSR *is* the store and is changed here.
        Fast path (layout built): one fused kernel edits W, counts, the float32 kernel
        weights, out-weights and out-degrees; a second snaps out-weights; one read-back
        says how many edges are new. Raises AssertionError for a delta that removes
        links an edge does not have.
        """
        super().apply(delta)
        c = self.dcsr
        if self._layout_version != c.version or len(delta) == 0:
            c.apply(delta)  # generic path: no kernel layout yet (or nothing to do)
            return
        c.grow(delta.n)
        m = len(delta)
        src = cp.asarray(delta.src, dtype=cp.int64)
        dw = cp.asarray(delta.dw, dtype=cp.float64)
        dc = cp.asarray(delta.dcount, dtype=cp.int64)
        keys = pack_keys(cp, cp.asarray(delta.dst, dtype=cp.int64), src)
        if len(self._moved) < c.n:
            self._moved = cp.zeros(c.n, dtype=cp.float64)
        old_out = c.out_w[src]
        missing = cp.empty(m, dtype=cp.int32)
        flags = cp.zeros(3, dtype=cp.int64)
        grid = (-(-m // THREADS),)
        self._mod.get_function("apply_delta")(grid, (THREADS,), (
            src, keys, dw, dc, np.int64(m), c.keys, np.int64(len(c.keys)), c.data, c.count,
            self._w32, self._kpos, c.d_keys, np.int64(len(c.d_keys)), c.d_data, c.d_count,
            c.out_w, c.out_deg, self._moved, missing, flags, np.float64(SNAP_RELATIVE)))
        self._mod.get_function("snap_out")(grid, (THREADS,), (
            src, np.int64(m), old_out, c.out_w, c.out_deg, self._moved,
            np.float64(SNAP_RELATIVE)))
        self._moved[src] = 0.0
        tomb, errors, fresh = (int(v) for v in flags.get())
        assert errors == 0, "delta removes links an edge does not have"
        c.tombstones += tomb
        if fresh:
            new = missing.astype(bool)
            c._insert_delta(keys[new], cp.maximum(dw[new], 0.0), dc[new])
        if len(c.d_keys) + c.tombstones > c.compact_fraction * max(len(c.keys), 1):
            c.compact()

    # -- Solver operations --------------------------------------------------------------------
    def _start(self, pi0: np.ndarray) -> None:
        c = self.dcsr
        assert c.n == self.store.n
        if self._layout_version != c.version or len(self._indptr32) != c.n + 1:
            self._refresh_layout()
        self._refresh_values()
        n = c.n
        self._tele_vector = self.params.teleport is not None
        if self._tele_vector:
            v = cp.asarray(self.params.teleport_for(n))[self._order]
            self._tele = v.astype(cp.float32)
        else:
            self._tele = cp.zeros(1, cp.float32)
        self._tele_uniform = np.float32(1.0 / n)
        pi64 = cp.asarray(pi0, dtype=cp.float64)[self._order]
        pi = pi64.astype(cp.float32)
        self._pi = [pi, cp.empty_like(pi)]
        self._x = [pi * self._inv32, cp.empty_like(pi)]
        self._acc = cp.zeros(n, dtype=cp.float32) if self._delta is not None else cp.zeros(1, cp.float32)
        d = self.params.damping
        self._state[0] = d * cp.sum(pi64 * self._dangling) + (1.0 - d)
        self._parity = 0
        self._pending: list[float] = []
        self._history: list[float] = []

    def launch(self, hist_index: int = 0) -> None:
        """Enqueue one iteration (no host sync): bins, then the on-device fold."""
        p = self._parity
        x_in, pi_in = self._x[p], self._pi[p]
        pi_out, x_out = self._pi[1 - p], self._x[1 - p]
        use_acc = 0
        if self._delta is not None:
            d_dst, d_src, d_w = self._delta
            self._acc.fill(0)
            m = len(d_dst)
            self._mod.get_function("delta_scatter")(
                (-(-m // THREADS),), (THREADS,), (d_dst, d_src, d_w, x_in, self._acc, np.int64(m)))
            use_acc = 1
        damping = np.float32(self.params.damping)
        for kernel, offset, count, blocks, block_offset in self._bins:
            kernel((blocks,), (THREADS,), (
                self._indptr32, self._indices, self._w32, self._rows[offset:], np.int32(count),
                x_in, pi_in, pi_out, x_out, self._inv32, self._tele, np.int32(self._tele_vector),
                self._tele_uniform, self._acc, np.int32(use_acc), damping, self._state,
                np.int32(p), self._partials, np.int32(block_offset)))
        self._mod.get_function("finish_iteration")((1,), (1024,), (
            self._partials, np.int32(self._blocks_total), self._state, np.int32(p),
            np.int32(hist_index), np.float64(self.params.damping)))
        self._parity = 1 - p

    def run_iterations(self, count: int) -> list[float]:
        """Enqueue ``count`` iterations back to back; one sync reads their residuals."""
        assert 0 < count <= GROUP_ITERATIONS_MAX
        for t in range(count):
            self.launch(t)
        return [float(r) for r in self._state[2:2 + count].get()]

    def _step(self) -> float:
        # Iterations run in device-side groups sized by next_group(); residuals are handed to
        # the shared guard one by one. A group may run a few iterations past convergence:
        # harmless, π only gets closer to the fixed point.
        if not self._pending:
            size = next_group(self._history, self._eps_now, most=GROUP_ITERATIONS_MAX)
            self._pending = self.run_iterations(size)
            self._history.extend(self._pending)
        return self._pending.pop(0)

    def start_vector(self, *, warm: bool) -> Any:
        """Previous π (kept on the device), padded with the teleport for new particles."""
        n = self.store.n
        if self.params.teleport is not None:
            v = cp.asarray(self.params.teleport_for(n))
        else:
            v = cp.full(n, 1.0 / n)
        if not warm or self._last is None:
            return v
        last = self._last
        pi = cp.concatenate([last[:n].astype(cp.float64), v[len(last):]])
        total = float(pi.sum())
        return pi / total if total > 0 else v

    def _snapshot(self) -> Any:
        internal = self._pi[self._parity].astype(cp.float64)
        pi = cp.empty_like(internal)
        pi[self._order] = internal  # back to external numbering
        return pi / pi.sum()

    def _fetch(self, snapshot: Any) -> np.ndarray:
        return cp.asnumpy(snapshot)
