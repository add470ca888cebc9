"""Running chaos: one seed (``run_seed``), many seeds in processes (``run_campaign``).

A run builds the plan's scenario on ``Simulation(seed)``, schedules the concrete fault
schedule, installs the registered invariants of the components present, activates the
fault points, runs for the plan's duration, then evaluates end-of-run invariants. A
failing run is executed a second time with record digests on (a free determinism check:
the trace hash must match) and saved as a trace file that ``focusflow replay`` reruns.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from focusflow.chaos import points as _points
from focusflow.chaos.faults import Fault
from focusflow.chaos.invariants import InvariantSpec, check_end, install
from focusflow.chaos.limits import Budget, Limits
from focusflow.chaos.plan import FaultPlan
from focusflow.chaos.progress import ProgressLine
from focusflow.chaos.trace import RecordLog, write_trace
from focusflow.chaos.workers import Outcome, run_tasks
from focusflow.chaos.world import ChaosWorld
from focusflow.sim import Simulation
from focusflow.sim.scenarios import Scenario, discover

JOBS_MAX = 256
SEEDS_MAX = 10_000_000
EXCEPTION_INVARIANT = "run.no_exception"
BUDGET_INVARIANT = "run.budget"
LIVENESS_INVARIANT = "liveness.after_heal"
WORKER_DIED_INVARIANT = "run.worker_died"
#: Steps run between two budget checks.
BUDGET_CHUNK = 250
__all__ = ["Budget", "Limits"]  # re-exported: callers of run_campaign / run_seed pass them


class NotReproducible(AssertionError):
    """A rerun of the same seed and schedule gave another trace: nondeterminism (a bug)."""


def scenarios() -> dict[str, Scenario]:
    """Every scenario the chaos harness can run (the simulator's, plus the chaos demo)."""
    importlib.import_module("focusflow.chaos.quorum")
    importlib.import_module("focusflow.chaos.state_scenario")
    return discover()


@dataclasses.dataclass
class Run:
    """A built, not yet finished, chaos run."""

    world: ChaosWorld
    plan: FaultPlan
    schedule: list[Fault]
    scenario: Scenario
    end: list[InvariantSpec]
    #: Virtual milliseconds to run (the plan's, else the scenario's).
    duration_ms: float
    exception: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def sim(self) -> Simulation:
        return self.world.sim


def build_run(seed: int, plan: FaultPlan, *, faults: Sequence[Fault] | None = None) -> Run:
    """Build scenario + faults + invariants for ``seed`` (nothing runs yet).

    ``faults`` replaces the plan's schedule (replay, shrinking); otherwise the plan is
    concretized from the seed.

    Raises:
        KeyError: unknown scenario.
    """
    known = scenarios()
    if plan.scenario not in known:
        raise KeyError(f"unknown scenario {plan.scenario!r}; known: {', '.join(known)}")
    scenario = known[plan.scenario]
    sim = Simulation(seed, invariant_every=plan.invariant_every)
    world = ChaosWorld(sim, scenario=plan.scenario, options=dict(plan.options))
    world.points.enabled = plan.buggify
    world.points.enable_probability = plan.buggify_enable_probability
    previous = _points.activate(world.points)  # builders may hit fault points too
    try:
        scenario.build(sim, dict(plan.options))
        duration_ms = plan.duration_ms or scenario.duration_ms
        schedule = plan.concretize(world, duration_ms) if faults is None else sorted(
            faults, key=lambda f: f.at_ms)
    finally:
        _points.activate(previous)
    for fault in schedule:
        world.schedule(fault)
    end = install(world)
    return Run(world, plan, schedule, scenario, end, duration_ms)


def execute(run: Run, *, max_events: int | None = None,
            listener: Callable[[int, str, bytes], None] | None = None,
            budget: Budget | None = None) -> bool:
    """Run to the plan's end (or ``max_events`` steps); return whether it ran to the end.

    An exception escaping the simulator (a harness or runtime bug, not an actor crash,
    which supervisors handle) is recorded as a violation of ``run.no_exception``; a run
    that exceeds ``budget`` stops with a violation of ``run.budget``.
    """
    sim = run.sim
    sim.record_listener = listener
    previous = _points.activate(run.world.points)
    finished = False
    started = time.perf_counter()
    try:
        end_ns = int(run.duration_ms * 1_000_000)
        limit = max_events if max_events is not None else sys.maxsize
        while sim.events < limit:
            chunk = limit - sim.events
            if budget is not None:
                chunk = min(chunk, BUDGET_CHUNK, max(1, (budget.events_max or chunk)
                                                     - sim.events))
            if sim.run(until_ns=end_ns, max_events=chunk) < chunk:
                finished = max_events is None  # else: replay stops at a step, not the end
                break
            why = budget.exceeded(sim, started) if budget else None
            if why:
                sim.violations.append((BUDGET_INVARIANT, sim.events, sim.now_ns(),
                                       f"stopped at step {sim.events}, "
                                       f"t={sim.now_ns() / 1e6:.3f} ms: {why}"))
                sim.invariant_results[BUDGET_INVARIANT] = False
                break
        if finished:
            sim.check_invariants()
            check_end(run.world, run.end)
            if run.plan.settle_ms and run.scenario.progress is not None:
                settle(run)
            if run.scenario.finish is not None:
                run.extra = dict(run.scenario.finish(sim, dict(run.plan.options)))
    except Exception as exc:
        run.exception = "".join(traceback.format_exception_only(exc)).strip()
        sim.violations.append((EXCEPTION_INVARIANT, sim.events, sim.now_ns(),
                               f"{run.exception}\n{traceback.format_exc(limit=8)}"))
        sim.invariant_results[EXCEPTION_INVARIANT] = False
    finally:
        _points.activate(previous)
        sim.record_listener = None
    return finished


def settle(run: Run) -> None:
    """Liveness after the faults: heal every fault (``ChaosWorld.heal_all``), run
    ``settle_ms`` more, and require every node's progress (the scenario's, e.g. each
    honest validator's finalized height) to pass the highest value any had at the heal;
    the safety invariants keep running. A failure is ``liveness.after_heal``, naming the
    nodes behind and every node's progress at the heal and after.

    Why: the run's invariants are safety only, and a network that stalls for good after
    a restart within tolerance passed them (issue 16: a restart while another validator
    was down froze the chain in 7 of 18 simulator runs, unseen by 200 chaos seeds)."""
    sim, world, progress = run.sim, run.world, run.scenario.progress
    assert progress is not None
    restarted = world.heal_all()
    healed_ms = sim.now_ns() / 1e6
    at_heal = dict(progress(sim))
    top = max(at_heal.values(), default=0)
    sim.run(until_ns=sim.now_ns() + int(run.plan.settle_ms * 1_000_000))
    sim.check_invariants()
    after = dict(progress(sim))
    behind = sorted(n for n in {*at_heal, *after} if after.get(n, -1) <= top)
    if behind:
        sim.violations.append((LIVENESS_INVARIANT, sim.events, sim.now_ns(),
                               f"{run.plan.settle_ms:.0f} ms after every fault was healed "
                               f"(t={healed_ms:.0f} ms, nodes restarted: {restarted or 'none'}) "
                               f"{', '.join(behind)} did not pass {top}, the highest progress "
                               f"at the heal; at the heal {at_heal}, after {after}"))
        sim.invariant_results[LIVENESS_INVARIANT] = False


def summarize(run: Run, wall_seconds: float) -> dict[str, Any]:
    """The per-seed result (JSON-ready)."""
    sim = run.sim
    world = run.world
    return {
        "seed": sim.seed,
        "ok": not sim.violations,
        "violations": [{"invariant": n, "step": s, "t_ms": t / 1e6, "detail": d[:2000]}
                       for n, s, t, d in sim.violations],
        "faults_injected": world.faults_injected,
        "faults_skipped": len(world.skipped),
        "schedule": [f.to_dict() for f in run.schedule],
        "fault_points_fired": dict(sorted(world.points.fired.items())),
        "trace_hash": sim.trace_hash(),
        "events": sim.events,
        "records": sim.records,
        "virtual_seconds": round(sim.virtual_seconds, 9),
        "wall_seconds": round(wall_seconds, 6),
        "scenario": dict(run.extra),
    }


def run_seed(seed: int, plan: FaultPlan, *, faults: Sequence[Fault] | None = None,
             log: RecordLog | None = None, budget: Budget | None = None,
             ) -> tuple[dict[str, Any], Run]:
    """Build and run one seed; returns (result, run)."""
    started = time.perf_counter()
    run = build_run(seed, plan, faults=faults)
    execute(run, listener=log, budget=budget)
    return summarize(run, time.perf_counter() - started), run


def first_violation(result: dict[str, Any]) -> str | None:
    """Name of the first violated invariant (by step), or None."""
    vs = sorted(result["violations"], key=lambda v: v["step"])
    return vs[0]["invariant"] if vs else None


def save_failure(seed: int, plan: FaultPlan, result: dict[str, Any], schedule: Sequence[Fault],
                 path: Path, *, budget: Budget | None = None) -> Path:
    """Rerun a failing seed with digests on, check it reproduces, write its trace file
    (at ``path``, or a fresh name next to it: earlier evidence is never overwritten).

    Raises:
        NotReproducible: the rerun's trace hash differs (nondeterminism somewhere).
    """
    log = RecordLog()
    concrete = plan.with_faults(schedule)
    rerun, _ = run_seed(seed, concrete, log=log, budget=budget)
    if rerun["trace_hash"] != result["trace_hash"]:
        raise NotReproducible(f"seed {seed}: rerun gave trace {rerun['trace_hash'][:16]}, "
                              f"first run {result['trace_hash'][:16]}")
    return write_trace(path, seed=seed, plan=concrete.to_dict(), result=rerun, records=log)


# ============================================================================ campaigns
def parse_seeds(text: str) -> range:
    """``"A-B"`` (inclusive) or ``"N"`` to a range.

    Raises:
        ValueError: malformed, empty, or more than ``SEEDS_MAX`` seeds.
    """
    a, sep, b = text.partition("-")
    try:
        lo, hi = (int(a), int(b)) if sep else (int(a), int(a))
    except ValueError as exc:
        raise ValueError(f"seeds must be A-B or N, not {text!r}") from exc
    if lo < 0 or hi < lo or hi - lo + 1 > SEEDS_MAX:
        raise ValueError(f"bad seed range {text!r}")
    return range(lo, hi + 1)


def _work(args: tuple[int, dict[str, Any], str, Budget]) -> dict[str, Any]:
    from focusflow.chaos.plan import plan_from_dict

    seed, plan_dict, out_dir, budget = args
    plan = plan_from_dict(plan_dict)
    try:
        result, run = run_seed(seed, plan, budget=budget)
    except Exception as exc:  # building the scenario or its schedule failed
        return failed_result(seed, EXCEPTION_INVARIANT, exception_detail(exc))
    schedule = run.schedule
    del run  # the rerun that saves the trace needs the memory, not this run
    result["trace"] = None
    if result["ok"]:
        return result
    if all(v["invariant"] == BUDGET_INVARIANT for v in result["violations"]):
        result["trace_note"] = ("no trace: the run was stopped by its budget; rerun the "
                                "seed with a larger --max-rss-mb / --seed-timeout")
        return result
    # a budget stop is replayed to the same step, deterministically
    stopped = any(v["invariant"] == BUDGET_INVARIANT for v in result["violations"])
    rerun_budget = dataclasses.replace(budget, events_max=result["events"]) if stopped \
        else budget
    try:
        result["trace"] = str(save_failure(seed, plan, result, schedule,
                                           Path(out_dir) / f"seed-{seed}.trace.gz",
                                           budget=rerun_budget))
    except NotReproducible as exc:
        result["violations"].append({"invariant": "run.deterministic", "step": 0,
                                     "t_ms": 0.0, "detail": str(exc)})
    return result


def exception_detail(exc: BaseException) -> str:
    """An exception as a violation's detail: its one-line message first, then where."""
    first = "".join(traceback.format_exception_only(exc)).strip()
    return f"{first}\n{''.join(traceback.format_exception(exc, limit=8))}"


def failed_result(seed: int, invariant: str, detail: str) -> dict[str, Any]:
    """The result of a seed that produced none of its own (it raised, its worker died)."""
    return {"seed": seed, "ok": False, "violations": [{
        "invariant": invariant, "step": 0, "t_ms": 0.0, "detail": detail}],
        "faults_injected": 0, "faults_skipped": 0, "schedule": [], "fault_points_fired": {},
        "trace_hash": "", "events": 0, "records": 0, "virtual_seconds": 0.0,
        "wall_seconds": 0.0, "scenario": {}, "trace": None}


def _shrink_work(args: tuple[int, dict[str, Any], str, str, Limits]) -> dict[str, Any]:
    from focusflow.chaos.plan import plan_from_dict
    from focusflow.chaos.shrink import shrink_failure

    seed, plan_dict, trace_path, out_dir, limits = args
    return shrink_failure(seed, plan_from_dict(plan_dict), trace_path, out_dir,
                          budget_s=limits.shrink_budget_s, limits=limits)


def check_scenario(name: str) -> None:
    """Raises ValueError (one line: the known names) when ``name`` is not a scenario."""
    known = scenarios()
    if name not in known:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(known))}")


