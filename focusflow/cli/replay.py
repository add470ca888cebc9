"""``focusflow replay``: re-execute a chaos trace (or a live recording) exactly.

Argument handling and output only; the work is ``focusflow.chaos.replay`` (traces) and
``focusflow.chaos.record_replay`` (live recordings, replayed in the same ``Simulation``).
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
                    "inputs, e.g. from focusflow devnet --record DIR) in the simulator and "
                    "check that it reproduces record for record; optionally stop at a "
                    "step and dump an actor's state. --diff A B reports the first "
                    "divergence between two traces (or between the replays of two "
                    "recordings). Exit 1 if it does not reproduce (or A and B differ), "
                    "2 if a file is unusable.")
    parser.add_argument("trace", nargs="?",
                        help="trace file (*.trace.gz) or live recording (*.rec.gz)")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--until", type=int, default=None, metavar="STEP",
                      help="stop after simulator step STEP")
    stop.add_argument("--until-violation", action="store_true",
                      help="stop at the step of the first recorded violation")
    parser.add_argument("--inspect", default=None, metavar="ACTOR",
                        help="dump the state of NODE:/path (or NODE: its actors) at the stop")
    parser.add_argument("--diff", nargs=2, metavar=("A", "B"), default=None,
                        help="first divergence between two trace files, or between the "
                             "frames sent by the replays of two recordings")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from focusflow.chaos.record import RECORDING_FORMAT
    from focusflow.chaos.record_replay import diff_recordings, is_recording, replay_recording
    from focusflow.chaos.replay import diff_traces, replay_trace
    from focusflow.chaos.trace import TraceError

    try:
        if args.diff:
            kinds = [is_recording(p) for p in args.diff]
            if kinds[0] != kinds[1]:
                raise ValueError("--diff compares two traces or two recordings, not one "
                                 "of each")
            report = (diff_recordings if kinds[0] else diff_traces)(*args.diff)
            _out(args, report, _print_diff)
            return 0 if report["first_divergence"] is None else 1
        if not args.trace:
            print("focusflow replay: give TRACE or --diff A B", file=sys.stderr)
            return 2
        if is_recording(args.trace):
            if args.until_violation:
                raise ValueError("--until-violation is for chaos traces (a recording has "
                                 "no invariants); use --until STEP")
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
    if "runtime" in r:
        print(f"  live recording of node {r['node']}, replayed in {r['runtime']} "
              f"({r['scheduler']} scheduler): {r['outputs']} frames sent "
              f"(recorded {r['recorded_outputs']}), {r['recorded_steps']} steps recorded")
    if r["reproduced"]:
        print("  reproduced exactly")
    elif "runtime" in r:
        print(f"  DID NOT REPRODUCE: first divergence at step {r['first_mismatch']}")
        if r["error"]:
            print(f"    {r['error']}")
        diff = r["first_output_difference"]
        if diff is not None:
            print(f"    frame #{diff['index']}: replay sent {diff['replayed']}, "
                  f"recording has {diff['recorded']} ([step, to, bytes, digest])")
        print(f"    inputs left {r['inputs_left']}, clock reads left "
              f"{r['clock_reads_left']}, outputs hash equal {r['outputs_hash_equal']}")
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
    where = f"t={r['t_ms']:.3f} ms" if "t_ms" in r else f"step {r['step']}"
    print(f"focusflow replay --diff: first divergence at record {r['first_divergence']} "
          f"({where}; {r['records_a']} vs {r['records_b']} records)")
    for side in ("a", "b"):
        print(f"  {side}: {r[side]}")
        for rec in r[f"{side}_records"]:
            mark = ">" if rec["index"] == r["first_divergence"] else " "
            when = f"t={rec['t_ms']:.3f} ms" if "t_ms" in rec else f"step {rec['step']}"
            print(f"   {mark} #{rec['index']} {when} {rec['node']}: {rec['what']}")
