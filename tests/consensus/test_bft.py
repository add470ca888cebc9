"""Commit rule of the fast-path BFT, driven on hand-built DAGs (no network, no runtime)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.bft.core import BftConfig, BftCore
from focusflow.actors.consensus.types import SKIP
from tests.consensus.dagutil import View, committee, make_cert, random_dag


def _full_round(view: View, r: int, n: int, votes: dict[int, bytes] | None = None) -> list[bytes]:
    prev = sorted(view.by_round.get(r - 1, {}).values(), key=lambda c: c.author)
    out = []
    for a in range(n):
        cert = make_cert(r, a, tuple(c.digest for c in prev), (votes or {}).get(a, SKIP))
        view.add(cert)
        out.append(cert.digest)
    return out


def test_direct_commit_needs_the_quorum_stake_of_votes() -> None:
    com = committee(4)
    view = View()
    _full_round(view, 1, 4)
    r2 = _full_round(view, 2, 4)
    leader = r2[com.leader(2)]
    core = BftCore(committee=com)
    # two votes (f+1) are not enough under the anchor-vote rule
    _full_round(view, 3, 2, {0: leader, 1: leader})
    assert core.try_commit(view) == []
    view.add(make_cert(3, 2, tuple(r2), leader))
    out = core.try_commit(view)
    assert [o.anchor.digest for o in out] == [leader]
    assert out[0].via == "fast" and out[0].slot == 2
    history = [c.round for c in out[0].history]
    assert history == sorted(history) and len(history) == 4 + 1  # round 1 and the anchor


def test_fallback_anchor_commits_and_is_labelled() -> None:
    com = committee(4)
    view = View()
    _full_round(view, 1, 4)
    r2 = _full_round(view, 2, 4)
    other = r2[(com.leader(2) + 1) % 4]
    _full_round(view, 3, 4, {a: other for a in range(3)})
    out = BftCore(committee=com).try_commit(view)
    assert [(o.anchor.digest, o.via) for o in out] == [(other, "fallback")]


def test_skipped_slot_is_ordered_by_a_later_anchor() -> None:
    com = committee(4)
    view = View()
    _full_round(view, 1, 4)
    _full_round(view, 2, 4)
    _full_round(view, 3, 4)  # everyone votes SKIP for slot 2
    r4 = _full_round(view, 4, 4)
    leader4 = r4[com.leader(4)]
    _full_round(view, 5, 4, {a: leader4 for a in range(4)})
    core = BftCore(committee=com)
    out = core.try_commit(view)
    assert [o.slot for o in out] == [4]
    assert len(out[0].history) == 4 * 3 + 1  # rounds 1-3 and the anchor
    assert core.decisions[2] == "skip"


def _commit_log(certs: list, order: list[int], com, gc: int = 60) -> list[tuple[int, bytes, tuple[bytes, ...]]]:
    view = View()
    core = BftCore(committee=com, config=BftConfig(gc_depth_rounds=gc))
    log = []
    for i in order:
        view.add(certs[i])
        for o in core.try_commit(view):
            log.append((o.slot, o.anchor.digest, tuple(c.digest for c in o.history)))
    return log


def _topological_orders(rng: random.Random, certs: list, count: int) -> list[list[int]]:
    """Random insertion orders that respect parents (each a different validator's view).

    A random third of the certificates is "late": delivered only once nothing else is
    ready, which gives views that miss some votes of a round while holding later rounds
    (the situation where direct and indirect decisions could diverge).
    """
    index = {c.digest: i for i, c in enumerate(certs)}
    orders = []
    for _ in range(count):
        late = {i for i in range(len(certs)) if rng.random() < 0.35}
        done: set[int] = set()
        order: list[int] = []
        pending = list(range(len(certs)))
        while pending:
            ready = [i for i in pending if all(index[p] in done for p in certs[i].signed.header.parents)]
            early = [i for i in ready if i not in late]
            pick = rng.choice(early or ready)
            pending.remove(pick)
            done.add(pick)
            order.append(pick)
        orders.append(order)
    return orders


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([4, 7]),
    rounds=st.integers(4, 14),
    p_vote_leader=st.floats(0.0, 1.0),
)
def test_validators_with_different_views_commit_prefix_consistent_sequences(
    seed: int, n: int, rounds: int, p_vote_leader: float
) -> None:
    """Agreement, independent of honesty of votes: each certificate is unique per
    (round, author) and carries one arbitrary vote; any two delivery orders commit
    sequences where one is a prefix of the other, certificate for certificate."""
    rng = random.Random(seed)
    com = committee(n)
    certs = random_dag(rng, com, rounds, p_vote_leader)
    logs = [_commit_log(certs, order, com) for order in _topological_orders(rng, certs, 3)]
    for a in logs:
        for b in logs:
            k = min(len(a), len(b))
            assert a[:k] == b[:k]
    ordered = [d for _, _, hist in logs[0] for d in hist]
    assert len(ordered) == len(set(ordered)), "a certificate was ordered twice"


@pytest.mark.parametrize("n", [4, 7, 10])
def test_quorum_thresholds(n: int) -> None:
    com = committee(n)
    f = (n - 1) // 3
    assert com.quorum_stake == 2 * f + 1 + (n - 3 * f - 1)
    assert 2 * com.quorum_stake - com.total_stake >= com.validity_stake > f


def test_indirect_decision_matches_a_direct_one_made_elsewhere() -> None:
    """X sees all of round 3 (3 of 4 vote V) and commits slot 2 directly. Y misses one V
    voter that nobody links, commits slot 4 first, and must decide slot 2 = V too."""
    com = committee(4)
    full, partial = View(), View()
    r1 = [make_cert(1, a, ()) for a in range(4)]
    r2 = [make_cert(2, a, tuple(c.digest for c in r1)) for a in range(4)]
    v = r2[com.leader(2)].digest
    r3 = [make_cert(3, a, tuple(c.digest for c in r2), v if a < 3 else SKIP) for a in range(4)]
    linked = (r3[0].digest, r3[1].digest, r3[3].digest)  # r3[2] (a V voter) is never linked
    r4 = [make_cert(4, a, linked) for a in range(4)]
    w = r4[com.leader(4)].digest
    r5 = [make_cert(5, a, tuple(c.digest for c in r4), w) for a in range(4)]
    for c in r1 + r2 + r3:
        full.add(c)
    x = BftCore(committee=com)
    assert [o.anchor.digest for o in x.try_commit(full)] == [v]
    for c in r1 + r2 + [r3[0], r3[1], r3[3]] + r4 + r5:
        partial.add(c)
    y = BftCore(committee=com)
    assert [o.anchor.digest for o in y.try_commit(partial)] == [v, w]
