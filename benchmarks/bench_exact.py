"""CPU benchmark: exact (integer) focus vs the float64 solver on the same graph.

Side by side in one run, on an R-MAT graph with integer stake-derived weights: ms per
iteration (best of ``--repeat`` runs of ``--iterations`` iterations from the same
start) and a full solve to ε = 1e-6, for ``CpuSolver`` (float64, scipy CSR SpMV) and
``ExactCpuSolver`` (uint64, one hi64 per link, numpy). Prints the table and the ratio;
``--baseline`` also times ``ExactCpuSolver(fast=False)`` (every link through the general
four-product hi64, the path before the fast-link formula) in the same run and checks that
both give the same root; ``--json FILE`` also writes the numbers.

    python benchmarks/bench_exact.py --scale 18 --links 2000000
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import numpy as np

from focusflow.kernels import CpuSolver, ExactCpuSolver, FocusParams, GraphStore


def rmat(scale: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-MAT edges (a, b, c = .57, .19, .19) with integer stake-derived weights."""
    rng = np.random.default_rng(seed)
    s = np.zeros(m, dtype=np.int64)
    d = np.zeros(m, dtype=np.int64)
    for _ in range(scale):
        r = rng.random(m, dtype=np.float32)
        s = (s << 1) | (r >= 0.76)
        d = (d << 1) | (((r >= 0.57) & (r < 0.76)) | (r >= 0.95))
    perm = rng.permutation(1 << scale)
    neurons = max(m // 100, 10)
    who = rng.integers(0, neurons, m)
    stake = rng.lognormal(10.0, 2.0, neurons)
    share = stake / np.maximum(np.bincount(who, minlength=neurons), 1)
    return perm[s], perm[d], np.maximum(np.rint(share[who]), 1).astype(np.int64)


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """Minimum wall time in ms over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def run(scale: int, links: int, iterations: int, repeat: int, seed: int,
        baseline: bool = False) -> dict:
    src, dst, w = rmat(scale, links, seed)
    n = 1 << scale
    fstore = GraphStore.from_edges(src, dst, w.astype(np.float64), n=n)
    xstore = GraphStore.from_edges(src, dst, w, n=n, exact=True)
    params = FocusParams(eps=1e-6)
    fl, ex = CpuSolver(fstore, params), ExactCpuSolver(xstore, params)
    res: dict = {"nodes": n, "links": links, "edges": int(fstore.csr.nnz),
                 "machine": platform.machine(), "iterations_timed": iterations}

    def float_iters() -> None:
        fl._start(fl.start_vector(warm=False))
        for _ in range(iterations):
            fl._step()

    def exact_iters() -> None:
        ex._set_pi(ex.start_vector(warm=False))
        ex._run(iterations)  # ε-stop cannot trigger this early on R-MAT from the teleport

    ex._load()
    res["float64_ms_per_iter"] = best_ms(float_iters, repeat) / iterations
    res["exact_ms_per_iter"] = best_ms(exact_iters, repeat) / iterations
    if baseline:
        base = ExactCpuSolver(xstore, params, fast=False)
        base._load()

        def base_iters() -> None:
            base._set_pi(base.start_vector(warm=False))
            base._run(iterations)

        res["baseline_ms_per_iter"] = best_ms(base_iters, repeat) / iterations
        res["baseline_ratio_per_iter"] = res["baseline_ms_per_iter"] / res["float64_ms_per_iter"]
        res["baseline_pi_root"] = base.solve().root.hex()
    res["exact_load_ms"] = best_ms(ex._load, 1)
    t = time.perf_counter()
    fr = fl.solve(warm=False)
    res["float64_solve_s"] = time.perf_counter() - t
    t = time.perf_counter()
    er = ex.solve()
    res["exact_solve_s"] = time.perf_counter() - t
    res["float64_iterations"], res["exact_iterations"] = fr.iterations, er.iterations
    res["l1_exact_vs_float64"] = float(np.abs(er.pi - fr.pi).sum())
    res["ratio_per_iter"] = res["exact_ms_per_iter"] / res["float64_ms_per_iter"]
    res["ratio_solve"] = res["exact_solve_s"] / res["float64_solve_s"]
    res["pi_root"] = er.root.hex()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=18)
    ap.add_argument("--links", type=int, default=2_000_000)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--baseline", action="store_true",
                    help="also time the general-path-only exact solver (fast=False)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    res = run(a.scale, a.links, a.iterations, a.repeat, a.seed, a.baseline)
    print(f"R-MAT 2^{a.scale} nodes, {res['edges']} edges ({a.links} links), "
          f"{res['machine']}")
    print(f"{'':22}{'float64':>12}{'exact':>12}{'ratio':>8}")
    print(f"{'ms per iteration':22}{res['float64_ms_per_iter']:12.2f}"
          f"{res['exact_ms_per_iter']:12.2f}{res['ratio_per_iter']:8.2f}")
    print(f"{'solve to 1e-6 (s)':22}{res['float64_solve_s']:12.3f}{res['exact_solve_s']:12.3f}"
          f"{res['ratio_solve']:8.2f}")
    print(f"iterations: float64 {res['float64_iterations']}, exact {res['exact_iterations']};"
          f" exact load {res['exact_load_ms']:.0f} ms; L1(exact − float64) = "
          f"{res['l1_exact_vs_float64']:.2e}")
    if a.baseline:
        same = "same root" if res["baseline_pi_root"] == res["pi_root"] else "ROOT DIFFERS"
        print(f"{'baseline (fast=False)':22}{'':12}{res['baseline_ms_per_iter']:12.2f}"
              f"{res['baseline_ratio_per_iter']:8.2f}  ({same})")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
