"""Chaos campaign throughput: simulated seconds per wall second, seeds per minute.

Runs, side by side in the same process tree and on the same seeds:

* ``bare sim``: each seed's scenario on the plain simulator (``focusflow.sim``'s
  ``run_scenario``: no fault schedule, no invariant registry), one process: the baseline;
* ``campaign, 1 job``: the chaos harness (generated fault schedule, registered invariants
  checked after every step, per-seed summary), one process;
* ``campaign, N jobs``: the same campaign in N worker processes (default: CPU count).

and reports simulated seconds per wall second, seeds per minute, the harness's overhead
over the bare simulator (ratio) and the parallel speedup. Then times one replay of a
failing trace (planted bug) against the original run, and shrinking it.

Usage: ``python benchmarks/bench_chaos.py [--quick] [--seeds A-B] [--jobs N]
[--scenario quorum|demo]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from focusflow.chaos.campaign import parse_seeds, run_campaign, run_seed, save_failure, scenarios
from focusflow.chaos.faults import fault_from_dict
from focusflow.chaos.plan import FaultPlan
from focusflow.chaos.replay import replay_trace
from focusflow.chaos.shrink import shrink_failure
from focusflow.sim.scenarios import run_scenario


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip() or "?"
    except OSError:
        return "?"


def bare(seeds: range, scenario: str, duration_ms: float) -> tuple[float, float, int]:
    """(wall seconds, virtual seconds, steps) of the seeds on the plain simulator."""
    t0 = time.perf_counter()
    virtual = 0.0
    steps = 0
    for seed in seeds:
        summary = run_scenario(scenario, seed, duration_ms=duration_ms)
        virtual += summary["virtual_seconds"]
        steps += summary["events"]
    return time.perf_counter() - t0, virtual, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 60 s on 2 cores)")
    parser.add_argument("--seeds", default=None, help="seed range (default 1-40, quick 1-8)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scenario", default="quorum")
    parser.add_argument("--faults", type=int, default=6, help="generated faults per seed")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds or ("1-8" if args.quick else "1-40"))
    duration_ms = scenarios()[args.scenario].duration_ms
    plan = FaultPlan(scenario=args.scenario, generate_count=args.faults)
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; commit {_commit()}")
    print(f"scenario {args.scenario!r}, {len(seeds)} seeds x {duration_ms / 1000:.1f} virtual s, "
          f"{args.faults} generated faults per seed, invariants after every step\n")

    wall_b, virt_b, steps_b = bare(seeds, args.scenario, duration_ms)
    with tempfile.TemporaryDirectory() as tmp:
        one = run_campaign(seeds, plan, jobs=1, out_dir=tmp, shrink=False, progress=False)
        many = run_campaign(seeds, plan, jobs=args.jobs, out_dir=tmp, shrink=False,
                            progress=False)
    def steps(summary: dict[str, Any]) -> int:
        return sum(r["events"] for r in summary["results"])

    rows = [("bare sim, 1 process", wall_b, virt_b, len(seeds), steps_b),
            ("campaign, 1 job", one["wall_seconds"], one["virtual_seconds"], one["runs"],
             steps(one)),
            (f"campaign, {args.jobs} jobs", many["wall_seconds"], many["virtual_seconds"],
             many["runs"], steps(many))]
    print(f"{'':24} {'wall s':>8} {'sim s/wall s':>13} {'seeds/min':>10} {'steps/wall s':>13}")
    for name, wall, virt, runs, n in rows:
        print(f"{name:24} {wall:8.2f} {virt / wall:13.2f} {60 * runs / wall:10.1f} "
              f"{n / wall:13.0f}")
    print(f"\nharness overhead (campaign 1 job / bare sim, wall): "
          f"{one['wall_seconds'] / wall_b:.2f}x")
    print(f"parallel speedup ({args.jobs} jobs / 1 job): "
          f"{one['wall_seconds'] / many['wall_seconds']:.2f}x")
    print(f"faults injected: {many['faults_injected']}, failures: {many['failures']}")
    _replay_and_shrink()


def _replay_and_shrink() -> None:
    """Time a failing run, its trace replay, and its shrinking (planted bug)."""
    plan = FaultPlan(duration_ms=2_000, generate_count=4,
                     generate_kinds=("partition", "drop", "crash_node"),
                     options={"bug": "quorum_off_by_one"})
    seed = 1
    t0 = time.perf_counter()
    result, run = run_seed(seed, plan)
    t_run = time.perf_counter() - t0
    if result["ok"]:
        print("\n(replay/shrink timing skipped: seed 1 does not fail)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trace = save_failure(seed, plan, result, run.schedule, Path(tmp) / "t.trace.gz")
        t_save = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = replay_trace(trace)
        t_replay = time.perf_counter() - t0
        t0 = time.perf_counter()
        shrunk = shrink_failure(seed, plan, str(trace), tmp)
        t_shrink = time.perf_counter() - t0
    print(f"\nplanted bug, seed {seed}: run {t_run:.2f} s, rerun + trace file {t_save:.2f} s, "
          f"replay {t_replay:.2f} s ({t_replay / t_run:.2f}x the run; reproduced: "
          f"{report['reproduced']}), shrink {result['faults_injected']} -> "
          f"{shrunk['faults_after']} faults in {shrunk['runs']} runs, {t_shrink:.2f} s")
    assert fault_from_dict(shrunk["schedule"][0]).kind == "partition"


if __name__ == "__main__":
    main()
