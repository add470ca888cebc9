"""Fault plans: TOML in, concrete per-seed schedules out, TOML back."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusflow.chaos.campaign import build_run, parse_seeds
from focusflow.chaos.faults import Partition
from focusflow.chaos.plan import FaultPlan, PlanError, load_plan, plan_from_dict, plan_to_toml

EXAMPLE = """
scenario = "quorum"
duration_ms = 1500
invariant_every = 2

[options]
bug = "quorum_off_by_one"

[buggify]
enabled = true

[generate]
count = 5
kinds = ["partition", "crash_node", "corrupt"]
window_ms = [100, 900]

[[faults]]
kind = "partition"
at_ms = 500
groups = [["n0", "n1"]]
heal_after_ms = 800

[[faults]]
kind = "byzantine"
at_ms = 0
node = "n3"
behaviour = "quorum.withhold"
params = { rate = 1 }
"""


def test_toml_plan_parses_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(EXAMPLE)
    plan = load_plan(path)
    assert plan.scenario == "quorum" and plan.duration_ms == 1500 and plan.buggify
    assert plan.faults[0] == Partition(at_ms=500, groups=(("n0", "n1"),), heal_after_ms=800)
    assert plan.generate_count == 5 and plan.window_ms == (100.0, 900.0)
    again = tmp_path / "again.toml"
    again.write_text(plan_to_toml(plan))
    assert load_plan(again) == plan


def test_generated_schedule_is_a_function_of_the_seed() -> None:
    plan = plan_from_dict({"duration_ms": 1000, "generate": {"count": 6}})
    first = build_run(7, plan).schedule
    assert build_run(7, plan).schedule == first
    assert build_run(8, plan).schedule != first
    assert len(first) == 6 and all(50 <= f.at_ms <= 800 for f in first)
    assert [f.at_ms for f in first] == sorted(f.at_ms for f in first)


def test_generation_uses_only_the_named_kinds() -> None:
    plan = FaultPlan(generate_count=10, generate_kinds=("drop", "delay"))
    kinds = {f.kind for f in build_run(1, plan).schedule}
    assert kinds <= {"drop", "delay"} and kinds


@pytest.mark.parametrize("bad", [
    {"scenari": "quorum"},
    {"faults": [{"kind": "nope"}]},
    {"generate": {"kinds": ["nope"]}},
    {"duration_ms": -5},
])
def test_bad_plans_are_rejected_with_a_reason(bad: dict[str, object]) -> None:
    with pytest.raises((PlanError, ValueError)):
        plan_from_dict(bad)


def test_seed_ranges() -> None:
    assert parse_seeds("3-5") == range(3, 6)
    assert parse_seeds("9") == range(9, 10)
    for bad in ("5-3", "a-b", "-1"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_a_scenario_that_cannot_build_is_a_failed_seed_not_a_crashed_campaign(
        tmp_path: Path) -> None:
    from focusflow.chaos.campaign import run_campaign

    plan = FaultPlan(options={"bug": "no_such_bug"}, duration_ms=100)
    summary = run_campaign(range(1, 3), plan, jobs=1, out_dir=tmp_path, progress=False)
    assert summary["failures"] == 2
    v = summary["results"][0]["violations"][0]
    assert v["invariant"] == "run.no_exception" and "no_such_bug" in v["detail"]
