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
import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from focusflow.chaos import points as _points
from focusflow.chaos.faults import Fault
from focusflow.chaos.invariants import InvariantSpec, check_end, install
from focusflow.chaos.plan import FaultPlan
from focusflow.chaos.trace import RecordLog, write_trace
from focusflow.chaos.world import ChaosWorld
from focusflow.sim import Simulation
from focusflow.sim.scenarios import Scenario, discover

JOBS_MAX = 256
SEEDS_MAX = 10_000_000
EXCEPTION_INVARIANT = "run.no_exception"


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
            listener: Callable[[int, str, bytes], None] | None = None) -> bool:
    """Run to the plan's end (or ``max_events`` steps); return whether it ran to the end.

    An exception escaping the simulator (a harness or runtime bug, not an actor crash,
    which supervisors handle) is recorded as a violation of ``run.no_exception``.
    """
    sim = run.sim
    sim.record_listener = listener
    previous = _points.activate(run.world.points)
    finished = False
    try:
        end_ns = int(run.duration_ms * 1_000_000)
        if max_events is None:
            sim.run(until_ns=end_ns)
            finished = True
        else:
            steps = max_events - sim.events
            if steps > 0:
                sim.run(until_ns=end_ns, max_events=steps)
        if finished:
            sim.check_invariants()
            check_end(run.world, run.end)
            if run.scenario.finish is not None:
                run.extra = dict(run.scenario.finish(sim, dict(run.plan.options)))
    except Exception as exc:
        run.exception = "".join(traceback.format_exception_only(exc)).strip()
        sim.violations.append((EXCEPTION_INVARIANT, sim.events, sim.now_ns(),
                               traceback.format_exc(limit=8)))
        sim.invariant_results[EXCEPTION_INVARIANT] = False
    finally:
        _points.activate(previous)
        sim.record_listener = None
    return finished


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
             log: RecordLog | None = None) -> tuple[dict[str, Any], Run]:
    """Build and run one seed; returns (result, run)."""
    started = time.perf_counter()
    run = build_run(seed, plan, faults=faults)
    execute(run, listener=log)
    return summarize(run, time.perf_counter() - started), run


def first_violation(result: dict[str, Any]) -> str | None:
    """Name of the first violated invariant (by step), or None."""
    vs = sorted(result["violations"], key=lambda v: v["step"])
    return vs[0]["invariant"] if vs else None


def save_failure(seed: int, plan: FaultPlan, result: dict[str, Any], schedule: Sequence[Fault],
                 path: Path) -> Path:
    """Rerun a failing seed with digests on, check it reproduces, write its trace file.

    Raises:
        NotReproducible: the rerun's trace hash differs (nondeterminism somewhere).
    """
    log = RecordLog()
    concrete = plan.with_faults(schedule)
    rerun, _ = run_seed(seed, concrete, log=log)
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


def _work(args: tuple[int, dict[str, Any], str]) -> dict[str, Any]:
    from focusflow.chaos.plan import plan_from_dict

    seed, plan_dict, out_dir = args
    plan = plan_from_dict(plan_dict)
    try:
        result, run = run_seed(seed, plan)
    except Exception as exc:  # building the scenario or its schedule failed
        return _build_failure(seed, exc)
    result["trace"] = None
    if not result["ok"]:
        path = Path(out_dir) / f"seed-{seed}.trace.gz"
        try:
            result["trace"] = str(save_failure(seed, plan, result, run.schedule, path))
        except NotReproducible as exc:
            result["violations"].append({"invariant": "run.deterministic", "step": 0,
                                         "t_ms": 0.0, "detail": str(exc)})
    return result


def _build_failure(seed: int, exc: Exception) -> dict[str, Any]:
    detail = "".join(traceback.format_exception(exc, limit=8))
    return {"seed": seed, "ok": False, "violations": [{
        "invariant": EXCEPTION_INVARIANT, "step": 0, "t_ms": 0.0, "detail": detail}],
        "faults_injected": 0, "faults_skipped": 0, "schedule": [], "fault_points_fired": {},
        "trace_hash": "", "events": 0, "records": 0, "virtual_seconds": 0.0,
        "wall_seconds": 0.0, "scenario": {}, "trace": None}


def _shrink_work(args: tuple[int, dict[str, Any], str, str]) -> dict[str, Any]:
    from focusflow.chaos.plan import plan_from_dict
    from focusflow.chaos.shrink import shrink_failure

    seed, plan_dict, trace_path, out_dir = args
    return shrink_failure(seed, plan_from_dict(plan_dict), trace_path, out_dir)


def _imap(fn: Callable[[Any], dict[str, Any]], items: list[Any], jobs: int) -> Iterator[
        dict[str, Any]]:
    if jobs <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ctx.Pool(min(jobs, len(items))) as pool:
        yield from pool.imap_unordered(fn, items, chunksize=1)


def run_campaign(seeds: Iterable[int], plan: FaultPlan, *, jobs: int = 1,
                 out_dir: str | Path = "chaos-traces", shrink: bool = True,
                 shrink_max: int = 3, progress: bool | None = None) -> dict[str, Any]:
    """Run every seed (in ``jobs`` processes), save failing traces, shrink the first
    ``shrink_max`` failures. Returns the campaign summary (JSON-ready)."""
    from tqdm import tqdm

    assert 1 <= jobs <= JOBS_MAX, jobs
    seed_list = list(seeds)
    started = time.perf_counter()
    items = [(s, plan.to_dict(), str(out_dir)) for s in seed_list]
    results: list[dict[str, Any]] = []
    bar = tqdm(total=len(items), desc="chaos", unit="seed", disable=progress is False
               or (progress is None and not sys.stderr.isatty()), file=sys.stderr)
    failures = 0
    for result in _imap(_work, items, jobs):
        results.append(result)
        failures += not result["ok"]
        bar.update(1)
        bar.set_postfix(failures=failures)
    bar.close()
    results.sort(key=lambda r: r["seed"])
    campaign_wall = time.perf_counter() - started
    shrunk: list[dict[str, Any]] = []
    failing = [r for r in results if not r["ok"] and r["trace"]]
    if shrink and failing:
        todo = [(r["seed"], plan.to_dict(), r["trace"], str(out_dir))
                for r in failing[:shrink_max]]
        shrunk = sorted(_imap(_shrink_work, todo, jobs), key=lambda s: s["seed"])
        by_seed = {s["seed"]: s for s in shrunk}
        for r in results:
            if r["seed"] in by_seed:
                r["shrunk"] = by_seed[r["seed"]]
    virtual = sum(r["virtual_seconds"] for r in results)
    busy = sum(r["wall_seconds"] for r in results)
    return {
        "runs": len(results),
        "failures": sum(not r["ok"] for r in results),
        "faults_injected": sum(r["faults_injected"] for r in results),
        "scenario": plan.scenario,
        "plan": plan.to_dict(),
        "jobs": jobs,
        "wall_seconds": round(campaign_wall, 3),
        "virtual_seconds": round(virtual, 3),
        "sim_seconds_per_wall_second": round(virtual / campaign_wall, 3) if campaign_wall else 0,
        "sim_seconds_per_cpu_second": round(virtual / busy, 3) if busy else 0,
        "seeds_per_minute": round(60 * len(results) / campaign_wall, 2) if campaign_wall else 0,
        "traces": [r["trace"] for r in results if r.get("trace")],
        "shrunk": shrunk,
        "results": results,
    }
