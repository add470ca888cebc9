"""Chaos over the fake wire: random restart schedules, loss, duplication, reordering.

Whatever the schedule, every block's committed π is within d/(1−d)·ε of a tight
single-kernel solve of the same graph, and verifies by its residual.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.rank import LocalRank, RankStore

from ._graphs import BOUND_L1, BlockMaker, single


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), shards=st.sampled_from([2, 3, 4, 8]),
       kills=st.lists(st.tuples(st.integers(5, 400), st.integers(0, 7)), max_size=4),
       loss=st.sampled_from([0.0, 0.03]), duplicate=st.sampled_from([0.0, 0.1]))
def test_random_restarts_and_faults_never_commit_a_wrong_pi(
        seed: int, shards: int, kills: list[tuple[int, int]], loss: float,
        duplicate: float) -> None:
    store = RankStore(shards)
    wire = LocalRank(store, seed=seed, loss=loss, duplicate=duplicate)
    maker = BlockMaker(seed, particles=150, neurons=6)
    for _ in range(3):
        start = wire.delivered
        plan = {start + at: shard % shards for at, shard in kills}

        def chaos(w: LocalRank, plan: dict[int, int] = plan) -> None:
            victim = plan.pop(w.delivered, None)
            if victim is not None:
                w.restart_shard(victim)

        wire.hooks[:] = [chaos]
        blk, stakes = maker.next(links=120)
        out = wire.block(blk, stakes)
        wire.invariants()
        assert out.converged and out.verdict is not None and out.verdict.accepted
        assert np.abs(out.pi - single(store, eps=1e-13)).sum() < BOUND_L1
    assert not wire.penalties
