"""Rollups benchmark: global rank sync latency in the simulator, links/s over rollups.

Two parts, each with its baseline measured side by side in the same run:

1. **Global sync latency** (virtual time, the ``rollups`` scenario): link arrival at its
   sequencer → the top hub commits a global π root that includes it, link-weighted
   p50/p99, for several (rollups, hubs) shapes, with honest and with hostile relayers.
   Baseline: the floor the design allows, settle + window + merge periods (a link that
   arrives just after a settlement waits all three), printed beside it.
2. **Links per second aggregated over rollups** (wall clock, the sequencer cores doing
   real work: order, incremental rank, DA square per batch, claim per period, and the
   challenger's re-execution of every claim): R buckets on R worker processes vs the
   baseline, **one monolithic sequencer** that ranks all links of all buckets as one
   graph on one process. Ratio = aggregated / monolithic.
3. **Live runtime** (wall clock): the same supervisor trees as ActorSystems on a
   LoopbackNetwork in one process (every hop Cap'n Proto encoded): p50/p99 and ordered
   links/s against the offered rate (the baseline).

Usage: ``python benchmarks/bench_rollups.py [--quick]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import subprocess
import time
from typing import Any

import numpy as np

from focusflow.actors.rollup.bucket import bucket_of
from focusflow.actors.rollup.claims import Replayer, blob_square
from focusflow.actors.rollup.core import EmitClaim, PublishBatch, SequencerCore
from focusflow.actors.rollup.messages import SubmitLinks
from focusflow.kernels import FocusParams
from focusflow.sim.scenarios import run_scenario


def machine() -> str:
    """Platform, CPU count, Python and numpy versions."""
    return (f"{platform.platform()}, {platform.processor() or 'unknown cpu'}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}")


def commit() -> str:
    """Short git commit hash (or 'unknown')."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def latency(quick: bool) -> None:
    """Part 1: p50/p99 in the simulator."""
    shapes = [(4, 1), (4, 3)] if quick else [(2, 1), (4, 1), (8, 1), (4, 3), (8, 3)]
    duration = 6_500.0 if quick else 14_000.0
    settle, window, merge = 500.0, 1_000.0, 1_000.0
    floor = settle + window + merge
    print(f"\n1. global sync latency (virtual ms; settle {settle:.0f}, window {window:.0f}, "
          f"merge {merge:.0f}; worst-case floor {floor:.0f})")
    print(f"{'rollups':>7} {'hubs':>4} {'relayers':>8} {'p50':>8} {'p99':>8} {'p99/floor':>9} "
          f"{'links/s(virt)':>13} {'claims':>6} {'wall s':>6} ok")
    for rollups, hubs in shapes:
        for hostile in (False, True):
            opts: dict[str, Any] = {"rollups": rollups, "hubs": hubs, "duration_ms": duration,
                                    "rollup_drain_ms": 3_000.0,
                                    "relayer_faults": hostile,
                                    "rollup_settle_ms": settle, "rollup_window_ms": window,
                                    "rollup_merge_ms": merge}
            s = run_scenario("rollups", 1, duration_ms=duration, options=opts)
            print(f"{rollups:>7} {hubs:>4} {'hostile' if hostile else 'honest':>8} "
                  f"{s['global_sync_ms_p50']:>8.0f} {s['global_sync_ms_p99']:>8.0f} "
                  f"{s['global_sync_ms_p99'] / floor:>9.2f} {s['links_per_s']:>13.0f} "
                  f"{s['claims_merged']:>6} {s['wall_seconds']:>6.1f} {s['ok']}"
                  + ("" if s["ok"] else f" {[k for k, v in s['invariants'].items() if not v]}"))


