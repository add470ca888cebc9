"""WebGPU backend: WGSL compute shaders through wgpu, on any adapter (llvmpipe included).

Per iteration: one fused dispatch per degree bin (``focus.wgsl``: gather + teleport +
dangling + residual, ``LANES`` threads per row) and one single-workgroup fold
(``reduce.wgsl``) that computes the next teleport coefficient on the device. Iterations
are submitted in groups and only the residual history is read back, so the host does not
sit in the loop. float32 throughout (WGSL has no portable float64): see KNOWN_GAPS.
Imported only by ``backend_for("webgpu" | "auto")``.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

import numpy as np

from focusflow.kernels._csr import EdgeDelta, relabel_by_out_degree, row_bins
from focusflow.kernels._graph import GraphStore
from focusflow.kernels._result import BackendUnavailable, FocusParams
from focusflow.kernels._solver import Solver, next_group

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # Mesa warns without one
import wgpu

WG = 256
GRID_X_MAX = 65535
GROUP_ITERATIONS_MAX = 32  # iterations submitted before reading the residuals
_ADAPTER: Any = None
_DEVICE: Any = None


def _adapter() -> Any:
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    return _ADAPTER


def adapter_info() -> dict[str, str] | None:
    """The adapter's description, or None when there is no WebGPU adapter."""
    try:
        adapter = _adapter()
    except Exception:
        return None
    return None if adapter is None else {k: str(v) for k, v in dict(adapter.info).items()}


def device() -> Any:
    """One shared device with the adapter's full buffer limits (created once)."""
    global _DEVICE
    if _DEVICE is None:
        a = _adapter()
        limits = {k: a.limits[k] for k in ("max-storage-buffer-binding-size", "max-buffer-size",
                                           "max-storage-buffers-per-shader-stage")}
        _DEVICE = a.request_device_sync(required_limits=limits)
    return _DEVICE


def _shader(name: str) -> str:
    return resources.files("focusflow.kernels").joinpath(name).read_text()


