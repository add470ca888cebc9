"""``focusflow chaos``: run a chaos campaign over a range of seeds.

Argument handling and output only; the work is ``focusflow.chaos.campaign``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from focusflow.chaos.limits import (
    RSS_MB_DEFAULT,
    SEED_TIMEOUT_S_DEFAULT,
    SHRINK_BUDGET_S_DEFAULT,
)

TABLE_ROWS_MAX = 50
EXIT_INTERRUPTED = 130


def register(subparsers: Any) -> None:
    """Add the ``chaos`` subcommand."""
    parser = subparsers.add_parser(
        "chaos", help="run a chaos campaign (many seeds, faults, invariants)",
        description="Run a scenario under the simulator for every seed with a fault "
                    "schedule (explicit and/or generated from the seed), check the "
                    "registered invariants, save every failing run as a trace file and "
                    "shrink failing schedules. Each seed runs in its own watched worker "
                    "process: one that dies or passes --max-rss-mb is reported and the "
                    "campaign goes on. Ctrl-C prints what was found so far. Exit status 1 "
                    "on any violation, 2 on bad arguments, 130 when interrupted.")
    parser.add_argument("--seeds", default="1-20", help="seed range A-B (inclusive) or N")
    parser.add_argument("--plan", default=None, help="TOML fault plan (see docs/chaos.md)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes (default: CPU count)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--scenario", default=None, help="scenario (overrides the plan's)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="scenario option, e.g. bug=quorum_off_by_one (repeatable)")
    parser.add_argument("--faults", type=int, default=None,
                        help="random faults generated per seed (default: the plan's, "
                             "or 6 without a plan)")
    parser.add_argument("--duration-ms", type=float, default=None,
                        help="virtual milliseconds per run (overrides the plan's)")
    parser.add_argument("--settle-ms", type=float, default=None,
                        help="after the run, heal every fault, run this long more and require "
                             "progress (invariant liveness.after_heal; the scenario's measure, "
                             "e.g. each honest validator's finalized height)")
    parser.add_argument("--buggify", action="store_true", help="enable fault points")
    parser.add_argument("--out", default="chaos-traces",
                        help="directory for failing traces (default chaos-traces)")
    parser.add_argument("--no-shrink", action="store_true", help="do not shrink failures")
    parser.add_argument("--shrink-max", type=int, default=3,
                        help="failures to shrink (default 3)")
    parser.add_argument("--shrink-budget-s", type=float, default=SHRINK_BUDGET_S_DEFAULT,
                        help="wall seconds of candidate runs per shrunk failure (default "
                             f"{SHRINK_BUDGET_S_DEFAULT:g}); the smallest verified schedule "
                             "found by then is reported")
    parser.add_argument("--max-rss-mb", type=float, default=RSS_MB_DEFAULT,
                        help="resident memory cap of each worker in MiB (default "
                             f"{RSS_MB_DEFAULT:g}; 0: none): a run stops at 85%% of it with "
                             "a run.budget violation, a worker above it is killed")
    parser.add_argument("--seed-timeout", type=float, default=SEED_TIMEOUT_S_DEFAULT,
                        metavar="S", help="wall seconds per run (default "
                                          f"{SEED_TIMEOUT_S_DEFAULT:g}; 0: none)")
    parser.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                        help="progress line on stderr (auto: redrawn on a terminal, "
                             "a line every 30 s otherwise)")
    parser.add_argument("--list", action="store_true",
                        help="list scenarios, fault kinds, invariants, Byzantine behaviours")
    parser.set_defaults(func=_main)


def _list() -> int:
    from focusflow.chaos.campaign import scenarios
    from focusflow.chaos.faults import byzantine_behaviours, fault_kinds
    from focusflow.chaos.invariants import registered

    print("scenarios:")
    for s in scenarios().values():
        print(f"  {s.name:16} {s.help}")
    print("fault kinds:")
    for name, cls in fault_kinds().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"  {name:16} {doc}")
    print("invariants (component):")
    for spec in registered().values():
        print(f"  {spec.name:36} ({spec.component}, {spec.when}) {spec.help}")
    print("Byzantine behaviours:")
    for name in byzantine_behaviours():
        print(f"  {name}")
    return 0


def _plan(args: argparse.Namespace) -> Any:
    import dataclasses

    from focusflow.chaos.plan import FaultPlan, load_plan

    plan = load_plan(args.plan) if args.plan else FaultPlan(generate_count=6)
    changes: dict[str, Any] = {}
    if args.scenario:
        changes["scenario"] = args.scenario
    if args.faults is not None:
        changes["generate_count"] = args.faults
    if args.duration_ms is not None:
        changes["duration_ms"] = args.duration_ms
    if args.settle_ms is not None:
        changes["settle_ms"] = args.settle_ms
    if args.buggify:
        changes["buggify"] = True
    if args.option:
        options = dict(plan.options)
        for item in args.option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--option wants KEY=VALUE, not {item!r}")
            options[key] = int(value) if value.isdigit() else value
        changes["options"] = options
    return dataclasses.replace(plan, **changes) if changes else plan


def _main(args: argparse.Namespace) -> int:
    from focusflow.chaos.campaign import JOBS_MAX, Limits, check_scenario, parse_seeds, run_campaign
    from focusflow.chaos.plan import PlanError

    if args.list:
        return _list()
    try:
        seeds = parse_seeds(args.seeds)
        plan = _plan(args)
        check_scenario(plan.scenario)
        jobs = args.jobs or os.cpu_count() or 1
        if not 1 <= jobs <= JOBS_MAX:
            raise ValueError(f"--jobs must be 1..{JOBS_MAX}, not {jobs}")
        if args.shrink_budget_s <= 0 or args.max_rss_mb < 0 or args.seed_timeout < 0:
            raise ValueError("--shrink-budget-s must be > 0, --max-rss-mb and "
                             "--seed-timeout >= 0")
    except (ValueError, PlanError, OSError) as exc:
        print(f"focusflow chaos: {exc}", file=sys.stderr)
        return 2
    limits = Limits(max_rss_mb=args.max_rss_mb or None, seed_timeout_s=args.seed_timeout or None,
                    shrink_budget_s=args.shrink_budget_s)
    summary = run_campaign(seeds, plan, jobs=jobs, out_dir=args.out,
                           shrink=not args.no_shrink, shrink_max=args.shrink_max,
                           progress={"auto": None, "on": True, "off": False}[args.progress],
                           limits=limits)
    if args.json:
        json.dump(summary, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print_human(summary)
    if summary["interrupted"]:
        return EXIT_INTERRUPTED
    return 1 if summary["failures"] else 0


def _print_human(s: dict[str, Any]) -> None:
    results = s["results"]
    rows = results if len(results) <= TABLE_ROWS_MAX else [r for r in results if not r["ok"]]
    if s["interrupted"]:
        print(f"focusflow chaos: INTERRUPTED after {s['runs']} of {s['seeds_total']} seeds; "
              f"what was found so far:")
    print(f"focusflow chaos: scenario {s['scenario']!r}, {s['runs']} seeds, "
          f"{s['jobs']} jobs")
    if rows:
        print(f"  {'seed':>8}  {'result':8} {'faults':>6} {'steps':>8} {'virt s':>7} "
              f"{'wall s':>7}  violation")
        for r in rows:
            v = r["violations"][0]["invariant"] if r["violations"] else ""
            print(f"  {r['seed']:>8}  {'ok' if r['ok'] else 'FAIL':8} {r['faults_injected']:>6} "
                  f"{r['events']:>8} {r['virtual_seconds']:>7.2f} {r['wall_seconds']:>7.2f}  {v}")
    if len(rows) < len(results):
        print(f"  ({len(results) - len(rows)} passing seeds not shown)")
    print(f"  runs {s['runs']}, failures {s['failures']}, faults injected "
          f"{s['faults_injected']}, {s['wall_seconds']:.1f} wall s, "
          f"{s['sim_seconds_per_wall_second']:.2f} sim s / wall s, "
          f"{s['seeds_per_minute']:.1f} seeds / min, max worker RSS "
          f"{s['max_worker_rss_mb']:.0f} MiB")
    for r in results:
        if not r["ok"]:
            v = r["violations"][0]
            detail = v["detail"].splitlines()[0][:160] if v["detail"] else ""
            print(f"  seed {r['seed']}: {v['invariant']} at step {v['step']} "
                  f"(t={v['t_ms']:.1f} ms): {detail}")
            if r.get("trace"):
                print(f"    replay: focusflow replay {r['trace']} --until-violation")
            elif r.get("trace_note"):
                print(f"    {r['trace_note']}")
    for m in s["shrunk"]:
        if m.get("error"):
            print(f"  shrinking seed {m['seed']}: {m['error']}")
            continue
        spent = " (budget spent: smallest verified so far)" if m["budget_exhausted"] else ""
        print(f"  shrunk seed {m['seed']}: {m['faults_before']} -> {m['faults_after']} faults "
              f"in {m['runs']} runs, {m['wall_seconds']:.0f} s{spent} ({m['invariant']}, "
              f"verified to fail); minimal plan {m['plan']}")
        for f in m["schedule"]:
            print(f"    {json.dumps(f, sort_keys=True)}")
        if m.get("candidates_stopped"):
            print(f"    {m['candidates_stopped']} candidate runs stopped, not counted as "
                  f"failing (first: {m['stop_reasons'][0]})")
    if s["interrupted"]:
        print(f"  interrupted: {s['seeds_total'] - s['runs']} seeds not run; traces so far "
              f"in {s['traces'][0].rsplit('/', 1)[0] if s['traces'] else 'none'}")
