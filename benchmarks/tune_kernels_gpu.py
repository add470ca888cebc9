"""Device: ms per iteration of kernel variants (degree bins × loop unroll) on R-MAT 2^23."""

from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, "benchmarks")
from bench_kernels_gpu import per_iteration_ms, rmat, stake_weights

from focusflow.kernels import FocusParams
from focusflow.kernels._cuda import CudaSolver, DeviceStore

INF = float("inf")
BINS = {
    "default": None,
    "few": ((7, 1), (64, 8), (512, 32), (INF, 256)),
    "fewer": ((15, 1), (128, 8), (1024, 32), (INF, 256)),
    "fewest": ((31, 1), (256, 8), (2048, 32), (INF, 256)),
    "few4": ((7, 1), (32, 4), (256, 16), (2048, 64), (INF, 256)),
    "one8": ((15, 1), (256, 8), (INF, 256)),
}
scale, m = int(sys.argv[1]), int(float(sys.argv[2]))
src, dst = rmat(scale, m, 1)
w, _ = stake_weights(m, m // 100, 1)
store = DeviceStore.from_edges(src, dst, w, 1 << scale)
del src, dst, w
ref = None
for name, bins in BINS.items():
    for unroll in (1,):
        s = CudaSolver(store, FocusParams(eps=1e-6), bins=bins, unroll=unroll)
        r = s.solve(warm=False)
        pi = r.pi
        if ref is None:
            ref = pi
        t = min(per_iteration_ms(s) for _ in range(3))
        print(f"{name:8s} unroll={unroll}  {t:.4f} ms/iter  it={r.iterations}  "
              f"L1 vs first={np.abs(pi - ref).sum():.1e}", flush=True)
        del s
