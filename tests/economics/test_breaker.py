"""Circuit breakers trip on a price run within the window and reset after the cooldown."""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from focusflow.actors.economics import amm
from focusflow.actors.economics.breaker import Breaker
from focusflow.actors.economics.core import BlockInput, EconGenesis, EconomicsCore, Stake, Swap
from focusflow.actors.economics.fixed import PPB, WAD
from focusflow.actors.economics.ledger import CYB, H, MemoryLedger
from focusflow.actors.economics.params import EconParams

UNIT = 10**6


def _core(**changes: object) -> EconomicsCore:
    params = EconParams().replace(**changes) if changes else EconParams()
    genesis = EconGenesis(
        params=params,
        balances={"whale": (10**7 * UNIT, 10**7 * UNIT), "staker": (10**6 * UNIT, 0)},
        pool=(10**6 * UNIT, 10**6 * UNIT),
        treasury_cyb=10**6 * UNIT,
    )
    return EconomicsCore(MemoryLedger(), genesis)


def test_a_swap_beyond_the_band_is_refused_and_trips_then_resets_after_cooldown() -> None:
    core = _core()
    p = core.params
    price_before = amm.price_wad(core.ledger)
    rec = core.apply_block(BlockInput(1, (Swap("whale", H, 300_000 * UNIT),)))
    assert not rec.receipts[0].ok and "breaker" in rec.receipts[0].error
    assert rec.breaker_tripped and amm.price_wad(core.ledger) == price_before
    tripped_at = core.breaker.tripped_at
    assert tripped_at == 1
    # While tripped: every swap is refused, even a tiny one, and the split does not move.
    split = core.split
    for h in range(2, tripped_at + p.breaker_cooldown_blocks):
        rec = core.apply_block(
            BlockInput(h, (Swap("whale", CYB, UNIT),), gas=(("whale", 1000 * UNIT),))
        )
        assert rec.breaker_tripped and not rec.receipts[0].ok
        assert rec.split_ppb == split != rec.target_ppb
    # First block at tripped_at + cooldown: reset, swaps flow, the split moves again.
    rec = core.apply_block(
        BlockInput(tripped_at + p.breaker_cooldown_blocks, (Swap("whale", CYB, UNIT),), gas=(("whale", 1000 * UNIT),))
    )
    assert rec.breaker_reset and not rec.breaker_tripped and rec.receipts[0].ok
    assert rec.split_ppb != split
    assert core.breaker.trips == 1 and core.violations() == []


def test_small_moves_that_add_up_within_the_window_trip() -> None:
    core = _core()
    oks = []
    for h in range(1, 6):
        rec = core.apply_block(BlockInput(h, (Swap("whale", H, 40_000 * UNIT),)))
        oks.append(rec.receipts[0].ok)
    # each ~8% move is fine alone; the third pushes the window's total past 15%
    assert oks[:2] == [True, True] and not oks[2] and core.breaker.tripped


def test_moves_spread_beyond_the_window_do_not_trip() -> None:
    core = _core(breaker_window_blocks=2)
    for h in range(1, 40, 3):  # one ~8% move every 3 blocks, window of 2 blocks
        core.apply_block(BlockInput(h, (Swap("whale", H, 40_000 * UNIT),)))
        core.apply_block(BlockInput(h + 1))
        core.apply_block(BlockInput(h + 2))
    assert core.breaker.trips == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 200_000), min_size=1, max_size=30))
def test_the_protocol_buyback_never_trips_and_the_price_stays_in_band(gas: list[int]) -> None:
    core = _core()
    core.apply_block(BlockInput(1, (Stake("staker", 10**6 * UNIT),)))
    for i, g in enumerate(gas):
        window = [p for _, p in core.breaker.prices]
        rec = core.apply_block(BlockInput(i + 2, gas=(("whale", g * UNIT),)))
        assert not rec.breaker_tripped
        price = rec.price_wad
        assert price is not None
        m = core.params.breaker_move_max_ppb
        assert price * PPB <= min(window) * (PPB + m) and price * PPB >= max(window) * (PPB - m)


def test_breaker_unit_band_and_reset_clear_the_window() -> None:
    b = Breaker(window_blocks=3, move_max_ppb=100_000_000, cooldown_blocks=5)
    b.sample(1, WAD)
    assert b.in_band(WAD * 11 // 10) and not b.in_band(WAD * 11 // 10 + 1)
    assert b.in_band(WAD * 9 // 10) and not b.in_band(WAD * 9 // 10 - 1)
    b.sample(2, 2 * WAD)
    assert b.tripped and b.tripped_at == 2
    assert not b.maybe_reset(6, 2 * WAD) and b.tripped
    assert b.maybe_reset(7, 2 * WAD) and not b.tripped
    assert list(b.prices) == [(7, 2 * WAD)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.sampled_from([CYB, H]), st.integers(1, 400_000)), max_size=3), min_size=1, max_size=40),
    st.integers(1, 6),
    st.integers(1, 8),
    st.integers(20_000_000, 300_000_000),
)
def test_breaker_trips_and_resets_as_specified_under_random_trading(
    blocks: list[list[tuple[str, int]]], window: int, cooldown: int, move_max: int
) -> None:
    """While armed no price leaves the band; once tripped nothing trades for exactly
    ``cooldown`` blocks; then it resets and the window restarts from the current price."""
    core = _core(breaker_window_blocks=window, breaker_cooldown_blocks=cooldown, breaker_move_max_ppb=move_max)
    trips = 0
    for height, swaps in enumerate(blocks, start=1):
        was_tripped_at = core.breaker.tripped_at
        window_prices = [p for _, p in core.breaker.prices]
        rec = core.apply_block(BlockInput(height, tuple(Swap("whale", d, a * UNIT) for d, a in swaps)))
        if was_tripped_at is not None and height < was_tripped_at + cooldown:
            assert rec.breaker_tripped and not rec.breaker_reset
            assert not any(r.ok for r in rec.receipts)  # halted: every swap refused
        if was_tripped_at is not None and height == was_tripped_at + cooldown:
            assert rec.breaker_reset
        if rec.breaker_tripped and (was_tripped_at is None or rec.breaker_reset):
            trips += 1
        if was_tripped_at is None and window_prices:
            # armed at the start of the block: the price it ends with stays in band
            price = rec.price_wad
            assert price is not None
            assert price * PPB <= min(window_prices) * (PPB + move_max)
            assert price * PPB >= max(window_prices) * (PPB - move_max)
        assert core.violations() == []
    assert core.breaker.trips == trips
    event(f"trips={min(trips, 3)}")
