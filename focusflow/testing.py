"""Deterministic simulation tests for users' own actors, in a few lines (pytest).

::

    from focusflow.testing import sim_test

    @sim_test(seeds=range(20), faults=("partition", "crash_node"), fault_count=3)
    def test_counter_survives(sim):
        sim.add_node("a", boot=my_boot)
        sim.add_node("b", boot=my_boot)
        sim.add_invariant("never_negative", lambda: ...)

The decorated function receives a fresh ``Simulation(seed)`` as ``sim`` (and/or the
``ChaosWorld`` as ``world``), builds the network and registers invariants; the decorator
then generates ``fault_count`` faults of the given kinds from the seed, runs the
simulation for ``duration_ms``, checks the test's invariants and the chaos registry's
(supervisor restart limits, cores' ``invariants()``, ...), and fails with the seed, the
violation and the command that reruns exactly that seed (by node id:
``FOCUSFLOW_SEEDS=7 pytest 'tests/test_x.py::test_counter_survives[seed=7]'``). Each seed
is its own pytest case (``test_counter_survives[seed=7]``). ``FOCUSFLOW_SEEDS=A-B`` widens the seeds for a
campaign without editing the test. A function may also run the simulation itself and
assert on the outcome: the decorator then only checks the invariants.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import shlex
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

SEEDS_ENV = "FOCUSFLOW_SEEDS"
DURATION_MS_DEFAULT = 2_000.0


def _seeds(seeds: Iterable[int] | str) -> list[int]:
    from focusflow.chaos.campaign import parse_seeds

    env = os.environ.get(SEEDS_ENV)
    if env:
        return list(parse_seeds(env))
    return list(parse_seeds(seeds)) if isinstance(seeds, str) else list(seeds)


def sim_test(seeds: Iterable[int] | str = range(10), *, faults: Sequence[str] = (),
             fault_count: int = 0, duration_ms: float = DURATION_MS_DEFAULT,
             invariant_every: int = 1, buggify: bool = False,
             ) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: run the test once per seed under the simulator (see module docstring).

    Raises (in the test): AssertionError naming the seed when an invariant is violated.
    """
    assert fault_count >= 0 and duration_ms > 0 and invariant_every >= 1
    seed_list = _seeds(seeds)

    def decorate(fn: Callable[..., Any]) -> Any:
        params = inspect.signature(fn).parameters
        wants = {n for n in ("sim", "world") if n in params}
        assert wants, f"{fn.__name__} must take 'sim' and/or 'world'"
        others = [p for n, p in params.items() if n not in wants]

        @functools.wraps(fn)
        def wrapper(sim_seed: int, *args: Any, **kwargs: Any) -> None:
            _run(fn, sim_seed, wants, args, kwargs, faults=faults, fault_count=fault_count,
                 duration_ms=duration_ms, invariant_every=invariant_every, buggify=buggify)

        del wrapper.__wrapped__  # pytest must see the wrapper's own signature
        wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("sim_seed", inspect.Parameter.POSITIONAL_OR_KEYWORD), *others])
        return pytest.mark.parametrize("sim_seed", seed_list,
                                       ids=[f"seed={s}" for s in seed_list])(wrapper)

    return decorate


def _run(fn: Callable[..., Any], seed: int, wants: set[str], args: tuple[Any, ...],
         kwargs: dict[str, Any], *, faults: Sequence[str], fault_count: int,
         duration_ms: float, invariant_every: int, buggify: bool) -> None:
    from focusflow.chaos import points
    from focusflow.chaos.invariants import check_end, install
    from focusflow.chaos.plan import FaultPlan
    from focusflow.chaos.world import ChaosWorld
    from focusflow.sim import Simulation

    sim = Simulation(seed, invariant_every=invariant_every)
    world = ChaosWorld(sim, scenario=fn.__name__)
    world.points.enabled = buggify
    previous = points.activate(world.points)
    try:
        given = {"sim": sim, "world": world}
        fn(*args, **{n: given[n] for n in wants}, **kwargs)
        if fault_count:
            plan = FaultPlan(scenario=fn.__name__, duration_ms=duration_ms,
                             generate_count=fault_count,
                             generate_kinds=tuple(faults) or FaultPlan().generate_kinds)
            for fault in plan.concretize(world, duration_ms):
                world.schedule(fault)
        end = install(world)
        if sim.now_ns() < duration_ms * 1_000_000:
            sim.run(until_ns=int(duration_ms * 1_000_000))
        sim.check_invariants()
        check_end(world, end)
    finally:
        points.activate(previous)
    if sim.violations:
        name, step, t_ns, detail = sim.violations[0]
        applied = [e["fault"] for e in world.injected]
        raise AssertionError(
            f"seed {seed}: invariant {name!r} violated at step {step} "
            f"(t={t_ns / 1e6:.3f} ms): {detail}\n  faults: {applied}\n"
            f"  rerun exactly this seed: {rerun_command(fn, seed)}")


def rerun_command(fn: Callable[..., Any], seed: int) -> str:
    """The shell command that reruns ``fn``'s case for ``seed`` alone.

    It names the case by its pytest node id (``path::test[seed=7]``): ``-k 'seed=7'``
    is not a valid ``-k`` expression on pytest 8 (``=`` is not allowed there). The node id
    is the running test's (``PYTEST_CURRENT_TEST``) when that is this case, else built from
    the function's file, relative to the working directory when it is below it.
    ``FOCUSFLOW_SEEDS`` makes the case exist when the seed is outside the test's own list.
    """
    case = f"[seed={seed}]"
    current = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    if current.endswith(case) and current.split("::")[-1].startswith(fn.__name__ + "["):
        node = current
    else:
        source = Path(inspect.getsourcefile(fn) or "test.py").resolve()
        with contextlib.suppress(ValueError):  # outside the working directory: absolute
            source = source.relative_to(Path.cwd())
        node = f"{source}::{fn.__name__}{case}"
    return f"{SEEDS_ENV}={seed} pytest {shlex.quote(node)}"
