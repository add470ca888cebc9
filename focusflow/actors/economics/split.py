"""The adaptive gas split: premium signal, target policy, and the bounded per-block move.

Premium (the issue's ``p/d``): ``p`` is H's market price in CYB (pool reserves
``cyb/h``), ``d`` is H supply over staked CYB. Taken literally,
``p/d = (R_cyb / R_h) / (S_h / staked) = R_cyb * staked / (R_h * S_h)``, reported in ppb.
With the default 1:1 staking mint and all H coming from staking, ``d = 1`` and the premium
is simply the pool price. When a term is zero (no pool, nothing staked, no H) the signal
is undefined and the policy treats it as neutral (the midpoint of the band).

Policy: below ``premium_low`` the target is the ``split_low`` anchor (keep H off the
market: little buyback, more liquidity and rewards), above ``premium_high`` it is
``split_high`` (sell gas H for CYB and burn it), linear in between. The applied split
moves toward the target by at most ``split_step_max_ppb`` per part per block, so it
moves smoothly, and since both the current split and the target lie in the split box,
every intermediate point does too (the box and the simplex are convex, and the integer
rounding below only ever lands between the two endpoints).
"""

from __future__ import annotations

from focusflow.actors.economics.fixed import PPB, trunc_div
from focusflow.actors.economics.params import EconParams, SplitPpb


def premium_ppb(*, reserve_cyb: int, reserve_h: int, h_supply: int, staked_cyb: int) -> int | None:
    """The premium signal ``p/d`` in ppb (floored), or ``None`` when undefined."""
    assert min(reserve_cyb, reserve_h, h_supply, staked_cyb) >= 0
    den = reserve_h * h_supply
    if den == 0 or reserve_cyb == 0 or staked_cyb == 0:
        return None
    return reserve_cyb * staked_cyb * PPB // den


def lerp_split(a: SplitPpb, b: SplitPpb, num: int, den: int) -> SplitPpb:
    """The point ``a + (b - a) * num / den`` on the split simplex, in integers.

    Each part is truncated toward ``a``; the one to three ppb that truncation loses are
    handed back, largest remainder first, to parts that were truncated away from ``b``.
    So every part stays between ``a_i`` and ``b_i`` (hence inside any box holding both),
    moves by at most ``ceil(|b_i - a_i| * num / den)``, and the parts sum to ``PPB``.
    """
    assert sum(a) == PPB and sum(b) == PPB, (a, b)
    assert den > 0 and 0 <= num <= den, (num, den)
    scaled = [(b[i] - a[i]) * num for i in range(3)]
    moved = [trunc_div(s, den) for s in scaled]
    remainders = [scaled[i] - moved[i] * den for i in range(3)]  # same sign as scaled[i]
    lost = -sum(moved)  # integer in (-3, 3): what truncation dropped in total
    sign = 1 if lost > 0 else -1
    order = sorted(range(3), key=lambda i: (-sign * remainders[i], i))
    for i in order[: abs(lost)]:
        assert sign * remainders[i] > 0, "largest-remainder step found no part to round"
        moved[i] += sign
    out = (a[0] + moved[0], a[1] + moved[1], a[2] + moved[2])
    assert sum(out) == PPB
    for i in range(3):
        assert min(a[i], b[i]) <= out[i] <= max(a[i], b[i]), (a, b, out)
    return out


def target_split(params: EconParams, premium: int | None) -> SplitPpb:
    """The policy's target split for a premium (``None`` means neutral: the band midpoint)."""
    lo, hi = params.premium_low_ppb, params.premium_high_ppb
    x = (lo + hi) // 2 if premium is None else premium
    if x <= lo:
        return params.split_low_ppb
    if x >= hi:
        return params.split_high_ppb
    return lerp_split(params.split_low_ppb, params.split_high_ppb, x - lo, hi - lo)


def step_split(current: SplitPpb, target: SplitPpb, step_max_ppb: int) -> SplitPpb:
    """Move ``current`` toward ``target`` so that no part changes by more than ``step_max_ppb``."""
    assert step_max_ppb > 0
    gap = max(abs(target[i] - current[i]) for i in range(3))
    if gap <= step_max_ppb:
        return target
    out = lerp_split(current, target, step_max_ppb, gap)
    assert max(abs(out[i] - current[i]) for i in range(3)) <= step_max_ppb
    return out


def within_bounds(split: SplitPpb, params: EconParams) -> bool:
    """Whether a split sums to ``PPB`` and every part lies in ``[split_min, split_max]``."""
    return sum(split) == PPB and all(
        params.split_min_ppb[i] <= split[i] <= params.split_max_ppb[i] for i in range(3)
    )


def divide_gas(total: int, split: SplitPpb) -> tuple[int, int, int]:
    """Divide ``total`` H of gas by ``split``: burn and liquidity floored, rewards get the rest.

    The three amounts sum to ``total`` exactly, so dividing never creates or loses H.
    """
    assert total >= 0 and sum(split) == PPB
    burn = total * split[0] // PPB
    liquidity = total * split[2] // PPB
    rewards = total - burn - liquidity
    assert rewards >= 0
    return burn, rewards, liquidity
