"""Randomized nemesis run: ``--count`` nemeses drawn with ``--seed`` against one live
4-validator devnet, each healed and judged (``focusflow.topology.nemesis``), then a summary.

The suite's ``tests/node/test_nemesis.py`` runs each nemesis once on a fresh devnet; this
runs many in sequence on the same devnet (a chain that keeps growing across restarts), with
random victims, under a light transaction load, and prints one line per nemesis and a JSON
summary (per nemesis: runs, failures, progress seconds p50/max). With root and ``ip netns``
the devnet runs in network namespaces and ``partition`` is in the draw; otherwise it runs on
loopback without it. ``--stop-on-failure`` keeps the devnet's homes and logs for diagnosis.

    .venv/bin/python benchmarks/nemesis.py --seed 1 --count 10
    .venv/bin/python benchmarks/nemesis.py --seed 2 --count 40 --nemeses kill9,pause
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from focusflow.topology.devnet import Devnet
from focusflow.topology.nemesis import NEMESES, Load, Nemesis, Outcome
from focusflow.topology.netns import Fabric, unavailable


@contextlib.contextmanager
def fabric_if_possible(use: str) -> Iterator[Fabric | None]:
    """A namespace fabric when ``use`` is ``yes``, or ``auto`` and possible; else None."""
    why = unavailable() if use != "no" else "--netns no"
    if why is not None:
        if use == "yes":
            raise SystemExit(f"--netns yes: {why}")
        print(f"# loopback devnet, no partition nemesis: {why}", flush=True)
        yield None
        return
    fab = Fabric(4)
    try:
        fab.up()
        yield fab
    finally:
        fab.down()


def summarize(outcomes: list[Outcome], elapsed_s: float, seed: int) -> dict[str, Any]:
    """Per nemesis: runs, failures, progress seconds p50 and max."""
    per: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        row = per.setdefault(o.nemesis, {"runs": 0, "failures": 0, "progress_s": []})
        row["runs"] += 1
        row["failures"] += not o.ok
        if o.progress_s is not None:
            row["progress_s"].append(o.progress_s)
    for row in per.values():
        p = row.pop("progress_s")
        row["progress_s_p50"] = round(statistics.median(p), 2) if p else None
        row["progress_s_max"] = max(p) if p else None
    return {"seed": seed, "nemeses": len(outcomes), "failures": sum(not o.ok for o in outcomes),
            "elapsed_s": round(elapsed_s, 1), "per_nemesis": per,
            "failed": [o.to_json() for o in outcomes if not o.ok]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--nemeses", default=",".join(NEMESES),
                    help="comma-separated subset of " + ",".join(NEMESES))
    ap.add_argument("--netns", choices=("auto", "yes", "no"), default="auto")
    ap.add_argument("--stop-on-failure", action="store_true")
    args = ap.parse_args(argv)
    names = [n for n in args.nemeses.split(",") if n]
    unknown = set(names) - set(NEMESES)
    if unknown:
        ap.error(f"unknown nemeses {sorted(unknown)}")
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="nemesis-"))
    outcomes: list[Outcome] = []
    keep = False
    start = time.monotonic()
    with fabric_if_possible(args.netns) as fab:
        if fab is None:
            names = [n for n in names if n != "partition"]
        net = Devnet(root, validators=4, leader_timeout_ms=500,
                     hosts=[fab.host(i) for i in range(4)] if fab else None,
                     prefixes=[fab.prefix(i) for i in range(4)] if fab else None)
        net.setup()
        net.start_all()
        try:
            net.wait_ready()
            nemesis = Nemesis(net, rng=rng, fabric=fab)
            with Load(net, seed=args.seed):
                for k in range(args.count):
                    out = nemesis.run(rng.choice(names))
                    outcomes.append(out)
                    print(f"[{k + 1}/{args.count}] {'ok  ' if out.ok else 'FAIL'} "
                          f"{out.describe()}", flush=True)
                    if not out.ok and args.stop_on_failure:
                        keep = True
                        print(f"# kept {root} (homes and node.log files)", flush=True)
                        break
        finally:
            for i in net.alive():
                net.resume(i)  # a paused node would not answer SIGTERM
            net.stop()
    summary = summarize(outcomes, time.monotonic() - start, args.seed)
    print(json.dumps(summary, indent=1))
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
