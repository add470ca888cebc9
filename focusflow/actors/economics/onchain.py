"""Economics inside the chain's one executor: its ledger and state in ``/token``, under the
one state root (issue 15 item 2 (c); docs/chain.md, "Economics in the block").

* **One H.** A neuron's H is its ``/token/balance/<address>``: the balance the state
  core charges fees from and the focus stake is read from. Every other balance (module
  accounts, CYB, LP shares) and each denom's supply live under ``/token/econ/``
  (:class:`StateLedger`, the key layout of ``economics.kvledger``). Genesis mints the
  neurons' H into the same keys the state core's genesis writes (equal bytes), plus the
  protocol's pool and treasury (:data:`GENESIS_POOL`, :data:`GENESIS_TREASURY_CYB`).
* **One movement of the fee.** The state core debits each applied tx's fee from its
  payer in the tx pass; :meth:`ChainEconomics.block` credits the block's total to the
  gas account and the core divides it by its split (buyback-and-burn, liquidity,
  rewards), so H is moved once and never burned and re-minted.
* **State under the root.** The core's non-balance state is one document at
  :data:`CORE_KEY` (``economics.statedoc``), the focus stream's pending rewards one key
  per neuron under :data:`FOCUS_PREFIX` (value: insertion sequence and amount, so the
  stream's oldest-first order survives a restart); only changed keys are written.
* **When.** The block's economics runs between the state core's tx pass and its root
  (``StateCore.prepare_block(token=...)``): its writes are the block's writes. Focus
  rewards for the Δπ that block h's new links gained are paid with block h + 1, because
  π of block h is solved after block h's root (:func:`focus_gains`).

The core itself is unchanged: the same per-block order (docs/economics.md), the gas
entries only marked prepaid (``BlockInput.gas_prepaid``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from itertools import islice

import numpy as np

from focusflow.actors.economics.core import GAS_ACCOUNT as GAS
from focusflow.actors.economics.core import BlockInput, BlockRecord, EconGenesis, EconomicsCore
from focusflow.actors.economics.kvledger import TOKEN_ECON, KeyValueLedger, balance_key
from focusflow.actors.economics.ledger import H
from focusflow.actors.economics.statedoc import EconStateError, encode_core, restore_core
from focusflow.actors.state import keys as K

__all__ = [
    "CORE_KEY",
    "FOCUS_PREFIX",
    "GENESIS_POOL",
    "GENESIS_TREASURY_CYB",
    "ChainEconomics",
    "EconStateError",
    "StateLedger",
    "focus_gains",
    "gas_of",
    "neuron_account",
]

assert TOKEN_ECON == K.TOKEN_ECON
CORE_KEY = TOKEN_ECON + b"core"
FOCUS_PREFIX = TOKEN_ECON + b"focus/"
NEURON = "neuron:"
ADDRESS_LEN = 20
GENESIS_POOL = (10**15, 10**15)
"""Protocol-owned liquidity at genesis, (CYB, H): a chain rule, not configured (the
figures the simulator's former economics executor used)."""
GENESIS_TREASURY_CYB = 10**15
"""CYB the protocol pairs with the liquidity part of gas."""

Get = Callable[[bytes], bytes | None]
Scan = Callable[[bytes], Iterable[tuple[bytes, bytes]]]


def neuron_account(address: bytes) -> str:
    """The economics account of a neuron address (``neuron:<hex>``)."""
    assert len(address) == ADDRESS_LEN
    return NEURON + address.hex()


def _neuron_address(account: str) -> bytes | None:
    """The address of a ``neuron:<40 lowercase hex>`` account, else None."""
    if not account.startswith(NEURON) or len(account) != len(NEURON) + 2 * ADDRESS_LEN:
        return None
    try:
        raw = bytes.fromhex(account[len(NEURON):])
    except ValueError:
        return None
    return raw if raw.hex() == account[len(NEURON):] else None


class StateLedger(KeyValueLedger):
    """The economics ledger over the state: a neuron's H is ``/token/balance/<address>``,
    everything else ``/token/econ/<denom>/bal/<account>`` (see the module docstring).

    :meth:`begin` points it at a block's view (the state core's block-local reader) with
    a fresh ``writes`` dict, which the block then takes.
    """

    def key(self, account: str, denom: str) -> bytes:
        """The key path of one balance."""
        if denom == H:
            address = _neuron_address(account)
            if address is not None:
                return K.balance_key(address)
        return balance_key(account, denom)

    def begin(self, get: Get) -> None:
        """Read through ``get`` from now on, into fresh writes."""
        self._get = get
        self.writes = {}

    def balance(self, account: str, denom: str) -> int:
        """The balance (0 when the key is absent)."""
        return self._read(self.key(account, denom))

    def set_balance(self, account: str, denom: str, amount: int) -> None:
        """Stage a balance write (a deletion for zero)."""
        self.writes[self.key(account, denom)] = None if amount == 0 else K.u64(amount)

    def holders(self, denom: str) -> Iterable[tuple[str, int]]:
        """Every non-zero holder, the neurons' ``/token/balance`` included for H. O(holders)."""
        out = list(super().holders(denom))
        if denom == H:
            merged: dict[bytes, bytes | None] = dict(self._scan(K.BALANCE))
            merged.update((k, v) for k, v in self.writes.items() if k.startswith(K.BALANCE))
            out += [(neuron_account(k[len(K.BALANCE):]), K.read_u64(v))
                    for k, v in sorted(merged.items()) if K.read_u64(v)]
        return out


class ChainEconomics:
    """The economics core driven by the chain's executor (see the module docstring)."""

    def __init__(self, core: EconomicsCore, ledger: StateLedger, seqs: dict[str, int],
                 next_seq: int) -> None:
        self.core = core
        self.ledger = ledger
        self.seqs = seqs  # pending focus reward -> its insertion sequence number
        self.next_seq = next_seq

    @classmethod
    def genesis(cls, balances: Mapping[bytes, int], get: Get,
                scan: Scan) -> tuple[ChainEconomics, dict[bytes, bytes | None]]:
        """Block 0's economics: the neurons' H (the state core's genesis balances), the
        protocol's pool and treasury; returns the core and block 0's writes."""
        ledger = StateLedger(get, scan)
        core = EconomicsCore(ledger, EconGenesis(
            balances={neuron_account(a): (0, int(v)) for a, v in sorted(balances.items()) if v},
            pool=GENESIS_POOL, treasury_cyb=GENESIS_TREASURY_CYB))
        econ = cls(core, ledger, {}, 0)
        return econ, econ._take()

    @classmethod
    def restore(cls, get: Get, scan: Scan) -> ChainEconomics:
        """The economics of a committed state (a reopened node): read from its keys.

        Raises:
            EconStateError: the state holds no economics, or it does not decode.
        """
        raw = get(CORE_KEY)
        if raw is None:
            raise EconStateError(f"the state has no {CORE_KEY.decode()}: written without economics")
        ledger = StateLedger(get, scan)
        core, extra = restore_core(raw, ledger)
        entries = []
        for key, value in scan(FOCUS_PREFIX):
            if len(value) != 16:
                raise EconStateError(f"focus reward entry {key!r} is {len(value)} bytes, not 16")
            entries.append((int.from_bytes(value[:8], "little"), key[len(FOCUS_PREFIX):].decode(),
                            int.from_bytes(value[8:], "little")))
        entries.sort()
        core.focus.pending = {account: amount for _, account, amount in entries}
        try:
            next_seq = int(extra["focus_seq"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EconStateError(f"economics state lacks focus_seq: {exc}") from exc
        return cls(core, ledger, {account: seq for seq, account, _ in entries}, next_seq)

    def block(self, height: int, get: Get, gas: Sequence[tuple[str, int]],
              gains: Sequence[tuple[str, int]]) -> tuple[dict[bytes, bytes | None], BlockRecord]:
        """Apply block ``height``'s economics on the block-local view ``get`` (the state
        after its tx pass); return its writes and the core's record.

        ``gas``: (payer, H) of the fees the tx pass already debited; they are credited
        to the gas account here and divided by the split. ``gains``: (neuron, Δπ) the
        previous block's new links gained (:func:`focus_gains`).

        Raises:
            AssertionError: a local bug (the core then stays failed; a node restarts from
                its committed state).
        """
        self.ledger.begin(get)
        total = sum(amount for _, amount in gas)
        if total:
            self.ledger.set_balance(GAS, H, self.ledger.balance(GAS, H) + total)
        limit = self.core.params.focus_gains_per_block_max
        record = self.core.apply_block(BlockInput(height, gas=tuple(gas), gas_prepaid=True,
                                                  focus_gains=tuple(gains[:limit])))
        return self._take(), record

    def violations(self, get: Get) -> list[str]:
        """The core's broken invariants (supply conservation included) against the
        committed state read through ``get``; O(accounts): for tests and checkers."""
        self.ledger.begin(get)
        return self.core.violations()

    def _take(self) -> dict[bytes, bytes | None]:
        """The block's writes: the ledger's, the changed focus entries, the core document."""
        writes: MutableMapping[bytes, bytes | None] = self.ledger.writes
        stream = self.core.focus
        pending = stream.pending
        fresh = sum(1 for a in stream.dirty if a in pending and a not in self.seqs)
        # New entries sit at the end of the dict (the stream pays from the front), in order.
        for account in reversed(list(islice(reversed(pending), fresh))):
            assert account in stream.dirty and account not in self.seqs
            self.seqs[account] = self.next_seq
            self.next_seq += 1
        for account in sorted(stream.dirty):
            key = FOCUS_PREFIX + account.encode()
            if account in pending:
                writes[key] = K.u64(self.seqs[account]) + K.u64(pending[account])
            else:
                writes[key] = None
                self.seqs.pop(account, None)
        stream.dirty.clear()
        writes[CORE_KEY] = encode_core(self.core, {"focus_seq": self.next_seq})
        out = dict(writes)
        self.ledger.writes = {}
        return out


def gas_of(payers: np.ndarray, fees: np.ndarray) -> list[tuple[str, int]]:
    """Per-payer totals of a block's fees, sorted by account: ``payers`` the (n, 20)
    uint8 addresses of the applied txs, ``fees`` their fees (columns, no per-tx loop)."""
    keep = fees > 0
    if not keep.any():
        return []
    rows = np.ascontiguousarray(payers[keep]).view(f"V{ADDRESS_LEN}").ravel()
    uniq, inverse = np.unique(rows, return_inverse=True)
    totals = np.zeros(len(uniq), np.uint64)
    np.add.at(totals, inverse, fees[keep].astype(np.uint64))
    return [(neuron_account(a.tobytes()), int(t)) for a, t in zip(uniq, totals, strict=True)]


def focus_gains(neurons: np.ndarray, dst: np.ndarray, q_before: np.ndarray,
                q_after: np.ndarray) -> list[tuple[str, int]]:
    """Δπ each neuron's new links point at: Σ (q_after − q_before)⁺ over its distinct new
    targets, fixed point (2^60), sorted by account (the economics core shares the block's
    focus budget in proportion). ``neurons``: (n, 20) uint8 of the *added* links, ``dst``
    their target particle ids; a particle numbered in this block had π 0 before.
    """
    if len(dst) == 0:
        return []
    n = len(q_after)
    rows = np.ascontiguousarray(neurons).view(f"V{ADDRESS_LEN}").ravel()
    uniq, inverse = np.unique(rows, return_inverse=True)
    pairs = np.unique(inverse.astype(np.int64) * n + dst.astype(np.int64))
    who, target = pairs // n, pairs % n
    before = np.zeros(n, np.int64)
    before[: len(q_before)] = q_before.astype(np.int64)
    up = q_after[target].astype(np.int64) - before[target]
    gained = up > 0
    sums = np.zeros(len(uniq), np.int64)
    np.add.at(sums, who[gained], up[gained])
    return [(neuron_account(uniq[i].tobytes()), int(sums[i])) for i in np.flatnonzero(sums > 0)]
