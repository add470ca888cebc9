"""``focusflow devnet``: N validators as local processes on loopback, fed signed cyberlinks.

focusflow devnet [--validators 4] [--duration 20] [--rate 100] [--json] [--home DIR]
focusflow devnet --rollups R --hubs H [--duration S] [--json]   # the rollup network
    [--rollup-liar I] [--relayer-faults] [--challenge-window-ms MS] [--crash-every S]

Progress goes to stderr once a second (height per validator, links committed, links per
second, finality p50) and, at the end, the top particles by focus. With ``--json`` the
last line of stdout is one JSON object with at least ``validators``,
``finalized_height``, ``links_committed``, ``finality_ms_p50`` and ``agreement``.

With ``--rollups`` (or ``--hubs``) it runs the rollup network instead of validators
(``focusflow.topology.rollnet``: every node of the rollups topology its own process);
the JSON object then has ``global_sync_ms_p50``, ``global_sync_ms_p99``, ``links_per_s``,
``claims_merged``, ``global_pi_consistent``, ``rollups``, ``hubs``, ``processes``, ``slashed``,
``faults``. Faults: ``--rollup-liar I`` (rollup I lies from its 2nd claim),
``--relayer-faults`` (relayers drop, duplicate, reorder, delay), ``--crash-every S``
(kill -9 a random node other than the client every S seconds, restart it 1 s later).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from focusflow.actors.mempool.budget import QUEUE_DELAY_MS_DEFAULT


def _run_rollnet(args: Any) -> int:
    from focusflow.topology.rollnet import run_rollnet

    options: dict[str, Any] = {"rollups": 4 if args.rollups is None else args.rollups,
                               "hubs": 1 if args.hubs is None else args.hubs,
                               "rollup_window_ms": args.challenge_window_ms,
                               "relayer_faults": bool(args.relayer_faults)}
    if args.rollup_liar is not None:
        if not 0 <= args.rollup_liar < options["rollups"]:
            print(f"error: --rollup-liar must be 0..{options['rollups'] - 1}", file=sys.stderr)
            return 2
        options["rollup_liar"] = args.rollup_liar
    if args.crash_every is not None and args.crash_every <= 0:
        print("error: --crash-every must be > 0 seconds", file=sys.stderr)
        return 2
    if args.challenge_window_ms < 0:
        print("error: --challenge-window-ms must be >= 0", file=sys.stderr)
        return 2
    root = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="focusflow-rollnet-"))
    print(f"devnet: rollup network ({options['rollups']} rollups, {options['hubs']} hub(s)) "
          f"under {root}", file=sys.stderr)

    def show(p: dict[str, Any]) -> None:
        if p["phase"] == "ready":
            print(f"devnet: {p['processes']} processes ready; feeding links", file=sys.stderr)
            return
        print(f"  t={p['t_s']:5.1f}s  links {p['links_ordered']} ({p['links_per_s']:.0f}/s)  "
              f"global height {p['top_height']}  claims merged {p['claims_merged']}  "
              f"alive {p['alive']}/{p['processes']}", file=sys.stderr)

    try:
        summary = run_rollnet(root, options, duration_s=args.duration, backend=args.backend,
                              crash_every_s=args.crash_every or 0.0, progress=show)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.home and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"global sync p50 {summary['global_sync_ms_p50']} ms, p99 "
          f"{summary['global_sync_ms_p99']} ms; {summary['links_per_s']} links/s over "
          f"{summary['rollups']} rollups; claims merged {summary['claims_merged']}/"
          f"{summary['claims_sent']}; global pi consistent {summary['global_pi_consistent']}; "
          f"slashed {summary['slashed']}; process restarts {summary['process_restarts']}",
          file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    ok = (summary["global_pi_consistent"] and summary["all_claims_merged"]
          and summary["no_gap"] and summary["no_double_delivery"])
    return 0 if ok else 1


def _run(args: Any) -> int:
    if args.rollups is not None or args.hubs is not None:
        return _run_rollnet(args)
    from focusflow.actors.state.ids import cid_short
    from focusflow.topology.devnet import Devnet, Workload, run_workload

    record = Path(args.record).resolve() if args.record else None
    if record is not None and not args.home:  # a replay reads the node's home: keep it
        args.home = str(record / "homes")
    root = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="focusflow-devnet-"))
    net = Devnet(root, validators=args.validators, backend=args.backend,
                 queue_delay_ms=args.queue_delay_ms, record_dir=record)
    net.setup()
    print(f"devnet: {args.validators} validators under {root}", file=sys.stderr)
    workload = Workload(chain_id=net.chain_id, seed=args.seed, links_per_tx=args.links_per_tx)
    net.start_all()
    try:
        net.wait_ready()
        print("devnet: all validators ready; feeding signed cyberlinks", file=sys.stderr)

        def show(p: dict[str, Any]) -> None:
            p50 = "-" if p["finality_ms_p50"] is None else f"{p['finality_ms_p50']:.0f} ms"
            print(f"  t={p['t_s']:5.1f}s  height {'/'.join(map(str, p['heights']))}  "
                  f"links {p['links_committed']}  ({p['links_per_second']:.0f}/s)  "
                  f"finality p50 {p50}", file=sys.stderr)
            if p.get("top"):
                print("           top by focus: " + ", ".join(
                    f"{cid_short(t['cid'])} π={t['focus']:.3f}" for t in p["top"]), file=sys.stderr)

        report = run_workload(net, duration_s=args.duration, rate_txs=args.rate,
                              workload=workload, progress=show)
    finally:
        net.stop()
    if not args.home and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    summary = report.summary()
    for line in summary_lines(summary, report):
        print(line, file=sys.stderr)
    if record is not None:
        print(f"devnet: each node's inputs recorded in {record} (homes in {root}); replay "
              f"one with: focusflow replay {record / 'node1.rec.gz'}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0 if summary["agreement"] and summary["finalized_height"] > 0 else 1


def summary_lines(summary: dict[str, Any], report: Any) -> list[str]:
    """The end-of-run text: top particles, load offered vs committed, the verdicts (a
    difference names the height and each node's value; an unread node says so)."""
    lines = ["top particles by focus:"]
    lines += [f"  {t['cid']}  π={t['focus']:.4f}  inbound={t['inbound_links']}"
              for t in summary["top_particles"]]
    p50 = summary["finality_ms_p50"]
    finality = ("finality unmeasured (no samples)" if p50 is None else
                f"finality p50 {p50} ms p99 {summary['finality_ms_p99']} ms "
                f"({summary['finality_samples']} samples from {summary['finality_nodes']} nodes)")
    lines.append(f"finalized height {summary['finalized_height']}, links "
                 f"{summary['links_committed']}, {finality}")
    lines.append(f"load: offered {summary['offered_links_per_second']:.0f} links/s, submitted "
                 f"{summary['submitted_links_per_second']:.0f}, committed "
                 f"{summary['committed_links_per_second']:.0f}; txs submitted "
                 f"{summary['submitted_txs']} (of {summary['offered_txs']} offered), refused "
                 f"{summary['refused_txs']}, unanswered {summary['unanswered_txs']}, shed "
                 f"after admission {summary['shed_txs']}")
    for verdict in (report.agreement, report.pi_agreement):
        if verdict is not None:
            lines.append(verdict.describe())
    for name, why in sorted(summary["unmeasured_nodes"].items()):
        lines.append(f"unmeasured: {name}: {why}")
    lines.append(f"agreement {summary['agreement_verdict']}; pi_root "
                 f"{summary['pi_root'][:16]}… at height {summary['agreement_heights_checked']}, "
                 f"{summary['pi_particles']} particles, π per block p50 {summary['pi_ms_p50']} ms")
    return lines


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow devnet``."""
    p = subparsers.add_parser("devnet", help="run N validators locally and feed them a workload")
    p.add_argument("--validators", type=int, default=4, help="number of validators (2..32)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of workload")
    p.add_argument("--rate", type=int, default=100, help="signed link txs per second")
    p.add_argument("--links-per-tx", type=int, default=40, help="cyberlinks per tx (1..50)")
    p.add_argument("--seed", type=int, default=1, help="workload seed")
    p.add_argument("--home", help="keep the validators' homes here (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--record", metavar="DIR", default=None,
                   help="record every node's inputs to DIR/<node>.rec.gz (homes kept in "
                        "DIR/homes unless --home); replay one with focusflow replay")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--json", action="store_true", help="end with one JSON summary on stdout")
    p.add_argument("--queue-delay-ms", type=int, default=QUEUE_DELAY_MS_DEFAULT,
                   help="the mempool's latency budget per validator (0: none, as before)")
    p.add_argument("--rollups", type=int, default=None,
                   help="run the rollup network instead: R rollups (one process each)")
    p.add_argument("--hubs", type=int, default=None,
                   help="with --rollups: 1 = one global hub; H >= 2 = H-1 regional + 1 global")
    p.add_argument("--rollup-liar", type=int, default=None, metavar="I",
                   help="with --rollups: rollup I lies from its 2nd claim (caught, slashed)")
    p.add_argument("--relayer-faults", action="store_true",
                   help="with --rollups: relayers drop, duplicate, reorder and delay")
    p.add_argument("--challenge-window-ms", type=float, default=1_000.0,
                   help="with --rollups: the hubs' challenge window (default 1000)")
    p.add_argument("--crash-every", type=float, default=None, metavar="S",
                   help="with --rollups: kill -9 a random node every S s, restart it 1 s later")
    p.set_defaults(func=_run)
