"""Cost of sharding focus π: S = 1, 2, 4, 8 shard cores in one process vs the single kernel.

CPU mode (default; ``--quick`` runs in well under a minute on 2 cores): one weighted R-MAT
graph; the single CPU kernel (``CpuSolver``, float64) and the sharded computation
(``focusflow.actors.rank.LocalRank``: S shard cores + the coordinator core, every message
encoded to Cap'n Proto and decoded again, as on a real hop) solve it from the teleport to
ε = 1e-6 side by side (the solve is timed; building the shards from the store, which a
restarted worker pays, is printed beside it); then ``--blocks`` blocks of ``--block-links`` new weighted links,
each re-converged incrementally (single kernel: store update + dynamic frontier; sharded:
routed delta + warm-started rounds). Every sharded block also quantises π, builds its BLAKE3 root and verifies it by one
residual iteration, so the ratio is taken against the single kernel plus that same
commit-and-verify work (both baselines are printed). Prints absolute times, the ratio,
messages and bytes on the wire, the L1 distance between the two π, and the machine.

GPU mode (``--gpu``): per-block update latency for 10^4, 10^5 and 10^6 link deltas on a
graph of ``--edges`` links (default 10^8), with one shard on one GPU and two shards on two
GPUs (CuPy device ids), against the kernels' single-GPU ``CudaSolver`` on the same blocks.
Needs CuPy and a CUDA device (run on the lent H100/H200 machines: see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import os
import platform
import pstats
import statistics
import sys
import time
from typing import Any

import numpy as np

from focusflow.actors.rank import LocalRank, RankStore
from focusflow.actors.state import cid_of
from focusflow.kernels import Commitment, CpuSolver, FocusParams, GraphStore, verify

EPS = 1e-6


def clock() -> float:
    """CPU seconds of this process (the CPU mode is single-threaded; on a shared machine
    they move far less with the load than wall time; ``--wall`` switches)."""
    return time.perf_counter() if WALL else time.process_time()


WALL = False


def rmat(scale: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-MAT edges (a, b, c = .57, .19, .19; labels permuted) with lognormal weights."""
    rng = np.random.default_rng(seed)
    s = np.zeros(m, dtype=np.int64)
    d = np.zeros(m, dtype=np.int64)
    for _ in range(scale):
        r = rng.random(m, dtype=np.float32)
        s = (s << 1) | (r >= 0.76)
        d = (d << 1) | (((r >= 0.57) & (r < 0.76)) | (r >= 0.95))
    perm = rng.permutation(1 << scale)
    return perm[s], perm[d], rng.lognormal(0.0, 1.0, m)


def machine() -> str:
    """Platform, Python and CPU count."""
    return (f"{platform.platform()}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")


def particle_keys(n: int) -> list[bytes]:
    """CIDs of particles 0..n-1 (what the shard function hashes)."""
    return [cid_of(b"bench particle %d" % i) for i in range(n)]


def block_edges(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, ...]:
    """k new weighted links between existing particles, power-law destinations."""
    return (rng.integers(0, n, k), (rng.zipf(1.5, k) - 1) % n, rng.lognormal(0.0, 1.0, k))


def cpu(args: argparse.Namespace) -> None:
    n, m = 1 << args.scale, args.edges
    src, dst, w = rmat(args.scale, m, seed=1)
    print(f"# bench_rank_shards: R-MAT 2^{args.scale} = {n} particles, {m} links, "
          f"ε = {EPS:g}; {'wall' if WALL else 'CPU'} time; {machine()}")
    t = clock()
    keys = particle_keys(n)
    print(f"setup: {n} CIDs in {clock() - t:.2f} s (not counted below)")

    base = GraphStore.from_edges(src, dst, w, n=n)
    times = []
    for _ in range(args.repeat):
        t = clock()
        ref = CpuSolver(base, FocusParams(eps=EPS)).solve(warm=False)
        times.append(clock() - t)
    single = min(times)
    t = clock()
    verify(base, Commitment.of(ref.pi))
    commit = clock() - t
    print(f"\n## full solve from the teleport\nsingle kernel (CpuSolver): {single * 1e3:9.1f} ms, "
          f"{ref.iterations} iterations; + commit and verify (what every sharded block also "
          f"does): {(single + commit) * 1e3:.1f} ms")
    single += commit  # compare the same work: solve, quantise, merkle root, residual check
    print(f"{'shards':>6} {'ms':>10} {'ratio':>7} {'rounds':>6} {'msgs':>8} {'wire MB':>8} "
          f"{'L1 vs single':>13}")
    stores = {}
    for shards in args.shards:
        t = clock()
        store = RankStore(shards, GraphStore.from_edges(src, dst, w, n=n), keys)
        build_s = clock() - t
        best, cores_s, wire, out = float("inf"), 0.0, None, None
        for _ in range(args.repeat):
            store.committed_pi = None  # every repeat starts from the teleport
            t = clock()
            wire = LocalRank(store, params=FocusParams(eps=EPS))  # shards built from the store
            cores_s = clock() - t
            t = clock()
            out = wire.begin()
            best = min(best, clock() - t)
        assert wire is not None and out is not None and out.converged
        stores[shards] = (store, wire)
        print(f"{shards:>6} {best * 1e3:10.1f} {best / single:7.2f} {out.iterations:>6} "
              f"{wire.delivered:>8} {wire.bytes / 1e6:8.2f} "
              f"{np.abs(out.pi - ref.pi).sum():13.2e}   (store {build_s:.2f} s, "
              f"shards from store {cores_s:.2f} s)")
    blocks(args, n, base, stores)


