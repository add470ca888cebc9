"""GPU benchmark of the focus kernels (run on the lent H100; needs CuPy, optionally wgpu).

Side by side in one run, on an R-MAT graph (a, b, c = .57, .19, .19) generated on the
device with CuPy, with random neuron stakes giving the link weights:

* ours (fused float32 kernels, resident incremental CSR) vs the plain CuPy program a user
  would write (cuSPARSE CSR SpMV power iteration in float64, rebuilding the CSR from COO
  after each batch): ms per iteration, full solve to ε = 1e-6, batches of changed links
  re-converged to ε = 1e-6;
* WebGPU (WGSL through wgpu on the same card) vs cuSPARSE float32 SpMV and vs ours.

``--quick`` uses a small graph (2^18 nodes, 3e6 links). Prints a table and writes JSON
to ``--json`` when given.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np

from focusflow.kernels import FocusParams
from focusflow.kernels._csr import EdgeDelta, aggregate, pack_keys

try:  # the GPU machine has CuPy; elsewhere (`make bench`) the script says so and exits 0
    import cupy as cp
    import cupyx.scipy.sparse as cps

    from focusflow.kernels._cuda import CudaSolver, DeviceStore
except ImportError as _exc:
    cp = cps = None
    _MISSING = str(_exc)

D = 0.85
EPS = 1e-6


def rmat(scale: int, m: int, seed: int, a: float = 0.57, b: float = 0.19, c: float = 0.19,
         chunk: int = 1 << 25) -> tuple[Any, Any]:
    """R-MAT edges on the device (vectorised per level, chunked), labels permuted."""
    rs = cp.random.RandomState(seed)
    n = 1 << scale
    srcs, dsts = [], []
    for start in range(0, m, chunk):
        k = min(chunk, m - start)
        s = cp.zeros(k, dtype=cp.int64)
        d = cp.zeros(k, dtype=cp.int64)
        for _ in range(scale):
            r = rs.random_sample(k, dtype=cp.float32)
            sb = r >= (a + b)
            db = ((r >= a) & (r < a + b)) | (r >= a + b + c)
            s = (s << 1) | sb
            d = (d << 1) | db
        srcs.append(s)
        dsts.append(d)
    perm = rs.permutation(n).astype(cp.int64)
    return perm[cp.concatenate(srcs)], perm[cp.concatenate(dsts)]


def stake_weights(m: int, neurons: int, seed: int) -> tuple[Any, Any]:
    """Each link made by a random neuron with a log-normal stake: W = stake/links."""
    rs = cp.random.RandomState(seed + 1)
    who = rs.randint(0, neurons, m)
    stake = rs.lognormal(10.0, 2.0, neurons)
    links = cp.bincount(who, minlength=neurons)
    share = stake / cp.maximum(links, 1)
    return share[who], who


def timed(fn: Any, repeat: int = 1) -> float:
    """Median wall time in ms of ``fn`` with device syncs around it."""
    out = []
    for _ in range(repeat):
        cp.cuda.runtime.deviceSynchronize()
        t = time.perf_counter()
        fn()
        cp.cuda.runtime.deviceSynchronize()
        out.append((time.perf_counter() - t) * 1e3)
    return float(np.median(out))


class Plain:
    """The program a user would write: cuSPARSE CSR (float64), rebuilt after each batch."""

    def __init__(self, n: int, src: Any, dst: Any, w: Any) -> None:
        self.n, self.src, self.dst, self.w = n, src, dst, w
        self.rebuild()

    def rebuild(self) -> None:
        out = cp.bincount(self.src, weights=self.w, minlength=self.n)
        vals = self.w / out[self.src]
        self.pt = cps.coo_matrix((vals, (self.dst, self.src)), shape=(self.n, self.n)).tocsr()
        self.dangling = out == 0

    def iterate(self, x: Any) -> tuple[Any, float]:
        y = D * (self.pt @ x) + (D * x[self.dangling].sum() + (1 - D)) / self.n
        return y, float(cp.abs(y - x).sum())

    def solve(self, x: Any | None = None, cap: int = 500) -> tuple[Any, int]:
        x = cp.full(self.n, 1.0 / self.n) if x is None else x
        for it in range(1, cap + 1):
            x, err = self.iterate(x)
            if err < EPS:
                return x, it
        return x, cap


def make_batch(solver: CudaSolver, k: int, scale: int, seed: int) -> tuple[EdgeDelta, dict]:
    """k changed links: k/2 reweights, k/4 removals of existing edges, k/4 new R-MAT edges."""
    c = solver.dcsr
    rs = cp.random.RandomState(seed)
    nnz = len(c.keys)
    pick = rs.choice(nnz, size=min(3 * k // 4, nnz), replace=False) if k < nnz // 2 else \
        rs.permutation(nnz)[: 3 * k // 4]
    rew, rem = pick[: k // 2], pick[k // 2:]
    keys = c.keys
    def split(p: Any) -> tuple[Any, Any]:
        return (keys[p] & cp.uint64(0xFFFFFFFF)).astype(cp.int64), (keys[p] >> cp.uint64(32)).astype(cp.int64)
    rs_src, rs_dst = split(rew)
    rm_src, rm_dst = split(rem)
    new_src, new_dst = rmat(scale, k - len(pick), seed + 7)
    new_w = rs.lognormal(0.0, 1.0, len(new_src)) * float(c.data.mean())
    src = cp.concatenate([rs_src, rm_src, new_src])
    dst = cp.concatenate([rs_dst, rm_dst, new_dst])
    dw = cp.concatenate([c.data[rew] * (rs.random_sample(len(rew)) - 0.5), -c.data[rem], new_w])
    dc = cp.concatenate([cp.zeros(len(rew), cp.int64), -c.count[rem].astype(cp.int64),
                         cp.ones(len(new_src), cp.int64)])
    ukeys, udw, udc = aggregate(cp, pack_keys(cp, dst, src), dw, dc)
    delta = EdgeDelta((ukeys & cp.uint64(0xFFFFFFFF)).astype(cp.int64),
                      (ukeys >> cp.uint64(32)).astype(cp.int64), udw, udc, c.n)
    return delta, {"reweights": len(rew), "removals": len(rem), "inserts": len(new_src)}


def coo_after(plain: Plain, delta: EdgeDelta) -> None:
    """Apply the same batch to the plain program's COO arrays (what a user would do)."""
    n = plain.n
    all_src = cp.concatenate([plain.src, cp.asarray(delta.src)])
    all_dst = cp.concatenate([plain.dst, cp.asarray(delta.dst)])
    all_w = cp.concatenate([plain.w, cp.asarray(delta.dw)])
    keys = pack_keys(cp, all_dst, all_src)
    ukeys, w = aggregate(cp, keys, all_w)
    keep = w > 1e-300
    plain.src = (ukeys[keep] & cp.uint64(0xFFFFFFFF)).astype(cp.int64)
    plain.dst = (ukeys[keep] >> cp.uint64(32)).astype(cp.int64)
    plain.w = w[keep]
    plain.n = n