def _workload(bucket: int, links: int, seed: int) -> list[SubmitLinks]:
    rng = np.random.default_rng(seed + bucket)
    out = []
    per = 400
    particles = max(links // 8, 100)
    for _ in range(links // per):
        src = rng.integers(0, particles, per).astype(np.uint64)
        dst = (src + np.uint64(1) + rng.integers(0, particles - 1, per).astype(np.uint64)
               ) % np.uint64(particles)
        neuron = rng.integers(0, 64, per).astype(np.uint64)
        out.append(SubmitLinks(neuron, src, dst, bucket_id=b"bucket-%d" % bucket, fee=per))
    return out


def run_sequencer(args: tuple[list[int], int, int]) -> tuple[int, float]:
    """Sequence (and re-execute, as a challenger) the given buckets' links as one rollup.

    With several buckets in the list they are merged into one bucket: the monolithic
    baseline (one graph). Returns (links, seconds).
    """
    buckets, links, batches_per_claim = args
    params = FocusParams(eps=1e-9)
    bucket = bucket_of(bucket_id=b"bucket-%d" % buckets[0])
    core = SequencerCore(bucket, b"k" * 32, params=params)
    watcher = Replayer(bucket.key, bucket.namespace, params)
    squares: dict[bytes, tuple[bytes, int]] = {}
    subs = [s for b in buckets for s in _workload(b, links, 7)]
    order = np.random.default_rng(1).permutation(len(subs))
    t0 = time.perf_counter()
    done = 0
    for n, i in enumerate(order):
        s = subs[i]
        core.submit(SubmitLinks(s.neuron, s.src, s.dst, bucket_id=bucket.key[3:], fee=s.fee))
        for e in core.cut_batch():
            assert isinstance(e, PublishBatch)
            root, k, sq = blob_square(e.namespace, e.blob)
            squares[root] = (sq.tobytes(), k)
            core.published(e.seq, root)
            done += e.links
        if (n + 1) % batches_per_claim == 0 or n == len(order) - 1:
            for e in core.settle():
                assert isinstance(e, EmitClaim)
                assert not watcher.check(e.claim, squares.get).fraud
    return done, time.perf_counter() - t0


def throughput(quick: bool) -> None:
    """Part 2: aggregated links/s over R rollup processes vs one monolithic sequencer."""
    links = 6_000 if quick else 40_000
    cpus = os.cpu_count() or 1
    print(f"\n2. links/s, sequencer + DA square per batch + claim every 4 batches + "
          f"challenger re-execution ({links} links per bucket, {cpus} CPUs)")
    print(f"{'buckets':>7} {'monolithic links/s':>18} {'rollups 1 proc':>14} {'ratio':>6} "
          f"{'rollups R procs':>15} {'ratio':>6}")
    for r in ([2, 4] if quick else [2, 4, 8]):
        mono_links, mono_s = run_sequencer((list(range(r)), links, 4))
        ctx = mp.get_context("fork")
        t0 = time.perf_counter()
        with ctx.Pool(min(r, cpus)) as pool:
            results = pool.map(run_sequencer, [([b], links, 4) for b in range(r)])
        wall = time.perf_counter() - t0
        agg = sum(n for n, _ in results) / wall
        seq = [run_sequencer(([b], links, 4)) for b in range(r)]
        one = sum(n for n, _ in seq) / sum(t for _, t in seq)
        mono = mono_links / mono_s
        print(f"{r:>7} {mono:>18.0f} {one:>14.0f} {one / mono:>6.2f} {agg:>15.0f} "
              f"{agg / mono:>6.2f}")


def live(quick: bool) -> None:
    """Part 3: the same hierarchy under the live runtime (wall clock, one process)."""
    import anyio

    from focusflow.actors.rollup.live import run_live

    active_s, drain_s = (3.0, 3.5) if quick else (10.0, 4.0)
    print(f"\n3. live runtime, loopback in one process (wall clock; {active_s:.0f} s of links, "
          f"{drain_s:.1f} s drain); baseline: offered links/s")
    print(f"{'rollups':>7} {'hubs':>4} {'p50 ms':>8} {'p99 ms':>8} {'offered/s':>9} "
          f"{'ordered/s':>9} {'ratio':>6} {'claims sent/merged':>18}")
    for rollups, hubs in ([(4, 1)] if quick else [(2, 1), (4, 1), (4, 3)]):
        opts = {"rollups": rollups, "hubs": hubs, "rollup_links": 40}
        out = anyio.run(lambda o=opts: run_live(o, active_s=active_s, drain_s=drain_s))
        offered = rollups * 40 / 0.05
        print(f"{rollups:>7} {hubs:>4} {out['global_sync_ms_p50']:>8.0f} "
              f"{out['global_sync_ms_p99']:>8.0f} {offered:>9.0f} {out['links_per_s']:>9.0f} "
              f"{out['links_per_s'] / offered:>6.2f} "
              f"{out['claims_sent']:>9}/{out['claims_merged']}")


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    args = parser.parse_args()
    print(f"machine: {machine()}\ncommit: {commit()}")
    latency(args.quick)
    throughput(args.quick)
    live(args.quick)


if __name__ == "__main__":
    main()
