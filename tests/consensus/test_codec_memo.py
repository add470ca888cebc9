"""Decoding a consensus hop is remembered by its exact bytes: the same value for the same
bytes, malformed bytes refused every time, and a mutable buffer never used as a key."""

from __future__ import annotations

import pytest

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import Signer
from focusflow.actors.consensus.types import Batch, Header

SIGNER = Signer(bytes(range(32)))


def _header_hop() -> bytes:
    header = Header(round=3, author=1, parents=(), batches=(Batch((b"tx",), (5,)),), anchor_vote=b"")
    payload = codec.encode_header(header)
    sh = codec.signed_header(payload, SIGNER.sign(payload), SIGNER.public_key)
    return codec.encode_message(1, sh)


def test_the_same_bytes_decode_to_the_same_value_from_a_fresh_decode_or_the_memo() -> None:
    hop = _header_hop()
    first = codec.decode_message(hop)
    assert codec.decode_message(hop) == first
    assert codec._decode_message(hop) == first  # the uncached decode agrees
    size = len(codec._decoded_messages)
    assert codec.decode_message(bytearray(hop)) == first  # a mutable buffer: decoded, not a key
    assert len(codec._decoded_messages) == size


def test_malformed_bytes_are_refused_every_time() -> None:
    bad = _header_hop()[:-9]
    for _ in range(2):
        with pytest.raises(codec.DecodeError):
            codec.decode_message(bad)
    assert bad not in codec._decoded_messages._items
