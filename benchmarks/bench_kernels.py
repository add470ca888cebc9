"""CPU benchmark of the focus kernels against scipy, igraph (PRPACK) and networkx.

Same weighted R-MAT graphs (a, b, c = .57, .19, .19, labels permuted, weights from random
neuron stakes), ε = 1e-6 in L1 for ours and the scipy power iteration; networkx's
per-node tolerance is set to ε/N (its stopping rule is Σ|Δ| < N·tol); igraph's PRPACK has
its own fixed internal tolerance (1e-10), so ours is also timed at ε = 1e-10. Every result is checked against ours (L1 distance).
``--quick`` runs in well under a minute on 2 cores. Prints absolute times, ratios and the
machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from focusflow.kernels import CpuSolver, FocusParams, GraphStore

D = 0.85
EPS = 1e-6


def rmat(scale: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-MAT edges (vectorised per level) with stake-derived weights."""
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
    return perm[s], perm[d], share[who]


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Minimum wall time (s) over ``repeat`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def scipy_power(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The scipy program a user would write: normalise, then iterate Pᵀx."""
    out = np.bincount(src, weights=w, minlength=n)
    pt = sp.csr_matrix((w / out[src], (dst, src)), shape=(n, n))
    dangling = out == 0
    x = np.full(n, 1.0 / n)
    for _ in range(1000):
        y = D * (pt @ x) + (D * x[dangling].sum() + 1 - D) / n
        err = np.abs(y - x).sum()
        x = y
        if err < EPS:
            break
    return x


def run(scale: int, m: int, *, networkx: bool, repeat: int) -> dict[str, float]:
    n = 1 << scale
    src, dst, w = rmat(scale, m, seed=scale)
    t = time.perf_counter()
    store = GraphStore.from_edges(src, dst, w, n=n)
    build = time.perf_counter() - t
    solver = CpuSolver(store, FocusParams(eps=EPS))
    t_ours, res = best_of(lambda: solver.solve(warm=False), repeat)
    pi = res.pi  # type: ignore[attr-defined]
    row = {"nodes": n, "links": m, "edges": len(store.csr.keys), "build_s": build,
           "ours_s": t_ours, "ours_iterations": res.iterations}  # type: ignore[attr-defined]
    tight = CpuSolver(store, FocusParams(eps=1e-10))
    t_tight, res_t = best_of(lambda: tight.solve(warm=False), repeat)
    row |= {"ours_eps1e-10_s": t_tight, "ours_eps1e-10_iterations": res_t.iterations}  # type: ignore[attr-defined]
    t_sp, x = best_of(lambda: scipy_power(n, src, dst, w), repeat)
    row |= {"scipy_s": t_sp, "scipy_l1": float(np.abs(x - pi).sum())}  # type: ignore[operator]
    import igraph as ig

    csr = store.csr
    e_dst = np.repeat(np.arange(n), np.diff(csr.indptr))
    g = ig.Graph(n=n, edges=np.stack([csr.indices, e_dst], axis=1), directed=True)
    g.es["weight"] = csr.data
    t_pr, pr = best_of(lambda: g.pagerank(weights="weight", damping=D,
                                          implementation="prpack"), repeat)
    row |= {"prpack_s": t_pr, "prpack_l1": float(np.abs(np.array(pr) - pi).sum())}
    if networkx:
        import networkx as nx

        G = nx.DiGraph()
        G.add_nodes_from(range(n))
        G.add_weighted_edges_from(zip(csr.indices.tolist(), e_dst.tolist(), csr.data.tolist(),
                                      strict=True))
        t_nx, pn = best_of(lambda: nx.pagerank(G, alpha=D, tol=EPS / n, weight="weight"), 1)
        v = np.array([pn[i] for i in range(n)])  # type: ignore[index]
        row |= {"networkx_s": t_nx, "networkx_l1": float(np.abs(v - pi).sum())}
    # incremental: a batch of 0.1% changed edges, warm start and dynamic frontier
    rng = np.random.default_rng(1)
    k = max(m // 1000, 10)
    delta = store.update_edges(insert=(rng.integers(0, n, k), rng.integers(0, n, k),
                                       rng.random(k) * float(w.mean())))
    solver.apply(delta)
    t = time.perf_counter()
    warm = solver.solve(warm=True)
    row |= {"batch_links": k, "warm_s": time.perf_counter() - t, "warm_iterations": warm.iterations}
    delta = store.update_edges(insert=(rng.integers(0, n, k), rng.integers(0, n, k),
                                       rng.random(k) * float(w.mean())))
    solver.apply(delta)
    t = time.perf_counter()
    dyn = solver.solve_dynamic()
    row |= {"dynamic_s": time.perf_counter() - t, "dynamic_method": dyn.method,
            "dynamic_iterations": dyn.iterations}
    t = time.perf_counter()
    cold = CpuSolver(store, FocusParams(eps=EPS)).solve(warm=False)
    row |= {"cold_after_batch_s": time.perf_counter() - t, "cold_iterations": cold.iterations}
    return row


def dynamic_local(n: int, m: int, k: int) -> dict[str, object]:
    """Dynamic frontier vs warm start on a graph with locality (links to near ids)."""
    rng = np.random.default_rng(0)
    src = rng.integers(0, n, m)
    store = GraphStore.from_edges(src, (src + rng.integers(1, 50, m)) % n, rng.random(m), n=n)
    out: dict[str, object] = {"nodes": n, "links": m, "batch_links": k}
    for method in ("warm", "dynamic"):
        solver = CpuSolver(store, FocusParams(eps=EPS))
        solver.solve()
        a = rng.integers(0, n, k)
        solver.apply(store.update_edges(insert=(a, (a + rng.integers(1, 50, k)) % n, rng.random(k))))
        t = time.perf_counter()
        res = solver.solve(warm=True) if method == "warm" else solver.solve_dynamic()
        out[f"{method}_s"] = time.perf_counter() - t
        out[f"{method}_method"] = res.method
        out[f"{method}_iterations"] = res.iterations
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    sizes = [(14, 150_000, True)] if a.quick else [(16, 1_000_000, True), (20, 16_000_000, False)]
    print(f"machine: {platform.platform()}, {platform.processor() or '?'}, "
          f"cpus={os.cpu_count()}, python {platform.python_version()}")
    for scale, m, with_nx in sizes:
        row = run(scale, m, networkx=with_nx, repeat=1 if a.quick else 3)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
        print(f"  2^{scale} nodes, {row['edges']} edges (ε = {EPS} L1):")
        print(f"  {'ours (CpuSolver)':28s} {row['ours_s']:9.3f} s  ({row['ours_iterations']} it)")
        print(f"  {'ours at ε=1e-10 (≈ PRPACK)':28s} {row['ours_eps1e-10_s']:9.3f} s  "
              f"({row['ours_eps1e-10_iterations']} it); PRPACK / this: "
              f"{row['prpack_s'] / row['ours_eps1e-10_s']:.2f}×")
        for name in ("scipy", "prpack", "networkx"):
            if f"{name}_s" in row:
                print(f"  {name:28s} {row[f'{name}_s']:9.3f} s  ratio {row[f'{name}_s'] / row['ours_s']:6.2f}×"
                      f"  (L1 vs ours {row[f'{name}_l1']:.1e})")
        print(f"  batch of {row['batch_links']} links: warm {row['warm_s']:.3f} s "
              f"({row['warm_iterations']} it), {row['dynamic_method']} {row['dynamic_s']:.3f} s "
              f"({row['dynamic_iterations']} it), cold {row['cold_after_batch_s']:.3f} s "
              f"({row['cold_iterations']} it)")
    loc = dynamic_local(20_000, 200_000, 20) if a.quick else dynamic_local(200_000, 2_000_000, 20)
    print(f"  locality graph ({loc['nodes']} nodes, {loc['links']} links), batch of "
          f"{loc['batch_links']}: warm {loc['warm_s']:.4f} s ({loc['warm_iterations']} it), "
          f"{loc['dynamic_method']} {loc['dynamic_s']:.4f} s ({loc['dynamic_iterations']} it), "
          f"ratio {loc['warm_s'] / loc['dynamic_s']:.2f}×")  # type: ignore[operator]


if __name__ == "__main__":
    main()
