"""The fast flat-struct codec agrees with pycapnp in both directions, and on garbage."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.wire import (
    KIND_NAMES,
    Envelope,
    WireError,
    codec_for_type,
    decode_envelope,
    decode_envelope_fields,
    decode_message,
    encode_envelope,
    encode_envelope_capnp,
    encode_message,
    runtime_schema,
)
from focusflow.wire._codec import _decode_envelope_capnp
from focusflow.wire._message import DEFAULT_LIMITS
from tests.wire.msgs import EdgeBatch, Flat, Req, schema

f32 = st.floats(width=32, allow_nan=False)
flats = st.builds(
    Flat, flag=st.booleans(), small=st.integers(-128, 127), name=st.text(max_size=20),
    other=st.booleans(), u16=st.integers(0, 2**16 - 1), f32=f32,
    f64=st.floats(allow_nan=False), color=st.sampled_from(["red", "green", "blue"]),
    blob=st.binary(max_size=40), big=st.integers(0, 2**64 - 1),
    i32=st.integers(-(2**31), 2**31 - 1))
envelopes = st.builds(
    Envelope, kind=st.sampled_from(sorted(KIND_NAMES)), correlation_id=st.integers(0, 2**64 - 1),
    sender_node=st.text(max_size=10), sender_path=st.text(max_size=30),
    receiver_node=st.text(max_size=10), receiver_path=st.text(max_size=30),
    payload_type=st.integers(0, 2**64 - 1), payload=st.binary(max_size=64))


def _pycapnp_read_flat(data: bytes) -> Flat:
    with schema.Flat.from_bytes(data) as r:
        return Flat(r.flag, r.small, r.name, r.other, r.u16, r.f32, r.f64, str(r.color),
                    r.blob, r.big, r.i32)


def _pycapnp_write_flat(m: Flat) -> bytes:
    b = schema.Flat.new_message()
    for name, value in (("flag", m.flag), ("small", m.small), ("name", m.name),
                        ("other", m.other), ("u16", m.u16), ("f32", m.f32), ("f64", m.f64),
                        ("color", m.color), ("blob", m.blob), ("big", m.big), ("i32", m.i32)):
        setattr(b, name, value)
    return bytes(b.to_bytes())


def test_flat_types_take_the_fast_path_and_nested_ones_do_not() -> None:
    assert codec_for_type(Flat).flat is not None
    assert codec_for_type(Req).flat is not None
    assert codec_for_type(EdgeBatch).flat is not None
    from tests.wire.msgs import Everything

    assert codec_for_type(Everything).flat is None


@settings(max_examples=150, deadline=None)
@given(msg=flats)
def test_fast_encoding_is_read_identically_by_pycapnp(msg: Flat) -> None:
    _, data = encode_message(msg)
    assert _pycapnp_read_flat(data) == msg


@settings(max_examples=150, deadline=None)
@given(msg=flats)
def test_fast_decoder_reads_pycapnp_encodings(msg: Flat) -> None:
    data = _pycapnp_write_flat(msg)
    layout = codec_for_type(Flat).flat
    assert layout is not None
    values = layout.decode(data, DEFAULT_LIMITS.traversal_words_max)
    assert values is not None, "pycapnp's usual encoding should take the fast path"
    assert decode_message(codec_for_type(Flat).type_id, data) == msg


@settings(max_examples=150, deadline=None)
@given(env=envelopes)
def test_envelope_fast_path_matches_pycapnp_both_ways(env: Envelope) -> None:
    fast = encode_envelope(env)
    assert _decode_envelope_capnp(fast, DEFAULT_LIMITS) == env
    assert decode_envelope(encode_envelope_capnp(env)) == env
    assert decode_envelope(fast) == env


@settings(max_examples=300, deadline=None)
@given(env=envelopes, flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                     min_size=1, max_size=4))
def test_corrupted_envelopes_get_the_same_verdict_as_pycapnp(
        env: Envelope, flips: list[tuple[int, int]]) -> None:
    data = bytearray(encode_envelope(env))
    for pos, value in flips:
        data[pos % len(data)] = value
    frame = bytes(data)
    try:
        expected = _decode_envelope_capnp(frame, DEFAULT_LIMITS)
    except WireError:
        expected = None
    try:
        got = decode_envelope(frame)
    except WireError:
        got = None
    if expected is None:
        assert got is None
    else:
        assert got == expected


def test_blob_pointing_outside_the_segment_is_rejected() -> None:
    frame = bytearray(encode_envelope(Envelope(0, 0, "a", "b", "c", "d", 0, b"x" * 8)))
    # payload pointer is the 5th pointer: patch its count to something huge
    ptr = 8 + 8 * (1 + 3 + 4)
    lo, _hi = struct.unpack_from("<II", frame, ptr)
    struct.pack_into("<II", frame, ptr, lo, (10_000 << 3) | 2)
    with pytest.raises(WireError):
        decode_envelope_fields(bytes(frame))


def test_overlapping_blobs_cannot_amplify_past_the_traversal_budget() -> None:
    # Point every text pointer at the same large payload: pycapnp's traversal limit
    # rejects that amplification, and so must the fast path (by deferring to it).
    payload = b"y" * 4096
    frame = bytearray(encode_envelope(Envelope(0, 0, "", "", "", "", 0, payload)))
    ptr0 = 8 + 8 * (1 + 3)
    lo, hi = struct.unpack_from("<II", frame, ptr0 + 4 * 8)
    for i in range(4):  # text pointers 0..3 -> same blob (not NUL-terminated: not text)
        rel = (lo >> 2) + (4 - i)
        struct.pack_into("<II", frame, ptr0 + i * 8, (rel << 2) | 1, hi)
    with pytest.raises(WireError):
        decode_envelope_fields(bytes(frame))


def test_runtime_schema_envelope_is_flat() -> None:
    from focusflow.wire._fast import FlatLayout

    s = runtime_schema()
    assert FlatLayout.for_struct(s.Envelope.schema, ["kind", "payload"]) is not None
    assert FlatLayout.for_struct(s.Down.schema, ["actor", "reason"]) is None


@settings(max_examples=100, deadline=None)
@given(msg=flats, corr=st.integers(0, 2**64 - 1), path=st.text(max_size=20))
def test_hop_codec_equals_the_general_functions(msg: Flat, corr: int, path: str) -> None:
    from focusflow.wire import KIND_ASK, decode_hop, encode_envelope_fields, encode_hop

    type_id, data = encode_message(msg)
    general = encode_envelope_fields(KIND_ASK, corr, "a", path, "b", "/user/x", type_id, data)
    hop = encode_hop(KIND_ASK, corr, "a", path, "b", "/user/x", msg)
    assert hop == general
    kind, got_corr, texts, obj = decode_hop(hop)
    fields = decode_envelope_fields(general)
    assert obj == msg and [kind, got_corr, *texts] == fields[:6]
    nested = encode_hop(KIND_ASK, corr, "a", path, "b", "/", Req(1, path))
    assert decode_hop(nested)[3] == Req(1, path)
