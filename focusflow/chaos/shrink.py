"""Shrinking: reduce a failing fault schedule to a minimal one that still fails.

Delta debugging (Zeller's ddmin) over the list of faults, with the seed fixed: a
candidate schedule *fails* when its run violates the same invariant as the original
(another violation is a different bug, not a reduction of this one). Faults scheduled
after the original violation cannot have caused it and are dropped first. The result is
1-minimal: removing any single remaining fault makes the failure go away. Then each
remaining fault's duration fields (``for_ms``, ``heal_after_ms``, ``restart_after_ms``)
are halved while the failure persists.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from focusflow.chaos.faults import Fault
from focusflow.chaos.plan import FaultPlan, plan_to_toml

RUNS_MAX_DEFAULT = 200
#: Fields that stretch a fault over time; shrinking tries to halve them.
DURATION_FIELDS = ("for_ms", "heal_after_ms", "restart_after_ms")
HALVINGS_MAX = 3


def ddmin(items: Sequence[Fault], fails: Callable[[list[Fault]], bool], *,
          runs_max: int = RUNS_MAX_DEFAULT) -> tuple[list[Fault], int]:
    """A 1-minimal sublist of ``items`` for which ``fails`` still holds; and runs used.

    ``fails(items)`` is assumed true. Stops early (returning the best so far) after
    ``runs_max`` calls.
    """
    assert runs_max >= 1
    current = list(items)
    runs = 0
    n = 2
    while len(current) >= 2 and runs < runs_max:
        chunk = max(1, len(current) // n)
        parts = [current[i:i + chunk] for i in range(0, len(current), chunk)]
        reduced = False
        for i in range(len(parts)):
            complement = [f for j, p in enumerate(parts) if j != i for f in p]
            for candidate in (parts[i], complement):
                if runs >= runs_max or len(candidate) == len(current):
                    continue
                runs += 1
                if fails(candidate):
                    current, n, reduced = candidate, 2 if candidate is parts[i] else max(
                        n - 1, 2), True
                    break
            if reduced:
                break
        if not reduced:
            if n >= len(current):
                break
            n = min(len(current), 2 * n)
    if len(current) == 1 and runs < runs_max:
        runs += 1
        if fails([]):  # the seed fails with no fault at all
            current = []
    return current, runs


def shrink(seed: int, plan: FaultPlan, schedule: Sequence[Fault], *, invariant: str | None,
           before_ms: float | None = None,
           runs_max: int = RUNS_MAX_DEFAULT) -> tuple[list[Fault], int]:
    """The minimal sub-schedule of ``schedule`` with which ``seed`` still violates
    ``invariant`` (any invariant if None); and the number of runs it took."""
    from focusflow.chaos.campaign import run_seed

    def fails(faults: list[Fault]) -> bool:
        result, _ = run_seed(seed, plan.with_faults(faults))
        names = {v["invariant"] for v in result["violations"]}
        return bool(names) if invariant is None else invariant in names

    start = list(schedule)
    runs = 0
    if before_ms is not None:
        early = [f for f in start if f.at_ms <= before_ms]
        if len(early) < len(start):
            runs += 1
            if fails(early):
                start = early
    minimal, more = ddmin(start, fails, runs_max=max(1, runs_max - runs))
    runs += more
    simpler, more = shorten(minimal, fails, runs_max=max(0, runs_max - runs))
    return simpler, runs + more


def shorten(faults: list[Fault], fails: Callable[[list[Fault]], bool], *,
            runs_max: int = RUNS_MAX_DEFAULT) -> tuple[list[Fault], int]:
    """Halve each fault's duration fields while the schedule still fails (at most
    ``HALVINGS_MAX`` times each): a shorter partition that still breaks is simpler."""
    current = list(faults)
    runs = 0
    for i in range(len(current)):
        for name in DURATION_FIELDS:
            for _ in range(HALVINGS_MAX):
                value = getattr(current[i], name, None)
                if value is None or value < 2.0 or runs >= runs_max:
                    break
                candidate = list(current)
                candidate[i] = dataclasses.replace(current[i], **{name: round(value / 2, 3)})
                runs += 1
                if not fails(candidate):
                    break
                current = candidate
    return current, runs


def shrink_failure(seed: int, plan: FaultPlan, trace_path: str, out_dir: str) -> dict[str, Any]:
    """Shrink the failure saved in ``trace_path``; save the minimal run's trace and plan.

    Returns a JSON-ready report: original and minimal fault counts, runs, the minimal
    schedule, and the paths of the minimal trace and TOML plan.
    """
    from focusflow.chaos.campaign import first_violation, run_seed, save_failure
    from focusflow.chaos.faults import fault_from_dict
    from focusflow.chaos.trace import load_trace

    started = time.perf_counter()
    doc = load_trace(trace_path)
    result = doc["result"]
    schedule = [fault_from_dict(f) for f in doc["plan"]["faults"]]
    target = first_violation(result)
    before = min((v["t_ms"] for v in result["violations"]), default=None)
    minimal, runs = shrink(seed, plan, schedule, invariant=target, before_ms=before)
    final, _ = run_seed(seed, plan.with_faults(minimal))
    trace = save_failure(seed, plan, final, minimal,
                         Path(out_dir) / f"seed-{seed}.min.trace.gz")
    toml_path = Path(out_dir) / f"seed-{seed}.min.toml"
    toml_path.write_text(f"# seed {seed}: minimal schedule violating {target}\n"
                         f"# focusflow chaos --seeds {seed}-{seed} --plan {toml_path}\n"
                         + plan_to_toml(plan.with_faults(minimal)))
    return {"seed": seed, "invariant": target, "faults_before": len(schedule),
            "faults_after": len(minimal), "runs": runs,
            "schedule": [f.to_dict() for f in minimal], "still_fails": not final["ok"],
            "trace": str(trace), "plan": str(toml_path),
            "wall_seconds": round(time.perf_counter() - started, 3)}
