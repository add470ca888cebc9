"""Leader reputation: a schedule that is a pure function of committed history.

Unit tests on hand-built DAGs (the schedule a committed history yields), a property test
(validators that see the same certificates in different orders compute the same schedule
at every height), a mutated rule (scores from local, uncommitted observations) that breaks
that agreement, and harness runs where a crashed or withholding validator stops leading.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.bft.core import BftConfig, BftCore, OrderedAnchor
from focusflow.actors.bft.reputation import LeaderSchedule, ReputationConfig, swaps_for
from focusflow.actors.consensus.harness import Harness, Scenario
from focusflow.actors.consensus.types import SKIP, Certificate, Committee, Validator
from tests.consensus.dagutil import View, committee, make_cert, random_dag
from tests.consensus.test_bft import _topological_orders

FAST = ReputationConfig(every_anchors=2, window_anchors=6, lag_slots=1, skip_penalty=4, min_gap=2)


def _honest_chain(core: BftCore, rounds: int, live: Sequence[int], view: View | None = None,
                  committed: list[OrderedAnchor] | None = None) -> View:
    """Rounds of certificates by ``live`` authors, each linking the whole previous round and
    voting, as honest validators do, for the leader ``core`` schedules (SKIP when that
    leader has no certificate); ``core`` commits after every round (what it ordered is
    appended to ``committed``)."""
    view = view or View()
    for r in range(max(view.by_round, default=0) + 1, max(view.by_round, default=0) + rounds + 1):
        prev = view.by_round.get(r - 1, {})
        vote = SKIP
        if r >= 3:
            lead = prev.get(core.leader(r - 1))
            vote = lead.digest if lead is not None else SKIP
        for a in live:
            view.add(make_cert(r, a, tuple(c.digest for c in prev.values()), vote))
        ordered = core.try_commit(view)
        if committed is not None:
            committed.extend(ordered)
    return view


# --------------------------------------------------------------------------- unit


def test_swaps_hand_the_worst_slots_to_the_best_within_the_byzantine_stake() -> None:
    com4 = committee(4)
    assert swaps_for(com4, [10, 12, 11, 3]) == {3: 1}
    assert swaps_for(com4, [5, 5, 5, 5]) == {}, "ties swap nothing"
    assert swaps_for(com4, [110, 116, 112, 109], min_gap=8) == {}, "window noise swaps nothing"
    assert swaps_for(com4, [110, 116, 112, 108], min_gap=8) == {3: 1}
    com7 = committee(7)
    assert swaps_for(com7, [9, 0, 9, 9, 1, 9, 12]) == {1: 6, 4: 5}  # f = 2; ties: higher index first
    # unequal stakes: the worst may hold at most total - quorum = 3 of 10 stake
    heavy = Committee(tuple(Validator(i, bytes([i + 1]) * 32, s) for i, s in enumerate((4, 3, 2, 1))))
    assert swaps_for(heavy, [0, 1, 9, 9]) == {}, "validator 0's stake alone exceeds the budget"
    assert swaps_for(heavy, [9, 0, 1, 9]) == {1: 3}, "2 then 3 would exceed it: only the worst"


def test_a_crashed_validator_loses_its_slots_at_the_first_switch_deterministically() -> None:
    com = committee(4)
    core = BftCore(committee=com, config=BftConfig(reputation=FAST))
    _honest_chain(core, 20, live=(0, 1, 2))
    s = core.schedule
    scores = s.scores()
    # Validator 3 leads slot 5 under round-robin; the switch after the 2nd committed
    # anchor (slot 3, where 3 already scores 0) leads slot 4 on (lag 1): slot 5 is led by
    # the best validator instead, and no slot is ever skipped.
    assert scores[3] == 0 and min(scores[:3]) > 0
    assert s.epochs[-1][1] == {3: max(range(3), key=lambda v: (scores[v], v))}
    assert [first for first, _ in s.epochs] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert all(core.leader(t) != 3 for t in range(s.last_slot + 1, s.last_slot + 9))
    assert sorted(core.decisions) == list(range(2, s.last_slot + 1))
    assert set(core.decisions.values()) == {"fast"}, "no crashed leader's slot was skipped"
    # the same committed history gives the same schedule, step by step
    again = BftCore(committee=com, config=BftConfig(reputation=FAST))
    _honest_chain(again, 20, live=(0, 1, 2))
    assert again.schedule.epochs == s.epochs and again.schedule.scores() == scores


def test_round_robin_without_reputation_and_before_the_first_switch() -> None:
    com = committee(4)
    off = BftCore(committee=com, config=BftConfig(reputation=ReputationConfig(enabled=False)))
    _honest_chain(off, 12, live=(0, 1, 2))
    assert [off.leader(t) for t in range(2, 10)] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert sum(1 for v in off.decisions.values() if v == "skip") >= 2, "crashed 3's slots are skipped"
    fresh = LeaderSchedule(committee=com, config=ReputationConfig(), gc_depth_rounds=60)
    assert [fresh.leader(t) for t in range(2, 6)] == [0, 1, 2, 3]


def test_a_withholding_leader_is_penalised_and_replaced_then_returns_when_it_leads_well() -> None:
    com = committee(4)
    core = BftCore(committee=com, config=BftConfig(reputation=FAST))
    view = _honest_chain(core, 4, live=(0, 1, 2, 3))
    # validator 3 stops leading (its anchor never gets votes) but stays in the DAG
    assert core.leader(5) == 3
    for r in range(5, 12):
        prev = view.by_round[r - 1]
        lead = core.leader(r - 1)
        vote = prev[lead].digest if lead != 3 else SKIP
        for a in range(4):
            view.add(make_cert(r, a, tuple(c.digest for c in prev.values()), vote))
        core.try_commit(view)
    assert core.schedule.scores()[3] < min(core.schedule.scores()[:3])
    assert all(core.leader(t) != 3 for t in range(core.schedule.last_slot + 1, core.schedule.last_slot + 9))
    # once its penalty leaves the window, it is no longer the one kept out
    _honest_chain(core, 16, live=(0, 1, 2, 3), view=view)
    assert 3 not in core.schedule.epochs[-1][1]
    assert 3 in {core.leader(t) for t in range(core.schedule.last_slot + 1, core.schedule.last_slot + 9)}


# --------------------------------------------------------------------------- agreement


class _Recording(LeaderSchedule):
    """The real rule, logging (height, slot, anchor, scores, next leaders) per anchor."""

    def __init__(self, base: LeaderSchedule) -> None:
        super().__init__(committee=base.committee, config=base.config, gc_depth_rounds=base.gc_depth_rounds)
        self.log: list[tuple[object, ...]] = []

    def on_commit(self, slot: int, anchor: Certificate, history: Sequence[Certificate]) -> tuple[int, ...]:
        delta = super().on_commit(slot, anchor, history)
        ahead = tuple(self.leader(t) for t in range(slot + 1, slot + 6))
        self.log.append((self.height, slot, anchor.digest, tuple(self.scores()), ahead))
        return delta


class _LocalSchedule(_Recording):
    """Mutated rule: scores from the certificates this validator *holds* when an anchor
    commits (local, uncommitted observations) instead of the anchor's committed history."""

    def __init__(self, view: View, base: LeaderSchedule) -> None:
        super().__init__(base)
        self.view = view

    def on_commit(self, slot: int, anchor: Certificate, history: Sequence[Certificate]) -> tuple[int, ...]:
        held = [c for c in self.view.certs.values() if c.round <= slot + 1]
        return super().on_commit(slot, anchor, held)


