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
from focusflow.chaos.workers import run_one

RUNS_MAX_DEFAULT = 200
#: Wall seconds of candidate runs spent shrinking one failure.
BUDGET_S_DEFAULT = 120.0
#: A candidate may run ``EVENTS_FACTOR`` times the original's steps (plus the slack):
#: past that it is an event storm, another behaviour than the one being shrunk.
EVENTS_FACTOR = 4
EVENTS_SLACK = 10_000
#: Schedules tried, smallest first, to verify the reported one still fails.
VERIFY_MAX = 4
STOP_REASONS_MAX = 5
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


class OutOfBudget(Exception):
    """The shrinking budget (wall time) is spent: stop with the smallest verified schedule."""


def shrink(seed: int, plan: FaultPlan, schedule: Sequence[Fault], *, invariant: str | None,
           before_ms: float | None = None, runs_max: int = RUNS_MAX_DEFAULT,
           fails: Callable[[list[Fault]], bool] | None = None) -> tuple[list[Fault], int]:
    """The minimal sub-schedule of ``schedule`` with which ``seed`` still violates
    ``invariant`` (any invariant if None); and the number of runs it took.

    ``fails`` decides a candidate (default: run it in this process). It may raise
    ``OutOfBudget``: the search then stops with the smallest schedule found failing.
    """
    from focusflow.chaos.campaign import run_seed

    def fails_here(faults: list[Fault]) -> bool:
        result, _ = run_seed(seed, plan.with_faults(faults))
        names = {v["invariant"] for v in result["violations"]}
        return bool(names) if invariant is None else invariant in names

    decide = fails or fails_here
    best = list(schedule)
    runs = 0

    def tracked(faults: list[Fault]) -> bool:
        nonlocal best, runs
        runs += 1
        failed = decide(faults)
        if failed and _simpler(faults, best):
            best = list(faults)
        return failed

    try:
        start = list(schedule)
        if before_ms is not None:
            early = [f for f in start if f.at_ms <= before_ms]
            if len(early) < len(start) and tracked(early):
                start = early
        minimal, _ = ddmin(start, tracked, runs_max=max(1, runs_max - runs))
        best = minimal
        simpler, _ = shorten(minimal, tracked, runs_max=max(0, runs_max - runs))
        best = simpler
    except OutOfBudget:
        pass
    return best, runs


def _simpler(a: Sequence[Fault], b: Sequence[Fault]) -> bool:
    """Fewer faults, or as many with less total duration."""
    def size(fs: Sequence[Fault]) -> tuple[int, float]:
        return len(fs), sum(float(getattr(f, n, None) or 0.0) for f in fs
                            for n in DURATION_FIELDS)
    return size(a) < size(b)


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


@dataclasses.dataclass
class _Candidates:
    """Decides shrink candidates, each run in a fresh watched worker process.

    A candidate keeps nothing in the shrinking process but the names of the invariants
    it violated: its simulation (and whatever it leaked) goes away with its process, so
    the shrinker's memory is that of one run, however many candidates it tries. Each
    run is bounded in steps (a multiple of the original's, deterministic), wall time (the
    budget left) and memory; a candidate stopped by a bound, or whose worker dies, does
    not count as failing.
    """

    seed: int
    plan: FaultPlan
    invariant: str | None
    events_max: int
    deadline: float
    limits: Any
    stopped: int = 0
    #: Why candidates were stopped (the first ``STOP_REASONS_MAX``).
    reasons: list[str] = dataclasses.field(default_factory=list)
    #: The largest resident memory of any candidate's worker (MiB).
    max_rss_mb: float = 0.0

    def stop(self, why: str) -> None:
        self.stopped += 1
        if len(self.reasons) < STOP_REASONS_MAX:
            self.reasons.append(why)

    def budget(self) -> Any:
        from focusflow.chaos.campaign import Budget

        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfBudget
        base = self.limits.budget()
        wall = left if base.wall_s is None else min(left, base.wall_s)
        return Budget(events_max=self.events_max, wall_s=wall, rss_mb=base.rss_mb)

    def __call__(self, faults: list[Fault]) -> bool:
        budget = self.budget()
        outcome = run_one(_candidate, (self.seed, self.plan.with_faults(faults).to_dict(),
                                       budget),
                          limits=self.limits.worker(budget.wall_s))
        self.max_rss_mb = max(self.max_rss_mb, outcome.max_rss_mb)
        if outcome.value is None:
            self.stop(f"{len(faults)} faults: worker died: {outcome.died}")
            return False
        names = {n for n, _ in outcome.value}
        if "run.budget" in names:
            self.stop(f"{len(faults)} faults: " + next(d for n, d in outcome.value
                                                        if n == "run.budget"))
        names.discard("run.budget")
        return bool(names) if self.invariant is None else self.invariant in names


def _candidate(args: tuple[int, dict[str, Any], Any]) -> list[tuple[str, str]]:
    """Worker: run one candidate; return only (invariant, first line) per violation."""
    from focusflow.chaos.campaign import run_seed
    from focusflow.chaos.plan import plan_from_dict

    seed, plan_dict, budget = args
    result, _ = run_seed(seed, plan_from_dict(plan_dict), budget=budget)
    return [(v["invariant"], (v["detail"] or "").split("\n", 1)[0][:200])
            for v in result["violations"]]


