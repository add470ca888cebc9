"""Replay a chaos trace file exactly, stop at a step, inspect actors, diff two traces.

Re-execution rebuilds the run from the trace's seed and concrete plan and recomputes
every trace record's digest; the replay *reproduces* when every recomputed record equals
the stored one up to where it stopped (and, for a full run, the final trace hash and the
violations match too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from focusflow.chaos.campaign import BUDGET_INVARIANT, Run, build_run, execute, summarize
from focusflow.chaos.faults import fault_from_dict
from focusflow.chaos.plan import plan_from_dict
from focusflow.chaos.trace import RecordLog, describe, load_trace
from focusflow.sim import Simulation

STATE_REPR_MAX = 400
CONTEXT_RECORDS = 3


class _Stop(Exception):
    """Raised by a record listener to stop a re-execution at a record index."""


def _build(doc: dict[str, Any]) -> Run:
    plan = plan_from_dict(doc["plan"])
    return build_run(int(doc["seed"]), plan, faults=[fault_from_dict(f)
                                                     for f in doc["plan"]["faults"]])


def first_mismatch(a: list[str], b: list[str]) -> int | None:
    """First index where two digest lists differ (or one ends), None if equal."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def replay_trace(path: str | Path, *, until_step: int | None = None,
                 until_violation: bool = False, inspect: str | None = None) -> dict[str, Any]:
    """Re-execute a trace file; return a report (JSON-ready).

    ``until_step`` stops after that many simulator steps; ``until_violation`` at the step
    of the first recorded violation; ``inspect`` ("node:/user/path") dumps that actor's
    state where the replay stopped.

    Raises:
        TraceError: not a trace file.
        ValueError: both stopping rules, or a malformed actor name.
    """
    doc = load_trace(path)
    if until_step is not None and until_violation:
        raise ValueError("--until and --until-violation exclude each other")
    stored = doc["result"]
    stop = until_step
    if until_violation:
        steps = [v["step"] for v in stored["violations"]]
        stop = min(steps) if steps else None
    if stop is not None and stop >= int(stored["events"]):
        stop = None  # at or past the recorded end: replay the whole run
    if stop is None and any(v["invariant"] == BUDGET_INVARIANT for v in stored["violations"]):
        stop = int(stored["events"])  # the run was stopped by its budget: so is the replay
    run = _build(doc)
    log = RecordLog()
    finished = execute(run, max_events=stop, listener=log)
    result = summarize(run, run.sim.wall_seconds)
    expected = [r[3] for r in doc["records"]]
    got = log.digests
    mismatch = first_mismatch(got, expected if finished else expected[:len(got)])
    reproduced = mismatch is None
    if finished:
        reproduced &= (result["trace_hash"] == stored["trace_hash"]
                       and [v["invariant"] for v in result["violations"]]
                       == [v["invariant"] for v in stored["violations"]])
    report: dict[str, Any] = {
        "trace": str(path), "seed": doc["seed"], "scenario": doc["plan"]["scenario"],
        "reproduced": reproduced, "stopped_at_step": run.sim.events, "finished": finished,
        "t_ms": run.sim.now_ns() / 1e6, "records_compared": len(got),
        "first_mismatch": mismatch, "violations": result["violations"],
        "recorded_violations": stored["violations"], "trace_hash": result["trace_hash"],
    }
    if inspect is not None:
        report["inspect"] = inspect_actor(run.sim, inspect)
    return report


def inspect_actor(sim: Simulation, name: str) -> dict[str, Any]:
    """The state of actor ``node:/path`` (or ``node`` alone: its actors' paths) in a
    simulation (a chaos run's, or a live recording's replay).

    Raises:
        ValueError: malformed name.
    """
    node_name, _, path = name.partition(":")
    if node_name not in sim.node_names():
        raise ValueError(f"no node {node_name!r}; nodes: {', '.join(sim.node_names())}")
    if not sim.is_up(node_name):
        return {"actor": name, "alive": False, "why": "node is down"}
    node = sim.node(node_name)
    if not path:
        return {"node": node_name, "actors": sorted(node._cells)}
    cell = node._cells.get(path)
    if cell is None or cell.actor is None:
        return {"actor": name, "alive": False, "actors": sorted(node._cells)}
    state = _state_of(cell.actor)
    core = getattr(cell.actor, "core", None)
    out: dict[str, Any] = {"actor": name, "alive": True, "class": type(cell.actor).__name__,
                           "incarnation": cell.incarnation, "mailbox": len(cell.mailbox),
                           "state": state}
    if core is not None and hasattr(core, "__dict__"):
        out["core"] = _state_of(core)
    return out


def _state_of(obj: Any) -> dict[str, str]:
    """Attribute name -> bounded repr (private runtime attributes skipped)."""
    out = {}
    for key, value in sorted(vars(obj).items()):
        if key in ("ctx", "core") or key.startswith("__"):
            continue
        text = repr(value)
        out[key] = text if len(text) <= STATE_REPR_MAX else text[:STATE_REPR_MAX] + "..."
    return out


def _records_around(doc: dict[str, Any], index: int) -> list[dict[str, Any]]:
    """Re-execute ``doc`` up to record ``index`` and describe the last few records."""
    run = _build(doc)
    lo = max(0, index - CONTEXT_RECORDS + 1)
    seen: list[dict[str, Any]] = []
    count = [0]

    def listener(t_ns: int, node: str, event: bytes) -> None:
        i = count[0]
        count[0] += 1
        if i >= lo:
            seen.append({"index": i, "t_ms": t_ns / 1e6, "node": node or "(world)",
                         "what": describe(node, event)})
        if i >= index:
            raise _Stop

    run.sim.record_listener = listener
    try:
        from focusflow.chaos import points as _points

        previous = _points.activate(run.world.points)
        try:
            run.sim.run(until_ns=int(run.duration_ms * 1_000_000))
        finally:
            _points.activate(previous)
    except _Stop:
        pass
    return seen


def diff_traces(path_a: str | Path, path_b: str | Path) -> dict[str, Any]:
    """The first divergence between two trace files (None if their records agree)."""
    a, b = load_trace(path_a), load_trace(path_b)
    da, db = [r[3] for r in a["records"]], [r[3] for r in b["records"]]
    i = first_mismatch(da, db)
    report: dict[str, Any] = {"a": str(path_a), "b": str(path_b), "records_a": len(da),
                              "records_b": len(db), "first_divergence": i,
                              "same_plan": a["plan"] == b["plan"] and a["seed"] == b["seed"]}
    if i is None:
        return report
    report["a_records"] = _records_around(a, i) if i < len(da) else []
    report["b_records"] = _records_around(b, i) if i < len(db) else []
    report["t_ms"] = (a["records"][i][0] if i < len(da) else b["records"][i][0]) / 1e6
    return report
