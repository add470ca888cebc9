"""The adaptive split: within bounds, smooth, exact; the premium signal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.economics.fixed import PPB
from focusflow.actors.economics.params import EconParams
from focusflow.actors.economics.split import (
    divide_gas,
    lerp_split,
    premium_ppb,
    step_split,
    target_split,
    within_bounds,
)

PARAMS = EconParams()


@st.composite
def simplex_points(draw: st.DrawFn) -> tuple[int, int, int]:
    a = draw(st.integers(0, PPB))
    b = draw(st.integers(0, PPB - a))
    return (a, b, PPB - a - b)


@st.composite
def in_box(draw: st.DrawFn) -> tuple[int, int, int]:
    lo, hi = PARAMS.split_min_ppb, PARAMS.split_max_ppb
    burn = draw(st.integers(lo[0], hi[0]))
    rew_lo = max(lo[1], PPB - burn - hi[2])
    rew_hi = min(hi[1], PPB - burn - lo[2])
    rew = draw(st.integers(rew_lo, rew_hi))
    return (burn, rew, PPB - burn - rew)


@settings(max_examples=200, deadline=None)
@given(simplex_points(), simplex_points(), st.integers(1, 10**12), st.data())
def test_lerp_stays_between_endpoints_and_sums_to_one(
    a: tuple[int, int, int], b: tuple[int, int, int], den: int, data: st.DataObject
) -> None:
    num = data.draw(st.integers(0, den))
    out = lerp_split(a, b, num, den)
    assert sum(out) == PPB
    for i in range(3):
        assert min(a[i], b[i]) <= out[i] <= max(a[i], b[i])
        exact_move = abs(b[i] - a[i]) * num
        assert abs(out[i] - a[i]) * den <= exact_move + den  # at most one ppb of rounding


@settings(max_examples=200, deadline=None)
@given(in_box(), st.integers(0, 5 * PPB) | st.none(), st.integers(1, 50_000_000))
def test_step_moves_at_most_step_and_stays_in_bounds(
    current: tuple[int, int, int], premium: int | None, step: int
) -> None:
    target = target_split(PARAMS, premium)
    assert within_bounds(target, PARAMS)
    new = step_split(current, target, step)
    assert within_bounds(new, PARAMS)
    assert max(abs(new[i] - current[i]) for i in range(3)) <= step
    # it moves toward the target: the largest gap shrinks (or is closed)
    gap_before = max(abs(target[i] - current[i]) for i in range(3))
    gap_after = max(abs(target[i] - new[i]) for i in range(3))
    assert gap_after <= gap_before and (gap_after < gap_before or gap_before == 0)


def test_repeated_steps_converge_to_the_target() -> None:
    split = PARAMS.split_genesis_ppb
    target = target_split(PARAMS, 10 * PPB)
    assert target == PARAMS.split_high_ppb
    for _ in range(10_000):
        split = step_split(split, target, PARAMS.split_step_max_ppb)
        if split == target:
            break
    assert split == target


def test_target_policy_is_monotone_in_the_premium() -> None:
    burns = [target_split(PARAMS, p)[0] for p in range(0, 2 * PPB, PPB // 50)]
    assert burns == sorted(burns)
    assert burns[0] == PARAMS.split_low_ppb[0] and burns[-1] == PARAMS.split_high_ppb[0]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**30), simplex_points())
def test_divide_gas_is_exact(total: int, split: tuple[int, int, int]) -> None:
    parts = divide_gas(total, split)
    assert sum(parts) == total and min(parts) >= 0


def test_premium_is_p_over_d_and_undefined_without_stake() -> None:
    # p = 2 CYB/H, d = 4 H / 2 CYB = 2  ->  p/d = 1.0
    assert premium_ppb(reserve_cyb=200, reserve_h=100, h_supply=4, staked_cyb=2) == PPB
    assert premium_ppb(reserve_cyb=200, reserve_h=100, h_supply=4, staked_cyb=0) is None
    assert premium_ppb(reserve_cyb=0, reserve_h=100, h_supply=4, staked_cyb=2) is None