class WebGpuSolver(Solver):
    """float32 WGSL solver; the CSR is uploaded on load and after structural changes."""

    backend = "webgpu"
    dtype = "float32"

    def __init__(self, store: GraphStore, params: FocusParams | None = None, *,
                 plain_rows: bool = False) -> None:
        super().__init__(store, params)
        self.plain_rows = plain_rows  # benchmarks: the naive one-thread-per-row layout
        self.dev = device()
        usage = wgpu.BufferUsage
        self._storage = usage.STORAGE | usage.COPY_DST | usage.COPY_SRC
        mod = self.dev.create_shader_module(code=_shader("focus.wgsl"))
        self._pipes: dict[int, Any] = {}
        self._module = mod
        red = self.dev.create_shader_module(code=_shader("reduce.wgsl"))
        self._reduce_pipe = self.dev.create_compute_pipeline(
            layout="auto", compute={"module": red, "entry_point": "main"})
        self._uploaded: tuple[int, int] | None = None
        self._parity = 0
        self._pending: list[float] = []

    # -- buffers ---------------------------------------------------------------------------------
    def _buf(self, data: np.ndarray) -> Any:
        arr = np.ascontiguousarray(data)
        if arr.nbytes == 0:
            arr = np.zeros(4, dtype=arr.dtype)  # WebGPU refuses empty bindings
        return self.dev.create_buffer_with_data(data=arr, usage=self._storage)

    def _pipe(self, lanes: int) -> Any:
        if lanes not in self._pipes:
            self._pipes[lanes] = self.dev.create_compute_pipeline(
                layout="auto",
                compute={"module": self._module, "entry_point": "main",
                         "constants": {"LANES": lanes}})
        return self._pipes[lanes]

    def _upload_graph(self) -> None:
        csr = self.store.csr
        if len(csr.d_keys) or csr.tombstones:
            csr.compact()  # WGSL has no float atomics for a delta scatter: fold it in
        n, nnz = csr.n, len(csr.keys)
        limit = self.dev.limits["max-storage-buffer-binding-size"]
        if 4 * max(nnz, n + 1) > limit:
            raise BackendUnavailable(
                f"webgpu: {nnz} links exceed the adapter's {limit}-byte storage binding")
        if self.plain_rows:  # the naive layout, for benchmarks: external order, one bin
            order = np.arange(n)
            indptr, indices, weights = csr.indptr, csr.indices, csr.data
        else:
            rl = relabel_by_out_degree(np, csr.indptr, csr.indices, csr.out_deg)
            order, indptr, indices = rl.order, rl.indptr, rl.indices
            weights = csr.data[rl.edge_from]
        self._order = order
        self._indptr = self._buf(indptr.astype(np.uint32))
        self._indices = self._buf(indices.astype(np.uint32))
        self._weights = self._buf(weights.astype(np.float32))
        rows, table = row_bins(np, indptr, plain=self.plain_rows)
        self._rows = self._buf(rows)
        inv = csr.inv_out()[order]
        self._inv32 = inv.astype(np.float32)
        self._inv = self._buf(self._inv32)
        self._dangling = inv == 0.0
        self._tele = self._buf(self.params.teleport_for(n)[order].astype(np.float32))
        self._pi = [self._buf(np.zeros(n, np.float32)) for _ in range(2)]
        self._x = [self._buf(np.zeros(n, np.float32)) for _ in range(2)]
        self._scal = self._buf(np.zeros(4, np.float32))
        self._hist = self._buf(np.zeros(GROUP_ITERATIONS_MAX, np.float32))
        self._counter = self._buf(np.zeros(4, np.uint32))
        self._dispatch: list[tuple[Any, list[Any], int, int]] = []
        sizes = [(lanes, offset, count, -(-count // (WG // lanes))) for lanes, offset, count in table]
        wg_total = sum(s[3] for s in sizes)
        self._partials = self._buf(np.zeros(2 * max(wg_total, 1), np.float32))
        wg_offset = 0
        for lanes, offset, count, wgs in sizes:
            gx = min(wgs, GRID_X_MAX)
            gy = -(-wgs // gx)
            params = np.array([offset, count, wg_offset, wgs, gx, 0, 0, 0], dtype=np.uint32)
            params[5] = np.float32(self.params.damping).view(np.uint32)
            ubuf = self.dev.create_buffer_with_data(
                data=params, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
            pipe = self._pipe(lanes)
            self._dispatch.append((pipe, [self._bind(pipe, ubuf, p) for p in (0, 1)], gx, gy))
            wg_offset += wgs
        rparams = np.array([wg_total, 0, 0, 0], dtype=np.uint32)
        rparams[1] = np.float32(self.params.damping).view(np.uint32)
        rbuf = self.dev.create_buffer_with_data(
            data=rparams, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        self._reduce_group = self._group(self._reduce_pipe, [
            self._partials, self._scal, self._hist, self._counter, rbuf])
        self._uploaded = (csr.version, n)

    def _group(self, pipe: Any, buffers: list[Any]) -> Any:
        entries = [{"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}}
                   for i, b in enumerate(buffers)]
        return self.dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=entries)

    def _bind(self, pipe: Any, ubuf: Any, parity: int) -> Any:
        return self._group(pipe, [
            self._indptr, self._indices, self._weights, self._rows,
            self._x[parity], self._pi[parity], self._pi[1 - parity], self._x[1 - parity],
            self._inv, self._tele, self._partials, self._scal, ubuf])

    # -- Solver operations ---------------------------------------------------------------------
    def apply(self, delta: EdgeDelta) -> None:
        """The store changed: re-upload the graph at the next solve (π is re-sent too)."""
        super().apply(delta)
        self._uploaded = None

    def _start(self, pi0: np.ndarray) -> None:
        csr = self.store.csr
        if self._uploaded != (csr.version, csr.n) or len(csr.d_keys) or csr.tombstones:
            self._upload_graph()
        q = self.dev.queue
        pi_int = pi0[self._order]
        pi32 = pi_int.astype(np.float32)
        self._parity = 0
        q.write_buffer(self._pi[0], 0, pi32)
        q.write_buffer(self._x[0], 0, pi32 * self._inv32)
        d = self.params.damping
        coef = d * float(pi_int[self._dangling].sum()) + (1.0 - d)
        q.write_buffer(self._scal, 0, np.array([coef, 0, 0, 0], dtype=np.float32))
        self._pending = []
        self._history: list[float] = []

    def run_iterations(self, count: int) -> list[float]:
        """Submit ``count`` fused iterations in one command buffer; return their residuals."""
        assert 0 < count <= GROUP_ITERATIONS_MAX
        q = self.dev.queue
        q.write_buffer(self._counter, 0, np.zeros(4, np.uint32))
        enc = self.dev.create_command_encoder()
        for _ in range(count):
            cp = enc.begin_compute_pass()
            for pipe, groups, gx, gy in self._dispatch:
                cp.set_pipeline(pipe)
                cp.set_bind_group(0, groups[self._parity])
                cp.dispatch_workgroups(gx, gy, 1)
            cp.set_pipeline(self._reduce_pipe)
            cp.set_bind_group(0, self._reduce_group)
            cp.dispatch_workgroups(1, 1, 1)
            cp.end()
            self._parity = 1 - self._parity
        q.submit([enc.finish()])
        hist = np.frombuffer(q.read_buffer(self._hist, 0, 4 * count), dtype=np.float32)
        return [float(h) for h in hist]

    def _step(self) -> float:
        # Iterations run in device-side groups; residuals are handed out one by one so the
        # shared loop's guard sees every iteration. A group may run a few iterations past
        # convergence: harmless, π only gets closer to the fixed point.
        if not self._pending:
            size = next_group(self._history, self._eps_now, most=GROUP_ITERATIONS_MAX)
            self._pending = self.run_iterations(size)
            self._history.extend(self._pending)
        return self._pending.pop(0)

    def _snapshot(self) -> np.ndarray:
        # π of the last iteration actually run (the group may have gone past the guard)
        raw = self.dev.queue.read_buffer(self._pi[self._parity])
        internal = np.frombuffer(raw, dtype=np.float32)[: self.store.n].astype(np.float64)
        pi = np.empty_like(internal)
        pi[self._order] = internal  # back to external numbering
        total = pi.sum()
        return pi / total if total > 0 else pi

    def _fetch(self, snapshot: np.ndarray) -> np.ndarray:
        return snapshot
