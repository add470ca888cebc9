"""BUGGIFY fault points: inert outside a chaos run, seeded and traced inside one."""

from __future__ import annotations

import random

from focusflow.chaos import points
from focusflow.chaos.campaign import run_seed
from focusflow.chaos.plan import FaultPlan


def test_fault_points_never_fire_outside_a_chaos_run() -> None:
    assert points.active() is None
    assert not any(points.buggify("x.y", p=1.0) for _ in range(100))
    assert points.device_mode() == "ok"


def test_decisions_are_per_run_and_seeded() -> None:
    def decisions(seed: int) -> list[bool]:
        fp = points.FaultPoints(random.Random(seed), enable_probability=0.5)
        return [fp.hit(f"p{i}", 1.0) for i in range(40)]

    assert decisions(1) == decisions(1) and decisions(1) != decisions(2)
    fp = points.FaultPoints(random.Random(1), enable_probability=1.0)
    assert all(fp.hit("always", 1.0) for _ in range(5)) and fp.fired["always"] == 5
    off = points.FaultPoints(random.Random(1), enable_probability=0.0)
    assert not any(off.hit("never", 1.0) for _ in range(5))


def test_quorum_fault_points_fire_under_buggify_and_stay_deterministic() -> None:
    plan = FaultPlan(duration_ms=800, buggify=True, buggify_enable_probability=1.0)
    a, _ = run_seed(4, plan)
    b, _ = run_seed(4, plan)
    assert a["fault_points_fired"] and a["trace_hash"] == b["trace_hash"]
    quiet, _ = run_seed(4, FaultPlan(duration_ms=800))
    assert not quiet["fault_points_fired"] and quiet["trace_hash"] != a["trace_hash"]
    assert points.active() is None  # deactivated after the run


def test_production_code_can_import_fault_points_without_the_harness() -> None:
    import subprocess
    import sys

    code = ("import sys, focusflow.chaos.points as p; assert not p.buggify('x', p=1.0); "
            "bad = [m for m in sys.modules if m.startswith(('focusflow.sim', "
            "'focusflow.chaos.')) and m != 'focusflow.chaos.points']; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"
