"""A :class:`~focusflow.actors.economics.ledger.Ledger` over a key-value state (``/token``).

The state core collects a block's writes as ``keypath -> bytes | None`` and commits them
under one authenticated root. :class:`KeyValueLedger` reads through a ``get(keypath)``
reader (the committed state), keeps this block's writes in an overlay dict that the
caller commits, and encodes every amount as u64 little-endian, the format ``/token``
already uses. Proposed key layout (one place to change it: :func:`balance_key`,
:func:`supply_key`)::

    /token/econ/<denom>/bal/<account utf-8>   -> u64 LE balance (absent = 0)
    /token/econ/<denom>/supply                -> u64 LE total supply

``holders`` needs a prefix scan of committed keys, passed in as ``scan(prefix)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping

from focusflow.actors.economics.ledger import supply_max

TOKEN_ECON = b"/token/econ/"
account_bytes_max = 64


def balance_prefix(denom: str) -> bytes:
    """Key prefix under which every balance of ``denom`` lives."""
    return TOKEN_ECON + denom.encode() + b"/bal/"


def balance_key(account: str, denom: str) -> bytes:
    """Key path of one balance."""
    raw = account.encode()
    assert 0 < len(raw) <= account_bytes_max, account
    return balance_prefix(denom) + raw


def supply_key(denom: str) -> bytes:
    """Key path of a denom's total supply."""
    return TOKEN_ECON + denom.encode() + b"/supply"


def _encode(amount: int) -> bytes | None:
    assert 0 <= amount <= supply_max, amount
    return None if amount == 0 else amount.to_bytes(8, "little")


def _decode(raw: bytes | None) -> int:
    if raw is None:
        return 0
    assert len(raw) == 8, "a /token amount is 8 bytes (u64 LE)"
    return int.from_bytes(raw, "little")


class KeyValueLedger:
    """Ledger reading committed state through ``get``, writing into ``writes``.

    A zero balance is written as a deletion (``None``), so an emptied account leaves no
    key behind. ``writes`` is what the state core commits with the block.
    """

    def __init__(
        self,
        get: Callable[[bytes], bytes | None],
        scan: Callable[[bytes], Iterable[tuple[bytes, bytes]]],
        writes: MutableMapping[bytes, bytes | None] | None = None,
    ) -> None:
        self._get = get
        self._scan = scan
        self.writes: MutableMapping[bytes, bytes | None] = {} if writes is None else writes

    def _read(self, key: bytes) -> int:
        if key in self.writes:
            return _decode(self.writes[key])
        return _decode(self._get(key))

    def balance(self, account: str, denom: str) -> int:
        """Return the balance (0 when the key is absent)."""
        return self._read(balance_key(account, denom))

    def set_balance(self, account: str, denom: str, amount: int) -> None:
        """Stage a balance write (a deletion for zero)."""
        self.writes[balance_key(account, denom)] = _encode(amount)

    def supply(self, denom: str) -> int:
        """Return the recorded supply."""
        return self._read(supply_key(denom))

    def set_supply(self, denom: str, amount: int) -> None:
        """Stage a supply write."""
        self.writes[supply_key(denom)] = _encode(amount)

    def holders(self, denom: str) -> Iterable[tuple[str, int]]:
        """Committed holders merged with the staged writes, non-zero only."""
        prefix = balance_prefix(denom)
        merged = {k: _decode(v) for k, v in self._scan(prefix)}
        for key, raw in self.writes.items():
            if key.startswith(prefix):
                merged[key] = _decode(raw)
        return [(k[len(prefix) :].decode(), v) for k, v in sorted(merged.items()) if v]

    def commit_into(self, state: MutableMapping[bytes, bytes]) -> int:
        """Apply the staged writes to a plain dict state (tests, simple stores); clear them."""
        count = len(self.writes)
        for key, raw in self.writes.items():
            if raw is None:
                state.pop(key, None)
            else:
                state[key] = raw
        self.writes.clear()
        return count
