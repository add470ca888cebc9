"""Chaos on the production validator: ``focusflow chaos --scenario network`` seeds in CI.

Each seed runs the ``network`` scenario (every validator node the tree ``focusflow node``
runs) under 6 random faults of the default kinds (crashes with restarts, kills of the
validator actor, partitions, isolation, drops, duplicates, reordering, delays, clock skew,
fsync failures), packed into a 4-virtual-second run, with every registered invariant
checked after every step; then the settle phase heals everything and requires every
honest validator to finalize past the highest height at the heal within 3 virtual
seconds (``liveness.after_heal``, docs/chaos.md). 20 seeds cost about 75 CPU seconds in
all (measured on the 2-core dev box), so about 40 s of a 2-worker CI run. The full
campaign (10 s runs) is ``focusflow chaos --scenario network --seeds 1-20 --settle-ms
5000``; see BENCHMARKS.md.
"""

from __future__ import annotations

import pytest

from focusflow.chaos.campaign import run_seed
from focusflow.chaos.plan import FaultPlan

PLAN = FaultPlan(scenario="network", duration_ms=4_000.0, generate_count=6, settle_ms=3_000.0)


@pytest.mark.parametrize("seed", range(1, 21))
def test_network_chaos_seed_holds_every_invariant(seed: int) -> None:
    result, _run = run_seed(seed, PLAN)
    assert result["ok"], (result["violations"], result["schedule"])
    assert result["faults_injected"] + result["faults_skipped"] == 6
    assert result["scenario"]["finalized_height"] > 0
