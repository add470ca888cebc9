"""Consensus benchmark: simulated finality and committed links per second.

Runs the deterministic harness (focusflow/actors/consensus/harness.py): n validators,
virtual time, one-way latency L (+5 ms jitter), a workload of signed cyberlinks.

* finality p50/p99 (virtual ms, client submit -> block notarised at the validator the
  client submitted to) for each (n, L);
* committed links/s: links finalized per virtual second, and per wall-clock second of
  this machine for the whole n-validator simulation (every validator's work runs on this
  one process), next to the baseline of the same links through Ed25519 verification
  alone (the admission check every link needs), with their ratio.

``--quick`` (< 60 s on 2 cores): n in {4, 10}. Full: n in {4, 7, 10, 20, 50}.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

from focusflow.actors.consensus.crypto import Ed25519Verifier
from focusflow.actors.consensus.harness import Scenario, Workload, run


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def finality(sizes: list[int], latencies: list[float], duration_ms: int) -> None:
    """Finality table, one row per (n, latency, vote routing): votes to every validator
    (the default: each assembles certificates itself) next to the baseline of votes to the
    header's author only (who then broadcasts the certificate), with their p50 ratio."""
    print("n  latency_ms  votes      finality_ms_p50  finality_ms_p99  finalized_height  links  wall_s  p50_ratio")
    for lat in latencies:
        for n in sizes:
            p50 = {}
            for to_all in (False, True):
                sc = Scenario(validators=n, seed=1, latency_ms=lat, duration_ms=duration_ms, tx_rate_per_s=200,
                              votes_to_all=to_all)
                s = run(sc).summary()
                assert s["invariants"] == {"agreement": True, "validity": True}
                p50[to_all] = float(s["finality_ms_p50"])  # type: ignore[arg-type]
                ratio = f"{p50[True] / p50[False]:.2f}" if to_all else "-"
                print(
                    f"{n:<3}{lat:<12}{'all' if to_all else 'author':<11}{s['finality_ms_p50']:<17}"
                    f"{s['finality_ms_p99']:<17}{s['finalized_height']:<18}{s['links_committed']:<7}"
                    f"{s['wall_s']:<8}{ratio}",
                    flush=True,
                )


def throughput(duration_ms: int, offered: float) -> None:
    """Committed links/s under load (n=4, 50 ms) next to verify-only links/s."""
    sc = Scenario(
        validators=4, seed=2, latency_ms=50, duration_ms=duration_ms, tx_rate_per_s=offered, header_txs_max=1024
    )
    r = run(sc)
    wall_rate = r.links_committed / r.wall_s
    virtual_rate = r.links_committed / (duration_ms / 1000)
    links = Workload(16, 3).make(min(r.links_committed, 5000) or 1000)
    verifier = Ed25519Verifier()
    t0 = time.perf_counter()
    for tx in links:
        p = tx.payload
        assert verifier.verify(p[72:104], p[:72], p[104:])
    base_rate = len(links) / (time.perf_counter() - t0)
    print(f"throughput n=4 latency=50ms offered={offered:.0f} links/s for {duration_ms} ms virtual")
    print(f"  links committed: {r.links_committed} (shed with explicit rejection: {r.rejections})")
    print(f"  committed links per virtual second: {virtual_rate:.0f}")
    print(f"  committed links per wall second (4 validators simulated in one process): {wall_rate:.0f}")
    print(f"  baseline, Ed25519 verification only, links per wall second: {base_rate:.0f}")
    print(f"  ratio consensus/baseline: {wall_rate / base_rate:.3f}")


def main() -> None:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, < 60 s on 2 cores")
    ap.add_argument("--offered", type=float, default=2000.0, help="offered links/s in the throughput run")
    ap.add_argument("--throughput-only", action="store_true", help="skip the finality table")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"commit: {_commit()}, date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.quick:
        if not args.throughput_only:
            finality([4, 10], [50.0, 150.0], 3000)
        throughput(2000, args.offered)
    else:
        if not args.throughput_only:
            finality([4, 7, 10, 20, 50], [50.0, 150.0], 5000)
        throughput(4000, args.offered)


if __name__ == "__main__":
    main()
