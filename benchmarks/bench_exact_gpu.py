"""GPU benchmark of exact focus (run on the lent H100; needs CuPy, optionally wgpu).

Side by side in one run:

* on an R-MAT graph generated on the device (2^23 nodes, 10^8 links, integer
  stake-derived weights): ms per iteration of the exact kernels vs today's float32
  kernels (``CudaSolver``) and a cuSPARSE float32 / float64 SpMV on the same graph
  (the float64 reference point: there is no float64 GPU solver), full solves to ε = 1e-6, and a block of 10^5 changed links
  (half reweights, half new edges) applied in place and re-converged by warm start;
* agreement: CUDA vs CPU vs WebGPU ``pi_root`` on an R-MAT graph of 10^7 links held in
  a host store (WebGPU through wgpu on the same card, when an adapter is there).

Prints a table; ``--json FILE`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from focusflow.kernels import FocusParams, GraphStore
from focusflow.kernels._csr import EdgeDelta, InLinkCSR, aggregate, pack_keys

try:
    import cupy as cp
    from bench_kernels_gpu import rmat, stake_weights

    from focusflow.kernels._cuda import CudaSolver, DeviceStore
    from focusflow.kernels._exact_cuda import ExactCudaSolver
except ImportError as _exc:  # no CuPy here: say so and exit 0
    cp = None
    _MISSING = str(_exc)


def sync() -> None:
    cp.cuda.runtime.deviceSynchronize()


def int_weights(m: int, seed: int) -> Any:
    share, _ = stake_weights(m, max(m // 100, 10), seed)
    return cp.maximum(cp.rint(share), 1).astype(cp.int64)


def per_iteration_ms(launch: Any, reps: int) -> float:
    start, end = cp.cuda.Event(), cp.cuda.Event()
    launch()
    start.record()
    for _ in range(reps):
        launch()
    end.record()
    end.synchronize()
    return cp.cuda.get_elapsed_time(start, end) / reps


def make_delta(csr: InLinkCSR, scale: int, k: int, seed: int, exact: bool) -> EdgeDelta:
    """k changed links: half reweights of existing edges, half new R-MAT links."""
    rng = np.random.default_rng(seed)
    keys = cp.asnumpy(csr.keys[cp.asarray(rng.integers(0, len(csr.keys), k // 2))])
    s_new, d_new = (cp.asnumpy(a) for a in rmat(scale, k - k // 2, seed + 7))
    src = np.concatenate([(keys & np.uint64(0xFFFFFFFF)).astype(np.int64), s_new])
    dst = np.concatenate([(keys >> np.uint64(32)).astype(np.int64), d_new])
    dw = rng.integers(1, 1000, k).astype(np.int64 if exact else np.float64)
    dc = np.concatenate([np.zeros(k // 2, np.int64), np.ones(k - k // 2, np.int64)])
    ukeys, udw, udc = aggregate(np, pack_keys(np, dst, src), dw, dc)
    return EdgeDelta((ukeys & np.uint64(0xFFFFFFFF)).astype(np.int64),
                     (ukeys >> np.uint64(32)).astype(np.int64), udw, udc, csr.n)


def spmv_baselines(csr: InLinkCSR) -> dict:
    """cuSPARSE y = W·x on the same in-link CSR in float32 and float64: a float64
    reference point (no float64 GPU solver exists; one SpMV is a floor for an iteration)."""
    out: dict = {}
    try:
        import cupyx.scipy.sparse as cps

        n = csr.n
        for name, dt in (("float32", cp.float32), ("float64", cp.float64)):
            a = cps.csr_matrix((csr.data.astype(dt), csr.indices.astype(cp.int32),
                                csr.indptr.astype(cp.int32)), shape=(n, n))
            x = cp.random.default_rng(0).random(n).astype(dt)
            out[f"cusparse_{name}_ms_per_spmv"] = per_iteration_ms(lambda a=a, x=x: a @ x, 50)
            del a, x
    except Exception as exc:  # reported, not hidden
        out["cusparse_error"] = repr(exc)
    return out


def performance(scale: int, m: int, batch: int, seed: int) -> dict:
    res: dict = {"device": cp.cuda.runtime.getDeviceProperties(0)["name"].decode(),
                 "nodes": 1 << scale, "links": m}
    n = 1 << scale
    src, dst = rmat(scale, m, seed)
    w = int_weights(m, seed)
    xstore = DeviceStore(InLinkCSR(cp, n, src, dst, w))
    fstore = DeviceStore(InLinkCSR(cp, n, src, dst, w.astype(cp.float64)))
    del src, dst, w
    res["edges"] = len(xstore.csr.keys)
    params = FocusParams(eps=1e-6, iterations_max=500)
    fl = CudaSolver(fstore, params)
    fl.solve(warm=False)  # compile
    t = time.perf_counter()
    fr = fl.solve(warm=False)
    sync()
    res["float32_solve_s"], res["float32_iterations"] = time.perf_counter() - t, fr.iterations
    res["float32_ms_per_iter"] = per_iteration_ms(fl.launch, 50)
    res.update(spmv_baselines(fstore.csr))
    ex = ExactCudaSolver(xstore, params)
    ex.solve()  # compile
    t = time.perf_counter()
    er = ex.solve()
    sync()
    res["exact_solve_s"], res["exact_iterations"] = time.perf_counter() - t, er.iterations
    res["exact_converged"] = er.converged
    timing = ExactCudaSolver(xstore, FocusParams(eps=1e-300))  # never stops by itself
    timing._load()
    timing._set_pi(timing.start_vector(warm=False))
    res["exact_ms_per_iter"] = per_iteration_ms(timing.launch, 20)
    t = time.perf_counter()
    timing._load()
    sync()
    res["exact_load_ms"] = (time.perf_counter() - t) * 1e3
    del timing
    for name, solver, exact in (("exact", ex, True), ("float32", fl, False)):
        times, applies, iters = [], [], []
        for b in range(3):
            delta = make_delta(solver.store.csr, scale, batch, seed + 100 + b, exact)
            sync()
            t = time.perf_counter()
            solver.apply(delta)
            sync()
            t_apply = time.perf_counter() - t
            r = solver.solve(warm=True)
            sync()
            times.append((time.perf_counter() - t) * 1e3)
            applies.append(t_apply * 1e3)
            iters.append(r.iterations)
        res[f"{name}_block_ms"] = float(np.median(times))
        res[f"{name}_block_apply_ms"] = float(np.median(applies))
        res[f"{name}_block_iterations"] = iters
    return res


def agreement(scale: int, m: int, seed: int, webgpu: bool) -> dict:
    src, dst = rmat(scale, m, seed)
    w = int_weights(m, seed)
    store = GraphStore.from_edges(cp.asnumpy(src), cp.asnumpy(dst), cp.asnumpy(w),
                                  n=1 << scale, exact=True)
    out: dict = {"nodes": 1 << scale, "links": m}
    kinds: list[tuple[str, Any]] = [("cuda", ExactCudaSolver)]
    from focusflow.kernels._exact import ExactCpuSolver

    kinds.append(("cpu", ExactCpuSolver))
    if webgpu:
        try:
            from focusflow.kernels._exact_webgpu import ExactWebGpuSolver

            kinds.append(("webgpu", ExactWebGpuSolver))
        except Exception as exc:  # wgpu missing or no adapter: reported, not hidden
            out["webgpu_error"] = repr(exc)
    for name, cls in kinds:
        try:
            t = time.perf_counter()
            r = cls(store, FocusParams(eps=1e-6)).solve()
            out[name] = {"root": r.root.hex(), "iterations": r.iterations,
                         "seconds": time.perf_counter() - t, "converged": r.converged}
        except Exception as exc:
            out[name] = {"error": repr(exc)}
    roots = {v["root"] for k, v in out.items() if isinstance(v, dict) and "root" in v}
    out["same_root"] = len(roots) == 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=23)
    ap.add_argument("--links", type=int, default=100_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--check-scale", type=int, default=20)
    ap.add_argument("--check-links", type=int, default=10_000_000)
    ap.add_argument("--no-webgpu", action="store_true")
    ap.add_argument("--skip-performance", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if cp is None:
        print(f"bench_exact_gpu: skipped ({_MISSING})")
        return
    res: dict = {}
    if not a.skip_performance:
        res["performance"] = p = performance(a.scale, a.links, a.batch, a.seed)
        print(json.dumps(p), flush=True)
        print(f"{p['device']}: R-MAT 2^{a.scale}, {p['edges']} edges")
        print(f"ms per iteration: exact {p['exact_ms_per_iter']:.3f}, float32 "
              f"{p['float32_ms_per_iter']:.3f} (ratio "
              f"{p['exact_ms_per_iter'] / p['float32_ms_per_iter']:.2f})")
        for dt in ("float32", "float64"):
            if f"cusparse_{dt}_ms_per_spmv" in p:
                print(f"cuSPARSE {dt} SpMV (same graph): {p[f'cusparse_{dt}_ms_per_spmv']:.3f} ms"
                      f" (exact / this {p['exact_ms_per_iter'] / p[f'cusparse_{dt}_ms_per_spmv']:.2f})")
        print(f"block of {a.batch} links re-converged: exact {p['exact_block_ms']:.1f} ms, "
              f"float32 {p['float32_block_ms']:.1f} ms")
    res["agreement"] = g = agreement(a.check_scale, a.check_links, a.seed + 1, not a.no_webgpu)
    print(json.dumps(g), flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
