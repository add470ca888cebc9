"""Rewards: tenure (O(1) per block), spend rebates, and focus micro-rewards in batches.

Tenure. A stake's weight grows linearly with its age and then stays:
``w_i(h) = amount_i * min(h - since_i, ramp)``. Paying every staker every block is
O(stakers) per block (:func:`naive_tenure_block` does exactly that, as the reference and
the benchmark's baseline). :class:`TenureBook` does it in O(1) per block: it splits
positions into *ramping* (age <= ramp) and *mature* ones, and keeps two cumulative
reward-per-weight sums, ``A0 = sum r_h`` and ``A1 = sum r_h * h`` with
``r_h = R_h / W_h``. A ramping position is owed ``amount * (dA1 - since * dA0)`` and a
mature one ``amount * ramp * dA0`` since its last settlement; a position crosses from
ramping to mature once, through a height-ordered heap. Every division floors, so the
book never owes more than the escrow received.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from focusflow.actors.economics.fixed import ACC_SCALE, PPB, ceil_div


@dataclass(slots=True)
class TenurePosition:
    """One account's stake as the tenure book sees it."""

    amount: int
    since: int
    mature: bool
    a0: int  # accumulator snapshots at the last settlement
    a1: int


class TenureBook:
    """Stake-age-weighted reward distribution in O(1) per block (see module docstring)."""

    def __init__(self, ramp_blocks: int) -> None:
        assert ramp_blocks > 0
        self.ramp_blocks = ramp_blocks
        self.positions: dict[str, TenurePosition] = {}
        self.owed: dict[str, int] = {}  # settled but not yet paid out, scaled by ACC_SCALE
        self.ramp_amount = 0  # sum of amount over ramping positions
        self.ramp_amount_since = 0  # sum of amount * since over ramping positions
        self.mature_amount = 0  # sum of amount over mature positions
        self.a0 = 0
        self.a1 = 0
        self._maturity: list[tuple[int, str, int]] = []  # (height it matures at, account, since)

    # -- weights ---------------------------------------------------------------------------
    def total_weight(self, height: int) -> int:
        """Total weight ``W_h`` of all positions at ``height`` (after :meth:`mature`)."""
        w = self.ramp_amount * height - self.ramp_amount_since + self.mature_amount * self.ramp_blocks
        assert w >= 0, "tenure weight negative: a position was not matured in time"
        return w

    def total_staked(self) -> int:
        """Sum of staked amounts (ramping and mature)."""
        return self.ramp_amount + self.mature_amount

    def _accrued(self, pos: TenurePosition) -> int:
        """Earned since the last snapshot, scaled by ``ACC_SCALE`` (kept exact until paid)."""
        if pos.mature:
            return pos.amount * self.ramp_blocks * (self.a0 - pos.a0)
        da0, da1 = self.a0 - pos.a0, self.a1 - pos.a1
        value = pos.amount * (da1 - pos.since * da0)
        assert value >= 0
        return value

    def _detach(self, account: str, pos: TenurePosition) -> None:
        self.owed[account] = self.owed.get(account, 0) + self._accrued(pos)
        if pos.mature:
            self.mature_amount -= pos.amount
        else:
            self.ramp_amount -= pos.amount
            self.ramp_amount_since -= pos.amount * pos.since

    def _attach(self, account: str, amount: int, since: int, height: int) -> None:
        mature = height - since > self.ramp_blocks
        pos = TenurePosition(amount, since, mature, self.a0, self.a1)
        self.positions[account] = pos
        if mature:
            self.mature_amount += amount
        else:
            self.ramp_amount += amount
            self.ramp_amount_since += amount * since
            heapq.heappush(self._maturity, (since + self.ramp_blocks + 1, account, since))

    # -- stake changes ---------------------------------------------------------------------
    def add(self, account: str, amount: int, height: int) -> None:
        """Stake ``amount`` more at ``height``; the age becomes the amount-weighted mean.

        The mean start height rounds up (a younger stake earns less: toward the protocol).
        """
        assert amount > 0
        old = self.positions.pop(account, None)
        if old is None:
            self._attach(account, amount, height, height)
            return
        self._detach(account, old)
        total = old.amount + amount
        since = ceil_div(old.amount * old.since + amount * height, total)
        self._attach(account, total, since, height)

    def remove(self, account: str, amount: int, height: int) -> None:
        """Unstake ``amount`` at ``height``; what was earned so far stays owed."""
        old = self.positions.pop(account)
        assert 0 < amount <= old.amount, (amount, old.amount)
        self._detach(account, old)
        if old.amount > amount:
            self._attach(account, old.amount - amount, old.since, height)

    def settle(self, account: str) -> int:
        """Bring an account's rewards up to date and take the whole units out of the book.

        The fraction below one unit stays owed while the account still stakes, and goes
        to the protocol (stays in escrow) once it has no stake left.
        """
        pos = self.positions.get(account)
        if pos is not None:
            self.owed[account] = self.owed.get(account, 0) + self._accrued(pos)
            pos.a0, pos.a1 = self.a0, self.a1
        scaled = self.owed.pop(account, 0)
        if pos is not None and scaled % ACC_SCALE:
            self.owed[account] = scaled % ACC_SCALE
        return scaled // ACC_SCALE

    # -- per block -------------------------------------------------------------------------
    def mature(self, height: int) -> int:
        """Move positions whose age exceeds the ramp at ``height`` into the mature class."""
        moved = 0
        while self._maturity and self._maturity[0][0] <= height:
            _, account, since = heapq.heappop(self._maturity)
            pos = self.positions.get(account)
            if pos is None or pos.mature or pos.since != since:
                continue  # stale heap entry: the position changed since it was pushed
            self._detach(account, pos)
            pos.mature, pos.a0, pos.a1 = True, self.a0, self.a1
            self.mature_amount += pos.amount
            moved += 1
        return moved

    def distribute(self, height: int, reward: int) -> int:
        """Spread ``reward`` over the weights at ``height``; return what was allocated.

        Call :meth:`mature` for ``height`` first. Returns 0 when nobody has weight (the
        reward then stays with the caller). The allocation is ``reward`` itself: the
        per-account floors leave dust in escrow, never an overdraft.
        """
        assert reward >= 0
        w = self.total_weight(height)
        if w == 0 or reward == 0:
            return 0
        r = reward * ACC_SCALE // w
        self.a0 += r
        self.a1 += r * height
        return reward

    def set_ramp(self, ramp_blocks: int, height: int) -> None:
        """Change the ramp (governance): settle everyone, then rebuild the classes. O(N)."""
        assert ramp_blocks > 0
        snapshot = [(a, p.amount, p.since) for a, p in self.positions.items()]
        for account, pos in list(self.positions.items()):
            self._detach(account, pos)
        self.positions.clear()
        self._maturity.clear()
        self.ramp_blocks = ramp_blocks
        assert self.ramp_amount == 0 and self.ramp_amount_since == 0 and self.mature_amount == 0
        for account, amount, since in snapshot:
            self._attach(account, amount, since, height)

    def to_doc(self) -> dict[str, Any]:
        """The whole book as plain JSON values, every order kept (the maturity heap's list
        as it is): :meth:`from_doc` gives a book that behaves identically (the chain keeps
        it under the state root, ``economics.onchain``)."""
        return {
            "ramp": self.ramp_blocks,
            "positions": [[a, p.amount, p.since, p.mature, p.a0, p.a1]
                          for a, p in self.positions.items()],
            "owed": [[a, v] for a, v in self.owed.items()],
            "sums": [self.ramp_amount, self.ramp_amount_since, self.mature_amount, self.a0, self.a1],
            "maturity": [list(e) for e in self._maturity],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TenureBook:
        """The book :meth:`to_doc` described.

        Raises:
            KeyError, TypeError, ValueError: a malformed document.
        """
        book = cls(int(doc["ramp"]))
        for a, amount, since, mature, a0, a1 in doc["positions"]:
            book.positions[str(a)] = TenurePosition(int(amount), int(since), bool(mature), int(a0), int(a1))
        book.owed = {str(a): int(v) for a, v in doc["owed"]}
        (book.ramp_amount, book.ramp_amount_since, book.mature_amount, book.a0,
         book.a1) = (int(v) for v in doc["sums"])
        book._maturity = [(int(h), str(a), int(s)) for h, a, s in doc["maturity"]]
        return book

    def owed_total(self) -> int:
        """Whole units the book owes right now (for the escrow invariant). O(accounts)."""
        total = 0
        for account in set(self.owed) | set(self.positions):
            scaled = self.owed.get(account, 0)
            pos = self.positions.get(account)
            if pos is not None:
                scaled += self._accrued(pos)
            total += scaled // ACC_SCALE
        return total


def naive_tenure_block(
    stakes: dict[str, tuple[int, int]], height: int, reward: int, ramp_blocks: int, owed: dict[str, int]
) -> None:
    """Reference: pay ``reward`` for one block by looping over every stake (O(N)).

    ``stakes`` maps account -> (amount, since). Each payout is floored.
    """
    weights = {a: amt * min(height - s, ramp_blocks) for a, (amt, s) in stakes.items()}
    total = sum(weights.values())
    if total == 0:
        return
    for account, w in weights.items():
        if w:
            owed[account] = owed.get(account, 0) + reward * w // total


def rebates(gas_paid: dict[str, int], pool: int, cap_ppb: int) -> dict[str, int]:
    """Spend rebates: each payer gets back up to ``cap_ppb`` of the H it paid as gas.

    When the pool cannot cover every cap, each payer gets its pro-rata share, floored.
    The result never sums to more than ``pool``.
    """
    assert pool >= 0 and 0 <= cap_ppb <= PPB
    caps = {p: g * cap_ppb // PPB for p, g in gas_paid.items()}
    want = sum(caps.values())
    if want <= pool:
        out = {p: c for p, c in caps.items() if c}
    else:
        out = {p: c * pool // want for p, c in caps.items() if c * pool // want}
    assert sum(out.values()) <= pool
    return out


focus_pending_max = 1_000_000
"""Most neurons the focus stream may owe at once; above it, extra batches settle at once."""


class FocusRewardStream:
    """Focus micro-rewards: accrued per block from Δπ, paid on-chain in batches.

    Accrual is pure bookkeeping (a dict update per rewarded neuron); the transfers happen
    only every ``focus_settle_interval_blocks`` and at most ``focus_batch_max`` per
    batch, oldest accrual first, so a block with many focus gains does not carry many
    ledger writes. The escrow that backs it always holds at least :meth:`pending_total`.
    """

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        #: Neurons whose pending entry changed since the owner last cleared this (the
        #: chain writes only those keys of the stream per block, ``economics.onchain``).
        self.dirty: set[str] = set()

    def accrue(self, gains: list[tuple[str, int]], budget: int) -> int:
        """Share ``budget`` among neurons by their positive Δπ; return what was allocated."""
        assert budget >= 0
        positive = [(n, g) for n, g in gains if g > 0]
        total = sum(g for _, g in positive)
        if total == 0 or budget == 0:
            return 0
        allocated = 0
        for neuron, gain in positive:
            amount = budget * gain // total
            if amount:
                self.pending[neuron] = self.pending.get(neuron, 0) + amount
                self.dirty.add(neuron)
                allocated += amount
        assert allocated <= budget
        return allocated

    def next_batch(self, batch_max: int) -> list[tuple[str, int]]:
        """Take up to ``batch_max`` pending payouts, oldest first, out of the stream."""
        assert batch_max > 0
        batch: list[tuple[str, int]] = []
        for neuron in list(self.pending)[:batch_max]:
            batch.append((neuron, self.pending.pop(neuron)))
            self.dirty.add(neuron)
        return batch

    def pending_total(self) -> int:
        """What the stream still owes."""
        return sum(self.pending.values())
