"""The ``economics`` scenario registered with ``focusflow sim``."""

from __future__ import annotations

from typing import Any

from focusflow.actors.economics import scenario as econ_scenario
from focusflow.sim._sim import Simulation
from focusflow.sim.scenarios import _SCENARIOS


def _run(seed: int, options: dict[str, Any], duration_ms: float) -> tuple[Simulation, dict[str, Any]]:
    """What ``focusflow sim`` does for one scenario (without importing every other one)."""
    sim = Simulation(seed)
    econ_scenario.build(sim, options)
    sim.run(for_ms=duration_ms)
    sim.check_invariants()
    return sim, dict(econ_scenario.finish(sim, options))


def test_economics_is_registered_with_the_simulator() -> None:
    assert "economics" in _SCENARIOS
    assert _SCENARIOS["economics"].finish is econ_scenario.finish


def test_the_sim_summary_reports_supply_conserved_and_the_invariants_hold() -> None:
    opts = {"econ_scenario": "shock", "econ_days": 20, "econ_block_ms": 1000.0}
    sim, extra = _run(5, opts, duration_ms=24 * 20 * 1000.0 + 500)
    assert extra["supply_conserved"] is True
    assert sim.invariant_results == {"supply_conserved": True, "economics_invariants": True}
    econ = extra["economics"]
    assert econ["blocks"] == 24 * 20 and econ["violations"] == []
    assert econ["breaker_trips"] >= 1  # the 20-day calendar crashes on day 8


def test_same_seed_same_records_hash_and_another_seed_differs() -> None:
    opts = {"econ_scenario": "rising", "econ_days": 5, "econ_block_ms": 500.0}
    a = _run(1, opts, 24 * 5 * 500.0)[1]["economics"]["records_hash"]
    b = _run(1, opts, 24 * 5 * 500.0)[1]["economics"]["records_hash"]
    c = _run(2, opts, 24 * 5 * 500.0)[1]["economics"]["records_hash"]
    assert a == b != c
