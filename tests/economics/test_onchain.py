"""The economics core's state document and the chain's column helpers
(``economics.statedoc``, ``economics.onchain``): a core rebuilt from its document continues
exactly as the one that never stopped, whatever its books hold (stakes, votes, a tripped
breaker), and the numpy columns give what the per-item loops they replace give."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focusflow.actors.economics.core import (
    BlockInput,
    ClaimTenure,
    EconomicsCore,
    Propose,
    Stake,
    Swap,
    Unstake,
    Vote,
)
from focusflow.actors.economics.governance import Choice
from focusflow.actors.economics.ledger import CYB, MemoryLedger
from focusflow.actors.economics.onchain import focus_gains, gas_of, neuron_account
from focusflow.actors.economics.params import EconParams
from focusflow.actors.economics.statedoc import encode_core, restore_core
from tests.economics.test_core_properties import _core, blocks

U = 10**6


def _copy(core: EconomicsCore) -> EconomicsCore:
    """The core rebuilt from its document, over a copy of its balances."""
    ledger = MemoryLedger()
    for denom in ("CYB", "H", "LP-H-CYB"):
        ledger.set_supply(denom, core.ledger.supply(denom))
        for account, amount in core.ledger.holders(denom):
            ledger.set_balance(account, denom, amount)
    again, extra = restore_core(encode_core(core, {"x": 1}), ledger)
    assert extra == {"x": 1}
    again.focus.pending = dict(core.focus.pending)
    return again


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks, st.integers(1, 24))
def test_a_core_rebuilt_from_its_document_continues_identically(block_list: list, cut: int) -> None:  # type: ignore[type-arg]
    params = EconParams(tenure_ramp_blocks=5, gov_voting_blocks=3, breaker_cooldown_blocks=4)
    core = _core(params)
    records, restarted = [], None
    for h, (txs, gas, gains) in enumerate(block_list, start=1):
        extra = (Stake("a", 10**4 * U), Propose("a", (("amm_fee_ppb", 4_000_000),)),
                 Vote("a", 1, Choice.YES), Swap("b", CYB, 10**5 * U)) if h == 1 else ()
        block = BlockInput(h, tuple(extra) + tuple(txs), tuple(gas), tuple(gains))
        if h == cut + 1:
            restarted = _copy(core)
        records.append(core.apply_block(block))
        if restarted is not None:
            assert restarted.apply_block(block) == records[-1], f"block {h}"
    if restarted is not None:
        assert encode_core(restarted, {}) == encode_core(core, {})
        assert list(restarted.focus.pending.items()) == list(core.focus.pending.items())


def test_the_document_keeps_stakes_votes_and_a_tripped_breaker() -> None:
    core = _core(EconParams(tenure_ramp_blocks=5))
    core.apply_block(BlockInput(1, (Stake("a", 10**4 * U), Stake("b", 10**3 * U),
                                    Propose("a", (("split_step_max_ppb", 3_000_000),)),
                                    Vote("b", 1, Choice.NO))))
    core.apply_block(BlockInput(2, (Unstake("b", 10 * U), ClaimTenure("a")), (("c", 10**3 * U),)))
    core.breaker.trip(2)
    again = _copy(core)
    assert again.tenure.to_doc() == core.tenure.to_doc() and again.breaker == core.breaker
    assert again.gov == core.gov and again.h_minted == core.h_minted
    assert again.journal.minted == core.journal.minted and again.split == core.split
    assert again.violations() == []


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9)), max_size=40))
def test_per_payer_gas_in_columns_equals_the_loop(rows: list[tuple[int, int]]) -> None:
    addresses = [bytes([i]) * 20 for i in range(6)]
    payers = np.array([list(addresses[p]) for p, _ in rows], np.uint8).reshape(-1, 20)
    fees = np.array([f for _, f in rows], np.uint64)
    want: dict[str, int] = {}
    for p, f in rows:
        if f:
            want[neuron_account(addresses[p])] = want.get(neuron_account(addresses[p]), 0) + f
    assert gas_of(payers, fees) == sorted(want.items())


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 11)), max_size=40),
       st.lists(st.integers(0, 2**58), min_size=12, max_size=12),
       st.lists(st.integers(0, 2**58), min_size=0, max_size=12))
def test_focus_gains_in_columns_equal_the_loop(links: list[tuple[int, int]], after: list[int],
                                               before: list[int]) -> None:
    """The old executor's loop: Σ over each neuron's distinct new targets of the positive
    increase of their π (a particle new in this block had 0 before)."""
    addresses = [bytes([7, i]) * 10 for i in range(5)]
    neurons = np.array([list(addresses[u]) for u, _ in links], np.uint8).reshape(-1, 20)
    dst = np.array([d for _, d in links], np.int64)
    q_after, q_before = np.array(after, np.uint64), np.array(before, np.uint64)
    want: dict[str, int] = {}
    for u, d in {(u, d) for u, d in links}:
        up = after[d] - (before[d] if d < len(before) else 0)
        if up > 0:
            want[neuron_account(addresses[u])] = want.get(neuron_account(addresses[u]), 0) + up
    assert focus_gains(neurons, dst, q_before, q_after) == sorted(want.items())
