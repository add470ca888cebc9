"""Circuit breaker: halts the AMM and freezes the gas split when the price runs.

Specification (also in docs/economics.md):

* The breaker keeps the pool price at the end of each of the last
  ``breaker_window_blocks`` blocks.
* A price ``p`` is *out of band* when ``p > min_window * (1 + m)`` or
  ``p < max_window * (1 - m)``, with ``m = breaker_move_max_ppb``. Every swap (a user's
  or the protocol's buyback) is checked before it executes: a swap that would leave the
  price out of band is refused and trips the breaker, so while the breaker is armed the
  price never leaves the band. The end-of-block price is checked too (belt and braces).
* While tripped: every swap is refused, the split does not move (each block records the
  frozen split), and the buyback part of gas waits in its buffer. Staking, rewards,
  governance and liquidity deposits continue (deposits are at the pool ratio, so they
  never move the price).
* Reset: automatically at the first block whose height is at least
  ``tripped_at + breaker_cooldown_blocks``. The window is then cleared and restarts from
  the current price, so the move that tripped it does not trip it again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from focusflow.actors.economics.fixed import PPB


@dataclass(slots=True)
class Breaker:
    """Windowed price-move breaker (see the module docstring for the specification)."""

    window_blocks: int
    move_max_ppb: int
    cooldown_blocks: int
    prices: deque[tuple[int, int]] = field(default_factory=deque)  # (height, price_wad)
    tripped_at: int | None = None
    trips: int = 0

    @property
    def tripped(self) -> bool:
        """Whether swaps are halted and the split is frozen."""
        return self.tripped_at is not None

    def configure(self, *, window_blocks: int, move_max_ppb: int, cooldown_blocks: int) -> None:
        """Adopt new parameters (after governance); the window is trimmed at the next sample."""
        assert window_blocks > 0 and 0 < move_max_ppb < PPB and cooldown_blocks > 0
        self.window_blocks = window_blocks
        self.move_max_ppb = move_max_ppb
        self.cooldown_blocks = cooldown_blocks

    def in_band(self, price_wad: int) -> bool:
        """Whether a price stays within the allowed move of every price in the window."""
        assert price_wad >= 0
        if not self.prices:
            return True
        lo = min(p for _, p in self.prices)
        hi = max(p for _, p in self.prices)
        # price > lo*(1+m)  or  price < hi*(1-m), in integers (no rounding at all).
        too_high = price_wad * PPB > lo * (PPB + self.move_max_ppb)
        too_low = price_wad * PPB < hi * (PPB - self.move_max_ppb)
        return not (too_high or too_low)

    def trip(self, height: int) -> None:
        """Halt swaps and freeze the split from ``height`` on."""
        assert height >= 0
        if self.tripped_at is None:
            self.tripped_at = height
            self.trips += 1
        assert self.tripped

    def maybe_reset(self, height: int, price_wad: int | None) -> bool:
        """Reset if the cooldown has passed; restart the window from ``price_wad``."""
        if self.tripped_at is None or height < self.tripped_at + self.cooldown_blocks:
            return False
        self.tripped_at = None
        self.prices.clear()
        if price_wad is not None:
            self.prices.append((height, price_wad))
        assert not self.tripped
        return True

    def sample(self, height: int, price_wad: int | None) -> None:
        """Record the end-of-block price; trip if it is out of band; trim the window."""
        if price_wad is None:
            return
        if not self.tripped and not self.in_band(price_wad):
            self.trip(height)
        self.prices.append((height, price_wad))
        while self.prices and self.prices[0][0] <= height - self.window_blocks:
            self.prices.popleft()
        assert len(self.prices) <= self.window_blocks + 1
