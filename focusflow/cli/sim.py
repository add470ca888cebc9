"""``focusflow sim``: run a scenario under the deterministic simulator.

Argument handling and output only; scenarios live in ``focusflow.sim.scenarios`` (and
register their own options there).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``sim`` subcommand."""
    from focusflow.sim.scenarios import discover

    parser = subparsers.add_parser(
        "sim", help="run the network under the deterministic simulator",
        description="Run a scenario under the simulator. The same --seed gives the same "
                    "trace hash on any machine.")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--scenario", default=None,
                        help="scenario to run (default: the highest-priority registered one)")
    parser.add_argument("--duration-ms", type=float, default=None,
                        help="virtual milliseconds to run (default: the scenario's)")
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    for scenario in discover().values():
        if scenario.add_arguments is not None:
            group = parser.add_argument_group(f"scenario {scenario.name}")
            scenario.add_arguments(group)
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from focusflow.sim.scenarios import default_scenario, discover, run_scenario

    if args.list:
        for scenario in discover().values():
            print(f"{scenario.name:16} {scenario.help}")
        return 0
    options = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    name = args.scenario or default_scenario(options)
    known = discover()
    if name not in known:
        print(f"error: unknown scenario {name!r} (known: {', '.join(sorted(known))}; "
              f"see focusflow sim --list)", file=sys.stderr)
        return 2
    summary = run_scenario(name, args.seed, duration_ms=args.duration_ms, options=options)
    if args.json:
        json.dump(summary, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print_human(summary)
    return 0 if summary["ok"] else 1


def _print_human(s: dict[str, Any]) -> None:
    print(f"focusflow sim: scenario {s['scenario']!r}, seed {s['seed']}")
    print(f"  {s['events']} steps, {s['virtual_seconds']:.3f} virtual s "
          f"in {s['wall_seconds']:.3f} wall s ({s['speed_x']}x real time)")
    net = s["network"]
    print(f"  network: {net['sent']} sent, {net['delivered']} delivered, {net['lost']} lost, "
          f"{net['duplicated']} duplicated, {net['partitioned']} cut by partitions")
    for key in ("injected_crashes", "actor_crashes", "restarts", "gossip_asked",
                "gossip_acked", "nodes_up"):
        if key in s:
            print(f"  {key.replace('_', ' ')}: {s[key]}")
    if "recovery_ms" in s:  # a --partition run (network scenario)
        part = s["partition"]
        print(f"  partition {part['spec']} at {part['at_ms']:g} ms for {part['for_ms']:g} ms: "
              f"recovery {s['recovery_ms']} ms (by side {s['recovery_ms_by_side']}), finality "
              f"p50 {s['finality_ms_p50_pre']} ms before, {s['finality_ms_p50_post']} ms after")
    for name, ok in s["invariants"].items():
        print(f"  invariant {name}: {'ok' if ok else 'VIOLATED'}")
    print(f"  trace hash: {s['trace_hash']}")
    if not s["ok"]:
        print(f"  replay: focusflow sim --seed {s['seed']} --scenario {s['scenario']}")