def _schedule_log(certs: list[Certificate], order: list[int], com: Committee, *, local: bool = False) -> list[tuple]:
    """The schedule's log after every committed anchor, and the ``via`` labels."""
    view = View()
    core = BftCore(committee=com, config=BftConfig(reputation=FAST))
    schedule = _LocalSchedule(view, core.schedule) if local else _Recording(core.schedule)
    core.schedule = schedule
    vias: list[tuple[int, str]] = []
    for i in order:
        view.add(certs[i])
        vias.extend((o.slot, o.via) for o in core.try_commit(view))
    return [(*entry, via) for entry, via in zip(schedule.log, vias, strict=True)]


def _prefix_consistent(logs: list[list[tuple]]) -> bool:
    return all(a[: min(len(a), len(b))] == b[: min(len(a), len(b))] for a in logs for b in logs)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([4, 7]), rounds=st.integers(6, 16),
       p_vote_leader=st.floats(0.3, 1.0))
def test_validators_with_the_same_committed_history_compute_the_same_schedule(
    seed: int, n: int, rounds: int, p_vote_leader: float
) -> None:
    """Different delivery orders (views) of one DAG with arbitrary votes: at every height
    both reach, the scores, the switch and the leaders of the next slots are equal."""
    rng = random.Random(seed)
    com = committee(n)
    certs = random_dag(rng, com, rounds, p_vote_leader)
    logs = [_schedule_log(certs, order, com) for order in _topological_orders(rng, certs, 3)]
    assert _prefix_consistent(logs)


