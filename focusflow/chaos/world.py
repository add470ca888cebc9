"""``ChaosWorld``: a simulation plus what the chaos harness knows about it.

It schedules faults on the simulation's virtual clock, records every injection in the
trace (so a replay checks the faults too), chains network tamper hooks, holds the
components a scenario *provides* (objects invariants inspect) and the run's fault points.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from focusflow.chaos import points as _points
from focusflow.sim import Simulation, derive_seed

if TYPE_CHECKING:
    from focusflow.chaos.faults import Fault

TAMPERS_MAX = 64
Tamper = Callable[[str, str, bytes], bytes | None]
#: Components every world has (the runtime itself).
BASE_COMPONENTS = ("sim", "supervisor", "cores")


def provide(sim: Simulation, component: str, obj: Any) -> None:
    """Declare that ``sim`` runs ``component`` and give invariants ``obj`` to inspect.

    Scenario builders call this (e.g. ``provide(sim, "economics", (ledger, journal))``);
    the invariants registered for ``component`` then run in chaos campaigns.
    """
    assert component and component.replace(".", "_").isidentifier(), component
    registry: dict[str, list[Any]] = sim.__dict__.setdefault("_chaos_components", {})
    registry.setdefault(component, []).append(obj)


def provided(sim: Simulation, component: str) -> list[Any]:
    """The objects provided for ``component`` (empty if none)."""
    registry: dict[str, list[Any]] = sim.__dict__.get("_chaos_components", {})
    return list(registry.get(component, ()))


class ChaosWorld:
    """A ``Simulation`` under a fault schedule. Built by ``focusflow.chaos.campaign``."""

    def __init__(self, sim: Simulation, *, scenario: str = "",
                 options: dict[str, Any] | None = None) -> None:
        self.sim = sim
        self.seed = sim.seed
        self.scenario = scenario
        self.options = dict(options or {})
        #: The chaos RNG (fault generation and fault randomness), separate from the
        #: scheduler's and the network's so a changed schedule perturbs little else.
        self.rng = random.Random(derive_seed(sim.seed, "chaos"))
        self.injected: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self._tampers: list[Tamper] = []
        self.points = _points.FaultPoints(random.Random(derive_seed(sim.seed, "buggify")),
                                          enabled=False, record=self.record)

    # ------------------------------------------------------------------ components
    @property
    def nodes(self) -> list[str]:
        """Node names in creation order."""
        return self.sim.node_names()

    def components(self) -> list[str]:
        """Components present: the runtime's plus those the scenario provided."""
        registry: dict[str, list[Any]] = self.sim.__dict__.get("_chaos_components", {})
        return [*BASE_COMPONENTS, *sorted(registry)]

    def provided(self, component: str) -> list[Any]:
        """Objects the scenario provided for ``component``."""
        return provided(self.sim, component)

    # ------------------------------------------------------------------ faults
    @property
    def faults_injected(self) -> int:
        """How many faults were applied so far (skipped ones not counted)."""
        return len(self.injected)

    def schedule(self, fault: Fault) -> None:
        """Apply ``fault`` at its ``at_ms`` of virtual time (as a simulator step)."""
        self.sim.call_at(int(fault.at_ms * 1_000_000), lambda: self.inject(fault))

    def inject(self, fault: Fault) -> None:
        """Apply ``fault`` now and record it (or record why it was skipped)."""
        entry = {"t_ms": self.sim.now_ns() / 1e6, "fault": fault.to_dict()}
        why = fault.apply(self)
        if why:
            entry["skipped"] = why
            self.skipped.append(entry)
            self.record(b"f" + json.dumps(entry, sort_keys=True).encode())
            return
        self.injected.append(entry)
        self.record(b"F" + json.dumps(entry["fault"], sort_keys=True).encode())

    def after(self, delay_ms: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` as a step ``delay_ms`` from now (fault reverts use this)."""
        self.sim.call_later(delay_ms, fn)

    def record(self, event: bytes) -> None:
        """Append a chaos event to the simulation's trace (and its hash)."""
        self.sim._record("", struct.pack("<Q", self.sim.now_ns()) + event)

    def heal_all(self) -> list[str]:
        """End every fault at once, as operators do after an incident: heal partitions,
        drop frame tampering, clear disk faults, restart every node that is down (a
        crashed node, or one whose top supervisor gave up: the process manager restarts
        it). Timed link faults have reverted by then (their ``for_ms`` ends within the
        run). Returns the nodes restarted. Recorded in the trace like a fault."""
        sim = self.sim
        sim.network.heal()
        self._tampers.clear()
        sim.network.tamper = None
        restarted = []
        for name in self.nodes:
            disk = sim.disk(name)
            disk.full = disk.fsync_fails = False
            if not sim.is_up(name):
                sim.restart_node(name)
                restarted.append(name)
        self.record(b"H" + json.dumps({"restarted": restarted}).encode())
        return restarted

    # ------------------------------------------------------------------ network tampering
    def add_tamper(self, tamper: Tamper) -> Callable[[], None]:
        """Chain a frame tamper (corruption, Byzantine rewriting); returns its remover."""
        assert len(self._tampers) < TAMPERS_MAX
        self._tampers.append(tamper)
        self.sim.network.tamper = self._tamper_all

        def remove() -> None:
            if tamper in self._tampers:
                self._tampers.remove(tamper)
            if not self._tampers:
                self.sim.network.tamper = None

        return remove

    def _tamper_all(self, src: str, dst: str, frame: bytes) -> bytes | None:
        out: bytes | None = frame
        for tamper in list(self._tampers):
            if out is None:
                return None
            out = tamper(src, dst, out)
        return out
