"""Economics parameters: genesis defaults, hard bounds, and validation with clear errors.

Every parameter is an ``int`` (ratios in parts per billion, durations in blocks), a
``bool``, or a 3-tuple of ppb for the gas split in the fixed order
``(burn, rewards, liquidity)``. Governance may change any of them, but only to a value
that :func:`validate` accepts: each field has a hard range in :data:`PARAM_BOUNDS` and
the cross-field rules below (split anchors inside the split box, thresholds ordered...).
A value outside those rules is nonsense and is rejected with a :class:`ParamError` that
names the parameter, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from focusflow.actors.economics.fixed import PPB
from focusflow.actors.economics.ledger import EconError

SplitPpb = tuple[int, int, int]
"""A gas split in ppb, ordered (burn, rewards, liquidity)."""

SPLIT_PARTS = ("burn", "rewards", "liquidity")


class ParamError(EconError):
    """A parameter value is out of its bounds or inconsistent with the others.

    Whose fault: the proposer's (governance) or the operator's (genesis file).
    """


@dataclass(frozen=True, slots=True)
class EconParams:
    """All tunable economics parameters; the defaults are the genesis values."""

    # Staking and H issuance.
    stake_mint_h: bool = True
    h_per_cyb_ppb: int = PPB  # H minted per staked CYB (1:1)
    # Adaptive gas split (burn, rewards, liquidity).
    split_genesis_ppb: SplitPpb = (300_000_000, 500_000_000, 200_000_000)
    split_low_ppb: SplitPpb = (50_000_000, 550_000_000, 400_000_000)
    split_high_ppb: SplitPpb = (600_000_000, 300_000_000, 100_000_000)
    split_min_ppb: SplitPpb = (0, 200_000_000, 50_000_000)
    split_max_ppb: SplitPpb = (700_000_000, 800_000_000, 500_000_000)
    split_step_max_ppb: int = 2_000_000  # at most 0.2 percentage points per part per block
    premium_low_ppb: int = 800_000_000
    premium_high_ppb: int = 1_250_000_000
    # Rewards (shares of the rewards part of gas; tenure gets the remainder).
    rewards_rebate_ppb: int = 200_000_000
    rewards_focus_ppb: int = 300_000_000
    rebate_cap_ppb: int = 100_000_000  # a payer gets back at most 10% of the gas it paid
    tenure_ramp_blocks: int = 2_160  # tenure weight grows linearly, then stays
    focus_settle_interval_blocks: int = 6
    focus_batch_max: int = 256
    # Protocol market maker.
    amm_fee_ppb: int = 3_000_000
    # Circuit breakers.
    breaker_window_blocks: int = 24
    breaker_move_max_ppb: int = 150_000_000  # 15% move within the window trips
    breaker_cooldown_blocks: int = 48
    # Governance.
    gov_quorum_ppb: int = 334_000_000
    gov_threshold_ppb: int = 500_000_001
    gov_voting_blocks: int = 24
    gov_proposal_stake_min: int = 1
    # Limits.
    txs_per_block_max: int = 10_000
    gas_payments_per_block_max: int = 100_000
    focus_gains_per_block_max: int = 100_000

    def replace(self, **changes: Any) -> EconParams:
        """Return a validated copy with ``changes`` applied.

        Raises:
            ParamError: an unknown name, a wrong type, or a value :func:`validate` rejects.
        """
        names = {f.name for f in dataclasses.fields(self)}
        for name in changes:
            if name not in names:
                raise ParamError(f"unknown parameter {name!r}")
        new = dataclasses.replace(self, **changes)
        validate(new)
        return new


PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "h_per_cyb_ppb": (1, 10 * PPB),
    "split_step_max_ppb": (1, 100_000_000),
    "premium_low_ppb": (1, 100 * PPB),
    "premium_high_ppb": (2, 100 * PPB),
    "rewards_rebate_ppb": (0, PPB),
    "rewards_focus_ppb": (0, PPB),
    "rebate_cap_ppb": (0, PPB),
    "tenure_ramp_blocks": (1, 10_000_000),
    "focus_settle_interval_blocks": (1, 100_000),
    "focus_batch_max": (1, 100_000),
    "amm_fee_ppb": (0, 100_000_000),
    "breaker_window_blocks": (1, 100_000),
    "breaker_move_max_ppb": (1_000_000, 900_000_000),
    "breaker_cooldown_blocks": (1, 1_000_000),
    "gov_quorum_ppb": (1, PPB),
    "gov_threshold_ppb": (PPB // 2, PPB),
    "gov_voting_blocks": (1, 1_000_000),
    "gov_proposal_stake_min": (0, 2**63 - 1),
    "txs_per_block_max": (1, 1_000_000),
    "gas_payments_per_block_max": (1, 10_000_000),
    "focus_gains_per_block_max": (1, 10_000_000),
}
"""Hard range (inclusive) of every integer parameter."""

SPLIT_POINTS = ("split_genesis_ppb", "split_low_ppb", "split_high_ppb")
SPLIT_LIMITS = ("split_min_ppb", "split_max_ppb")


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParamError(f"{name}={value!r}: must be an integer")
    lo, hi = PARAM_BOUNDS[name]
    if not lo <= value <= hi:
        raise ParamError(f"{name}={value}: out of bounds (allowed {lo}..{hi})")
    return value


def _check_split(name: str, value: object, *, is_point: bool) -> SplitPpb:
    ok = (
        isinstance(value, tuple)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )
    if not ok:
        raise ParamError(f"{name}={value!r}: must be a tuple of 3 integers (burn, rewards, liquidity)")
    assert isinstance(value, tuple)
    for part, v in zip(SPLIT_PARTS, value, strict=True):
        if not 0 <= v <= PPB:
            raise ParamError(f"{name}={value}: {part}={v} out of bounds (allowed 0..{PPB})")
    if is_point and sum(value) != PPB:
        raise ParamError(f"{name}={value}: parts must sum to {PPB} (they sum to {sum(value)})")
    return (value[0], value[1], value[2])


def validate(params: EconParams) -> None:
    """Check every field and the cross-field rules.

    Raises:
        ParamError: the first rule broken, naming the parameter, the value and the bound.
    """
    if not isinstance(params.stake_mint_h, bool):
        raise ParamError(f"stake_mint_h={params.stake_mint_h!r}: must be true or false")
    for name in PARAM_BOUNDS:
        _check_int(name, getattr(params, name))
    lo = _check_split("split_min_ppb", params.split_min_ppb, is_point=False)
    hi = _check_split("split_max_ppb", params.split_max_ppb, is_point=False)
    for part, a, b in zip(SPLIT_PARTS, lo, hi, strict=True):
        if a > b:
            raise ParamError(f"split_min_ppb/split_max_ppb: {part} min {a} exceeds max {b}")
    if sum(lo) > PPB or sum(hi) < PPB:
        raise ParamError(f"split box {lo}..{hi} contains no split summing to {PPB}")
    for name in SPLIT_POINTS:
        point = _check_split(name, getattr(params, name), is_point=True)
        for part, v, a, b in zip(SPLIT_PARTS, point, lo, hi, strict=True):
            if not a <= v <= b:
                raise ParamError(f"{name}={point}: {part}={v} outside split bounds {a}..{b}")
    if params.premium_low_ppb >= params.premium_high_ppb:
        raise ParamError(
            f"premium_low_ppb={params.premium_low_ppb} must be below "
            f"premium_high_ppb={params.premium_high_ppb}"
        )
    if params.rewards_rebate_ppb + params.rewards_focus_ppb > PPB:
        raise ParamError(
            f"rewards_rebate_ppb + rewards_focus_ppb = "
            f"{params.rewards_rebate_ppb + params.rewards_focus_ppb} exceeds {PPB}"
        )


def param_names() -> tuple[str, ...]:
    """Names governance may change (every field)."""
    return tuple(f.name for f in dataclasses.fields(EconParams))


DEFAULT_PARAMS = EconParams()
validate(DEFAULT_PARAMS)
