"""Balances, the one audited mint/burn path, and the supply-conservation invariant.

Balances will live in the state's ``/token`` keyspace. The economics core only needs the
narrow :class:`Ledger` protocol below, so the state engineer's store can implement it
later; :class:`MemoryLedger` is the in-memory implementation the tests and the simulator
use. Every change of a denom's total supply goes through :func:`mint` or :func:`burn`,
which check the reason against a documented list and record it in a
:class:`SupplyJournal`; :func:`supply_conserved` then checks, per denom, that
``supply_now == genesis + minted - burned`` and that the balances add up to the supply.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

CYB = "CYB"
"""The scarce value anchor."""
H = "H"
"""The high-velocity utility token that pays gas."""
LP = "LP-H-CYB"
"""Liquidity shares of the protocol's H/CYB pool (minted on deposit, burned on withdrawal)."""

DENOMS: tuple[str, ...] = (CYB, H, LP)

MINT_REASONS: frozenset[str] = frozenset({"genesis", "stake_mint_h", "lp_deposit"})
"""Every documented reason a token may be created (see docs/economics.md)."""
BURN_REASONS: frozenset[str] = frozenset({"unstake_burn_h", "buyback_burn_cyb", "lp_withdraw"})
"""Every documented reason a token may be destroyed (see docs/economics.md)."""

supply_max = 2**64 - 1
"""Largest total supply of a denom: balances are u64 in ``/token`` and on the wire."""

journal_recent_max = 4096
"""Bound on the journal's ring of recent entries; totals are kept exactly regardless."""


class EconError(Exception):
    """Base of every error this package raises."""


class InsufficientFunds(EconError):
    """A debit would take an account below zero: the caller's (or sender's) fault."""


class SupplyOverflow(EconError):
    """A mint would take a denom's supply past :data:`supply_max` (refused)."""


class UndocumentedSupplyChange(EconError):
    """A mint or burn with a reason outside the documented list: a local bug."""


@runtime_checkable
class Ledger(Protocol):
    """The narrow view of ``/token`` that the economics core needs.

    Amounts are non-negative integers in base units. ``supply`` is stored, not derived,
    so that a store can keep it in O(1) and :func:`supply_conserved` can cross-check it.
    """

    def balance(self, account: str, denom: str) -> int:
        """Return the balance (0 for an unknown account)."""
        ...

    def set_balance(self, account: str, denom: str, amount: int) -> None:
        """Store a balance; implementations may drop zero entries."""
        ...

    def supply(self, denom: str) -> int:
        """Return the recorded total supply of a denom."""
        ...

    def set_supply(self, denom: str, amount: int) -> None:
        """Store the total supply of a denom (only :func:`mint`/:func:`burn` call this)."""
        ...

    def holders(self, denom: str) -> Iterable[tuple[str, int]]:
        """Every (account, balance) with a non-zero balance (for invariant checks)."""
        ...


class MemoryLedger:
    """In-memory :class:`Ledger`: dicts of balances and supplies, zero entries dropped."""

    def __init__(self) -> None:
        self._balances: dict[str, dict[str, int]] = {}
        self._supply: dict[str, int] = {}

    def balance(self, account: str, denom: str) -> int:
        """Return the balance (0 for an unknown account)."""
        return self._balances.get(denom, {}).get(account, 0)

    def set_balance(self, account: str, denom: str, amount: int) -> None:
        """Store a balance; a negative amount is a local bug and raises ``AssertionError``."""
        assert isinstance(amount, int) and amount >= 0, (account, denom, amount)
        book = self._balances.setdefault(denom, {})
        if amount == 0:
            book.pop(account, None)
        else:
            book[account] = amount

    def supply(self, denom: str) -> int:
        """Return the recorded total supply of a denom."""
        return self._supply.get(denom, 0)

    def set_supply(self, denom: str, amount: int) -> None:
        """Store the total supply of a denom."""
        assert isinstance(amount, int) and amount >= 0, (denom, amount)
        self._supply[denom] = amount

    def holders(self, denom: str) -> Iterable[tuple[str, int]]:
        """Every (account, balance) with a non-zero balance, in insertion order."""
        return list(self._balances.get(denom, {}).items())


@dataclass(frozen=True, slots=True)
class SupplyEntry:
    """One recorded supply change (a mint has ``amount > 0``, a burn ``amount < 0``)."""

    height: int
    denom: str
    account: str
    amount: int
    reason: str


