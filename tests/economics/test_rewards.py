"""Tenure rewards (O(1) book vs exact reference), rebates, focus micro-reward batches."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.economics.fixed import PPB
from focusflow.actors.economics.params import EconParams
from focusflow.actors.economics.rewards import (
    FocusRewardStream,
    TenureBook,
    naive_tenure_block,
    rebates,
)

ACCOUNTS = ["a", "b", "c", "d"]

events = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "claim", "none"]),
        st.sampled_from(ACCOUNTS),
        st.integers(1, 10**9),
        st.integers(0, 10**9),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(events, st.integers(1, 12))
def test_tenure_book_pays_the_exact_share_rounded_down(
    evs: list[tuple[str, str, int, int]], ramp: int
) -> None:
    """The O(1) book matches an exact rational replay of per-block weights.

    It never pays more; it pays less by under one unit, plus under one unit per full exit
    (the sub-unit remainder of a leaving staker stays with the protocol).
    """
    book = TenureBook(ramp)
    stakes: dict[str, tuple[int, int]] = {}  # exact model: account -> (amount, since)
    exact: dict[str, Fraction] = {a: Fraction(0) for a in ACCOUNTS}
    paid: dict[str, int] = {a: 0 for a in ACCOUNTS}
    funded = 0
    dropped = {a: 0 for a in ACCOUNTS}  # full exits: the sub-unit remainder goes to the protocol
    for h, (op, acct, amount, reward) in enumerate(evs, start=1):
        book.mature(h)
        if op == "add":
            book.add(acct, amount, h)
            old = stakes.get(acct)
            if old is None:
                stakes[acct] = (amount, h)
            else:
                total = old[0] + amount
                since = -((-(old[0] * old[1] + amount * h)) // total)
                stakes[acct] = (total, since)
        elif op == "remove" and acct in stakes:
            take = min(amount, stakes[acct][0])
            book.remove(acct, take, h)
            left = stakes[acct][0] - take
            if left:
                stakes[acct] = (left, stakes[acct][1])
            else:
                del stakes[acct]
                dropped[acct] += 1
        elif op == "claim":
            paid[acct] += book.settle(acct)
        weights = {a: amt * min(h - s, ramp) for a, (amt, s) in stakes.items()}
        total_w = sum(weights.values())
        assert book.total_weight(h) == total_w
        if book.distribute(h, reward):
            funded += reward
            for a, w in weights.items():
                exact[a] += Fraction(reward * w, total_w)
    for a in ACCOUNTS:
        paid[a] += book.settle(a)
        assert paid[a] <= exact[a] < paid[a] + 1 + dropped[a] + Fraction(1, 10**6), (a, paid[a])
    assert sum(paid.values()) <= funded


def test_naive_reference_agrees_with_the_book_on_a_simple_history() -> None:
    book = TenureBook(4)
    stakes = {"a": (100, 0)}
    book.add("a", 100, 0)
    owed: dict[str, int] = {}
    for h in range(1, 30):
        book.mature(h)
        if h == 2:
            book.add("b", 300, 2)
            stakes["b"] = (300, 2)
        book.distribute(h, 1_000_000)
        naive_tenure_block(stakes, h, 1_000_000, 4, owed)
    for a in ("a", "b"):
        assert 0 <= book.settle(a) - owed[a] <= 30  # the naive loop floors every block
    assert book.settle("a") == 0


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 10**12), max_size=8),
       st.integers(0, 10**12), st.integers(0, PPB))  # fmt: skip
def test_rebates_never_exceed_the_pool_nor_the_cap(gas: dict[str, int], pool: int, cap: int) -> None:
    out = rebates(gas, pool, cap)
    assert sum(out.values()) <= pool
    for payer, amount in out.items():
        assert 0 < amount <= gas[payer] * cap // PPB


def test_focus_stream_accrues_by_gain_and_settles_in_bounded_batches() -> None:
    stream = FocusRewardStream()
    allocated = stream.accrue([("n1", 3), ("n2", 1), ("n3", -5), ("n4", 0)], 1000)
    assert allocated == 1000 and stream.pending == {"n1": 750, "n2": 250}
    stream.accrue([("n3", 1), ("n1", 1)], 11)  # 5 each, 1 unit of dust stays unallocated
    assert stream.pending_total() == 1010
    first = stream.next_batch(2)
    assert first == [("n1", 755), ("n2", 250)]
    assert stream.next_batch(2) == [("n3", 5)] and stream.pending_total() == 0


def test_focus_stream_stays_bounded_when_gains_outrun_the_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import focusflow.actors.economics.core as core_mod
    from focusflow.actors.economics.core import BlockInput, EconGenesis, EconomicsCore, Stake
    from focusflow.actors.economics.ledger import MemoryLedger

    monkeypatch.setattr(core_mod, "focus_pending_max", 3)
    core = EconomicsCore(
        MemoryLedger(),
        EconGenesis(
            params=EconParams().replace(focus_settle_interval_blocks=1000, focus_batch_max=1),
            balances={"a": (10**9, 10**9)}, pool=(10**9, 10**9),
        ),
    )  # fmt: skip
    core.apply_block(BlockInput(1, (Stake("a", 10**6),)))
    for h in range(2, 12):
        gains = tuple((f"n{h}_{i}", 1) for i in range(4))  # 4 new neurons a block
        core.apply_block(BlockInput(h, gas=(("a", 10**6),), focus_gains=gains))
        assert len(core.focus.pending) <= 3
    assert core.violations() == []
