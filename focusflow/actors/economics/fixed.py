"""Integer fixed-point helpers: every ratio in economics state is an ``int``.

Ratios are parts per billion (``PPB``); prices and accumulators use larger scales.
Each helper names its rounding direction, because the rule of this package is that
rounding always favours the protocol: amounts paid out round down, amounts taken in
(burns, deposits owed) round up, so no rounding step can create a token.
"""

from __future__ import annotations

PPB = 1_000_000_000
"""One whole, in parts per billion (the scale of every ``*_ppb`` value)."""

WAD = 10**18
"""Scale of prices (CYB per H) and other quantities that need more digits than PPB."""

ACC_SCALE = 10**36
"""Scale of reward-per-weight accumulators: large so per-block dust stays negligible."""


def floor_div(num: int, den: int) -> int:
    """Floor of ``num / den`` for a positive ``den`` (payouts, shares received)."""
    assert den > 0, "division by a non-positive denominator is a local bug"
    return num // den


def ceil_div(num: int, den: int) -> int:
    """Ceiling of ``num / den`` for ``num >= 0`` and ``den > 0`` (amounts owed to the protocol)."""
    assert den > 0, "division by a non-positive denominator is a local bug"
    assert num >= 0, "ceil_div is only defined here for non-negative numerators"
    return -((-num) // den)


def mul_ppb_floor(amount: int, ppb: int) -> int:
    """``amount * ppb / PPB`` rounded down: the part of ``amount`` a share of ``ppb`` gets."""
    assert amount >= 0 and 0 <= ppb <= PPB, (amount, ppb)
    return amount * ppb // PPB


def trunc_div(num: int, den: int) -> int:
    """``num / den`` rounded toward zero (used to move a point toward a target)."""
    assert den > 0, "division by a non-positive denominator is a local bug"
    q = abs(num) // den
    return q if num >= 0 else -q
