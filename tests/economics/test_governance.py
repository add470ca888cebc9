"""Governance: bounds reject nonsense, stake-weighted quorum and threshold, vote locks."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from focusflow.actors.economics.core import (
    BlockInput,
    EconGenesis,
    EconomicsCore,
    Propose,
    Stake,
    Unstake,
    Vote,
)
from focusflow.actors.economics.governance import Choice
from focusflow.actors.economics.ledger import MemoryLedger
from focusflow.actors.economics.params import PARAM_BOUNDS, EconParams, ParamError, param_names

U = 10**6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amm_fee_ppb": 10**9}, "amm_fee_ppb=1000000000: out of bounds (allowed 0..100000000)"),
        ({"amm_fee_ppb": -1}, "out of bounds"),
        ({"amm_fee_ppb": 0.5}, "must be an integer"),
        ({"split_low_ppb": (1, 2, 3)}, "must sum to 1000000000"),
        ({"split_high_ppb": (900_000_000, 50_000_000, 50_000_000)}, "outside split bounds"),
        ({"premium_low_ppb": 2 * 10**9}, "must be below premium_high_ppb"),
        ({"split_min_ppb": (800_000_000, 200_000_000, 50_000_000)}, "min 800000000 exceeds max"),
        ({"stake_mint_h": 1}, "must be true or false"),
        ({"no_such_thing": 1}, "unknown parameter 'no_such_thing'"),
        ({"gov_threshold_ppb": 100}, "gov_threshold_ppb=100: out of bounds"),
    ],
)
def test_parameter_bounds_reject_nonsense_with_a_clear_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EconParams().replace(**changes)


def _core() -> EconomicsCore:
    genesis = EconGenesis(
        balances={"big": (600 * U, 0), "mid": (300 * U, 0), "small": (100 * U, 0)},
        pool=(100 * U, 100 * U),
    )
    core = EconomicsCore(MemoryLedger(), genesis)
    core.apply_block(BlockInput(1, (Stake("big", 600 * U), Stake("mid", 300 * U), Stake("small", 100 * U))))
    return core


def _run_until(core: EconomicsCore, height: int) -> list[str]:
    notes: list[str] = []
    while core.height < height:
        notes += core.apply_block(BlockInput(core.height + 1)).governance
    return notes


def test_a_proposal_with_quorum_and_majority_passes_and_applies_next_block() -> None:
    core = _core()
    rec = core.apply_block(
        BlockInput(2, (Propose("small", (("amm_fee_ppb", 5_000_000),)), Vote("big", 1, Choice.YES), Vote("small", 1, Choice.NO)))
    )
    assert all(r.ok for r in rec.receipts)
    end = 2 + core.params.gov_voting_blocks
    _run_until(core, end)
    assert core.params.amm_fee_ppb == 3_000_000  # not yet: voting still open at `end`
    notes = _run_until(core, end + 1)
    assert core.params.amm_fee_ppb == 5_000_000 and notes == ["proposal 1 passed"]


def test_without_quorum_or_majority_a_proposal_is_rejected() -> None:
    core = _core()
    core.apply_block(BlockInput(2, (
        Propose("small", (("amm_fee_ppb", 5_000_000),)), Vote("small", 1, Choice.YES),  # 10% turnout
        Propose("small", (("amm_fee_ppb", 6_000_000),)), Vote("big", 2, Choice.NO), Vote("mid", 2, Choice.YES),
    )))  # fmt: skip
    notes = _run_until(core, 3 + core.params.gov_voting_blocks)
    assert core.params.amm_fee_ppb == 3_000_000
    assert [n.split()[2] for n in notes] == ["rejected", "rejected"]


def test_votes_are_stake_weighted_once_and_lock_the_stake() -> None:
    core = _core()
    rec = core.apply_block(BlockInput(2, (
        Propose("mid", (("gov_voting_blocks", 10),)),
        Vote("mid", 1, Choice.YES), Vote("mid", 1, Choice.YES),  # second vote refused
        Unstake("mid", 1 * U),  # locked while the vote runs
        Propose("mid", (("amm_fee_ppb", 10**9),)),  # nonsense never reaches a vote
    )))  # fmt: skip
    assert [r.ok for r in rec.receipts] == [True, True, False, False, False]
    assert "already voted" in rec.receipts[2].error and "locked" in rec.receipts[3].error
    assert "ParamError" in rec.receipts[4].error
    prop = core.gov.proposals[1]
    assert prop.yes == 300 * U
    _run_until(core, prop.voting_ends + 1)
    rec = core.apply_block(BlockInput(core.height + 1, (Unstake("mid", 1 * U),)))
    assert rec.receipts[0].ok and core.violations() == []


def test_governance_adds_and_removes_primary_dealers() -> None:
    from focusflow.actors.economics.core import AddLiquidity

    genesis = EconGenesis(balances={"big": (600 * U, 0), "eve": (10 * U, 10 * U)}, pool=(100 * U, 100 * U))
    core = EconomicsCore(MemoryLedger(), genesis)
    core.apply_block(BlockInput(1, (Stake("big", 600 * U),)))
    rec = core.apply_block(BlockInput(2, (
        AddLiquidity("eve", U, U),  # not a dealer yet
        Propose("big", (("dealer:eve", True),)), Vote("big", 1, Choice.YES),
        Propose("big", (("dealer:eve", 1),)),  # not a bool: refused at once
    )))  # fmt: skip
    assert [r.ok for r in rec.receipts] == [False, True, True, False]
    assert "primary dealer" in rec.receipts[0].error
    assert "true (add) or false (remove)" in rec.receipts[3].error
    _run_until(core, 3 + core.params.gov_voting_blocks)
    assert "eve" in core.dealers
    h = core.height + 1
    rec = core.apply_block(BlockInput(h, (
        AddLiquidity("eve", U, U), Propose("big", (("dealer:eve", False),)), Vote("big", 2, Choice.YES),
    )))  # fmt: skip
    assert all(r.ok for r in rec.receipts)
    _run_until(core, h + 1 + core.params.gov_voting_blocks)
    assert "eve" not in core.dealers and core.violations() == []
    rec = core.apply_block(BlockInput(core.height + 1, (AddLiquidity("eve", U, U),)))
    assert not rec.receipts[0].ok


@st.composite
def param_changes(draw: st.DrawFn) -> dict[str, object]:
    """Mostly plausible values near each parameter's bounds, plus some of the wrong type."""
    out: dict[str, object] = {}
    for name in draw(st.lists(st.sampled_from(sorted(param_names())), min_size=1, max_size=3, unique=True)):
        if name in PARAM_BOUNDS:
            lo, hi = PARAM_BOUNDS[name]
            value: object = draw(
                st.integers(lo, min(hi, lo + 10**4)) | st.integers(max(lo, hi - 10**4), hi)
                | st.integers(lo - 3, lo) | st.integers(hi, hi + 3) | st.floats(0, 1)
            )  # fmt: skip
        elif name == "stake_mint_h":
            value = draw(st.booleans() | st.integers(0, 1))
        else:  # a split: a point on the simplex, sometimes off it
            a = draw(st.integers(0, 10**9))
            b = draw(st.integers(0, 10**9 - a))
            value = draw(st.just((a, b, 10**9 - a - b)) | st.tuples(*[st.integers(-1, 10**9)] * 3))
        out[name] = value
    return out


@settings(max_examples=80, deadline=None)
@given(param_changes())
def test_any_change_is_either_refused_with_param_error_or_safe_to_run(changes: dict[str, object]) -> None:
    """Bounds reject nonsense: a random change raises ParamError, or the core runs with it
    (stakes, trades, gas) with every invariant intact."""
    try:
        params = EconParams().replace(**changes)
    except ParamError:
        event("refused")
        return
    event("accepted")
    from focusflow.actors.economics.core import Swap

    genesis = EconGenesis(params=params, balances={"a": (10**9, 10**9)}, pool=(10**9, 10**9), treasury_cyb=10**9)
    core = EconomicsCore(MemoryLedger(), genesis)
    core.apply_block(BlockInput(1, (Stake("a", 10**8),)))
    for h in range(2, 8):
        core.apply_block(BlockInput(h, (Swap("a", "H", 10**6),), gas=(("a", 10**6),), focus_gains=(("a", 3),)))
    assert core.violations() == []
