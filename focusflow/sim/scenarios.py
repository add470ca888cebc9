"""Scenario registry: what ``focusflow sim`` runs, pluggable by other packages.

A scenario is a builder ``build(sim, options) -> None`` that adds nodes (with their
supervisor trees), schedules faults and registers invariants on a fresh ``Simulation``.
Register one with ``@register_scenario("name", ...)`` in a module that the CLI discovers:
``focusflow.sim.demo`` (built in), every ``focusflow.actors.<component>.scenario`` module
and ``focusflow.topology.scenarios``, if they exist. A scenario may add its own command
line options (``add_arguments``); the CLI passes every parsed option through ``options``.

``run_scenario`` produces the summary the CLI prints (``--json``): ``trace_hash``,
``events``, ``virtual_seconds``, ``wall_seconds``, ``invariants`` and more.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import pkgutil
import time
from collections.abc import Callable, Mapping
from typing import Any

from focusflow.sim._sim import Simulation

Builder = Callable[[Simulation, Mapping[str, Any]], None]
ArgAdder = Callable[[argparse._ArgumentGroup], None]
Finisher = Callable[[Simulation, Mapping[str, Any]], Mapping[str, Any]]

DURATION_MS_DEFAULT = 5_000.0
TRACE_TAIL_REPORTED = 20
DURATION_MS_MAX = 24 * 3_600_000.0


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """A registered scenario: how to build it, its options, its default duration."""

    name: str
    build: Builder
    help: str = ""
    add_arguments: ArgAdder | None = None
    finish: Finisher | None = None
    duration_ms: float = DURATION_MS_DEFAULT
    #: The CLI's default scenario is the registered one with the highest priority.
    priority: int = 0
    #: ``select(options)`` True makes this scenario the CLI's choice when no
    #: ``--scenario`` was given (e.g. when one of its own options was passed).
    select: Callable[[Mapping[str, Any]], bool] | None = None
    #: ``progress(sim)``: each node's progress (e.g. its finalized height), read by a
    #: chaos run's settle phase, which requires all of it to pass the highest value seen
    #: when every fault was healed (liveness). None: the scenario has no such measure.
    progress: Callable[[Any], Mapping[str, int]] | None = None
    #: ``duration(options)``: the run length these options need when no duration was
    #: given (e.g. long enough for a scheduled fault and the recovery after it), or None
    #: for ``duration_ms``.
    duration: Callable[[Mapping[str, Any]], float | None] | None = None


_SCENARIOS: dict[str, Scenario] = {}


def register_scenario(name: str, *, help: str = "", add_arguments: ArgAdder | None = None,
                      finish: Finisher | None = None, duration_ms: float = DURATION_MS_DEFAULT,
                      priority: int = 0,
                      select: Callable[[Mapping[str, Any]], bool] | None = None,
                      progress: Callable[[Any], Mapping[str, int]] | None = None,
                      duration: Callable[[Mapping[str, Any]], float | None] | None = None,
                      ) -> Callable[[Builder], Builder]:
    """Decorator: register ``build`` under ``name`` (a second registration replaces it).

    ``finish(sim, options)`` may return extra summary fields after the run;
    ``select(options)`` lets the scenario claim a run without ``--scenario`` (for
    example when its own ``--validators`` option was given); ``duration(options)`` sets
    the default run length for those options; ``progress(sim)`` measures each node's
    progress for a chaos run's settle phase (liveness).
    """
    assert name and name.replace("-", "_").isidentifier(), f"bad scenario name {name!r}"
    assert 0 < duration_ms <= DURATION_MS_MAX

    def wrap(build: Builder) -> Builder:
        _SCENARIOS[name] = Scenario(name, build, help, add_arguments, finish, duration_ms,
                                    priority, select, progress=progress, duration=duration)
        return build

    return wrap


def discover() -> dict[str, Scenario]:
    """Import the modules that register scenarios; return the registry (sorted by name)."""
    importlib.import_module("focusflow.sim.demo")
    candidates = ["focusflow.topology.scenarios"]
    try:
        actors = importlib.import_module("focusflow.actors")
        for info in sorted(pkgutil.iter_modules(actors.__path__), key=lambda m: m.name):
            if info.ispkg:
                candidates.append(f"focusflow.actors.{info.name}.scenario")
    except ImportError:
        pass
    for module in candidates:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(module)
    return dict(sorted(_SCENARIOS.items()))


def default_scenario(options: Mapping[str, Any] | None = None) -> str:
    """The scenario to run without ``--scenario``: the highest-priority one among those
    whose ``select(options)`` is true, else among all (ties: alphabetical)."""
    scenarios = list(discover().values())
    chosen = [s for s in scenarios if s.select is not None and options is not None
              and s.select(options)]
    pool = chosen or scenarios
    return sorted(pool, key=lambda s: (-s.priority, s.name))[0].name


def run_scenario(name: str, seed: int, *, duration_ms: float | None = None,
                 options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build scenario ``name`` on ``Simulation(seed)``, run it, return the summary.

    Raises:
        KeyError: no such scenario.
    """
    scenarios = discover()
    if name not in scenarios:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(scenarios)}")
    scenario = scenarios[name]
    opts = dict(options or {})
    if duration_ms is None and scenario.duration is not None:
        duration_ms = scenario.duration(opts)
    started = time.perf_counter()
    sim = Simulation(seed)
    scenario.build(sim, opts)
    sim.run(for_ms=duration_ms or scenario.duration_ms)
    sim.check_invariants()
    extra = dict(scenario.finish(sim, opts)) if scenario.finish is not None else {}
    wall = time.perf_counter() - started
    stats = sim.statistics()
    summary: dict[str, Any] = {
        "scenario": name,
        "seed": seed,
        "trace_hash": sim.trace_hash(),
        "events": sim.events,
        "records": sim.records,
        "virtual_seconds": round(sim.virtual_seconds, 9),
        "wall_seconds": round(wall, 6),
        # virtual seconds per wall second: how much faster than real time the run went
        # (reported only; the trace never sees the wall clock)
        "speed_x": round(sim.virtual_seconds / wall, 3) if wall > 0 else None,
        "invariants": dict(sim.invariant_results),
        "violations": [{"invariant": n, "step": s, "t_ns": t, "detail": d}
                       for n, s, t, d in sim.violations],
        "network": stats["network"],
        "nodes": stats["nodes"],
    }
    summary.update(extra)
    summary["ok"] = all(summary["invariants"].values())
    if not summary["ok"]:  # what happened last, to start debugging from
        summary["trace_tail"] = [
            {"t_ns": t, "node": node, "event": event[:48].hex()}
            for t, node, event in list(sim.trace_tail)[-TRACE_TAIL_REPORTED:]]
    return summary
