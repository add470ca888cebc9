"""Rollups on the local multi-process devnet vs the one-process live runner (issue 11).

For each shape (rollups R, hubs H) and offered load (links per bucket every 50 ms), side
by side in the same run:

* **devnet** (``focusflow.topology.rollnet``): every node of the rollups topology its own
  OS process on loopback — mutual TLS 1.3 pinned to Ed25519 node keys, Cap'n Proto frames,
  fsynced hub logs — figures joined from the processes' records;
* **baseline, live one-process** (``focusflow.actors.rollup.live.run_live``): the same
  supervisor trees as ``ActorSystem``s on a ``LoopbackNetwork`` in one process and one
  event loop.

Printed: global sync latency p50/p99 (link arrival at its sequencer → the top hub
commits a root including it, link-weighted, wall clock), links/s ordered aggregated over
rollups (and the offered rate), claims sent/merged, CPU seconds spent (the devnet: every
node process from the start of the workload to its stop, as each reports it, start-up
excluded; the baseline: its whole process over ``run_live``) and links ordered per CPU
second, the devnet's ``global_pi_consistent`` and delivery checks, the ratios devnet /
baseline, and the machine.

The full run adds the R=4, H=1 devnet with its top hub and then its relayer kill -9'd
and restarted 1 s later, and the same devnet with a sequencer (rollup0, then rollup2)
kill -9'd and restarted 1 s later (it replays its batch and claim log), each against
the clean devnet run of the same shape.

Usage: ``python benchmarks/bench_rollnet.py [--quick | --faults]`` (quick: < 60 s on 2
cores; faults: only the R=4, H=1 clean run and its two kill -9 rows).
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

import anyio
import numpy as np

from focusflow.actors.rollup.live import run_live
from focusflow.topology.rollnet import Fault, run_rollnet


def machine() -> str:
    """Platform, CPU count, load, Python and numpy versions."""
    avg = os.getloadavg() if hasattr(os, "getloadavg") else None
    load = f", load avg {avg[0]:.2f} {avg[1]:.2f} {avg[2]:.2f}" if avg else ""
    return (f"{platform.platform()}, {platform.processor() or 'unknown cpu'}, "
            f"{os.cpu_count()} CPUs{load}, Python {platform.python_version()}, "
            f"numpy {np.__version__}")


def commit() -> str:
    """Short git commit hash (or 'unknown')."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _row(rollups: int, hubs: int, offered: float, label: str, s: dict[str, Any], wall: float,
         extra: str) -> None:
    print(f"{rollups:>3} {hubs:>3} {offered:>8.0f} {label:>17} {s['global_sync_ms_p50']:>7.0f} "
          f"{s['global_sync_ms_p99']:>7.0f} {s['links_per_s']:>8.0f} "
          f"{s['links_per_s'] / offered:>5.2f} {s['claims_sent']:>5}/{s['claims_merged']:<5} "
          f"{wall:>6.1f} {s['cpu_s']:>6.1f} {s['links_ordered'] / s['cpu_s']:>7.0f} {extra}")


def _checks(dev: dict[str, Any]) -> str:
    return (f"pi_ok={dev['global_pi_consistent']} delivery_ok="
            f"{dev['no_gap'] and dev['no_double_delivery']} all_merged={dev['all_claims_merged']}")


def devnet(opts: dict[str, Any], active_s: float, faults: list[Fault] | None = None
           ) -> tuple[dict[str, Any], float]:
    """One devnet run in a temporary root: (summary, wall seconds)."""
    with tempfile.TemporaryDirectory(prefix="bench-rollnet-") as tmp:
        t = time.perf_counter()
        dev = run_rollnet(Path(tmp), opts, duration_s=active_s, drain_s_max=30.0,
                          faults=faults or [])
        return dev, time.perf_counter() - t