@dataclass(slots=True)
class SupplyJournal:
    """Audit trail of supply changes: exact per-denom totals plus a bounded recent ring.

    ``genesis`` is the supply each denom had when the journal was opened (usually 0, then
    genesis allocations are minted with reason ``"genesis"``).
    """

    genesis: dict[str, int] = field(default_factory=dict)
    minted: dict[str, int] = field(default_factory=dict)
    burned: dict[str, int] = field(default_factory=dict)
    by_reason: dict[tuple[str, str], int] = field(default_factory=dict)
    recent: deque[SupplyEntry] = field(default_factory=lambda: deque(maxlen=journal_recent_max))
    height: int = 0

    @classmethod
    def opened_on(cls, ledger: Ledger) -> SupplyJournal:
        """Open a journal whose genesis is the ledger's current supply of every denom."""
        return cls(genesis={d: ledger.supply(d) for d in DENOMS})

    def record(self, entry: SupplyEntry) -> None:
        """Add one entry to the totals and the recent ring."""
        assert entry.amount != 0, "a zero supply change is not recorded"
        if entry.amount > 0:
            self.minted[entry.denom] = self.minted.get(entry.denom, 0) + entry.amount
        else:
            self.burned[entry.denom] = self.burned.get(entry.denom, 0) - entry.amount
        key = (entry.denom, entry.reason)
        self.by_reason[key] = self.by_reason.get(key, 0) + entry.amount
        self.recent.append(entry)

    def expected_supply(self, denom: str) -> int:
        """``genesis + minted - burned`` for one denom."""
        return self.genesis.get(denom, 0) + self.minted.get(denom, 0) - self.burned.get(denom, 0)


def transfer(ledger: Ledger, src: str, dst: str, denom: str, amount: int) -> None:
    """Move ``amount`` of ``denom`` from ``src`` to ``dst``; supply is unchanged.

    Raises:
        InsufficientFunds: ``src`` holds less than ``amount`` (nothing is changed).
    """
    assert isinstance(amount, int) and amount >= 0, amount
    if amount == 0 or src == dst:
        return
    have = ledger.balance(src, denom)
    if have < amount:
        raise InsufficientFunds(f"{src} holds {have} {denom}, needs {amount}")
    ledger.set_balance(src, denom, have - amount)
    ledger.set_balance(dst, denom, ledger.balance(dst, denom) + amount)


def mint(
    ledger: Ledger, journal: SupplyJournal, account: str, denom: str, amount: int, reason: str
) -> None:
    """Create ``amount`` of ``denom`` in ``account``: the only way supply goes up.

    Raises:
        UndocumentedSupplyChange: ``reason`` is not in :data:`MINT_REASONS` (a local bug).
        SupplyOverflow: the supply would exceed :data:`supply_max` (nothing is changed).
    """
    if reason not in MINT_REASONS:
        raise UndocumentedSupplyChange(f"mint reason {reason!r} is not documented")
    assert isinstance(amount, int) and amount >= 0, amount
    if amount == 0:
        return
    if ledger.supply(denom) + amount > supply_max:
        raise SupplyOverflow(f"minting {amount} {denom} would exceed supply_max {supply_max}")
    ledger.set_balance(account, denom, ledger.balance(account, denom) + amount)
    ledger.set_supply(denom, ledger.supply(denom) + amount)
    journal.record(SupplyEntry(journal.height, denom, account, amount, reason))


def burn(
    ledger: Ledger, journal: SupplyJournal, account: str, denom: str, amount: int, reason: str
) -> None:
    """Destroy ``amount`` of ``denom`` held by ``account``: the only way supply goes down.

    Raises:
        UndocumentedSupplyChange: ``reason`` is not in :data:`BURN_REASONS` (a local bug).
        InsufficientFunds: ``account`` holds less than ``amount`` (nothing is changed).
    """
    if reason not in BURN_REASONS:
        raise UndocumentedSupplyChange(f"burn reason {reason!r} is not documented")
    assert isinstance(amount, int) and amount >= 0, amount
    if amount == 0:
        return
    have = ledger.balance(account, denom)
    if have < amount:
        raise InsufficientFunds(f"{account} holds {have} {denom}, cannot burn {amount}")
    ledger.set_balance(account, denom, have - amount)
    supply = ledger.supply(denom)
    assert supply >= amount, "supply below a holder's balance: the ledger is corrupt"
    ledger.set_supply(denom, supply - amount)
    journal.record(SupplyEntry(journal.height, denom, account, -amount, reason))


def supply_conserved(
    ledger: Ledger, journal: SupplyJournal, denoms: Iterable[str] = DENOMS
) -> bool:
    """The invariant the simulator calls: supply moved only by journaled mints and burns.

    For every denom: the recorded supply equals ``genesis + minted - burned``, the
    balances sum to the recorded supply, and no balance is negative.
    """
    return not supply_violations(ledger, journal, denoms)


def supply_violations(
    ledger: Ledger, journal: SupplyJournal, denoms: Iterable[str] = DENOMS
) -> list[str]:
    """Human-readable reasons :func:`supply_conserved` is false (empty when it holds)."""
    problems: list[str] = []
    for denom in denoms:
        recorded = ledger.supply(denom)
        expected = journal.expected_supply(denom)
        if recorded != expected:
            problems.append(f"{denom}: supply {recorded} != genesis+minted-burned {expected}")
        total = 0
        for account, amount in ledger.holders(denom):
            if amount < 0:
                problems.append(f"{denom}: {account} is negative ({amount})")
            total += amount
        if total != recorded:
            problems.append(f"{denom}: balances sum to {total}, supply is {recorded}")
    return problems


def balances_snapshot(ledger: Ledger, denoms: Iterable[str] = DENOMS) -> Mapping[str, int]:
    """Total supply per denom (a cheap summary for block records and reports)."""
    return {d: ledger.supply(d) for d in denoms}
