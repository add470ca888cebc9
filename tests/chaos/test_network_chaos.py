"""Chaos on the production validator: ``focusflow chaos --scenario network`` seeds in CI.

Each seed runs the ``network`` scenario (every validator node the tree ``focusflow node``
runs) under 6 random faults of the default kinds (crashes with restarts, kills of the
validator actor, partitions, isolation, drops, duplicates, reordering, delays, clock skew,
fsync failures), packed into a 4-virtual-second run, with every registered invariant
checked after every step. 20 seeds cost about 41 CPU seconds in all (2.1 s a seed,
measured on the 2-core dev box), so about 21 s of a 2-worker CI run. The full campaign
(10 s runs) is ``focusflow chaos --scenario network --seeds 1-20``; see BENCHMARKS.md.
"""

from __future__ import annotations

import pytest

from focusflow.chaos.campaign import run_seed
from focusflow.chaos.plan import FaultPlan

PLAN = FaultPlan(scenario="network", duration_ms=4_000.0, generate_count=6)


@pytest.mark.parametrize("seed", range(1, 21))
def test_network_chaos_seed_holds_every_invariant(seed: int) -> None:
    result, _run = run_seed(seed, PLAN)
    assert result["ok"], (result["violations"], result["schedule"])
    assert result["faults_injected"] + result["faults_skipped"] == 6
    assert result["scenario"]["finalized_height"] > 0