def blocks(args: argparse.Namespace, n: int, base: GraphStore,
           stores: dict[int, tuple[RankStore, LocalRank]]) -> None:
    """Per-block incremental update: single kernel vs each shard count, same blocks."""
    k = args.block_links
    rng = np.random.default_rng(7)
    plan = [block_edges(rng, n, k) for _ in range(args.blocks)]
    solver = CpuSolver(base, FocusParams(eps=EPS))
    solver.solve(warm=False)
    single_ms = []
    for s, d, w in plan:
        t = clock()
        solver.apply(base.update_edges(insert=(s, d, w)))
        res = solver.solve_dynamic()
        single_ms.append((clock() - t) * 1e3)
        assert res.converged
    single = statistics.median(single_ms)
    t = clock()
    verify(base, Commitment.of(solver._snapshot()))
    commit_ms = (clock() - t) * 1e3
    print(f"\n## per block: {k} new links, {args.blocks} blocks (median)\n"
          f"single kernel (update + dynamic frontier): {single:9.1f} ms; + commit and verify "
          f"{single + commit_ms:.1f} ms")
    single += commit_ms
    print(f"{'shards':>6} {'ms':>10} {'ratio':>7} {'rounds':>6} {'L1 vs single':>13}")
    final = solver._snapshot()
    for shards, (_store, wire) in stores.items():
        ms, rounds = [], []
        for s, d, w in plan:
            t = clock()
            out = wire.edge_block(s, d, w)
            ms.append((clock() - t) * 1e3)
            rounds.append(out.iterations)
            assert out.converged
        med = statistics.median(ms)
        print(f"{shards:>6} {med:10.1f} {med / single:7.2f} {int(statistics.median(rounds)):>6} "
              f"{np.abs(out.pi - final).sum():13.2e}")


def shard_step(wire: LocalRank, rounds: list[int]) -> Any:
    """One block through the shard workers (converged, rounds recorded)."""
    def step(s: Any, d: Any, ww: Any) -> None:
        out = wire.edge_block(s, d, ww)
        rounds.append(out.iterations if out.converged else -out.iterations)  # < 0: missed ε
    return step


