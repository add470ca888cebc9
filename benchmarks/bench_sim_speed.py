"""Simulator speed (issue 19 item 4): one scenario run from a baseline code tree and from
this one, alternated in one process so both see the same machine load.

Each run is ``cd <tree> && PYTHONPATH=<tree> python -m focusflow sim --validators 4 --latency 50 --json``
(the network scenario, 10 virtual s unless ``--duration-ms``) in a fresh interpreter, so
the process-wide memos start cold every time. Reported per run: the summary's wall and
virtual seconds, their ratio (speed_x), the process's user+system CPU seconds (far less
sensitive than wall time to other jobs on a shared machine), the trace hash and the
finalized height. Then medians per tree and the ratios baseline / this tree.

Usage: ``python benchmarks/bench_sim_speed.py --baseline /path/to/old/tree [--runs 3]
[--duration-ms 10000] [--seed 1] [--json]``. A baseline tree is a checkout of an older
commit, e.g. ``git worktree add ../simold 4ccfc61``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{platform.platform()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


def _commit(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def _env(tree: Path) -> dict[str, str]:
    """PYTHONPATH names the tree, and each child runs with the tree as its working
    directory: ``python -m`` puts the working directory first on sys.path, so a run started
    in another checkout would import that checkout whatever PYTHONPATH says."""
    return dict(os.environ, PYTHONPATH=str(tree))


def _check_tree(tree: Path) -> None:
    """Fail loudly unless ``focusflow`` imports from ``tree`` (not an installed copy)."""
    out = subprocess.run([sys.executable, "-c", "import focusflow; print(focusflow.__file__)"],
                         env=_env(tree), cwd=tree, capture_output=True, text=True, check=True)
    where = Path(out.stdout.strip()).resolve()
    if tree.resolve() not in where.parents:
        raise SystemExit(f"PYTHONPATH={tree} imports focusflow from {where}")


def run_once(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One ``focusflow sim`` run from ``tree``: its summary figures and the CPU it used."""
    cmd = [sys.executable, "-m", "focusflow", "sim", "--validators", "4", "--latency", "50",
           "--seed", str(args.seed), "--duration-ms", str(args.duration_ms), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=_env(tree), cwd=tree, capture_output=True, text=True,
                         timeout=900, check=False)
    process_s = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        return {"error": out.stderr[-400:]}
    s = json.loads(line)
    wall, virtual = s["wall_seconds"], s["virtual_seconds"]
    return {
        "wall_s": wall,
        "virtual_s": virtual,
        "speed_x": round(virtual / wall, 3),
        "process_s": round(process_s, 3),
        "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 3),
        "trace_hash": s["trace_hash"][:16],
        "height": s.get("finalized_height"),
        "ok": s["ok"],
    }


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="the older code tree")
    ap.add_argument("--tree", type=Path, default=HERE, help="the code tree to measure (this one)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tree, alternated")
    ap.add_argument("--duration-ms", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object at the end")
    args = ap.parse_args()
    trees = {"baseline": args.baseline, "this": args.tree}
    for tree in trees.values():
        _check_tree(tree)
    print(f"machine: {_machine()}")
    print(f"baseline {_commit(args.baseline)} ({args.baseline}), this {_commit(args.tree)} "
          f"({args.tree}); {args.duration_ms / 1000:g} virtual s, seed {args.seed}")
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for run in range(args.runs):
        order = list(trees) if run % 2 == 0 else list(reversed(trees))  # who goes first alternates
        for name in order:
            r = run_once(trees[name], args)
            rows[name].append(r)
            print(json.dumps({"run": run + 1, "tree": name, **r}), flush=True)
    if any("error" in r for rs in rows.values() for r in rs):
        print("a run failed; no medians", file=sys.stderr)
        return 1
    medians = {name: {k: _median(rs, k) for k in ("wall_s", "speed_x", "process_s", "cpu_s")}
               for name, rs in rows.items()}
    old, new = medians["baseline"], medians["this"]
    ratios = {"wall": round(old["wall_s"] / new["wall_s"], 2),
              "cpu": round(old["cpu_s"] / new["cpu_s"], 2),
              "process": round(old["process_s"] / new["process_s"], 2)}
    for name, m in medians.items():
        print(f"median {name:8}: wall {m['wall_s']:.2f} s, speed {m['speed_x']:.2f}x real time, "
              f"process {m['process_s']:.2f} s, CPU {m['cpu_s']:.2f} s")
    print(f"baseline / this: wall {ratios['wall']}x, CPU {ratios['cpu']}x, "
          f"process {ratios['process']}x")
    hashes = {name: {r["trace_hash"] for r in rs} for name, rs in rows.items()}
    print("trace hash per tree: " + ", ".join(f"{n} {sorted(h)}" for n, h in hashes.items())
          + ("" if all(len(h) == 1 for h in hashes.values()) else "  NOT DETERMINISTIC"))
    if args.json:
        print(json.dumps({"machine": _machine(), "rows": rows, "medians": medians,
                          "ratios": ratios}))
    return 0 if all(len(h) == 1 for h in hashes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
