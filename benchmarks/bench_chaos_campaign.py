"""A whole ``focusflow chaos`` campaign as a user runs it: wall time, failures, shrinking,
and the peak resident memory of its processes (issue 20: campaigns that never hang).

Runs the CLI in a subprocess (``--json``) and reads the peak RSS of the largest process
it waited for (``RUSAGE_CHILDREN``: the campaign and every worker) next to the campaign's
own per-worker report. ``--baseline-src DIR`` runs the same command a second time on
another source tree (e.g. ``git archive BASE focusflow | tar -x -C DIR``), side by side.

Usage: ``python benchmarks/bench_chaos_campaign.py [--baseline-src DIR] -- CHAOS ARGS``,
e.g. ``-- --seeds 1-16 --option bug=quorum_off_by_one --duration-ms 2000 --faults 4
--jobs 2`` (quick) or ``-- --scenario network --seeds 1-20 --jobs 2`` (the issue's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any


def run(args: list[str], src: str | None) -> dict[str, Any]:
    """One campaign in a fresh interpreter (whose children are only this campaign's)."""
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src
        probe = [sys.executable, "-c",
                 "import resource, subprocess, sys, time\n"
                 "t = time.perf_counter()\n"
                 "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
                 "wall = time.perf_counter() - t\n"
                 "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
                 "sys.stderr.write(p.stderr[-2000:])\n"
                 "print(f'{wall} {peak} {p.returncode}')\n"
                 "print(p.stdout)\n",
                 sys.executable, "-m", "focusflow", "chaos", *args, "--json", "--out", out]
        done = subprocess.run(probe, capture_output=True, text=True, env=env, check=False)
        head, _, body = done.stdout.partition("\n")
        wall, peak, code = head.split()
        summary = json.loads(body) if body.strip() else {}
    shrunk = summary.get("shrunk", [])
    return {"wall_s": round(float(wall), 1), "exit": int(code),
            "peak_rss_mb_any_process": round(float(peak)),
            "max_worker_rss_mb": summary.get("max_worker_rss_mb"),
            "runs": summary.get("runs"), "failures": summary.get("failures"),
            "failing_seeds": [r["seed"] for r in summary.get("results", []) if not r["ok"]],
            "shrinks": [{k: s.get(k) for k in ("seed", "faults_before", "faults_after", "runs",
                                               "wall_seconds", "verified", "budget_exhausted",
                                               "max_rss_mb", "error")} for s in shrunk]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-src", default=None)
    parser.add_argument("chaos_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    chaos = [a for a in args.chaos_args if a != "--"]
    started = time.time()
    report: dict[str, Any] = {"args": chaos, "this": run(chaos, None)}
    if args.baseline_src:
        report["baseline"] = run(chaos, args.baseline_src)
        report["wall_ratio_this_vs_baseline"] = round(
            report["this"]["wall_s"] / max(report["baseline"]["wall_s"], 1e-9), 2)
    report["total_s"] = round(time.time() - started, 1)
    report["self_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
