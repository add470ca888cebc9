"""Where a batch's time goes on the GPU (cProfile of apply + warm solve). Device only."""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

import cupy as cp

sys.path.insert(0, "benchmarks")
from bench_kernels_gpu import make_batch, rmat, stake_weights

from focusflow.kernels import FocusParams
from focusflow.kernels._cuda import CudaSolver, DeviceStore

scale, m = int(sys.argv[1]), int(float(sys.argv[2]))
src, dst = rmat(scale, m, 1)
w, _ = stake_weights(m, m // 100, 1)
store = DeviceStore.from_edges(src, dst, w, 1 << scale)
s = CudaSolver(store, FocusParams(eps=1e-6))
s.solve(warm=False)
for k in (1000, 100000):
    d, _ = make_batch(s, k, scale, 5)
    s.apply(d)
    s.solve()
d, _ = make_batch(s, 100000, scale, 6)
cp.cuda.runtime.deviceSynchronize()
pr = cProfile.Profile()
t = time.perf_counter()
pr.enable()
s.apply(d)
cp.cuda.runtime.deviceSynchronize()
t1 = time.perf_counter()
r = s.solve()
pr.disable()
t2 = time.perf_counter()
print(f"apply {1e3 * (t1 - t):.2f} ms, solve {1e3 * (t2 - t1):.2f} ms, iterations {r.iterations}")
pstats.Stats(pr).sort_stats("tottime").print_stats(12)

# per-line device time: synchronise at every line event of the traced functions
lines: dict = {}
state = {"last": None, "t": 0.0}


def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
    if frame.f_code.co_name not in ("apply", "_insert_delta", "_start", "_refresh_values",
                                    "start_vector", "_snapshot"):
        return None
    if event in ("line", "return"):
        cp.cuda.runtime.deviceSynchronize()
        now = time.perf_counter()
        if state["last"] is not None:
            lines[state["last"]] = lines.get(state["last"], 0.0) + now - state["t"]
        state["last"] = (frame.f_code.co_filename.split("/")[-1], frame.f_lineno)
        state["t"] = now
    return tracer


d, _ = make_batch(s, 100000, scale, 7)
cp.cuda.runtime.deviceSynchronize()
sys.settrace(tracer)
s.apply(d)
s._start(s.start_vector(warm=True))
s._snapshot()
sys.settrace(None)
for (f, ln), dt in sorted(lines.items(), key=lambda kv: -kv[1])[:25]:
    print(f"{1e3 * dt:8.3f} ms  {f}:{ln}")
