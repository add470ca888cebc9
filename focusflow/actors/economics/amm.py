"""The protocol market maker: a constant-product H/CYB pool in integer arithmetic.

The pool's reserves are the balances of one ledger account (:data:`POOL_ACCOUNT`), so
they are ordinary ``/token`` state. Liquidity shares are the ``LP`` denom, minted on
deposit and burned on withdrawal through the journaled path. Liquidity is
protocol-owned (the protocol's treasury adds the liquidity part of gas) plus what
primary dealers add: providing or withdrawing liquidity is an allow-listed role; anyone
may swap. Rounding always favours the pool: outputs and withdrawals round down, the
second leg of a deposit rounds up, and the fee stays in the reserves, so ``k = x*y``
never decreases on a swap and ``k / shares^2`` never decreases on a deposit/withdrawal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from focusflow.actors.economics.fixed import PPB, WAD, ceil_div
from focusflow.actors.economics.ledger import (
    CYB,
    LP,
    EconError,
    H,
    Ledger,
    SupplyJournal,
    burn,
    mint,
    supply_max,
    transfer,
)

POOL_ACCOUNT = "econ/amm"


class AmmError(EconError):
    """A pool operation was refused (the sender's fault: slippage, role, empty pool)."""


class NotDealer(AmmError):
    """Only allow-listed primary dealers (and the protocol) may move liquidity."""


@dataclass(frozen=True, slots=True)
class SwapResult:
    """What a swap did: amounts in and out and the pool's ``k`` before and after."""

    denom_in: str
    amount_in: int
    amount_out: int
    k_before: int
    k_after: int


def reserves(ledger: Ledger) -> tuple[int, int]:
    """The pool's (CYB, H) reserves."""
    return ledger.balance(POOL_ACCOUNT, CYB), ledger.balance(POOL_ACCOUNT, H)


def price_wad(ledger: Ledger) -> int | None:
    """H's price in CYB at the pool, scaled by ``WAD`` (floored), or ``None`` if empty."""
    r_cyb, r_h = reserves(ledger)
    if r_cyb == 0 or r_h == 0:
        return None
    return r_cyb * WAD // r_h


def quote_out(amount_in: int, reserve_in: int, reserve_out: int, fee_ppb: int) -> int:
    """Output of a constant-product swap, rounded down (the fee and the dust stay in)."""
    assert amount_in >= 0 and reserve_in >= 0 and reserve_out >= 0
    assert 0 <= fee_ppb < PPB
    if amount_in == 0 or reserve_in == 0 or reserve_out == 0:
        return 0
    net = amount_in * (PPB - fee_ppb)
    return reserve_out * net // (reserve_in * PPB + net)


def price_after_swap(ledger: Ledger, denom_in: str, amount_in: int, fee_ppb: int) -> int | None:
    """The pool price (WAD) a swap would leave, without doing it (for breaker checks)."""
    r_cyb, r_h = reserves(ledger)
    if r_cyb == 0 or r_h == 0:
        return None
    if denom_in == CYB:
        out = quote_out(amount_in, r_cyb, r_h, fee_ppb)
        r_cyb, r_h = r_cyb + amount_in, r_h - out
    else:
        out = quote_out(amount_in, r_h, r_cyb, fee_ppb)
        r_cyb, r_h = r_cyb - out, r_h + amount_in
    if r_h == 0:
        return None
    return r_cyb * WAD // r_h


def swap(
    ledger: Ledger, trader: str, denom_in: str, amount_in: int, *, fee_ppb: int, min_out: int = 0
) -> SwapResult:
    """Sell ``amount_in`` of ``denom_in`` (CYB or H) to the pool for the other denom.

    Raises:
        AmmError: empty pool, zero output, or output below ``min_out`` (nothing changes).
        InsufficientFunds: the trader does not hold ``amount_in``.
    """
    assert denom_in in (CYB, H), denom_in
    denom_out = H if denom_in == CYB else CYB
    r_cyb, r_h = reserves(ledger)
    k_before = r_cyb * r_h
    if k_before == 0:
        raise AmmError("the pool is empty")
    r_in, r_out = (r_cyb, r_h) if denom_in == CYB else (r_h, r_cyb)
    out = quote_out(amount_in, r_in, r_out, fee_ppb)
    if out == 0:
        raise AmmError(f"swap of {amount_in} {denom_in} would return nothing")
    if out < min_out:
        raise AmmError(f"swap returns {out} {denom_out}, below min_out {min_out}")
    transfer(ledger, trader, POOL_ACCOUNT, denom_in, amount_in)
    transfer(ledger, POOL_ACCOUNT, trader, denom_out, out)
    a, b = reserves(ledger)
    k_after = a * b
    assert k_after >= k_before, "constant-product k decreased on a swap"
    assert a > 0 and b > 0
    return SwapResult(denom_in, amount_in, out, k_before, k_after)


def add_liquidity(
    ledger: Ledger, journal: SupplyJournal, provider: str, *, cyb_max: int, h_max: int
) -> tuple[int, int, int]:
    """Deposit at the pool's ratio, at most ``cyb_max`` CYB and ``h_max`` H; mint LP shares.

    The first deposit sets the price and mints ``isqrt(cyb * h)`` shares. Later deposits
    take as much as fits at the current ratio, rounding the deposit up and the shares down.
    Returns ``(cyb_in, h_in, shares)``.

    Raises:
        AmmError: the deposit is too small to mint a share.
        InsufficientFunds: the provider lacks the CYB or H.
    """
    assert cyb_max >= 0 and h_max >= 0
    r_cyb, r_h = reserves(ledger)
    shares_total = ledger.supply(LP)
    if shares_total == 0 or r_cyb == 0 or r_h == 0:
        assert shares_total == 0, "LP shares exist for an empty pool: corrupt state"
        cyb_in, h_in, shares = cyb_max, h_max, math.isqrt(cyb_max * h_max)
    else:
        # Take all of one side, and the other side at the pool ratio (rounded up).
        h_for_all_cyb = ceil_div(cyb_max * r_h, r_cyb)
        if h_for_all_cyb <= h_max:
            cyb_in, h_in = cyb_max, h_for_all_cyb
        else:
            cyb_in, h_in = ceil_div(h_max * r_cyb, r_h), h_max
            cyb_in = min(cyb_in, cyb_max)
        shares = min(cyb_in * shares_total // r_cyb, h_in * shares_total // r_h)
    if shares == 0:
        raise AmmError(f"deposit of {cyb_max} CYB / {h_max} H is too small to mint a share")
    if shares_total + shares > supply_max:
        raise AmmError("deposit would take LP shares past supply_max")
    transfer(ledger, provider, POOL_ACCOUNT, CYB, cyb_in)
    try:
        transfer(ledger, provider, POOL_ACCOUNT, H, h_in)
    except EconError:
        transfer(ledger, POOL_ACCOUNT, provider, CYB, cyb_in)  # undo the first leg
        raise
    mint(ledger, journal, provider, LP, shares, "lp_deposit")
    return cyb_in, h_in, shares


def remove_liquidity(
    ledger: Ledger, journal: SupplyJournal, provider: str, shares: int
) -> tuple[int, int]:
    """Burn ``shares`` LP and pay out the pro-rata reserves, rounded down.

    Raises:
        AmmError: ``shares`` is not positive or would pay out nothing.
        InsufficientFunds: the provider holds fewer shares.
    """
    total = ledger.supply(LP)
    if shares <= 0 or total == 0:
        raise AmmError(f"cannot withdraw {shares} shares of {total}")
    r_cyb, r_h = reserves(ledger)
    cyb_out, h_out = shares * r_cyb // total, shares * r_h // total
    if shares < total and (cyb_out >= r_cyb or h_out >= r_h):
        raise AmmError("withdrawal would empty a side of the pool")
    burn(ledger, journal, provider, LP, shares, "lp_withdraw")
    transfer(ledger, POOL_ACCOUNT, provider, CYB, cyb_out)
    transfer(ledger, POOL_ACCOUNT, provider, H, h_out)
    return cyb_out, h_out
