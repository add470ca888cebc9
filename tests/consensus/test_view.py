"""The consensus view (``ValidatorCore.view``): what a core waits for, and on whom.

Cores are driven by the deterministic harness (no runtime): a healthy committee shows
complete tallies and a moving finalized height; with two of four validators crashed the
view names exactly those two as missing from every quorum the survivors wait for.
"""

from __future__ import annotations

import copy

import pytest

from focusflow.actors.consensus.harness import Harness, Scenario
from focusflow.actors.consensus.types import Committee, Validator
from focusflow.actors.consensus.view import Tally


def _run(sc: Scenario) -> Harness:
    h = Harness(sc)
    h.run()
    return h


def test_healthy_committee_view_names_the_leader_and_sees_every_vote() -> None:
    h = _run(Scenario(validators=4, duration_ms=1500, seed=3))
    for i, core in enumerate(h.nodes):
        v = core.view()
        assert v.me == i and v.round == core.dag.round and v.round >= 3
        assert v.leader == core.bft.leader(v.round)  # the scheduled leader of slot ``round``
        assert v.leader == (v.round - 2) % 4  # healthy: reputation keeps round-robin
        assert v.finalized_height == core.finalized_height > 0
        assert v.built_height >= v.finalized_height
        assert v.mode == "fast" and v.consecutive_timeouts == 0
        assert v.header_votes.stake_needed == 3 and i in v.header_votes.seen
        assert set(v.header_votes.seen) | set(v.header_votes.missing) == {0, 1, 2, 3}
        assert not set(v.header_votes.seen) & set(v.header_votes.missing)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_two_of_four_crashed_the_view_names_them_missing(seed: int) -> None:
    h = _run(Scenario(validators=4, duration_ms=3000, seed=seed,
                      crashes=((2, 800, 10_000), (3, 800, 10_000))))
    for i in (0, 1):
        core = h.nodes[i]
        v = core.view()
        stuck = v.finalized_height
        assert 0 < stuck == core.finalized_height  # blocks before the crash, none after
        # the next round needs the quorum of round certificates: 2 and 3 never send theirs
        assert {2, 3} <= set(v.certificates.missing) and not v.certificates.complete
        assert v.certificates.stake_seen < v.certificates.stake_needed == 3
        # our header: certified before the crash, or waiting for a crashed validator
        assert v.header_votes.complete or set(v.header_votes.missing) & {2, 3}
        if v.block_votes is not None:  # a block built before the crash, never notarised
            assert {2, 3} <= set(v.block_votes.missing) and not v.block_votes.complete


def test_view_reads_without_changing_the_core() -> None:
    h = _run(Scenario(validators=4, duration_ms=800, seed=5))
    core = h.nodes[1]
    before = (core.dag.round, dict(core.dag.own_votes), core.blocks.height, core.finalized_height,
              core.bft.last_slot, copy.copy(core.bft.mode.slot_started_ns), len(core.dag.pending))
    assert core.view() == core.view()
    after = (core.dag.round, dict(core.dag.own_votes), core.blocks.height, core.finalized_height,
             core.bft.last_slot, copy.copy(core.bft.mode.slot_started_ns), len(core.dag.pending))
    assert before == after
    core.invariants()


def test_tally_weighs_stake_and_lists_the_rest() -> None:
    committee = Committee(tuple(Validator(i, bytes([i]) * 32, s) for i, s in enumerate((5, 1, 1, 1))))
    t = Tally.of(committee, [0, 0, 2])
    assert t.seen == (0, 2) and t.missing == (1, 3)
    assert t.stake_seen == 6 and t.stake_needed == committee.quorum_stake == 6 and t.complete
    assert not Tally.of(committee, [1, 2, 3]).complete
