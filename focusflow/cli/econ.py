"""``focusflow econ``: run the economics scenarios and plot them (argument handling only)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``econ simulate``."""
    parser = subparsers.add_parser("econ", help="economics: CYB/H dual-token scenarios")
    sub = parser.add_subparsers(dest="econ_command", metavar="ACTION")
    sim = sub.add_parser("simulate", help="run demand scenarios through the economics core")
    sim.add_argument(
        "--scenario", choices=("rising", "falling", "shock", "all"), default="all",
        help="which demand scenario (default: all three)",
    )  # fmt: skip
    sim.add_argument("--days", type=int, default=365, help="days to simulate (24 blocks a day)")
    sim.add_argument("--seed", type=int, default=1, help="seed of the scenario driver")
    sim.add_argument("--png", metavar="FILE", help="write the plot to FILE (needs matplotlib)")
    sim.add_argument("--json", action="store_true", help="print the summary as JSON")
    sim.set_defaults(func=_simulate)
    parser.set_defaults(func=lambda _args: (parser.print_help(sys.stderr), 2)[1])


def _simulate(args: argparse.Namespace) -> int:
    from focusflow.actors.economics.year import SCENARIOS, run_scenario

    if not 1 <= args.days <= 3660:
        print("--days must be between 1 and 3660", file=sys.stderr)
        return 2
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    results = [run_scenario(name, days=args.days, seed=args.seed) for name in names]
    if args.png:
        from focusflow.actors.economics.report import plot_scenarios

        plot_scenarios(results, args.png)
    summaries = [r.summary() for r in results]
    if args.json:
        print(json.dumps({"scenarios": summaries, "png": args.png}, indent=2))
    else:
        for s in summaries:
            print(
                f"{s['scenario']:8s} days={s['days']} supply_conserved={s['supply_conserved']} "
                f"breaker_trips={s['breaker_trips']} CYB {s['cyb_supply_genesis']} -> {s['cyb_supply_end']} "
                f"split_end={s['split_ppb_end']}"
            )
        if args.png:
            print(f"plot written to {args.png}")
    return 0 if all(r.supply_conserved and not r.violations for r in results) else 1
