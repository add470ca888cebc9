"""Devnet benchmark: committed links/s and finality p50 of live validator processes on
loopback, next to the same workload shape under the deterministic consensus simulator.

* **devnet**: ``focusflow.topology.devnet``: n validator processes (mutual TLS over
  loopback, Cap'n Proto frames, durable SQLite block log and state), fed signed cyberlink
  transactions over the HTTP client API at a fixed rate, round robin. Figures are wall
  clock on this machine (all processes share its cores).
* **simulator (baseline)**: ``focusflow.actors.consensus.harness`` with the same n, the
  same transaction rate and one link per transaction, loopback-like latency (1 ms) and
  virtual time (3 s quick, 6 s full: every simulated round costs wall time): what the
  protocol gives when CPU is free.

Both runs use one link per transaction (the simulator's workload shape); the full run adds
the devnet with 40 links per transaction (the devnet's default batching).

``--quick`` (< 60 s on 2 cores): one devnet run of 8 s and the simulator.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from focusflow.actors.consensus.harness import Scenario, run
from focusflow.topology.devnet import Devnet, Workload, run_workload


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False)
    return out.stdout.strip() or "unknown"


def devnet(n: int, duration_s: float, rate: int, links_per_tx: int) -> dict[str, Any]:
    """One devnet run; its summary plus wall time."""
    root = Path(tempfile.mkdtemp(prefix="bench-devnet-"))
    t0 = time.monotonic()
    net = Devnet(root, validators=n)
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        report = run_workload(net, duration_s=duration_s, rate_txs=rate,
                              workload=Workload(chain_id=net.chain_id, links_per_tx=links_per_tx))
    finally:
        net.stop()
        shutil.rmtree(root, ignore_errors=True)
    out = report.summary()
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def simulator(n: int, duration_s: float, rate: int) -> dict[str, Any]:
    """The consensus harness with the same n and rate (one link per tx), 1 ms latency."""
    t0 = time.monotonic()
    result = run(Scenario(validators=n, seed=1, latency_ms=1.0, jitter_ms=0.2,
                          duration_ms=int(duration_s * 1000), tx_rate_per_s=rate))
    out = result.summary()
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def main() -> None:
    """Print the table (absolute figures, baseline, ratio, machine)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--rate", type=int, default=400, help="txs per second offered")
    args = ap.parse_args()
    duration = 8.0 if args.quick else 20.0
    n = args.validators
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}; commit {_commit()}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"workload: {n} validators, {args.rate} signed link txs/s offered for {duration:.0f} s")
    rows = []
    d1 = devnet(n, duration, args.rate, 1)
    rows.append(("devnet (processes, TLS, 1 link/tx)", d1))
    sim = simulator(n, 3.0 if args.quick else 6.0, args.rate)  # virtual s; costly in wall s
    rows.append(("simulator (virtual time, 1 link/tx)", sim))
    if not args.quick:
        rows.append(("devnet (processes, TLS, 40 links/tx)", devnet(n, duration, 50, 40)))
    print(f"{'run':40} {'links/s':>9} {'final p50 ms':>13} {'p99 ms':>8} {'height':>7} "
          f"{'links':>8} {'agree':>6} {'wall s':>7}")
    for name, r in rows:
        agree = r.get("agreement", r.get("invariants", {}).get("agreement"))
        print(f"{name:40} {r['links_per_second']:9.1f} {r['finality_ms_p50'] or 0:13.1f} "
              f"{r['finality_ms_p99'] or 0:8.1f} {r['finalized_height']:7d} "
              f"{r['links_committed']:8d} {agree!s:>6} {r['wall_s']:7.1f}")
    ratio_lps = d1["links_per_second"] / sim["links_per_second"] if sim["links_per_second"] else 0
    ratio_fin = (d1["finality_ms_p50"] or 0) / sim["finality_ms_p50"] if sim["finality_ms_p50"] else 0
    print(f"devnet / simulator: links/s x{ratio_lps:.2f}, finality p50 x{ratio_fin:.2f}")
    if "submitted_txs" in d1:
        print(f"devnet submitted {d1['submitted_txs']} txs, accepted {d1['accepted_txs']}, "
              f"shed {d1['shed_txs']}")


if __name__ == "__main__":
    main()
