"""Scenario driver and the ``focusflow econ simulate`` command (short runs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from focusflow.actors.economics.fixed import PPB
from focusflow.actors.economics.params import EconParams
from focusflow.actors.economics.split import within_bounds
from focusflow.actors.economics.year import run_scenario
from focusflow.cli import econ


@pytest.mark.parametrize("scenario", ["rising", "falling", "shock"])
def test_short_scenarios_conserve_supply_and_keep_the_split_in_bounds(scenario: str) -> None:
    res = run_scenario(scenario, days=30, seed=3)
    assert res.supply_conserved and res.violations == []
    assert len(res.samples) == 30
    params = EconParams()
    assert all(within_bounds(s.split_ppb, params) for s in res.samples)
    assert res.samples[-1].supply_cyb <= res.samples[0].supply_cyb  # buyback only burns


def test_rising_demand_shifts_the_split_to_buyback_and_falling_away_from_it() -> None:
    rising = run_scenario("rising", days=120)
    falling = run_scenario("falling", days=120)
    assert rising.samples[-1].split_ppb[0] > rising.samples[0].split_ppb[0]
    assert falling.samples[-1].split_ppb[0] < falling.samples[0].split_ppb[0]
    assert rising.samples[-1].burned_cyb_total > falling.samples[-1].burned_cyb_total
    assert (rising.samples[-1].premium_ppb or 0) > PPB > (falling.samples[-1].premium_ppb or 0)


def test_the_shock_trips_the_breaker_and_it_resets() -> None:
    res = run_scenario("shock", days=365)
    assert res.breaker_trips >= 1 and res.swaps_refused > 0
    tripped_days = [s.day for s in res.samples if s.tripped_blocks]
    assert tripped_days and tripped_days[-1] < 364  # it reset well before the end
    assert res.supply_conserved


def test_the_same_seed_gives_the_same_run() -> None:
    a, b = run_scenario("shock", days=20, seed=7), run_scenario("shock", days=20, seed=7)
    assert a.samples == b.samples


def test_cli_simulate_prints_json_and_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "econ.png"
    # Only this command's parser: the test must not depend on other subcommands importing.
    parser = argparse.ArgumentParser(prog="focusflow")
    econ.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["econ", "simulate", "--scenario", "shock", "--days", "10", "--png", str(png), "--json"])
    rc = args.func(args)
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scenarios"][0]["scenario"] == "shock" and out["scenarios"][0]["supply_conserved"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
