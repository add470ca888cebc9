"""Exact focus on WebGPU: ``exact.wgsl`` (32-bit words only), one thread per row.

The host prepares the per-source scales (``SourceScale``) and the normalised weights W'
once per solve and uploads them with the (compacted) CSR; iterations run in groups of
up to GROUP_ITERATIONS_MAX submitted together and stop on the device at the stop rule,
so one read-back per group fetches the residual history. Imported only on request.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np

from focusflow.kernels._exact import ExactSolver, SourceScale, normalised_weights
from focusflow.kernels._result import BackendUnavailable
from focusflow.kernels._webgpu import GRID_X_MAX, WG, device

GROUP_ITERATIONS_MAX = 32
_ENTRIES = ("source_x", "gather", "fold_z", "finish", "fold_r")


class ExactWebGpuSolver(ExactSolver):
    """The exact iteration in WGSL; the graph is re-uploaded when the store changed."""

    backend = "webgpu"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import wgpu

        self._wgpu = wgpu
        self.dev = device()
        code = resources.files("focusflow.kernels").joinpath("exact.wgsl").read_text()
        module = self.dev.create_shader_module(code=code)
        self._pipes = {name: self.dev.create_compute_pipeline(
            layout="auto", compute={"module": module, "entry_point": name}) for name in _ENTRIES}
        self._storage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC

    def _buf(self, data: np.ndarray) -> Any:
        arr = np.ascontiguousarray(data)
        if arr.nbytes == 0:
            arr = np.zeros(2, dtype=np.uint32)  # WebGPU refuses empty bindings
        return self.dev.create_buffer_with_data(data=arr, usage=self._storage)

    def _load(self) -> None:
        csr = self.store.csr
        if len(csr.d_keys) or csr.tombstones:
            csr.compact()  # one CSR to upload; the bits do not depend on the layout
        n, nnz = csr.n, len(csr.keys)
        limit = self.dev.limits["max-storage-buffer-binding-size"]
        if 8 * max(nnz, n) > limit:
            raise BackendUnavailable(f"webgpu: {nnz} links exceed the {limit}-byte binding")
        sc = SourceScale.of(np, csr.out_w)
        wn = normalised_weights(np, csr.data, csr.indices.astype(np.int64), sc.shift)
        wgs = -(-n // WG)
        gx = min(wgs, GRID_X_MAX)
        self._grid = (gx, -(-wgs // gx))
        bufs = {
            "indptr": self._buf(csr.indptr.astype(np.uint32)),
            "indices": self._buf(csr.indices.astype(np.uint32)),
            "wn": self._buf(wn), "recip": self._buf(sc.recip),
            "pi": self._buf(np.zeros(n, np.uint64)), "xs": self._buf(np.zeros(n, np.uint64)),
            "zs": self._buf(np.zeros(n, np.uint64)),
            "partials": self._buf(np.zeros(max(wgs, 1), np.uint64)),
            "state": self._buf(np.zeros(6 + 2 * GROUP_ITERATIONS_MAX, np.uint32)),
        }
        eps = self.eps
        params = np.array([n, self.delta, eps & 0xFFFFFFFF, eps >> 32, wgs, gx, 0, 0], np.uint32)
        bufs["params"] = self.dev.create_buffer_with_data(
            data=params, usage=self._wgpu.BufferUsage.UNIFORM)
        self._bufs = bufs
        order = ("indptr", "indices", "wn", "recip", "pi", "xs", "zs", "partials", "state",
                 "params")
        self._groups = {}
        for name, pipe in self._pipes.items():
            layout = pipe.get_bind_group_layout(0)
            # "auto" layouts list only the bindings an entry point uses
            entries = [{"binding": i, "resource": {"buffer": bufs[key], "offset": 0,
                                                   "size": bufs[key].size}}
                       for i, key in enumerate(order) if _uses(name, key)]
            self._groups[name] = self.dev.create_bind_group(layout=layout, entries=entries)
        self._n = n

    def _set_pi(self, q: np.ndarray) -> None:
        self.dev.queue.write_buffer(self._bufs["pi"], 0, np.ascontiguousarray(q, np.uint64))

    def _run(self, count: int) -> list[int]:
        done: list[int] = []
        while len(done) < count:
            k = min(count - len(done), GROUP_ITERATIONS_MAX)
            got = self._run_group(k)
            done.extend(got)
            if len(got) < k or (got and got[-1] < self.eps):
                break
        return done

    def _run_group(self, count: int) -> list[int]:
        q = self.dev.queue
        q.write_buffer(self._bufs["state"], 0, np.zeros(6, np.uint32))
        enc = self.dev.create_command_encoder()
        for _ in range(count):
            cp = enc.begin_compute_pass()
            for name in _ENTRIES:
                cp.set_pipeline(self._pipes[name])
                cp.set_bind_group(0, self._groups[name])
                if name.startswith("fold"):
                    cp.dispatch_workgroups(1, 1, 1)
                else:
                    cp.dispatch_workgroups(*self._grid, 1)
            cp.end()
        q.submit([enc.finish()])
        state = np.frombuffer(q.read_buffer(self._bufs["state"]), dtype=np.uint32)
        ran = int(state[5])
        hist = state[6:6 + 2 * ran].view(np.uint64)
        return [int(r) for r in hist]

    def _read_pi(self) -> np.ndarray:
        raw = self.dev.queue.read_buffer(self._bufs["pi"])
        return np.frombuffer(raw, dtype=np.uint64)[: self._n].copy()


_USES = {
    "source_x": {"pi", "xs", "recip", "state", "params"},
    "gather": {"indptr", "indices", "wn", "xs", "zs", "partials", "state", "params"},
    "fold_z": {"partials", "state", "params"},
    "finish": {"pi", "zs", "partials", "state", "params"},
    "fold_r": {"partials", "state", "params"},
}


def _uses(entry: str, key: str) -> bool:
    return key in _USES[entry]