def one(rollups: int, hubs: int, links: int, active_s: float) -> dict[str, Any]:
    """One shape and load: the live baseline then the devnet, one printed row each."""
    opts: dict[str, Any] = {"rollups": rollups, "hubs": hubs, "rollup_links": links}
    offered = rollups * links / 0.05
    t, c = time.perf_counter(), time.process_time()
    base = anyio.run(lambda: run_live(opts, active_s=active_s, drain_s=4.0))
    base_wall, base["cpu_s"] = time.perf_counter() - t, time.process_time() - c
    dev, dev_wall = devnet(opts, active_s)
    _row(rollups, hubs, offered, "live 1 proc", base, base_wall, "")
    _row(rollups, hubs, offered, f"devnet {dev['processes']} procs", dev, dev_wall, _checks(dev))
    print(f"{'':>3} {'':>3} {'':>8} {'ratio dev/live':>17} "
          f"{dev['global_sync_ms_p50'] / base['global_sync_ms_p50']:>7.2f} "
          f"{dev['global_sync_ms_p99'] / base['global_sync_ms_p99']:>7.2f} "
          f"{dev['links_per_s'] / base['links_per_s']:>8.2f} {'':>5} {'':>11} {'':>6} "
          f"{dev['cpu_s'] / base['cpu_s']:>6.2f} "
          f"{dev['links_ordered'] / dev['cpu_s'] / (base['links_ordered'] / base['cpu_s']):>7.2f}",
          flush=True)
    return dev


def faulted(rollups: int, hubs: int, links: int, active_s: float, clean: dict[str, Any],
            faults: list[Fault], label: str) -> None:
    """The same devnet with ``faults`` (kill -9, restart); ratio against the clean
    devnet run of the same shape (``clean``)."""
    opts: dict[str, Any] = {"rollups": rollups, "hubs": hubs, "rollup_links": links}
    offered = rollups * links / 0.05
    dev, wall = devnet(opts, active_s, faults)
    _row(rollups, hubs, offered, label, dev, wall,
         _checks(dev) + f" hub_restarts={dev['hub_restarts']} " + "; ".join(dev["faults"]))
    print(f"{'':>3} {'':>3} {'':>8} {'ratio kill/clean':>17} "
          f"{dev['global_sync_ms_p50'] / clean['global_sync_ms_p50']:>7.2f} "
          f"{dev['global_sync_ms_p99'] / clean['global_sync_ms_p99']:>7.2f} "
          f"{dev['links_per_s'] / clean['links_per_s']:>8.2f}", flush=True)


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    parser.add_argument("--faults", action="store_true",
                        help="only R=4, H=1 clean and its kill -9 rows (full duration)")
    args = parser.parse_args()
    print(f"machine: {machine()}\ncommit: {commit()}")
    if args.quick:
        runs, active_s = [(4, 1, 40), (8, 3, 40)], 3.0
    elif args.faults:
        runs, active_s = [(4, 1, 40)], 15.0
    else:
        runs, active_s = [(4, 1, 40), (8, 3, 40), (4, 1, 120), (8, 3, 120)], 15.0
    print(f"settle 500 ms, challenge window 1000 ms, merge 1000 ms; {active_s:.0f} s of links "
          f"then drain (live: fixed 4 s; devnet: until every claim is merged)")
    print(f"{'R':>3} {'H':>3} {'offered':>8} {'runner':>17} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'links/s':>8} {'/off':>5} {'claims sent/merged':>11} {'wall s':>6} {'cpu s':>6} "
          f"{'links/cpu-s':>7}")
    clean = {(r, h, n): one(r, h, n, active_s) for r, h, n in runs}
    if not args.quick:
        a = active_s
        faulted(4, 1, 40, a, clean[(4, 1, 40)],
                [Fault("hub0", a / 3, 1.0), Fault("relayer", 2 * a / 3, 1.0)], "devnet kill -9")
        faulted(4, 1, 40, a, clean[(4, 1, 40)],
                [Fault("rollup0", a / 3, 1.0), Fault("rollup2", 2 * a / 3, 1.0)],
                "dev seq kill -9")


if __name__ == "__main__":
    main()
