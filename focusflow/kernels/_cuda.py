"""CUDA backend (CuPy): the graph and π stay resident on the device between batches.

The device holds an :class:`InLinkCSR` built with the CuPy namespace (the same code as the
host store), a float32 copy of the weights for the kernel, the degree bins, and two
ping-pong π/x buffers. A batch (:meth:`CudaSolver.apply`) edits the resident CSR in place
(binary search for the changed edges, a delta segment for new ones, scatter for the
out-weights) and refreshes only the float32 weights it touched; the bins are rebuilt only
after a compaction. One iteration is one fused kernel per degree bin (``focus.cu``) plus a
tiny reduction of the per-block partials; the residual read-back is the only sync.
Imported only by ``backend_for("cuda" | "auto")``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import cupy as cp
import numpy as np

from focusflow.kernels._csr import EdgeDelta, InLinkCSR, row_bins
from focusflow.kernels._result import FocusParams
from focusflow.kernels._solver import Solver

THREADS = 256
_MODULE: Any = None
_LANES = (1, 4, 16, 64, 256)


def _module() -> Any:
    global _MODULE
    if _MODULE is None:
        src = resources.files("focusflow.kernels").joinpath("focus.cu").read_text()
        _MODULE = cp.RawModule(code=src, options=("-std=c++17",),
                               name_expressions=[f"focus_bin<{lanes}>" for lanes in _LANES])
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

    def __init__(self, store: Any, params: FocusParams | None = None) -> None:
        super().__init__(store, params)
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
        """(Re)build what depends on the base layout: int32 CSR, float32 weights, bins."""
        c = self.dcsr
        assert len(c.keys) < 2**31
        self._indptr32 = c.indptr.astype(cp.int32)
        self._w32 = c.data.astype(cp.float32)
        rows, table = row_bins(cp, c.indptr)
        self._rows = rows
        self._bins = []
        blocks_total = 0
        for lanes, offset, count in table:
            blocks = -(-count // (THREADS // lanes))
            kernel = self._mod.get_function(f"focus_bin<{lanes}>")
            self._bins.append((kernel, offset, count, blocks, blocks_total))
            blocks_total += blocks
        self._partials = cp.zeros(2 * max(blocks_total, 1), dtype=cp.float64)
        self._layout_version = c.version

    def _refresh_values(self) -> None:
        c = self.dcsr
        self._inv32 = c.inv_out().astype(cp.float32)
        self._dangling = self._inv32 == 0
        self._delta: tuple[Any, Any, Any] | None = None
        if len(c.d_keys):
            d_dst, d_src, d_w = c.delta_coo()
            self._delta = (d_dst, d_src, d_w.astype(cp.float32))

    def apply(self, delta: EdgeDelta) -> None:
        """Bring the resident graph up to date with ``delta`` (in place, no rebuild).

        With a host GraphStore the host applied it already; the device copy applies it
        here. With a DeviceStore the device CSR *is* the store and is changed here.
        """
        c = self.dcsr
        before = c.version
        c.apply(delta)
        if c.version == before and self._layout_version == before and len(delta):
            # refresh only the float32 weights at the edited base positions
            keys = (cp.asarray(delta.dst, dtype=cp.uint64) << cp.uint64(32)) | cp.asarray(
                delta.src, dtype=cp.uint64)
            pos = cp.minimum(cp.searchsorted(c.keys, keys), max(len(c.keys) - 1, 0))
            if len(c.keys):
                hit = c.keys[pos] == keys
                p = pos[hit]
                self._w32[p] = c.data[p].astype(cp.float32)

    # -- Solver operations --------------------------------------------------------------------
    def _start(self, pi0: np.ndarray) -> None:
        c = self.dcsr
        assert c.n == self.store.n
        if self._layout_version != c.version or len(self._indptr32) != c.n + 1:
            self._refresh_layout()
        self._refresh_values()
        n = c.n
        v = self.params.teleport_for(n)
        self._tele_vector = self.params.teleport is not None
        self._tele = cp.asarray(v, dtype=cp.float32) if self._tele_vector else cp.zeros(1, cp.float32)
        self._tele_uniform = np.float32(1.0 / n)
        pi64 = cp.asarray(pi0, dtype=cp.float64)
        pi = pi64.astype(cp.float32)
        self._pi = [pi, cp.empty_like(pi)]
        self._x = [pi * self._inv32, cp.empty_like(pi)]
        self._acc = cp.zeros(n, dtype=cp.float32) if self._delta is not None else cp.zeros(1, cp.float32)
        d = self.params.damping
        self._coef = d * float(cp.sum(pi64 * self._dangling)) + (1.0 - d)
        self._parity = 0

    def launch(self) -> None:
        """Enqueue one iteration (no sync); the residual lands in ``self._partials``."""
        c, p = self.dcsr, self._parity
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
        for kernel, offset, count, blocks, block_offset in self._bins:
            kernel((blocks,), (THREADS,), (
                self._indptr32, c.indices, self._w32, self._rows[offset:], np.int32(count),
                x_in, pi_in, pi_out, x_out, self._inv32, self._tele, np.int32(self._tele_vector),
                self._tele_uniform, self._acc, np.int32(use_acc),
                np.float32(self.params.damping), np.float32(self._coef), self._partials,
                np.int32(block_offset)))
        self._parity = 1 - p

    def _step(self) -> float:
        self.launch()
        sums = self._partials.reshape(-1, 2).sum(axis=0).get()
        d = self.params.damping
        self._coef = d * float(sums[1]) + (1.0 - d)
        return float(sums[0])

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
        pi = self._pi[self._parity].astype(cp.float64)
        return pi / pi.sum()

    def _fetch(self, snapshot: Any) -> np.ndarray:
        return cp.asnumpy(snapshot)