def gpu(args: argparse.Namespace) -> None:
    """Per-block latency on CUDA devices: the single-GPU kernel and 1 or 2 shard workers.

    ``--configs`` picks what runs (``single`` = the kernels' ``CudaSolver``, ``1`` / ``2`` =
    that many shards on that many GPUs); each size gets ``--warmup`` untimed blocks first
    (CUDA compilation, cuSPARSE handles, pool growth), then ``--blocks`` timed ones.
    """
    try:
        import cupy
        count = int(cupy.cuda.runtime.getDeviceCount())
        names = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(count)]
    except Exception as exc:
        sys.exit(f"--gpu needs CuPy and a CUDA device: {exc}")
    from focusflow.kernels import backend_for

    m = args.edges if args.edges_given else 10**8
    scale = max(args.scale, int(np.ceil(np.log2(m / 10))))
    n = 1 << scale
    print(f"# bench_rank_shards --gpu: R-MAT 2^{scale} = {n} particles, {m} links, "
          f"{count} CUDA device(s) ({', '.join(names)}); {machine()}", flush=True)
    t0 = time.perf_counter()
    src, dst, w = rmat(scale, m, seed=1)
    keys = particle_keys(n)
    host = GraphStore.from_edges(src, dst, w, n=n)  # every configuration starts from a copy
    print(f"setup: graph, {n} CIDs and the host store built in {time.perf_counter() - t0:.1f} s",
          flush=True)
    sizes = args.sizes
    rng = np.random.default_rng(7)
    plan = {k: [block_edges(rng, n, k) for _ in range(args.warmup + args.blocks)]
            for k in sizes}
    configs = args.configs.split(",")

    def timed(k: int, step: Any) -> list[float]:
        ms = []
        for i, (s, d, ww) in enumerate(plan[k]):
            t = time.perf_counter()
            step(s, d, ww)
            if i >= args.warmup:
                ms.append((time.perf_counter() - t) * 1e3)
        return ms

    if "single" in configs:
        t = time.perf_counter()
        base = copy.deepcopy(host, {id(np): np})
        solver = backend_for("cuda").solver(base, FocusParams(eps=EPS))
        res = solver.solve(warm=False)
        print(f"\nsingle GPU kernel (CudaSolver, float32, update + warm start): copy of the host store "
              f"and first solve {time.perf_counter() - t:.1f} s ({res.iterations} iterations)",
              flush=True)
        last: list[Any] = []
        missed = [0]
        for k in sizes:
            def step(s: Any, d: Any, ww: Any) -> None:
                solver.apply(base.update_edges(insert=(s, d, ww)))
                out = solver.solve(warm=True)
                last[:] = [out]
                missed[0] += not out.converged  # float32 may stall above ε on 2^24 particles
            ms = timed(k, step)
            print(f"  {k:>8} links/block: median {statistics.median(ms):9.1f} ms "
                  f"(min {min(ms):.1f}, max {max(ms):.1f}; {last[0].iterations} iterations; "
                  f"{missed[0]} blocks so far not converged to ε)", flush=True)
        t = time.perf_counter()
        pi = np.asarray(last[0].pi, dtype=np.float64)
        root = Commitment.of(pi).root
        print(f"  not in the figures above: fetching π and committing it on the host (quantise, "
              f"BLAKE3 root), which every shard block includes: "
              f"{(time.perf_counter() - t) * 1e3:.0f} ms ({root.hex()[:12]}…)", flush=True)
        del solver, base, last
    for gpus in [int(c) for c in configs if c != "single"]:
        if gpus > count:
            print(f"\n{gpus} shard(s): only {count} GPU(s), skipped", flush=True)
            continue
        t = time.perf_counter()
        store = RankStore(gpus, copy.deepcopy(host, {id(np): np}), keys)
        t1 = time.perf_counter()
        wire = LocalRank(store, params=FocusParams(eps=EPS), devices=list(range(gpus)),
                         verify_commit=False)  # the CPU residual check is timed apart
        t2 = time.perf_counter()
        first = wire.begin()
        print(f"\n{gpus} shard(s) on {gpus} GPU(s) (float64): copy of the host store and the key index {t1 - t:.1f} s, "
              f"shards built and uploaded {t2 - t1:.1f} s, first solve "
              f"{time.perf_counter() - t2:.2f} s ({first.iterations} rounds, "
              f"{wire.bytes / 1e6:.0f} MB on the wire)", flush=True)
        for k in sizes:
            rounds: list[int] = []
            b0 = wire.bytes
            prof = cProfile.Profile() if args.profile else None
            if prof is not None:
                prof.enable()
            ms = timed(k, shard_step(wire, rounds))
            if prof is not None:
                prof.disable()
                pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(12)
            print(f"  {k:>8} links/block: median {statistics.median(ms):9.1f} ms "
                  f"(min {min(ms):.1f}, max {max(ms):.1f}; rounds "
                  f"{int(statistics.median(rounds))}; not converged {sum(r < 0 for r in rounds)}; "
                  f"{(wire.bytes - b0) / 1e6 / len(rounds):.0f} MB on the wire per block)",
                  flush=True)
        t = time.perf_counter()
        verdict = wire.coordinator.judge(Commitment.of(wire.coordinator.outcomes[-1].pi))
        print(f"  residual check of the last block's π (CPU, host graph): "
              f"{(time.perf_counter() - t) * 1e3:.0f} ms, accepted {verdict.accepted}",
              flush=True)
        del wire, store


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (< 60 s on 2 cores)")
    p.add_argument("--gpu", action="store_true", help="per-block latency on CUDA devices")
    p.add_argument("--scale", type=int, default=None, help="R-MAT scale (particles = 2^scale)")
    p.add_argument("--edges", type=int, default=None, help="links in the graph")
    p.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--blocks", type=int, default=None)
    p.add_argument("--block-links", type=int, default=None)
    p.add_argument("--repeat", type=int, default=None)
    p.add_argument("--wall", action="store_true", help="CPU mode: wall time, not CPU time")
    p.add_argument("--configs", default="single,1,2",
                   help="GPU mode: what runs (single = CudaSolver, 1/2 = shards on GPUs)")
    p.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6],
                   help="GPU mode: link deltas per block")
    p.add_argument("--warmup", type=int, default=1, help="GPU mode: untimed blocks per size")
    p.add_argument("--profile", action="store_true",
                   help="GPU mode: cProfile the shard blocks of each size (top 12 by own time)")
    args = p.parse_args()
    global WALL
    WALL = args.wall
    args.edges_given = args.edges is not None
    quick = args.quick
    args.scale = args.scale or (14 if quick else 18)
    args.edges = args.edges or (150_000 if quick else 2_000_000)
    args.blocks = args.blocks or (3 if quick else 5)
    args.block_links = args.block_links or (1_000 if quick else 10_000)
    args.repeat = args.repeat or (1 if quick else 3)
    gpu(args) if args.gpu else cpu(args)


if __name__ == "__main__":
    main()
