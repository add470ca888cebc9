"""The constant-product pool: k never decreases, rounding favours the pool, dealers only."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.economics import amm
from focusflow.actors.economics.core import (
    AddLiquidity,
    BlockInput,
    EconGenesis,
    EconomicsCore,
    RemoveLiquidity,
)
from focusflow.actors.economics.ledger import (
    CYB,
    LP,
    H,
    MemoryLedger,
    SupplyJournal,
    mint,
    supply_conserved,
)


def _pool(cyb: int, h: int) -> tuple[MemoryLedger, SupplyJournal]:
    ledger, journal = MemoryLedger(), SupplyJournal()
    mint(ledger, journal, "lp", CYB, cyb, "genesis")
    mint(ledger, journal, "lp", H, h, "genesis")
    amm.add_liquidity(ledger, journal, "lp", cyb_max=cyb, h_max=h)
    return ledger, journal


@settings(max_examples=80, deadline=None)
@given(
    st.integers(10**3, 10**15),
    st.integers(10**3, 10**15),
    st.integers(0, 10**7),
    st.lists(st.tuples(st.sampled_from([CYB, H]), st.integers(1, 10**15)), max_size=25),
)
def test_k_never_decreases_and_no_swap_creates_tokens(
    r_cyb: int, r_h: int, fee: int, trades: list[tuple[str, int]]
) -> None:
    ledger, journal = _pool(r_cyb, r_h)
    mint(ledger, journal, "t", CYB, 10**16, "genesis")
    mint(ledger, journal, "t", H, 10**16, "genesis")
    k = r_cyb * r_h
    for denom, amount in trades:
        try:
            res = amm.swap(ledger, "t", denom, amount, fee_ppb=fee)
        except amm.AmmError:
            continue
        assert res.k_after >= res.k_before >= k
        k = res.k_after
    assert supply_conserved(ledger, journal)


@settings(max_examples=80, deadline=None)
@given(st.integers(10**3, 10**12), st.integers(10**3, 10**12), st.integers(1, 10**12))
def test_swap_output_never_exceeds_the_exact_constant_product_output(
    r_in: int, r_out: int, amount: int
) -> None:
    out = amm.quote_out(amount, r_in, r_out, 0)
    # exact output is r_out * amount / (r_in + amount); the integer one rounds down
    assert out * (r_in + amount) <= r_out * amount
    assert (out + 1) * (r_in + amount) > r_out * amount


@settings(max_examples=60, deadline=None)
@given(
    st.integers(10**4, 10**12), st.integers(10**4, 10**12),
    st.integers(1, 10**12), st.integers(1, 10**12),
)  # fmt: skip
def test_deposit_then_withdraw_never_returns_more_than_deposited(
    r_cyb: int, r_h: int, cyb_in: int, h_in: int
) -> None:
    ledger, journal = _pool(r_cyb, r_h)
    mint(ledger, journal, "d", CYB, cyb_in, "genesis")
    mint(ledger, journal, "d", H, h_in, "genesis")
    root_k_per_share = math.isqrt(r_cyb * r_h) * 10**18 // ledger.supply(LP)
    try:
        paid_cyb, paid_h, shares = amm.add_liquidity(ledger, journal, "d", cyb_max=cyb_in, h_max=h_in)
    except amm.AmmError:
        return
    got_cyb, got_h = amm.remove_liquidity(ledger, journal, "d", shares)
    assert got_cyb <= paid_cyb and got_h <= paid_h
    a, b = amm.reserves(ledger)
    assert math.isqrt(a * b) * 10**18 // ledger.supply(LP) >= root_k_per_share - 1
    assert supply_conserved(ledger, journal)


def test_only_allow_listed_dealers_move_liquidity() -> None:
    genesis = EconGenesis(
        balances={"dealer": (10**9, 10**9), "rando": (10**9, 10**9)},
        pool=(10**9, 10**9),
        dealers=frozenset({"dealer"}),
    )
    core = EconomicsCore(MemoryLedger(), genesis)
    rec = core.apply_block(
        BlockInput(1, (AddLiquidity("rando", 10**6, 10**6), AddLiquidity("dealer", 10**6, 10**6)))
    )
    assert [r.ok for r in rec.receipts] == [False, True]
    assert "primary dealer" in rec.receipts[0].error
    shares = core.ledger.balance("dealer", LP)
    rec = core.apply_block(BlockInput(2, (RemoveLiquidity("rando", 1), RemoveLiquidity("dealer", shares))))
    assert [r.ok for r in rec.receipts] == [False, True]
    assert core.violations() == []


def test_swap_on_an_empty_pool_is_refused() -> None:
    ledger, journal = MemoryLedger(), SupplyJournal()
    mint(ledger, journal, "t", CYB, 10, "genesis")
    with pytest.raises(amm.AmmError):
        amm.swap(ledger, "t", CYB, 10, fee_ppb=0)
