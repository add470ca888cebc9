"""Leader reputation on vs off, side by side: finality and blocks under one faulty validator.

Runs the deterministic consensus harness (focusflow/actors/consensus/harness.py) at n = 4,
50 ms one-way latency (+5 ms jitter), 10 s of virtual time, 200 links/s, with validator 3
faulty in one way per row — each Byzantine behaviour of ``adversary.py`` alone, the mix
``focusflow sim --byzantine`` uses (equivocate + withhold + bad_sig), crashed for the whole
run, or slow (every message it sends takes 100 or 300 ms more) — and a fault-free row, each with ``BftConfig.reputation`` off (round-robin leaders)
and on (the default). Per row: finality p50/p99 over the pooled samples of all seeds
(virtual ms, client submit -> notarised), blocks finalized in the 10 s (mean over seeds,
lowest live honest validator), and the p50 ratio on/off.

``--network`` adds the issue's command, ``focusflow sim --seed S --validators 4
--byzantine 1 --latency 50`` (``--network-seeds``, default 5) (the full network scenario under the actor runtime), on vs
off. That scenario has no reputation option yet, so this benchmark wraps its node
configuration to turn reputation off (skipped, with a note, if the wrapper no longer fits).

Figures are virtual time: machine-independent and deterministic per seed; only ``wall_s``
depends on the machine. ``--jobs`` runs scenarios in parallel processes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from focusflow.actors.consensus.adversary import BEHAVIOURS
from focusflow.actors.consensus.harness import Scenario, run

MIX = ("bad_sig", "equivocate", "withhold")
CASES: dict[str, dict[str, Any]] = {
    "none": {},
    **{b: {"byzantine": ((3, (b,)),)} for b in BEHAVIOURS},
    "sim mix": {"byzantine": ((3, MIX),)},
    "crashed": {"crashes": ((3, 0, 10_000),)},
    "slow +100 ms": {"slow": ((3, 100.0),)},
    "slow +300 ms": {"slow": ((3, 300.0),)},
}


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def _one(args: tuple[str, int, bool, int]) -> dict[str, Any]:
    case, seed, reputation, duration_ms = args
    sc = Scenario(validators=4, seed=seed, latency_ms=50, duration_ms=duration_ms, reputation=reputation,
                  **CASES[case])
    r = run(sc)
    crashed = {v for v, _, _ in sc.crashes}
    live = [r.finalized_heights.get(i, 0) for i in range(sc.validators) if i not in crashed | set(dict(sc.byzantine))]
    return {"case": case, "seed": seed, "reputation": reputation, "finality": r.finality_ms,
            "blocks": min(live) if live else 0, "wall_s": r.wall_s}


def _network(seed: int, reputation: bool) -> dict[str, Any] | None:
    """The issue's ``focusflow sim`` command in-process; None when it cannot be switched off."""
    from focusflow.actors.bft.reputation import ReputationConfig
    from focusflow.actors.chain import scenario as network
    from focusflow.sim.scenarios import run_scenario

    original = getattr(network, "_node_config", None)
    if not reputation:
        if original is None:
            return None

        def off(*a: Any, **k: Any) -> Any:
            cfg = original(*a, **k)
            return replace(cfg, bft=replace(cfg.bft, reputation=ReputationConfig(enabled=False)))

        network._node_config = off  # type: ignore[attr-defined]
    try:
        t0 = time.perf_counter()
        out = dict(run_scenario("network", seed, options={"validators": 4, "byzantine": 1, "latency": 50.0}))
        out["wall_s"] = round(time.perf_counter() - t0, 1)
        return out
    finally:
        if original is not None:
            network._node_config = original  # type: ignore[attr-defined]


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[5, 1, 2, 3])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--duration-ms", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--network", action="store_true", help="also run the issue's focusflow sim command")
    ap.add_argument("--network-seeds", type=int, nargs="+", default=[5])
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    a = ap.parse_args()
    print(f"# bench_reputation: commit {_commit()}, {platform.machine()}, {os.cpu_count()} cpus, "
          f"n=4, 50 ms, seeds {a.seeds}, {a.duration_ms} ms virtual")
    jobs = [(c, s, rep, a.duration_ms) for c in a.cases for s in a.seeds for rep in (False, True)]
    t0 = time.perf_counter()
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs) as ex:
            results = list(ex.map(_one, jobs))
    else:
        results = [_one(j) for j in jobs]
    print(f"{'case':<15}{'off p50':>9}{'off p99':>9}{'off blk':>9}{'on p50':>9}{'on p99':>9}{'on blk':>9}"
          f"{'p50 on/off':>12}")
    rows = []
    for case in a.cases:
        row: dict[str, Any] = {"case": case}
        for rep in (False, True):
            rs = [r for r in results if r["case"] == case and r["reputation"] == rep]
            lat = [x for r in rs for x in r["finality"]]
            key = "on" if rep else "off"
            row[f"{key}_p50"] = round(_pct(lat, 50), 1)
            row[f"{key}_p99"] = round(_pct(lat, 99), 1)
            row[f"{key}_blocks"] = round(sum(r["blocks"] for r in rs) / len(rs), 1)
            row[f"{key}_per_seed"] = {r["seed"]: (round(_pct(r["finality"], 50), 1), r["blocks"]) for r in rs}
        row["ratio"] = round(row["on_p50"] / row["off_p50"], 2)
        rows.append(row)
        print(f"{case:<15}{row['off_p50']:>9}{row['off_p99']:>9}{row['off_blocks']:>9}{row['on_p50']:>9}"
              f"{row['on_p99']:>9}{row['on_blocks']:>9}{row['ratio']:>12}")
    print(f"# harness: {len(jobs)} runs, {time.perf_counter() - t0:.0f} s wall ({a.jobs} jobs)")
    if a.network:
        print("# focusflow sim --validators 4 --byzantine 1 --latency 50 (network scenario)")
        print(f"{'seed':<6}{'reputation':<12}{'p50':>8}{'p99':>8}{'blocks':>8}{'fast':>6}{'fallback':>9}{'wall_s':>8}")
        for seed in a.network_seeds:
            for rep in (False, True):
                out = _network(seed, rep)
                if out is None:
                    print(f"{seed:<6}{'off':<12} (the network scenario has no _node_config to wrap)")
                    continue
                print(f"{seed:<6}{'on' if rep else 'off':<12}{out['finality_ms_p50']:>8}{out['finality_ms_p99']:>8}"
                      f"{out['finalized_height']:>8}{out['commits_fast']:>6}{out['commits_fallback']:>9}"
                      f"{out['wall_s']:>8}")
                rows.append({"network": seed, "reputation": rep, **{k: out[k] for k in (
                    "finality_ms_p50", "finality_ms_p99", "finalized_height", "commits_fast", "commits_fallback")}})
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
