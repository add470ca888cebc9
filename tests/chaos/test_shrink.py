"""Delta debugging finds a 1-minimal failing sub-schedule."""

from __future__ import annotations

from focusflow.chaos.faults import Fault, Heal
from focusflow.chaos.shrink import ddmin


def _faults(n: int) -> list[Fault]:
    return [Heal(at_ms=float(i)) for i in range(n)]


def test_ddmin_finds_the_two_culprits() -> None:
    items = _faults(12)
    calls: list[int] = []

    def fails(sub: list[Fault]) -> bool:
        calls.append(len(sub))
        times = {f.at_ms for f in sub}
        return {3.0, 8.0} <= times

    minimal, runs = ddmin(items, fails)
    assert sorted(f.at_ms for f in minimal) == [3.0, 8.0]
    assert runs == len(calls) < 60


def test_ddmin_returns_empty_when_the_seed_fails_without_faults() -> None:
    minimal, _ = ddmin(_faults(5), lambda sub: True)
    assert minimal == []


def test_ddmin_respects_its_run_budget() -> None:
    minimal, runs = ddmin(_faults(30), lambda sub: len(sub) >= 7, runs_max=4)
    assert runs <= 4 and len(minimal) >= 7


def test_shorten_halves_durations_while_it_still_fails() -> None:
    from focusflow.chaos.faults import Partition
    from focusflow.chaos.shrink import shorten

    fault = Partition(at_ms=10.0, groups=(("n0",),), heal_after_ms=800.0)
    # fails while the partition lasts at least 150 ms: 800 -> 400 -> 200, not 100
    simpler, runs = shorten([fault], lambda fs: (fs[0].heal_after_ms or 0) >= 150)
    assert simpler[0].heal_after_ms == 200.0 and runs == 3


def test_shrink_stops_at_its_budget_with_the_smallest_failing_schedule() -> None:
    from focusflow.chaos.plan import FaultPlan
    from focusflow.chaos.shrink import OutOfBudget, shrink

    calls: list[int] = []

    def fails(sub: list[Fault]) -> bool:
        if len(calls) == 5:
            raise OutOfBudget
        calls.append(len(sub))
        return len(sub) >= 3

    best, runs = shrink(1, FaultPlan(), _faults(40), invariant=None, fails=fails)
    assert runs == 6  # five decided, the sixth found the budget spent
    failing = [n for n in calls if n >= 3]
    assert failing and len(best) == min(failing) < 40


def test_a_run_past_its_step_budget_stops_with_a_budget_violation() -> None:
    from focusflow.chaos.campaign import Budget, run_seed
    from focusflow.chaos.plan import FaultPlan

    result, _ = run_seed(1, FaultPlan(duration_ms=2_000), budget=Budget(events_max=1_500))
    (v,) = result["violations"]
    assert v["invariant"] == "run.budget" and v["step"] == result["events"] == 1_500
    assert "1500 steps, the budget is 1500" in v["detail"]
    free, _ = run_seed(1, FaultPlan(duration_ms=2_000))
    assert free["ok"] and free["events"] > 1_500
