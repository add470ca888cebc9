"""``focusflow replay``: re-execute a chaos trace (or a live recording) exactly.

Argument handling and output only; the work is ``focusflow.chaos.replay`` and
``focusflow.chaos.record``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``replay`` subcommand."""
    parser = subparsers.add_parser(
        "replay", help="re-execute a chaos trace or a live recording and check it",
        description="Re-execute TRACE (a chaos trace file, or a recording of a live node's "
                    "inputs) and check that it reproduces record for record; optionally "
                    "stop at a step and dump an actor's state. --diff A B reports the "
                    "first divergence between two traces. Exit 1 if it does not reproduce.")
    parser.add_argument("trace", nargs="?", help="trace file (*.trace.gz) or recording")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--until", type=int, default=None, metavar="STEP",
                      help="stop after simulator step STEP")
    stop.add_argument("--until-violation", action="store_true",
                      help="stop at the step of the first recorded violation")
    parser.add_argument("--inspect", default=None, metavar="ACTOR",
                        help="dump the state of NODE:/path (or NODE: its actors) at the stop")
    parser.add_argument("--diff", nargs=2, metavar=("A", "B"), default=None,
                        help="first divergence between two trace files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from focusflow.chaos.record import RECORDING_FORMAT, is_recording, replay_recording
    from focusflow.chaos.replay import diff_traces, replay_trace
    from focusflow.chaos.trace import TraceError

    try:
        if args.diff:
            report = diff_traces(*args.diff)
            _out(args, report, _print_diff)
            return 0 if report["first_divergence"] is None else 1
        if not args.trace:
            print("focusflow replay: give TRACE or --diff A B", file=sys.stderr)
            return 2
        if is_recording(args.trace):
            report = replay_recording(args.trace, until_step=args.until, inspect=args.inspect)
            report["format"] = RECORDING_FORMAT
        else:
            report = replay_trace(args.trace, until_step=args.until,
                                  until_violation=args.until_violation, inspect=args.inspect)
    except (TraceError, ValueError, OSError) as exc:
        print(f"focusflow replay: {exc}", file=sys.stderr)
        return 2
    _out(args, report, _print_replay)
    return 0 if report["reproduced"] else 1


def _out(args: argparse.Namespace, report: dict[str, Any], human: Any) -> None:
    if args.json:
        json.dump(report, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        human(report)


def _print_replay(r: dict[str, Any]) -> None:
    where = "to the end" if r.get("finished") else f"to step {r['stopped_at_step']}"
    print(f"focusflow replay: {r['trace']} (seed {r.get('seed')}), replayed {where}, "
          f"t={r['t_ms']:.3f} ms, {r['records_compared']} records compared")
    if r["reproduced"]:
        print("  reproduced exactly")
    else:
        print(f"  DID NOT REPRODUCE: first mismatch at record {r['first_mismatch']}")
    for v in r.get("violations", []):
        print(f"  violation {v['invariant']} at step {v['step']} (t={v['t_ms']:.3f} ms): "
              f"{(v['detail'] or '').splitlines()[0][:200] if v['detail'] else ''}")
    if "inspect" in r:
        print("  inspect:")
        for line in json.dumps(r["inspect"], indent=2, sort_keys=True).splitlines():
            print(f"    {line}")


def _print_diff(r: dict[str, Any]) -> None:
    if r["first_divergence"] is None:
        print(f"focusflow replay --diff: identical ({r['records_a']} records)")
        return
    print(f"focusflow replay --diff: first divergence at record {r['first_divergence']} "
          f"(t={r['t_ms']:.3f} ms; {r['records_a']} vs {r['records_b']} records)")
    for side in ("a", "b"):
        print(f"  {side}: {r[side]}")
        for rec in r[f"{side}_records"]:
            mark = ">" if rec["index"] == r["first_divergence"] else " "
            print(f"   {mark} #{rec['index']} t={rec['t_ms']:.3f} ms {rec['node']}: {rec['what']}")
