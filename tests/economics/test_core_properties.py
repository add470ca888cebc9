"""Whole-core properties under random blocks: conservation, no negatives, bounded split."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focusflow.actors.economics.core import (
    AddLiquidity,
    BlockInput,
    ClaimTenure,
    EconGenesis,
    EconomicsCore,
    RemoveLiquidity,
    Stake,
    Swap,
    Transfer,
    Tx,
    Unstake,
)
from focusflow.actors.economics.ledger import CYB, DENOMS, LP, H, MemoryLedger
from focusflow.actors.economics.params import EconParams
from focusflow.actors.economics.split import within_bounds

USERS = ["a", "b", "c", "dealer"]
U = 10**6
amounts = st.integers(1, 3 * 10**5 * U) | st.integers(1, 1000) | st.sampled_from([10**4 * U, 10**5 * U, 2 * 10**5 * U])
user = st.sampled_from(USERS)

txs = st.one_of(
    st.builds(Stake, user, amounts),
    st.builds(Unstake, user, amounts),
    st.builds(Swap, user, st.sampled_from([CYB, H]), amounts),
    st.builds(AddLiquidity, user, amounts, amounts),
    st.builds(RemoveLiquidity, user, st.integers(1, 10**6 * U)),
    st.builds(ClaimTenure, user),
    st.builds(Transfer, user, user, st.sampled_from([CYB, H]), amounts),
)
blocks = st.lists(
    st.tuples(
        st.lists(txs, max_size=6),
        st.lists(st.tuples(user, amounts), max_size=4),
        st.lists(st.tuples(user, st.integers(-5, 100)), max_size=4),
    ),
    min_size=1,
    max_size=25,
)


def _core(params: EconParams) -> EconomicsCore:
    genesis = EconGenesis(
        params=params,
        balances={u: (10**6 * U, 10**5 * U) for u in USERS},
        pool=(10**6 * U, 10**6 * U),
        treasury_cyb=10**5 * U,
        dealers=frozenset({"dealer"}),
    )
    return EconomicsCore(MemoryLedger(), genesis)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks, st.booleans(), st.integers(0, 2 * 10**9))
def test_random_blocks_keep_every_invariant(
    spec: list[tuple[list[Tx], list[tuple[str, int]], list[tuple[str, int]]]],
    mint_h: bool,
    h_ratio: int,
) -> None:
    params = EconParams().replace(
        stake_mint_h=mint_h, h_per_cyb_ppb=max(h_ratio, 1), split_step_max_ppb=50_000_000,
        breaker_cooldown_blocks=3, focus_settle_interval_blocks=2,
    )  # fmt: skip
    core = _core(params)
    ledger = core.ledger
    for height, (block_txs, gas, gains) in enumerate(spec, start=1):
        before = {d: ledger.supply(d) for d in DENOMS}
        minted_before = dict(core.journal.by_reason)
        split_before = core.split
        rec = core.apply_block(BlockInput(height, tuple(block_txs), tuple(gas), tuple(gains)))
        # invariants: supply == genesis + minted - burned, balances sum to supply, none negative
        assert core.violations() == []
        # the split used is in bounds and moved by at most one step
        assert within_bounds(rec.split_ppb, params)
        assert max(abs(rec.split_ppb[i] - split_before[i]) for i in range(3)) <= params.split_step_max_ppb
        # supply moved only by documented reasons, and by exactly what they recorded
        delta = {
            k: v - minted_before.get(k, 0)
            for k, v in core.journal.by_reason.items()
            if v != minted_before.get(k, 0)
        }
        for denom in DENOMS:
            moved = sum(v for (d, _), v in delta.items() if d == denom)
            assert ledger.supply(denom) - before[denom] == moved
        assert {r for (_, r) in delta} <= {"stake_mint_h", "unstake_burn_h", "buyback_burn_cyb", "lp_deposit", "lp_withdraw"}
        # rounding never creates tokens: CYB only ever shrinks after genesis, H grows only
        # by staking's mint, which never exceeds staked * ratio
        assert ledger.supply(CYB) <= before[CYB]
        staked_now = sum(
            t.amount for t, r in zip(block_txs, rec.receipts, strict=False) if isinstance(t, Stake) and r.ok
        )
        h_minted = delta.get((H, "stake_mint_h"), 0)
        assert h_minted * 10**9 <= staked_now * params.h_per_cyb_ppb
        if not mint_h:
            assert h_minted == 0
        assert rec.supply[LP] == ledger.supply(LP)


def test_unstake_burns_at_least_the_proportional_minted_h() -> None:
    core = _core(EconParams())
    core.apply_block(BlockInput(1, (Stake("a", 7),)))
    assert core.ledger.balance("a", H) == 10**5 * U + 7
    core.apply_block(BlockInput(2, (Unstake("a", 3),)))
    # 7 minted; unstaking 3 of 7 burns ceil(7*3/7) = 3, leaving 4 recorded for the rest
    assert core.h_minted["a"] == 4
    core.apply_block(BlockInput(3, (Unstake("a", 4),)))
    assert "a" not in core.h_minted and core.ledger.balance("a", H) == 10**5 * U
    assert core.violations() == []


def test_unstake_without_the_minted_h_is_refused_and_changes_nothing() -> None:
    core = _core(EconParams())
    core.apply_block(BlockInput(1, (Stake("a", 10**6 * U), Transfer("a", "b", H, 10**6 * U))))
    rec = core.apply_block(BlockInput(2, (Unstake("a", 10**6 * U),)))
    assert not rec.receipts[0].ok and "InsufficientFunds" in rec.receipts[0].error
    assert core.staked("a") == 10**6 * U and core.violations() == []


def test_gas_pays_rebates_focus_and_tenure_and_all_of_it_is_accounted() -> None:
    core = _core(EconParams())
    core.apply_block(BlockInput(1, (Stake("a", 10**5 * U),)))
    total_gas = 0
    for h in range(2, 30):
        rec = core.apply_block(BlockInput(h, gas=(("b", 1000 * U),), focus_gains=(("c", 5), ("dealer", 1))))
        assert rec.buyback_h <= rec.gas_h and rec.rebates_h <= 1000 * U // 10
        assert rec.rebates_h + rec.focus_h + rec.tenure_h <= rec.rewards_h
        total_gas += rec.gas_h
    rec = core.apply_block(BlockInput(30, (ClaimTenure("a"),)))
    assert rec.receipts[0].ok and core.ledger.balance("a", H) > 10**5 * U + 10**5 * U
    assert core.ledger.balance("c", H) > 10**5 * U  # focus micro-rewards settled in batches
    assert total_gas == 28 * 1000 * U and core.violations() == []


def _snapshot(core: EconomicsCore) -> dict[str, list[tuple[str, int]]]:
    return {d: sorted(core.ledger.holders(d)) for d in DENOMS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(txs, min_size=1, max_size=30))
def test_a_refused_transaction_changes_no_balance(seq: list[Tx]) -> None:
    core = _core(EconParams())
    refused = 0
    for height, tx in enumerate(seq, start=1):
        before = _snapshot(core)
        staked_before = core.tenure.total_staked()
        rec = core.apply_block(BlockInput(height, (tx,)))  # no gas: only the tx moves funds
        if not rec.receipts[0].ok:
            refused += 1
            assert _snapshot(core) == before, rec.receipts[0]
            assert core.tenure.total_staked() == staked_before
        assert core.violations() == []


def test_an_oversized_block_is_refused_and_the_core_stays_usable() -> None:
    import pytest

    from focusflow.actors.economics.core import BlockRefused

    core = _core(EconParams().replace(txs_per_block_max=2))
    with pytest.raises(BlockRefused, match="txs_per_block_max"):
        core.apply_block(BlockInput(1, (ClaimTenure("a"),) * 3))
    assert core.height == 0 and not core.failed
    assert core.apply_block(BlockInput(1, (ClaimTenure("a"),) * 2)).height == 1
