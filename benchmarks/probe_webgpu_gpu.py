"""Device probe: residual histories of the CUDA and WebGPU paths on the same graph."""

from __future__ import annotations

import sys

import cupy as cp
import numpy as np

sys.path.insert(0, "benchmarks")
from bench_kernels_gpu import rmat, stake_weights

from focusflow.kernels import FocusParams, GraphStore
from focusflow.kernels._csr import InLinkCSR
from focusflow.kernels._cuda import CudaSolver, DeviceStore
from focusflow.kernels._webgpu import WebGpuSolver

np.set_printoptions(precision=3, linewidth=200)
for scale, m in ((16, 1_000_000), (20, 16_000_000)):
    src, dst = rmat(scale, m, 1)
    w, _ = stake_weights(m, m // 100, 1)
    store = DeviceStore.from_edges(src, dst, w, 1 << scale)
    a = CudaSolver(store, FocusParams(eps=1e-7)).solve(warm=False)
    host = GraphStore(0)
    hc = InLinkCSR.__new__(InLinkCSR)
    hc.__dict__.update({k: (cp.asnumpy(v) if isinstance(v, cp.ndarray) else v)
                        for k, v in store.csr.__dict__.items()})
    hc.xp = np
    host.csr = hc
    from focusflow.kernels import CpuSolver

    c = CpuSolver(host, FocusParams(eps=1e-9)).solve(warm=False)
    for plain in (False, True):
        b = WebGpuSolver(host, FocusParams(eps=1e-7), plain_rows=plain).solve(warm=False)
        print(scale, "plain" if plain else "binned", "webgpu L1 vs cpu", np.abs(b.pi - c.pi).sum())
        print(" wgpu", np.array(b.residuals[:24]))
    print(scale, "cuda L1 vs cpu", np.abs(a.pi - c.pi).sum())
    print(" cuda", np.array(a.residuals[:24]))
    print(" cpu ", np.array(c.residuals[:24]))
