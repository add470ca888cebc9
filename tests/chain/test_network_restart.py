"""A crashed and restarted validator of the ``network`` scenario comes back (issue 15).

The shrunk chaos schedule of ``focusflow chaos --scenario network --seeds 1-20`` seed 3:
one fault, ``crash_node`` of ``v2`` at 2553 ms, restarted 100 ms later. Before the
network scenario ran the production validator, the restarted simulated validator had no
chain and stayed failed (``ChainFault('block 22: parent ... is not our root')``).
"""

from __future__ import annotations

from focusflow.chaos.campaign import run_seed
from focusflow.chaos.faults import CrashNode
from focusflow.chaos.plan import FaultPlan
from focusflow.node.validator import VALIDATOR_PATH

SHRUNK = CrashNode(at_ms=2553.0, node="v2", restart_after_ms=100.0)


def test_the_shrunk_crash_restart_schedule_recovers() -> None:
    plan = FaultPlan(scenario="network", duration_ms=6_000.0)
    result, run = run_seed(3, plan, faults=[SHRUNK])
    assert result["ok"], result["violations"]
    assert result["faults_injected"] == 1
    sim = run.sim
    assert sim.is_up("v2")
    restarted = sim.node("v2")._cells[VALIDATOR_PATH].actor
    assert restarted.mode == "consensus", restarted.why  # followed by block sync, then signs again
    assert restarted.counters["rejoins"] == 1 and restarted.counters["synced_blocks"] > 0
    heights = {name: sim.node(name)._cells[VALIDATOR_PATH].actor.blocks.height
               for name in ("v0", "v1", "v2", "v3")}
    assert min(heights.values()) >= max(heights.values()) - 3, heights  # v2 kept up
    assert result["scenario"]["finalized_height"] > 40  # the network kept finalizing


def test_a_restart_of_every_validator_makes_blocks_again() -> None:
    """Issue 16 finding 1, reproduced deterministically: after a restart of every
    validator each held its log at h, its double-sign guard at h + 1 (block h + 1 was
    signed, no node logged it final) and an empty DAG. Each now offers its durable share of
    h + 1, collects the others' and finalizes it; then the resumed cores, holding no
    certificate, restart the DAG above every round they signed and make blocks again."""
    faults = [CrashNode(at_ms=2000.0 + i, node=f"v{i}", restart_after_ms=100.0) for i in range(4)]
    result, run = run_seed(1, FaultPlan(scenario="network", duration_ms=5_000.0), faults=faults)
    assert result["ok"], result["violations"]
    modes = result["scenario"]["chain"]["modes"]
    assert set(modes.values()) == {"consensus"}, modes
    assert result["scenario"]["finalized_height"] > 20  # 15 at the crash
    for name in ("v0", "v1", "v2", "v3"):
        validator = run.sim.node(name)._cells[VALIDATOR_PATH].actor
        assert validator.counters["rejoins"] == 1 and validator.core.dag.gc_round > 0
