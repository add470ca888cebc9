"""Exact focus on CUDA (CuPy): the integer graph stays resident and takes deltas in place.

The device holds an exact :class:`InLinkCSR` (int64 weights, CuPy namespace: the same
code as the host store, so a delta is applied on the device with integer adds) plus the
kernel layout of the float backend (hubs-first numbering, degree bins, ``_cuda``'s
tuned bin table). Per solve, the per-source scales (``SourceScale``, computed on the
device with the same ``xp`` code as the CPU) and the normalised weights W' are refreshed
with a few elementwise passes; the layout is rebuilt only after a compaction. Edges in
the delta segment are added by an integer-atomic scatter, which is exact in any order.
Imported only by ``backend_for("cuda" | "auto")``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import cupy as cp
import numpy as np

from focusflow.kernels._csr import EdgeDelta, InLinkCSR, relabel_by_out_degree, row_bins
from focusflow.kernels._cuda import CUDA_ROW_BINS
from focusflow.kernels._exact import ExactSolver, SourceScale, normalised_weights

THREADS = 256
GROUP_ITERATIONS_MAX = 32
_LANES = (1, 2, 4, 8, 16, 32, 64, 256)
_MODULE: Any = None


def _module() -> Any:
    global _MODULE
    if _MODULE is None:
        src = resources.files("focusflow.kernels").joinpath("exact.cu").read_text()
        _MODULE = cp.RawModule(code=src, options=("-std=c++17",),
                               name_expressions=[f"gather_bin<{lanes}>" for lanes in _LANES])
    return _MODULE


def device_csr(host: InLinkCSR) -> InLinkCSR:
    """A device copy of an exact host CSR (one upload)."""
    z = cp.zeros(0, cp.int64)
    c = InLinkCSR(cp, 0, z, z, z, compact_fraction=host.compact_fraction)
    for name in ("keys", "data", "count", "indices", "indptr", "out_w", "out_deg",
                 "d_keys", "d_data", "d_count"):
        setattr(c, name, cp.asarray(getattr(host, name)))
    c.n, c.tombstones = host.n, host.tombstones
    return c


class ExactCudaSolver(ExactSolver):
    """Exact iteration with degree-binned kernels over a resident integer CSR."""

    backend = "cuda"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        host = self.store.csr
        # a DeviceStore's CSR already lives on the device: it is the store, edited here
        self.dcsr = host if host.xp is cp else device_csr(host)
        self._mod = _module()
        self._layout_version = -1

    def apply(self, delta: EdgeDelta) -> None:
        """Apply a delta the host store already applied to the resident copy (integers)."""
        super().apply(delta)
        self.dcsr.apply(delta)

    # -- layout --------------------------------------------------------------------------
    def _refresh_layout(self) -> None:
        c = self.dcsr
        assert len(c.keys) < 2**31
        rl = relabel_by_out_degree(cp, c.indptr, c.indices, c.out_deg)
        self._order, self._new_id = rl.order, rl.new_id
        self._indptr32 = rl.indptr.astype(cp.int32)
        self._indices = rl.indices
        self._edge_from = rl.edge_from
        self._src_k = c.indices[rl.edge_from].astype(cp.int64)  # external source per link
        rows, table = row_bins(cp, self._indptr32, bins=CUDA_ROW_BINS)
        self._rows = rows
        self._bins = []
        blocks_total = 0
        for lanes, offset, count in table:
            blocks = -(-count // (THREADS // lanes))
            self._bins.append((self._mod.get_function(f"gather_bin<{lanes}>"), offset, count,
                               blocks, blocks_total))
            blocks_total += blocks
        self._blocks_total = blocks_total
        self._row_blocks = -(-c.n // THREADS)
        self._partials = cp.zeros(max(blocks_total, self._row_blocks, 1), dtype=cp.uint64)
        self._layout_version = c.version

    def _load(self) -> None:
        c = self.dcsr
        assert c.n == self.store.n
        if self._layout_version != c.version or len(self._indptr32) != c.n + 1:
            self._refresh_layout()
        sc = SourceScale.of(cp, c.out_w)
        self._recip = sc.recip[self._order]
        self._wn = normalised_weights(cp, c.data[self._edge_from], self._src_k, sc.shift)
        self._delta = None
        if len(c.d_keys):
            d_dst, d_src, d_w = c.delta_coo()
            self._delta = (self._new_id[d_dst], self._new_id[d_src],
                           normalised_weights(cp, d_w, d_src, sc.shift))
        n = c.n
        self._acc = cp.zeros(n if self._delta is not None else 1, dtype=cp.uint64)
        self._pi = cp.zeros(n, dtype=cp.uint64)
        self._x = cp.zeros(n, dtype=cp.uint64)
        self._z = cp.zeros(n, dtype=cp.uint64)
        self._state = cp.zeros(4 + GROUP_ITERATIONS_MAX, dtype=cp.uint64)

    def _set_pi(self, q: np.ndarray) -> None:
        n = self.dcsr.n
        self._pi = cp.asarray(q, dtype=cp.uint64)[self._order]
        self._mod.get_function("source_x")((-(-n // THREADS),), (THREADS,), (
            self._pi, self._recip, self._x, np.int64(n)))

    # -- iterations ----------------------------------------------------------------------
    def launch(self) -> None:
        """Enqueue one iteration (no host sync); a no-op on the device once done."""
        n = self.dcsr.n
        use_acc = 0
        if self._delta is not None:
            d_dst, d_src, d_wn = self._delta
            self._acc.fill(0)
            m = len(d_dst)
            self._mod.get_function("delta_scatter")((-(-m // THREADS),), (THREADS,), (
                d_dst, d_src, d_wn, self._x, self._acc, np.int64(m), self._state))
            use_acc = 1
        delta = np.uint64(self.delta)
        for kernel, offset, count, blocks, block_offset in self._bins:
            kernel((blocks,), (THREADS,), (
                self._indptr32, self._indices, self._wn, self._rows[offset:], np.int32(count),
                self._x, self._acc, np.int32(use_acc), self._z, delta, self._partials,
                np.int32(block_offset), self._state))
        fold = self._mod.get_function("fold")
        fold((1,), (1024,), (self._partials, np.int32(self._blocks_total), self._state,
                             np.int64(n), np.uint64(self.eps), np.int32(0)))
        self._mod.get_function("finish")((self._row_blocks,), (THREADS,), (
            self._pi, self._z, self._recip, self._x, np.int64(n), self._partials, self._state))
        fold((1,), (1024,), (self._partials, np.int32(self._row_blocks), self._state,
                             np.int64(n), np.uint64(self.eps), np.int32(1)))

    def _run(self, count: int) -> list[int]:
        done: list[int] = []
        while len(done) < count:
            k = min(count - len(done), GROUP_ITERATIONS_MAX)
            self._state.fill(0)
            for _ in range(k):
                self.launch()
            state = self._state.get()
            got = [int(r) for r in state[4:4 + int(state[3])]]
            done.extend(got)
            if len(got) < k or (got and got[-1] < self.eps):
                break
        return done

    def _read_pi(self) -> np.ndarray:
        pi = cp.empty_like(self._pi)
        pi[self._order] = self._pi
        return cp.asnumpy(pi)
