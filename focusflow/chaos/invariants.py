"""The invariant registry: checkers each component registers for chaos runs.

An invariant is ``check(world) -> bool | None`` (False or an AssertionError with a
message means violated), registered for a *component*; a chaos run installs the ones
whose component the world has (``ChaosWorld.components()``: the runtime's own, plus
whatever the scenario ``provide``-d). ``when="always"`` checks after every simulator step
(``invariant_every``), ``when="end"`` once after the run::

    @register_invariant("economics.supply_conserved", component="economics")
    def _supply(world):
        return all(supply_conserved(l, j) for l, j in world.provided("economics"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from focusflow.chaos.world import ChaosWorld
from focusflow.sim._sim import failure_detail
from focusflow.supervisor import Supervisor
from focusflow.supervisor._node import _STOPPING

WHEN = ("always", "end")
Check = Callable[[ChaosWorld], bool | None]


@dataclasses.dataclass(frozen=True, slots=True)
class InvariantSpec:
    """A registered invariant."""

    name: str
    component: str
    check: Check
    when: str = "always"
    help: str = ""


_REGISTRY: dict[str, InvariantSpec] = {}


def register_invariant(name: str, *, component: str, when: str = "always",
                       help: str = "") -> Callable[[Check], Check]:
    """Decorator: register ``check`` as invariant ``name`` of ``component``."""
    assert when in WHEN, when
    assert name and component, (name, component)

    def wrap(check: Check) -> Check:
        _REGISTRY[name] = InvariantSpec(name, component, check, when,
                                        help or (check.__doc__ or "").strip().split("\n")[0])
        return check

    return wrap


def registered() -> dict[str, InvariantSpec]:
    """Every registered invariant, by name."""
    return dict(sorted(_REGISTRY.items()))


def install(world: ChaosWorld) -> list[InvariantSpec]:
    """Add the applicable ``always`` invariants to the world's simulation; return the
    applicable ``end`` ones (``check_end`` evaluates them)."""
    present = set(world.components())
    end: list[InvariantSpec] = []
    for spec in registered().values():
        if spec.component not in present:
            continue
        if spec.when == "end":
            end.append(spec)
            world.sim.invariant_results.setdefault(spec.name, True)
        else:
            world.sim.add_invariant(spec.name, _bind(spec.check, world))
    return end


def _bind(check: Check, world: ChaosWorld) -> Callable[[], bool | None]:
    return lambda: check(world)


def check_end(world: ChaosWorld, specs: list[InvariantSpec]) -> None:
    """Evaluate ``end`` invariants and record violations like the simulator does."""
    sim = world.sim
    for spec in specs:
        try:
            held, detail = spec.check(world) is not False, ""
        except AssertionError as exc:
            held, detail = False, failure_detail(exc)
        if not held:
            if sim.invariant_results.get(spec.name, True):
                sim.violations.append((spec.name, sim.events, sim.now_ns(), detail))
            sim.invariant_results[spec.name] = False


# ============================================================================ built in
def _live_actors(world: ChaosWorld) -> list[tuple[Any, Any, bool]]:
    """(node, actor, running) of every live actor; running is False while it stops.

    Cached per simulator step: several invariants walk the actors after the same step.
    """
    sim = world.sim
    cached = world.__dict__.get("_live_actors_cache")
    if cached is not None and cached[0] == (sim.events, sim.records):
        return cached[1]  # type: ignore[no-any-return]
    out = []
    for name in sim.node_names():
        if sim.is_up(name):
            node = sim.node(name)
            for path in sorted(node._cells):
                cell = node._cells[path]
                if cell.actor is not None:
                    out.append((node, cell.actor, cell.state < _STOPPING))
    world.__dict__["_live_actors_cache"] = ((sim.events, sim.records), out)
    return out


@register_invariant("supervisor.restart_intensity", component="supervisor")
def _restart_intensity(world: ChaosWorld) -> bool:
    """No supervisor performs more restarts within its period than its intensity allows
    (OTP: beyond that it must give up instead)."""
    seen: dict[tuple[str, str, int], tuple[int, list[int]]] = world.__dict__.setdefault(
        "_supervisor_restarts", {})
    for node, actor, _running in _live_actors(world):
        if not isinstance(actor, Supervisor):
            continue
        key = (node.name, actor.ctx.self_ref.path, actor.ctx.incarnation)
        count, times = seen.get(key, (0, []))
        if actor.restarts == count:
            continue  # no new restart: the count within any window can only fall
        flags = actor.flags
        now = node.runtime.now_ns()
        times.extend([now] * (actor.restarts - count))
        seen[key] = (actor.restarts, times)
        recent = [t for t in times if t >= now - flags.period_ms * 1_000_000]
        assert len(recent) <= flags.intensity, (
            f"{key[0]}:{key[1]} performed {len(recent)} restarts within "
            f"{flags.period_ms} ms (intensity {flags.intensity})")
    return True


@register_invariant("cores.invariants", component="cores")
def _core_invariants(world: ChaosWorld) -> bool:
    """Every live actor's sans-IO core (``actor.core``) passes its own ``invariants()``.

    A failure names the node, the actor (path and class), the core's class and what failed.
    """
    for node, actor, _running in _live_actors(world):
        core = getattr(actor, "core", None)
        check = getattr(core, "invariants", None)
        if callable(check):
            try:
                check()
            except AssertionError as exc:
                raise AssertionError(
                    f"node {node.name}, actor {actor.ctx.self_ref.path} ({type(actor).__name__}), "
                    f"core {type(core).__name__}: {failure_detail(exc)}") from exc
    return True


@register_invariant("economics.supply_conserved", component="economics")
def _supply_conserved(world: ChaosWorld) -> bool:
    """Token supply moved only by journaled mints and burns (for each provided
    ``(ledger, journal)``)."""
    from focusflow.actors.economics.ledger import supply_conserved

    return all(supply_conserved(ledger, journal) for ledger, journal in
               world.provided("economics"))


@register_invariant("sim.no_lost_durable_writes", component="sim", when="end")
def _durable_writes(world: ChaosWorld) -> bool:
    """Writes a component declared committed (``provide(sim, "durable", (node, key,
    value))``) are on that node's disk after every crash."""
    for node, key, value in world.provided("durable"):
        got = world.sim.disk(node).read(key).result()
        assert got == value, f"{node}: committed {key!r} lost or changed after crashes"
    return True