def test_a_schedule_from_local_observations_breaks_agreement() -> None:
    """The mutated rule (uncommitted certificates count) makes views disagree on scores and
    leaders for the same heights, on the same DAGs where the real rule agrees."""
    broken = 0
    for seed in range(12):
        rng = random.Random(seed)
        com = committee(4)
        certs = random_dag(rng, com, 14, 0.9)
        orders = _topological_orders(rng, certs, 3)
        assert _prefix_consistent([_schedule_log(certs, o, com) for o in orders])
        broken += not _prefix_consistent([_schedule_log(certs, o, com, local=True) for o in orders])
    assert broken >= 3, f"the local rule disagreed on only {broken} of 12 DAGs"


# --------------------------------------------------------------------------- simulated


def _late_leaders(h: Harness, since_slot: int) -> set[int]:
    """Leaders of the slots each honest validator committed or skipped after ``since_slot``,
    and of the next ones it would vote for."""
    out: set[int] = set()
    for i in h.honest:
        if any(v == i for v, _, _ in h.sc.crashes):
            continue
        core = h.nodes[i]
        out.update(core.bft.leader(t) for t in range(since_slot, core.bft.last_slot + 4))
    return out


def test_a_crashed_validator_stops_leading_in_a_simulated_run() -> None:
    sc = Scenario(validators=4, seed=5, latency_ms=50, duration_ms=3000, crashes=((3, 0, 3000),))
    on = Harness(sc)
    r_on = on.run()
    assert 3 not in _late_leaders(on, 12)
    assert all(v != "skip" for s, v in on.nodes[0].bft.decisions.items() if s >= 12)
    r_off = Harness(Scenario(**{**sc.__dict__, "reputation": False})).run()
    heights = [r.finalized_heights[0] for r in (r_on, r_off)]
    assert heights[0] > 1.5 * heights[1], heights


def test_a_withholding_validator_stops_leading_in_a_simulated_run() -> None:
    sc = Scenario(validators=4, seed=5, latency_ms=50, duration_ms=3000, byzantine=((3, ("withhold",)),))
    h = Harness(sc)
    r = h.run()
    assert r.agreement and r.validity
    assert 3 not in _late_leaders(h, 16)
    assert h.nodes[0].bft.schedule.scores()[3] < min(h.nodes[0].bft.schedule.scores()[:3])


def test_a_slow_validator_stops_leading_in_a_simulated_run() -> None:
    """Every message of validator 3 takes 300 ms more: its certificates are referenced late
    and its votes miss anchors, so it scores lowest and hands its slots over."""
    h = Harness(Scenario(validators=4, seed=5, latency_ms=50, duration_ms=3000, slow=((3, 300.0),)))
    h.run()
    scores = h.nodes[0].bft.schedule.scores()
    assert scores[3] < min(scores[:3]) - 8
    assert 3 not in _late_leaders(h, 16)


@settings(max_examples=25, deadline=None)
@given(st.integers(8, 40), st.sampled_from([(0, 1, 2), (0, 1, 2, 3), (1, 2, 3)]), st.integers(0, 6))
def test_a_resumed_schedule_rebuilt_from_block_headers_leads_as_the_others(
        rounds: int, live: tuple[int, ...], extra: int) -> None:
    """Issue 16: a validator that restarted (or caught up by block sync) never committed
    the anchors itself; it rebuilds the schedule from the score deltas the blocks carry
    (``LeaderSchedule.resume``) and leads every coming slot as the validators that did —
    from genesis, and from a suffix of ``window + 2·every`` headers."""
    from focusflow.actors.consensus.types import BlockHeader

    com = committee(4)
    core = BftCore(committee=com, config=BftConfig(reputation=FAST))
    committed: list[OrderedAnchor] = []
    _honest_chain(core, rounds + extra, live, committed=committed)
    headers = [BlockHeader(i, bytes(32), bytes(32), bytes(32), bytes(32), oa.anchor.digest,
                           oa.slot, oa.reputation) for i, oa in enumerate(committed, start=1)]
    assert headers and all(len(h.reputation) == 4 for h in headers)
    s = core.schedule
    ahead = range(s.last_slot + 1, s.last_slot + 12)
    for suffix in (headers, headers[-(FAST.window_anchors + 2 * FAST.every_anchors):]):
        rebuilt = LeaderSchedule(committee=com, config=FAST, gc_depth_rounds=core.config.gc_depth_rounds)
        rebuilt.resume(height=len(headers), anchor_round=headers[-1].anchor_round, recent=suffix)
        assert [rebuilt.leader(t) for t in ahead] == [s.leader(t) for t in ahead]
        assert rebuilt.scores() == s.scores() and rebuilt.epochs[-1] == s.epochs[-1]
        assert rebuilt.decided == {k: v for k, v in s.decided.items() if k >= suffix[0].anchor_round}
