"""Cap'n Proto encoding of economics transactions, blocks and block records.

Schema: ``economics.capnp`` beside this module. Encoding asserts what it writes (a local
bug otherwise); decoding applies Cap'n Proto traversal and nesting limits, checks every
length against a named maximum, and raises :class:`EconWireError` (the sender's fault)
for anything malformed or oversized. ``decode(encode(x)) == x`` for every value the
core produces (property-tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import capnp
import numpy as np

from focusflow.actors.economics.core import (
    AddLiquidity,
    BlockInput,
    BlockRecord,
    ClaimTenure,
    Propose,
    Receipt,
    RemoveLiquidity,
    Stake,
    Swap,
    Transfer,
    Tx,
    Unstake,
    Vote,
)
from focusflow.actors.economics.governance import Choice, gov_changes_max
from focusflow.actors.economics.ledger import CYB, LP, EconError, H, supply_max
from focusflow.actors.economics.params import SplitPpb

SCHEMA_PATH = Path(__file__).with_name("economics.capnp")
schema: Any = capnp.load(str(SCHEMA_PATH))

account_bytes_max = 64
"""Longest account name (text) accepted on the wire."""
tx_bytes_max = 64 * 1024
block_bytes_max = 64 * 1024 * 1024
record_bytes_max = 64 * 1024 * 1024
block_txs_max = 100_000
block_entries_max = 1_000_000  # gas payments or focus gains per block
text_bytes_max = 1024  # receipt errors, governance notes, parameter names
bigint_bytes_max = 32
nesting_limit_max = 8

_DENOMS = {CYB: "cyb", H: "h"}
_DENOMS_BACK = {v: k for k, v in _DENOMS.items()}


class EconWireError(EconError):
    """Malformed or oversized economics bytes (the sender's fault)."""


# What pycapnp and our field checks raise on malformed input (found by fuzzing: a
# corrupted pointer can surface as RuntimeError "Member was null").
_MALFORMED = (capnp.KjException, ValueError, KeyError, UnicodeDecodeError, RuntimeError, IndexError)


# -- helpers -----------------------------------------------------------------------------
def _text(value: Any, limit: int, what: str) -> str:
    out = str(value)
    if len(out.encode()) > limit:
        raise EconWireError(f"{what} is longer than {limit} bytes")
    return out


def _big(value: int | None) -> bytes:
    if value is None:
        return b""
    assert 0 <= value < 1 << (8 * bigint_bytes_max), value
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _big_back(raw: bytes) -> int | None:
    if len(raw) > bigint_bytes_max:
        raise EconWireError(f"integer field longer than {bigint_bytes_max} bytes")
    return None if not raw else int.from_bytes(raw, "big")


def _split_back(parts: Any) -> SplitPpb:
    if len(parts) != 3:
        raise EconWireError(f"a split has 3 parts, not {len(parts)}")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _u64(value: int) -> int:
    assert 0 <= value <= supply_max, value
    return value


def _reader(struct: Any, raw: bytes, limit: int, what: str) -> Any:
    if len(raw) > limit:
        raise EconWireError(f"{what} of {len(raw)} bytes exceeds {limit}")
    # Generous enough to read every field a few times; still bounded by the input size.
    words = 4 * (len(raw) // 8) + 1024
    return struct.from_bytes(raw, traversal_limit_in_words=words, nesting_limit=nesting_limit_max)


# -- transactions ------------------------------------------------------------------------
def _fill_tx(msg: Any, tx: Tx) -> None:
    assert len(tx.account.encode()) <= account_bytes_max, tx.account
    msg.account = tx.account
    if isinstance(tx, Stake):
        msg.stake = _u64(tx.amount)
    elif isinstance(tx, Unstake):
        msg.unstake = _u64(tx.amount)
    elif isinstance(tx, Swap):
        g = msg.init("swap")
        g.denomIn, g.amountIn, g.minOut = _DENOMS[tx.denom_in], _u64(tx.amount_in), _u64(tx.min_out)
    elif isinstance(tx, AddLiquidity):
        g = msg.init("addLiquidity")
        g.cybMax, g.hMax = _u64(tx.cyb_max), _u64(tx.h_max)
    elif isinstance(tx, RemoveLiquidity):
        msg.removeLiquidity = _u64(tx.shares)
    elif isinstance(tx, ClaimTenure):
        msg.claimTenure = None
    elif isinstance(tx, Transfer):
        g = msg.init("transfer")
        g.to, g.denom, g.amount = tx.to, _DENOMS[tx.denom], _u64(tx.amount)
    elif isinstance(tx, Propose):
        assert 0 < len(tx.changes) <= gov_changes_max
        changes = msg.init("propose", len(tx.changes))
        for slot, (name, value) in zip(changes, tx.changes, strict=True):
            slot.name = name
            if isinstance(value, bool):
                slot.boolean = value
            elif isinstance(value, int):
                slot.integer = value
            else:
                assert isinstance(value, tuple) and len(value) == 3, value
                parts = slot.init("split", 3)
                for i in range(3):
                    parts[i] = value[i]
    else:
        assert isinstance(tx, Vote), tx
        g = msg.init("vote")
        g.pid, g.choice = tx.pid, tx.choice.value


def _read_tx(msg: Any) -> Tx:
    account = _text(msg.account, account_bytes_max, "account")
    which = msg.which()
    if which == "stake":
        return Stake(account, int(msg.stake))
    if which == "unstake":
        return Unstake(account, int(msg.unstake))
    if which == "swap":
        g = msg.swap
        return Swap(account, _DENOMS_BACK[str(g.denomIn)], int(g.amountIn), int(g.minOut))
    if which == "addLiquidity":
        return AddLiquidity(account, int(msg.addLiquidity.cybMax), int(msg.addLiquidity.hMax))
    if which == "removeLiquidity":
        return RemoveLiquidity(account, int(msg.removeLiquidity))
    if which == "claimTenure":
        return ClaimTenure(account)
    if which == "transfer":
        g = msg.transfer
        return Transfer(account, _text(g.to, account_bytes_max, "to"), _DENOMS_BACK[str(g.denom)], int(g.amount))
    if which == "propose":
        if not 0 < len(msg.propose) <= gov_changes_max:
            raise EconWireError(f"a proposal carries 1..{gov_changes_max} changes")
        changes: list[tuple[str, Any]] = []
        for slot in msg.propose:
            kind = slot.which()
            value: Any = (
                bool(slot.boolean) if kind == "boolean"
                else int(slot.integer) if kind == "integer"
                else _split_back(slot.split)
            )  # fmt: skip
            changes.append((_text(slot.name, text_bytes_max, "parameter name"), value))
        return Propose(account, tuple(changes))
    if which == "vote":
        return Vote(account, int(msg.vote.pid), Choice(str(msg.vote.choice)))
    raise EconWireError(f"unknown transaction kind {which!r}")  # pragma: no cover


def encode_tx(tx: Tx) -> bytes:
    """Bytes of one economics transaction."""
    msg = schema.EconTx.new_message()
    _fill_tx(msg, tx)
    raw: bytes = msg.to_bytes()
    assert len(raw) <= tx_bytes_max, "transaction too large to encode"
    return raw


def decode_tx(raw: bytes) -> Tx:
    """Decode one transaction.

    Raises:
        EconWireError: malformed, oversized, or an out-of-range field.
    """
    try:
        with _reader(schema.EconTx, raw, tx_bytes_max, "transaction") as msg:
            return _read_tx(msg)
    except EconWireError:
        raise
    except _MALFORMED as exc:
        raise EconWireError(f"undecodable transaction: {str(exc)[:120]}") from exc


# -- blocks ------------------------------------------------------------------------------
def encode_block(block: BlockInput) -> bytes:
    """Bytes of one block as the economics core sees it."""
    assert len(block.txs) <= block_txs_max
    assert len(block.gas) <= block_entries_max and len(block.focus_gains) <= block_entries_max
    msg = schema.EconBlock.new_message()
    msg.height = block.height
    txs = msg.init("txs", len(block.txs))
    for slot, tx in zip(txs, block.txs, strict=True):
        _fill_tx(slot, tx)
    payers = msg.init("gasPayers", len(block.gas))
    for i, (payer, _) in enumerate(block.gas):
        payers[i] = payer
    msg.gasAmounts = np.array([a for _, a in block.gas], dtype="<u8").tobytes()
    neurons = msg.init("focusNeurons", len(block.focus_gains))
    for i, (neuron, _) in enumerate(block.focus_gains):
        neurons[i] = neuron
    msg.focusGains = np.array([g for _, g in block.focus_gains], dtype="<i8").tobytes()
    raw: bytes = msg.to_bytes()
    assert len(raw) <= block_bytes_max
    return raw


def decode_block(raw: bytes) -> BlockInput:
    """Decode one block.

    Raises:
        EconWireError: malformed, oversized, or arrays whose lengths disagree.
    """
    try:
        with _reader(schema.EconBlock, raw, block_bytes_max, "block") as msg:
            if len(msg.txs) > block_txs_max or len(msg.gasPayers) > block_entries_max:
                raise EconWireError("block carries too many entries")
            if len(msg.focusNeurons) > block_entries_max:
                raise EconWireError("block carries too many focus gains")
            txs = tuple(_read_tx(t) for t in msg.txs)
            gas = _pairs(msg.gasPayers, bytes(msg.gasAmounts), "<u8", "gas")
            gains = _pairs(msg.focusNeurons, bytes(msg.focusGains), "<i8", "focus gains")
            return BlockInput(int(msg.height), txs, gas, gains)
    except EconWireError:
        raise
    except _MALFORMED as exc:
        raise EconWireError(f"undecodable block: {str(exc)[:120]}") from exc


def _pairs(names: Any, data: bytes, dtype: str, what: str) -> tuple[tuple[str, int], ...]:
    if len(data) != 8 * len(names):
        raise EconWireError(f"{what}: {len(names)} names but {len(data)} bytes of values")
    values = np.frombuffer(data, dtype=dtype)
    return tuple(
        (_text(n, account_bytes_max, what), int(v)) for n, v in zip(names, values.tolist(), strict=True)
    )


# -- block records -----------------------------------------------------------------------
_RECORD_U64 = (
    ("gasH", "gas_h"), ("buybackH", "buyback_h"), ("burnedCyb", "burned_cyb"),
    ("liquidityH", "liquidity_h"), ("rewardsH", "rewards_h"), ("rebatesH", "rebates_h"),
    ("focusH", "focus_h"), ("tenureH", "tenure_h"), ("focusSettled", "focus_settled"),
    ("stakedCyb", "staked_cyb"),
)  # fmt: skip


def encode_record(rec: BlockRecord) -> bytes:
    """Bytes of one block record (what a node publishes about a block's economics)."""
    msg = schema.EconBlockRecord.new_message()
    msg.height = rec.height
    for field, parts in (("split", rec.split_ppb), ("target", rec.target_ppb)):
        lst = msg.init(field, 3)
        for i in range(3):
            lst[i] = parts[i]
    msg.premium, msg.priceWad = _big(rec.premium_ppb), _big(rec.price_wad)
    msg.breakerTripped, msg.breakerReset = rec.breaker_tripped, rec.breaker_reset
    for wire_name, attr in _RECORD_U64:
        setattr(msg, wire_name, _u64(getattr(rec, attr)))
    msg.supplyCyb, msg.supplyH, msg.supplyLp = rec.supply[CYB], rec.supply[H], rec.supply[LP]
    receipts = msg.init("receipts", len(rec.receipts))
    for slot, r in zip(receipts, rec.receipts, strict=True):
        slot.index, slot.kind, slot.ok = r.index, r.kind, r.ok
        slot.error = r.error.encode()[:text_bytes_max].decode(errors="ignore")
    notes = msg.init("governance", len(rec.governance))
    for i, note in enumerate(rec.governance):
        notes[i] = note.encode()[:text_bytes_max].decode(errors="ignore")
    raw: bytes = msg.to_bytes()
    assert len(raw) <= record_bytes_max
    return raw


def decode_record(raw: bytes) -> BlockRecord:
    """Decode one block record.

    Raises:
        EconWireError: malformed or oversized.
    """
    try:
        with _reader(schema.EconBlockRecord, raw, record_bytes_max, "record") as msg:
            if len(msg.receipts) > block_txs_max + block_entries_max:
                raise EconWireError("record carries too many receipts")
            receipts = tuple(
                Receipt(int(r.index), _text(r.kind, text_bytes_max, "kind"), bool(r.ok),
                        _text(r.error, text_bytes_max, "error"))
                for r in msg.receipts
            )  # fmt: skip
            u64 = {attr: int(getattr(msg, wire)) for wire, attr in _RECORD_U64}
            return BlockRecord(
                height=int(msg.height), split_ppb=_split_back(msg.split),
                target_ppb=_split_back(msg.target), premium_ppb=_big_back(bytes(msg.premium)),
                price_wad=_big_back(bytes(msg.priceWad)), breaker_tripped=bool(msg.breakerTripped),
                breaker_reset=bool(msg.breakerReset),
                supply={CYB: int(msg.supplyCyb), H: int(msg.supplyH), LP: int(msg.supplyLp)},
                receipts=receipts,
                governance=tuple(_text(n, text_bytes_max, "note") for n in msg.governance),
                **u64,
            )  # fmt: skip
    except EconWireError:
        raise
    except _MALFORMED as exc:
        raise EconWireError(f"undecodable record: {str(exc)[:120]}") from exc