def per_iteration_ms(solver: CudaSolver, reps: int = 50) -> float:
    start, end = cp.cuda.Event(), cp.cuda.Event()
    solver.launch()
    start.record()
    for _ in range(reps):
        solver.launch()
    end.record()
    end.synchronize()
    return cp.cuda.get_elapsed_time(start, end) / reps


def run(scale: int, m: int, batches: list[int], webgpu: bool, seed: int) -> dict:
    res: dict = {"scale": scale, "nodes": 1 << scale, "links_generated": m}
    dev = cp.cuda.runtime.getDeviceProperties(0)
    res["device"] = dev["name"].decode()
    n = 1 << scale
    t = time.perf_counter()
    src, dst = rmat(scale, m, seed)
    w, _ = stake_weights(m, max(m // 100, 10), seed)
    cp.cuda.runtime.deviceSynchronize()
    res["generate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    store = DeviceStore.from_edges(src, dst, w, n)
    cp.cuda.runtime.deviceSynchronize()
    res["build_store_s"] = time.perf_counter() - t
    res["edges_unique"] = len(store.csr.keys)
    ours = CudaSolver(store, FocusParams(eps=EPS, iterations_max=500))
    ours.solve(warm=False)  # compiles the kernels (NVRTC) and the CuPy helpers
    t = time.perf_counter()
    r = ours.solve(warm=False)
    cp.cuda.runtime.deviceSynchronize()
    res["ours_solve_s"] = time.perf_counter() - t  # π left on the device, as the plain one
    t = time.perf_counter()
    _ = r.pi
    res["ours_fetch_pi_s"] = time.perf_counter() - t
    res["ours_iterations"] = r.iterations
    res["ours_converged"] = r.converged
    res["ours_ms_per_iter"] = per_iteration_ms(ours)
    res["ours_rate"] = r.rate
    t = time.perf_counter()
    res["ours_group32_ms_per_iter"] = None
    ours.run_iterations(32)
    res["ours_group32_ms_per_iter"] = (time.perf_counter() - t) / 32 * 1e3
    unl = CudaSolver(store, FocusParams(eps=EPS), relabel=False)
    unl.solve(warm=False)
    res["ours_no_relabel_ms_per_iter"] = per_iteration_ms(unl)
    del unl
    srt = CudaSolver(store, FocusParams(eps=EPS), sort_rows=True)
    srt.solve(warm=False)
    res["ours_sorted_rows_ms_per_iter"] = per_iteration_ms(srt)
    del srt
    pi_ours = r.pi
    # the plain CuPy program
    csr = store.csr
    psrc = csr.indices.astype(cp.int64)
    pdst = (csr.keys >> cp.uint64(32)).astype(cp.int64)
    plain = Plain(n, psrc, pdst, csr.data.copy())
    plain.solve(cap=2)  # compile its kernels outside the timing, as ours were
    t = time.perf_counter()
    x, its = plain.solve()
    cp.cuda.runtime.deviceSynchronize()
    res["plain_solve_s"] = time.perf_counter() - t
    res["plain_iterations"] = its
    xx = cp.full(n, 1.0 / n)
    res["plain_ms_per_iter"] = timed(lambda: plain.iterate(xx), repeat=10)
    res["plain_rebuild_ms"] = timed(plain.rebuild, repeat=3)
    res["l1_ours_vs_plain"] = float(np.abs(pi_ours - cp.asnumpy(x)).sum())
    xf = cp.full(n, 1.0 / n, dtype=cp.float32)
    pt32 = plain.pt.astype(cp.float32)
    res["cusparse_spmv32_ms"] = timed(lambda: pt32 @ xf, repeat=20)
    res["cusparse_spmv64_ms"] = timed(lambda: plain.pt @ xx, repeat=20)
    # batches: one small untimed batch first, so kernel compilation stays out of the numbers
    warm_delta, _mix = make_batch(ours, 1000, scale, seed + 99)
    ours.apply(warm_delta)
    ours.solve(warm=True)
    coo_after(plain, warm_delta)
    plain.rebuild()
    x, _its = plain.solve(x)
    res["batches"] = []
    for i, k in enumerate(b for b in batches for _ in range(2)):  # each size twice
        delta, mix = make_batch(ours, k, scale, seed + 100 + i)
        cp.cuda.runtime.deviceSynchronize()
        t = time.perf_counter()
        ours.apply(delta)
        cp.cuda.runtime.deviceSynchronize()
        t_apply = time.perf_counter() - t
        rb = ours.solve(warm=True)
        t_total = time.perf_counter() - t  # π stays on the device (fetched below, untimed)
        cold = ours.solve(warm=False) if k >= 10**7 else None
        t = time.perf_counter()
        coo_after(plain, delta)
        plain.rebuild()
        x, its = plain.solve(x)
        cp.cuda.runtime.deviceSynchronize()
        t_plain = time.perf_counter() - t
        res["batches"].append({
            "changed_links": k, **mix, "edges_in_delta": len(delta),
            "ours_apply_ms": t_apply * 1e3, "ours_total_ms": t_total * 1e3,
            "ours_iterations": rb.iterations, "ours_converged": rb.converged,
            "plain_total_ms": t_plain * 1e3, "plain_iterations": its,
            "l1_ours_vs_plain": float(np.abs(rb.pi - cp.asnumpy(x)).sum()),
            "cold_iterations": None if cold is None else cold.iterations,
        })
        print(json.dumps(res["batches"][-1]), flush=True)
    if webgpu:
        res["webgpu"] = webgpu_part(store, res)
    return res


def webgpu_part(store: DeviceStore, res: dict) -> dict:
    """The same graph through wgpu (Vulkan on this card): balanced bins vs plain rows."""
    from focusflow.kernels import GraphStore
    from focusflow.kernels._csr import InLinkCSR
    from focusflow.kernels._webgpu import WebGpuSolver, adapter_info

    out: dict = {"adapter": adapter_info()}
    dc = store.csr
    dc.compact()
    host = GraphStore(0)
    hc = InLinkCSR.__new__(InLinkCSR)
    hc.__dict__.update({k: (cp.asnumpy(v) if isinstance(v, cp.ndarray) else v)
                        for k, v in dc.__dict__.items()})
    hc.xp = np
    host.csr = hc
    for plain_rows in (False, True):
        s = WebGpuSolver(host, FocusParams(eps=EPS, iterations_max=300), plain_rows=plain_rows)
        t = time.perf_counter()
        r = s.solve(warm=False)
        total = time.perf_counter() - t
        s.run_iterations(4)
        t = time.perf_counter()
        s.run_iterations(32)
        per = (time.perf_counter() - t) / 32 * 1e3
        key = "plain_rows" if plain_rows else "binned"
        out[key] = {"solve_s": total, "iterations": r.iterations, "converged": r.converged,
                    "ms_per_iter": per}
        print(key, json.dumps(out[key]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scale", type=int, default=23)
    ap.add_argument("--links", type=float, default=1e8)
    ap.add_argument("--batches", default="100000,1000000,100000000")
    ap.add_argument("--webgpu", action="store_true")
    ap.add_argument("--json", default="")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if cp is None:
        print(f"GPU benchmark skipped: {_MISSING} (run it on a CUDA machine)")
        return
    scale, m = (18, 3_000_000) if a.quick else (a.scale, int(a.links))
    batches = [int(float(b)) for b in a.batches.split(",") if b]
    if a.quick:
        batches = [10_000, 100_000]
    print(f"machine: {platform.platform()} cpus={__import__('os').cpu_count()}", flush=True)
    res = run(scale, m, batches, a.webgpu, a.seed)
    res["machine"] = platform.platform()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    print(json.dumps({k: v for k, v in res.items() if k not in ("batches", "webgpu")}, default=str))
    print(f"{'what':40s} {'ours':>12s} {'baseline':>12s} {'ratio':>8s}")
    def row(name: str, o: float, b: float) -> None:
        print(f"{name:40s} {o:12.3f} {b:12.3f} {b / o if o else float('nan'):8.2f}")
    row("ms per iteration (vs plain cupy f64)", res["ours_ms_per_iter"], res["plain_ms_per_iter"])
    row("ms per iteration (vs cuSPARSE f32 SpMV)", res["ours_ms_per_iter"], res["cusparse_spmv32_ms"])
    row("ms per iteration (vs ours, no relabel)", res["ours_ms_per_iter"], res["ours_no_relabel_ms_per_iter"])
    row("ms per iteration (vs ours, sorted rows)", res["ours_ms_per_iter"], res["ours_sorted_rows_ms_per_iter"])
    row("full solve s", res["ours_solve_s"], res["plain_solve_s"])
    for bt in res["batches"]:
        row(f"batch {bt['changed_links']:.0e} links, ms", bt["ours_total_ms"], bt["plain_total_ms"])
    if "webgpu" in res:
        w = res["webgpu"]
        row("webgpu binned ms/iter vs cuSPARSE f32", w["binned"]["ms_per_iter"], res["cusparse_spmv32_ms"])
        row("webgpu binned vs plain-row WGSL ms/iter", w["binned"]["ms_per_iter"], w["plain_rows"]["ms_per_iter"])
        row("webgpu binned vs ours cuda ms/iter", w["binned"]["ms_per_iter"], res["ours_ms_per_iter"])


if __name__ == "__main__":
    main()