def _save_minimal(args: tuple[int, dict[str, Any], str | None, Any, str]) -> dict[str, Any]:
    """Worker: rerun the minimal schedule with digests on; if it violates the target,
    write its trace and TOML plan (fresh names) and return their paths."""
    from focusflow.chaos.campaign import run_seed
    from focusflow.chaos.plan import plan_from_dict
    from focusflow.chaos.trace import RecordLog, reserve, write_trace

    seed, plan_dict, target, budget, out_dir = args
    plan = plan_from_dict(plan_dict)
    log = RecordLog()
    result, _ = run_seed(seed, plan, log=log, budget=budget)
    names = {v["invariant"] for v in result["violations"]} - {"run.budget"}
    if not (names if target is None else target in names):
        return {"fails": False, "violations": sorted(names)}
    trace = reserve(Path(out_dir) / f"seed-{seed}.min.trace.gz", ".min.toml")
    toml_path = trace.with_name(trace.name.removesuffix(".trace.gz") + ".toml")
    write_trace(trace, seed=seed, plan=plan.to_dict(), result=result, records=log,
                reserved=True)
    toml_path.write_text(f"# seed {seed}: minimal schedule violating {target}\n"
                         f"# focusflow chaos --seeds {seed} --plan {toml_path}\n"
                         + plan_to_toml(plan))
    return {"fails": True, "trace": str(trace), "plan": str(toml_path)}


def shrink_failure(seed: int, plan: FaultPlan, trace_path: str, out_dir: str, *,
                   budget_s: float = BUDGET_S_DEFAULT, runs_max: int = RUNS_MAX_DEFAULT,
                   limits: Any = None) -> dict[str, Any]:
    """Shrink the failure saved in ``trace_path`` within ``budget_s`` wall seconds of
    candidate runs (and ``runs_max`` runs); save the minimal run's trace and plan.

    The reported schedule is verified: it is rerun (with digests on, for its trace) and
    must violate the same invariant; if it does not, the next smallest schedule that
    failed during the search is tried, and so on (at most ``VERIFY_MAX``), the original
    being the last resort. Returns a JSON-ready report: original and minimal fault
    counts, runs, whether the budget ran out, the minimal schedule, and the paths of the
    minimal trace and TOML plan (or ``error`` when nothing could be verified).
    """
    from focusflow.chaos.campaign import Limits, first_violation
    from focusflow.chaos.faults import fault_from_dict
    from focusflow.chaos.trace import load_trace

    limits = limits if limits is not None else Limits(shrink_budget_s=budget_s)
    started = time.perf_counter()
    doc = load_trace(trace_path)
    result = doc["result"]
    schedule = [fault_from_dict(f) for f in doc["plan"]["faults"]]
    del doc  # the records: the shrinker keeps only the schedule and the target
    target = first_violation(result)
    before = min((v["t_ms"] for v in result["violations"]), default=None)
    candidates = _Candidates(seed, plan, target,
                             events_max=EVENTS_FACTOR * int(result["events"]) + EVENTS_SLACK,
                             deadline=time.monotonic() + budget_s, limits=limits)
    tried: list[list[Fault]] = []

    def fails(faults: list[Fault]) -> bool:
        failed = candidates(faults)
        if failed:
            tried.append(list(faults))
        return failed

    minimal, runs = shrink(seed, plan, schedule, invariant=target, before_ms=before,
                           runs_max=runs_max, fails=fails)
    exhausted = time.monotonic() >= candidates.deadline or runs >= runs_max
    report: dict[str, Any] = {
        "seed": seed, "invariant": target, "faults_before": len(schedule), "runs": runs,
        "budget_s": budget_s, "budget_exhausted": exhausted,
        "candidates_stopped": candidates.stopped, "stop_reasons": candidates.reasons}
    order = [minimal, *sorted(tried, key=len), schedule]
    seen: list[list[Fault]] = []
    candidates.deadline = time.monotonic() + budget_s  # verifying gets a budget of its own
    for option in order:
        if option in seen:
            continue
        seen.append(option)
        if len(seen) > VERIFY_MAX:
            break
        try:
            verify = candidates.budget()
        except OutOfBudget:
            break
        saved = run_one(_save_minimal, (seed, plan.with_faults(option).to_dict(), target,
                                        verify, out_dir),
                        limits=candidates.limits.worker(verify.wall_s))
        candidates.max_rss_mb = max(candidates.max_rss_mb, saved.max_rss_mb)
        if saved.value is not None and saved.value["fails"]:
            report.update(faults_after=len(option), schedule=[f.to_dict() for f in option],
                          still_fails=True, verified=True, trace=saved.value["trace"],
                          plan=saved.value["plan"])
            break
    if "trace" not in report:
        report.update(still_fails=False, verified=False, faults_after=len(schedule),
                      schedule=[f.to_dict() for f in schedule], trace=None, plan=None,
                      error=f"no schedule reproduced {target} when rerun within the "
                            f"budget ({len(seen)} tried); the original trace {trace_path} "
                            f"stays the evidence")
    report["candidates_max_rss_mb"] = round(candidates.max_rss_mb, 1)
    report["wall_seconds"] = round(time.perf_counter() - started, 3)
    return report
