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
``--sizes``, ``--latencies``, ``--duration-ms`` and ``--routing`` pick a part of the
finality grid (for example the n = 50 rows alone, which take minutes with votes to all);
``--events-max`` raises the harness's event budget for such runs (votes to all deliver
n votes per header to each of n validators: ~1 M events per virtual second at n = 50);
``--profile N`` runs one votes-to-all scenario at n = N under cProfile and prints where
the wall time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import subprocess
import time

from focusflow.actors.consensus import codec, harness
from focusflow.actors.consensus.crypto import Ed25519Verifier
from focusflow.actors.consensus.harness import Scenario, Workload, run

ROUTINGS = {"author": (False,), "all": (True,), "both": (False, True)}


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def finality(sizes: list[int], latencies: list[float], duration_ms: int, *, routing: str = "both") -> None:
    """Finality table, one row per (n, latency, vote routing): votes to every validator
    (the default: each assembles certificates itself) next to the baseline of votes to the
    header's author only (who then broadcasts the certificate), with their p50 ratio.
    ``events`` is the number of simulated steps (message deliveries, timers, submissions):
    what the wall time scales with; ``cpu_s`` is this process's CPU time for the run, the
    steadier figure when the machine is shared."""
    assert routing in ROUTINGS, routing
    assert duration_ms > 0 and sizes and latencies
    print(
        "n  latency_ms  votes      finality_ms_p50  finality_ms_p99  finalized_height  links  events    wall_s  cpu_s   p50_ratio"
    )
    for lat in latencies:
        for n in sizes:
            p50: dict[bool, float] = {}
            for to_all in ROUTINGS[routing]:
                sc = Scenario(validators=n, seed=1, latency_ms=lat, duration_ms=duration_ms, tx_rate_per_s=200,
                              votes_to_all=to_all)
                cpu0 = time.process_time()
                r = run(sc)
                cpu_s = time.process_time() - cpu0  # this process's CPU: steadier than wall on a shared box
                s = r.summary()
                assert s["invariants"] == {"agreement": True, "validity": True}
                p50[to_all] = float(s["finality_ms_p50"])  # type: ignore[arg-type]
                ratio = f"{p50[True] / p50[False]:.2f}" if to_all and False in p50 else "-"
                print(
                    f"{n:<3}{lat:<12}{'all' if to_all else 'author':<11}{s['finality_ms_p50']:<17}"
                    f"{s['finality_ms_p99']:<17}{s['finalized_height']:<18}{s['links_committed']:<7}"
                    f"{r.events:<10}{s['wall_s']:<8}{cpu_s:<8.2f}{ratio}",
                    flush=True,
                )


def profile(n: int, latency_ms: float, duration_ms: int, top: int = 25) -> None:
    """cProfile of one votes-to-all run: which functions the n² votes spend wall time in
    (signature checks, Cap'n Proto decoding, the cores' bookkeeping), and how many
    messages of each kind were delivered (decoded), with their bytes."""
    assert n >= 1 and duration_ms > 0 and top > 0
    sc = Scenario(validators=n, seed=1, latency_ms=latency_ms, duration_ms=duration_ms, tx_rate_per_s=200)
    counts: dict[str, list[int]] = {}
    decode = codec.decode_message

    def counting(data: bytes) -> tuple[int, object]:
        out = decode(data)
        c = counts.setdefault(type(out[1]).__name__, [0, 0])
        c[0] += 1
        c[1] += len(data)
        return out

    prof = cProfile.Profile()
    codec.decode_message = counting  # type: ignore[assignment]  # the nodes look it up per message
    try:
        r = prof.runcall(run, sc)
    finally:
        codec.decode_message = decode
    print(f"profile n={n} latency={latency_ms}ms {duration_ms} ms virtual, votes to all: "
          f"{r.events} events, {r.wall_s:.1f} s wall (under cProfile)")
    for kind, (k, b) in sorted(counts.items(), key=lambda kv: -kv[1][0]):
        print(f"  delivered {kind:<14} {k:>9} messages {b:>12} bytes")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


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
    ap.add_argument("--finality-only", action="store_true", help="skip the throughput run")
    ap.add_argument("--sizes", type=int, nargs="+", help="validator counts of the finality table")
    ap.add_argument("--latencies", type=float, nargs="+", help="one-way latencies (ms) of the finality table")
    ap.add_argument("--duration-ms", type=int, help="virtual duration of each finality run")
    ap.add_argument("--routing", choices=sorted(ROUTINGS), default="both", help="vote routing(s) to run")
    ap.add_argument("--events-max", type=int, help="raise the harness's event budget (big n, votes to all)")
    ap.add_argument("--profile", type=int, metavar="N", help="only profile one votes-to-all run at n = N")
    args = ap.parse_args()
    if args.events_max is not None:
        assert args.events_max > 0
        harness.events_max = args.events_max  # read by Harness.run at every step
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"commit: {_commit()}, date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.profile is not None:
        profile(args.profile, (args.latencies or [50.0])[0], args.duration_ms or 1000)
        return
    sizes = args.sizes or ([4, 10] if args.quick else [4, 7, 10, 20, 50])
    latencies = args.latencies or [50.0, 150.0]
    duration_ms = args.duration_ms or (3000 if args.quick else 5000)
    if not args.throughput_only:
        finality(sizes, latencies, duration_ms, routing=args.routing)
    if not args.finality_only:
        throughput(2000 if args.quick else 4000, args.offered)


if __name__ == "__main__":
    main()
