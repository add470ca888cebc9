"""``focusflow sim``: the demonstration network, its JSON summary, its determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from focusflow.cli import main
from focusflow.sim.scenarios import (
    default_scenario,
    discover,
    register_scenario,
    run_scenario,
)

ROOT = Path(__file__).resolve().parents[2]


def test_sim_json_has_the_promised_fields_and_heals_the_crash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seed", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("trace_hash", "events", "virtual_seconds", "wall_seconds", "speed_x", "invariants"):
        assert key in summary
    assert summary["invariants"] and all(summary["invariants"].values())
    assert summary["invariants"]["crash_healed"] is True
    assert summary["injected_crashes"] >= 1 and summary["restarts"] >= 1
    assert summary["virtual_seconds"] == pytest.approx(5.0)
    assert summary["speed_x"] == pytest.approx(summary["virtual_seconds"] / summary["wall_seconds"],
                                               rel=1e-2)
    assert summary["nodes_up"] == 4


def test_sim_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seed", "1", "--nodes", "3", "--duration-ms", "1500"]) == 0
    out = capsys.readouterr().out
    assert "trace hash:" in out and "invariant crash_healed: ok" in out


def test_sim_is_deterministic_across_processes() -> None:
    hashes = set()
    for hashseed in ("0", "99"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        out = subprocess.run([sys.executable, "-m", "focusflow", "sim", "--seed", "5", "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                             check=True)
        hashes.add(json.loads(out.stdout)["trace_hash"])
    assert hashes == {run_scenario("demo", 5)["trace_hash"]}
    assert run_scenario("demo", 6)["trace_hash"] not in hashes


def test_scenarios_are_pluggable() -> None:
    from focusflow.sim import Simulation
    from tests.supervisor.actors import Echo

    @register_scenario("tiny_test_scenario", help="test", duration_ms=10.0)
    def build(sim: Simulation, options: object) -> None:
        sim.add_node("only")
        sim.add_invariant("always", lambda: True)

    assert "tiny_test_scenario" in discover()
    summary = run_scenario("tiny_test_scenario", 1)
    assert summary["invariants"] == {"always": True} and summary["virtual_seconds"] == 0.01

    @register_scenario("tiny_failing", duration_ms=10.0)
    def failing(sim: Simulation, options: object) -> None:
        node = sim.add_node("only")
        node.spawn(Echo, name="e")
        sim.add_invariant("never_a_step", lambda: sim.events < 1)

    bad = run_scenario("tiny_failing", 1)
    assert not bad["ok"] and bad["invariants"] == {"never_a_step": False}
    assert bad["violations"][0]["step"] == 1 and bad["trace_tail"]

    register_scenario("tiny_selected", duration_ms=5.0,
                      select=lambda options: options.get("tiny") is True)(build)
    assert default_scenario({"tiny": True}) == "tiny_selected"
    assert default_scenario({}) != "tiny_selected"
