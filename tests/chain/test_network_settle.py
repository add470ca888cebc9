"""Liveness after the faults (issue 16): a chaos run's settle phase heals every fault, runs
``settle_ms`` more and requires every honest validator's finalized height to pass the
highest one at the heal (``liveness.after_heal``); and the two stalls it found on its
first campaign stay fixed.
"""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from focusflow.chaos import campaign
from focusflow.chaos.campaign import LIVENESS_INVARIANT, run_seed
from focusflow.chaos.faults import Duplicate, FsyncFail, KillActor, Partition, Reorder
from focusflow.chaos.plan import FaultPlan, plan_from_dict, plan_to_toml
from focusflow.sim.scenarios import discover

NETWORK = FaultPlan(scenario="network", settle_ms=5_000.0)

#: ``--seeds 12 --settle-ms 5000``, shrunk from 6 faults: v0's fsync fails for 200 ms (its
#: validator crashes and restarts), later the links duplicate, reorder and split.
SEED_12 = (
    FsyncFail(at_ms=2963.61, node="v0", for_ms=200.0),
    Duplicate(at_ms=6012.263, p=0.05, for_ms=100.0),
    Reorder(at_ms=6404.386, p=1.0, for_ms=1600.0),
    Duplicate(at_ms=6429.759, p=0.2, for_ms=200.0),
    Partition(at_ms=6948.093, groups=(("clients", "v1", "v2"),), heal_after_ms=400.0),
)


def test_a_validator_whose_shares_were_lost_finishes_its_blocks_from_block_sync() -> None:
    """Before: v0, restarted after the fsync failure, built block 28 with the others' header
    but got only one peer's share of it (the others had finalized it and helped once; that
    answer was lost); its log stayed at 27 while the chain reached 52, for good. Now it
    fetches the final block and its quorum of shares finishes ours."""
    result, _ = run_seed(12, NETWORK, faults=SEED_12)
    assert result["ok"], result["violations"]
    assert result["scenario"]["finalized_height"] > 60, result["scenario"]


def test_a_node_whose_top_supervisor_is_killed_goes_down_and_comes_back() -> None:
    """Seed 1's shrunk schedule: ``kill_actor`` of v1's ``/user/node``. ``focusflow node``
    exits when its tree's root dies (and is restarted by its process manager); the
    simulated node used to live on with no tree, so v1 never made another block. Now it
    goes down like the process and the settle phase restarts it."""
    kill = KillActor(at_ms=2225.676, node="v1", path="/user/node")
    result, run = run_seed(1, NETWORK, faults=[kill])
    assert result["ok"], result["violations"]
    assert run.sim.is_up("v1")


def test_the_settle_phase_reports_a_network_that_makes_no_progress(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The invariant can fail: a scenario whose progress never moves is reported, with
    every node's progress at the heal and after."""
    known = discover()
    frozen = dataclasses.replace(known["network"], progress=lambda _sim: {"v0": 3, "v1": 3})
    monkeypatch.setattr(campaign, "scenarios", lambda: {**known, "network": frozen})
    result, _ = run_seed(2, dataclasses.replace(NETWORK, settle_ms=500.0, duration_ms=1_000.0))
    assert not result["ok"]
    (violation,) = result["violations"]
    assert violation["invariant"] == LIVENESS_INVARIANT
    assert "v0, v1 did not pass 3" in violation["detail"]


def test_settle_ms_is_part_of_the_plan_and_its_trace() -> None:
    plan = plan_from_dict({"scenario": "network", "settle_ms": 2500})
    assert plan.settle_ms == 2500.0 and plan.to_dict()["settle_ms"] == 2500.0
    assert "settle_ms" not in FaultPlan(scenario="network").to_dict()
    # a shrunk plan keeps it: rerun, it fails the same way
    assert plan_from_dict(tomllib.loads(plan_to_toml(plan))).settle_ms == 2500.0