def run_campaign(seeds: Iterable[int], plan: FaultPlan, *, jobs: int = 1,
                 out_dir: str | Path = "chaos-traces", shrink: bool = True,
                 shrink_max: int = 3, progress: bool | None = None,
                 limits: Limits | None = None) -> dict[str, Any]:
    """Run every seed (``jobs`` watched worker processes, one per seed), save failing
    traces, shrink the first ``shrink_max`` failures. Returns the campaign summary
    (JSON-ready); Ctrl-C stops it and returns what was found so far, with
    ``interrupted`` true. A worker that dies (OOM killer, a signal, the RSS cap) makes
    its seed fail with ``run.worker_died`` and the campaign goes on.

    Raises:
        ValueError: unknown scenario.
    """
    assert 1 <= jobs <= JOBS_MAX, jobs
    check_scenario(plan.scenario)
    limits = limits if limits is not None else Limits()
    seed_list = list(seeds)
    started = time.perf_counter()
    budget = limits.budget()
    items = [(s, plan.to_dict(), str(out_dir), budget) for s in seed_list]
    results: list[dict[str, Any]] = []
    shrunk: list[dict[str, Any]] = []
    line = ProgressLine(len(items), enabled=progress)
    interrupted = False
    try:
        for index, outcome in run_tasks(_work, items, jobs=jobs, tick=line.update,
                                        limits=limits.worker(limits.seed_timeout_s)):
            results.append(_seed_result(seed_list[index], outcome))
            line.done += 1
            line.failures += not results[-1]["ok"]
            line.update(force=True)
        failing = sorted((r for r in results if not r["ok"] and r["trace"]),
                         key=lambda r: r["seed"])
        if shrink and failing:
            todo = [(r["seed"], plan.to_dict(), r["trace"], str(out_dir), limits)
                    for r in failing[:shrink_max]]
            line.stage, line.done, line.total = "shrinking", 0, len(todo)
            for index, outcome in run_tasks(_shrink_work, todo, jobs=jobs, tick=line.update,
                                            limits=limits.worker(2 * limits.shrink_budget_s)):
                shrunk.append(_shrink_result(todo[index][0], outcome))
                line.done += 1
                line.update(force=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        line.close()
    return _summary(results, shrunk, plan, jobs, time.perf_counter() - started,
                    interrupted=interrupted, seeds_total=len(seed_list), limits=limits)


def _seed_result(seed: int, outcome: Outcome) -> dict[str, Any]:
    if outcome.value is not None:
        result: dict[str, Any] = outcome.value
    elif outcome.died and outcome.died.startswith("raised "):
        result = failed_result(seed, EXCEPTION_INVARIANT, outcome.died[len("raised "):])
    else:
        result = failed_result(seed, WORKER_DIED_INVARIANT,
                               f"worker died: {outcome.died} while running seed {seed}")
        result["wall_seconds"] = outcome.wall_seconds
    result["max_rss_mb"] = outcome.max_rss_mb
    return result


def _shrink_result(seed: int, outcome: Outcome) -> dict[str, Any]:
    if outcome.value is not None:
        report: dict[str, Any] = outcome.value
    else:
        report = {"seed": seed, "error": f"shrinking worker died: {outcome.died} while "
                                         f"shrinking seed {seed}",
                  "wall_seconds": outcome.wall_seconds}
    report["max_rss_mb"] = outcome.max_rss_mb
    return report


def _summary(results: list[dict[str, Any]], shrunk: list[dict[str, Any]], plan: FaultPlan,
             jobs: int, wall: float, *, interrupted: bool, seeds_total: int,
             limits: Limits) -> dict[str, Any]:
    results.sort(key=lambda r: r["seed"])
    shrunk.sort(key=lambda s: s["seed"])
    by_seed = {s["seed"]: s for s in shrunk}
    for r in results:
        if r["seed"] in by_seed:
            r["shrunk"] = by_seed[r["seed"]]
    virtual = sum(r["virtual_seconds"] for r in results)
    busy = sum(r["wall_seconds"] for r in results)
    return {
        "runs": len(results),
        "seeds_total": seeds_total,
        "interrupted": interrupted,
        "failures": sum(not r["ok"] for r in results),
        "faults_injected": sum(r["faults_injected"] for r in results),
        "scenario": plan.scenario,
        "plan": plan.to_dict(),
        "jobs": jobs,
        "limits": dataclasses.asdict(limits),
        "wall_seconds": round(wall, 3),
        "virtual_seconds": round(virtual, 3),
        "sim_seconds_per_wall_second": round(virtual / wall, 3) if wall else 0,
        "sim_seconds_per_cpu_second": round(virtual / busy, 3) if busy else 0,
        "seeds_per_minute": round(60 * len(results) / wall, 2) if wall else 0,
        "max_worker_rss_mb": max((r.get(k) or 0.0 for r in [*results, *shrunk]
                                  for k in ("max_rss_mb", "candidates_max_rss_mb")),
                                 default=0.0),
        "traces": [r["trace"] for r in results if r.get("trace")],
        "shrunk": shrunk,
        "results": results,
    }
