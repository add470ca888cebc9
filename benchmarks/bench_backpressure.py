"""Backpressure end to end (issue 18 item 4, issue 21): the 4-validator devnet at 20x
overload with the mempool's latency budget (after) and without it (before), side by side.

Each run is ``focusflow devnet --validators 4 --duration D --rate 2000 --links-per-tx 50
--json`` with ``--queue-delay-ms 1000`` (after, the default: admitted-not-ordered bytes steered to a
1 s wait, lowest focus shed first, 503 + Retry-After) or
``--queue-delay-ms 0`` (before: main's behaviour, queues bounded only by
``pending_txs_max``), alternated so both see the same machine load. Reported per run:
offered/submitted/committed links/s, accepted/overloaded/held-back/shed txs, finality
p50/p99 and the samples they rest on, the agreement verdict.

Usage: ``python benchmarks/bench_backpressure.py [--runs 3] [--duration 20]
[--delays 0,1000]`` (about 45 s per run on 2 shared cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

KEYS = ("offered_links_per_second", "submitted_links_per_second", "committed_links_per_second",
        "accepted_txs", "overloaded_txs", "held_back_txs", "shed_txs", "finality_ms_p50",
        "finality_ms_p99", "finality_samples", "agreement_verdict")


def devnet(queue_delay_ms: int, duration_s: float) -> dict[str, Any]:
    """One devnet run's JSON summary (the last stdout line)."""
    cmd = [sys.executable, "-m", "focusflow", "devnet", "--validators", "4", "--duration",
           str(duration_s), "--rate", "2000", "--links-per-tx", "50", "--json",
           "--queue-delay-ms", str(queue_delay_ms)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": out.stderr[-400:]}
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--delays", default="0,1000",
                    help="queue_delay_ms values, comma-separated (0: no budget, as before)")
    args = ap.parse_args()
    delays = [int(d) for d in args.delays.split(",")]
    rows = []
    for run in range(args.runs):
        for delay in delays:
            label = f"{'before' if delay == 0 else 'after'} (queue_delay_ms={delay})"
            s = devnet(delay, args.duration)
            row = {"run": run + 1, "mode": label, **{k: s.get(k) for k in KEYS}}
            if "error" in s:
                row["error"] = s["error"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
