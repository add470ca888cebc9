"""Cap'n Proto encoding of economics transactions, blocks and records."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.economics.codec import (
    SCHEMA_PATH,
    EconWireError,
    decode_block,
    decode_record,
    decode_tx,
    encode_block,
    encode_record,
    encode_tx,
    schema,
    tx_bytes_max,
)
from focusflow.actors.economics.core import BlockInput, BlockRecord, Propose, Tx, Vote
from focusflow.actors.economics.governance import Choice
from focusflow.actors.economics.year import run_scenario
from tests.economics.test_core_properties import txs
from tests.support import require_tool

more_txs = st.one_of(
    txs,
    st.builds(Vote, st.sampled_from(["a", "b"]), st.integers(0, 2**64 - 1), st.sampled_from(list(Choice))),
    st.builds(
        Propose,
        st.just("a"),
        st.lists(
            st.tuples(
                st.sampled_from(["amm_fee_ppb", "stake_mint_h", "split_low_ppb"]),
                st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.tuples(*[st.integers(0, 2**32 - 1)] * 3),
            ),
            min_size=1,
            max_size=16,
        ).map(tuple),
    ),
)


@settings(max_examples=150, deadline=None)
@given(more_txs)
def test_every_transaction_round_trips(tx: Tx) -> None:
    assert decode_tx(encode_tx(tx)) == tx


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    st.lists(more_txs, max_size=8),
    st.lists(st.tuples(st.text(max_size=20), st.integers(0, 2**64 - 1)), max_size=20),
    st.lists(st.tuples(st.text(max_size=20), st.integers(-(2**63), 2**63 - 1)), max_size=20),
)
def test_blocks_round_trip(
    height: int, block_txs: list[Tx], gas: list[tuple[str, int]], gains: list[tuple[str, int]]
) -> None:
    block = BlockInput(height, tuple(block_txs), tuple(gas), tuple(gains))
    assert decode_block(encode_block(block)) == block


def test_records_of_a_real_run_round_trip() -> None:
    records: list[BlockRecord] = []
    run_scenario("shock", days=3, on_block=records.append)
    assert len(records) == 72
    for rec in records:
        assert decode_record(encode_record(rec)) == rec


@pytest.mark.parametrize("raw", [b"", b"\x00" * 7, b"\x00" * 16, b"\xff" * 64, b"garbage that is not capnp"])
def test_garbage_is_refused_as_the_senders_fault(raw: bytes) -> None:
    for decode in (decode_tx, decode_block, decode_record):
        with pytest.raises(EconWireError):
            decode(raw)  # type: ignore[operator]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=512), st.data())
def test_random_or_corrupted_bytes_never_raise_anything_but_a_wire_error(
    noise: bytes, data: st.DataObject
) -> None:
    tx = data.draw(more_txs)
    good = bytearray(encode_tx(tx))
    if good:
        i = data.draw(st.integers(0, len(good) - 1))
        good[i] ^= data.draw(st.integers(1, 255))
    for raw in (noise, bytes(good)):
        for decode in (decode_tx, decode_block, decode_record):
            with contextlib.suppress(EconWireError):
                decode(raw)  # type: ignore[operator]


def test_oversized_and_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(EconWireError, match="exceeds"):
        decode_tx(b"\x00" * (tx_bytes_max + 8))
    msg = schema.EconBlock.new_message()
    payers = msg.init("gasPayers", 2)
    payers[0], payers[1] = "a", "b"
    msg.gasAmounts = b"\x01" * 8  # one amount for two payers
    with pytest.raises(EconWireError, match="2 names but 8 bytes"):
        decode_block(msg.to_bytes())
    msg = schema.EconTx.new_message()
    msg.account = "x" * 65
    msg.stake = 1
    with pytest.raises(EconWireError, match="account is longer"):
        decode_tx(msg.to_bytes())


def test_schema_compiles_with_the_official_tool() -> None:
    capnp_bin = require_tool("capnp")
    out = subprocess.run(
        [capnp_bin, "compile", "-o-", str(SCHEMA_PATH)], capture_output=True, check=False, timeout=60
    )
    assert out.returncode == 0, out.stderr.decode()
    assert Path(SCHEMA_PATH).suffix == ".capnp"
