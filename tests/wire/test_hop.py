"""The one-pass hop codec (``focusflow.wire._hop``): the same bytes as the general
two-pass encoding, the same verdict as pycapnp on any (corrupted) frame, and a route
table that can never change a verdict."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.wire import (
    KIND_ASK,
    KIND_NAMES,
    KIND_REPLY,
    KIND_SYSTEM,
    KIND_TELL,
    NO_PAYLOAD,
    Address,
    Envelope,
    WireError,
    WireLimits,
    _hop,
    codec_for_id,
    codec_for_type,
    decode_hop,
    encode_envelope_capnp,
    encode_envelope_fields,
    encode_hop,
    encode_message,
)
from focusflow.wire._codec import _decode_envelope_capnp
from focusflow.wire._message import DEFAULT_LIMITS
from focusflow.wire.system import Down, ErrorReply, Ping
from tests.wire.msgs import Flat, Point, Req
from tests.wire.test_fast import _pycapnp_write_flat, flats

texts = st.text(max_size=12)
routes = st.tuples(texts, texts, texts, texts)
kinds = st.sampled_from(sorted(KIND_NAMES))
payloads = st.one_of(flats, st.builds(Req, n=st.integers(-(2**63), 2**63 - 1), text=texts),
                     st.builds(Ping, seq=st.integers(0, 2**64 - 1)), st.none(),
                     st.builds(Point, x=st.integers(-(2**31), 2**31 - 1),
                               y=st.integers(-(2**31), 2**31 - 1)),
                     st.builds(ErrorReply, error_type=texts, message=texts))


def _reference(frame: bytes) -> Any:
    """pycapnp's verdict on a hop frame: envelope and payload both decoded by pycapnp."""
    try:
        env = _decode_envelope_capnp(frame, DEFAULT_LIMITS)
        if env.payload_type == NO_PAYLOAD:
            if env.payload:
                return None
            msg = None
        else:
            codec = codec_for_id(env.payload_type)
            data = env.payload
            if len(data) < 8 or len(data) % 8:
                return None
            with codec.struct.from_bytes(
                    data, traversal_limit_in_words=DEFAULT_LIMITS.traversal_words_max,
                    nesting_limit=DEFAULT_LIMITS.nesting_max) as reader:
                msg = codec.read(reader)
    except Exception:
        return None
    return repr((env.kind, env.correlation_id, (env.sender_node, env.sender_path,
                                                env.receiver_node, env.receiver_path), msg))


def _verdict(frame: bytes) -> Any:
    try:
        return repr(decode_hop(frame))
    except WireError:
        return None


@settings(max_examples=150, deadline=None)
@given(kind=kinds, corr=st.integers(0, 2**64 - 1), route=routes, msg=payloads)
def test_hop_bytes_equal_the_two_pass_encoding_and_pycapnp_reads_them(
        kind: int, corr: int, route: tuple[str, str, str, str], msg: Any) -> None:
    frame = encode_hop(kind, corr, *route, msg)
    type_id, data = encode_message(msg)
    assert frame == encode_envelope_fields(kind, corr, *route, type_id, data)
    assert _reference(frame) == repr((kind, corr, route, msg))
    assert decode_hop(frame) == (kind, corr, route, msg)


@settings(max_examples=100, deadline=None)
@given(kind=kinds, corr=st.integers(0, 2**64 - 1), route=routes, msg=flats)
def test_hop_decoder_reads_frames_built_entirely_by_pycapnp(
        kind: int, corr: int, route: tuple[str, str, str, str], msg: Flat) -> None:
    payload = _pycapnp_write_flat(msg)
    type_id = encode_message(msg)[0]
    frame = encode_envelope_capnp(Envelope(kind, corr, *route, type_id, payload))
    assert decode_hop(frame) == (kind, corr, route, msg)


@settings(max_examples=300, deadline=None)
@given(route=routes, msg=payloads, kind=kinds,
       flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1,
                      max_size=4))
def test_corrupted_hop_frames_get_the_same_verdict_as_pycapnp(
        route: tuple[str, str, str, str], msg: Any, kind: int,
        flips: list[tuple[int, int]]) -> None:
    frame = bytearray(encode_hop(kind, 7, *route, msg))
    decode_hop(bytes(frame))  # the clean route is now in the table: it must not matter
    for pos, value in flips:
        frame[pos % len(frame)] = value
    assert _verdict(bytes(frame)) == _reference(bytes(frame))


def test_a_known_route_with_corrupted_text_is_still_rejected() -> None:
    good = encode_hop(KIND_TELL, 0, "a", "/user/x", "b", "/user/y", Ping(1))
    decode_hop(good)
    bad = bytearray(good)
    at = good.index(b"/user/y")
    bad[at + 1] = 0xFF  # invalid UTF-8 in the receiver path, same pointers
    with pytest.raises(WireError):
        decode_hop(bytes(bad))
    assert decode_hop(good)[3] == Ping(1)


def test_route_table_is_bounded_and_skips_long_routes() -> None:
    long_path = "/user/" + "x" * (_hop.ROUTE_KEY_BYTES_MAX + 8)
    frame = encode_hop(KIND_TELL, 0, "a", long_path, "b", "/user/y", Ping(2))
    before = len(_hop._decoded)
    assert decode_hop(frame)[2][1] == long_path
    assert len(_hop._decoded) <= before  # decoded by the general path, not remembered
    for i in range(_hop.ROUTES_MAX + 10):
        decode_hop(encode_hop(KIND_TELL, 0, "a", f"/user/{i}", "b", "/", Ping(i)))
    assert len(_hop._decoded) <= _hop.ROUTES_MAX
    assert len(_hop._routes) <= _hop.ROUTES_MAX


def test_limits_apply_on_both_sides() -> None:
    small = WireLimits(message_bytes_max=128)
    big = Req(1, "z" * 200)
    with pytest.raises(WireError) as info:
        encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", big, limits=small)
    assert info.value.reason == "oversized"
    frame = encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", big)
    with pytest.raises(WireError):
        decode_hop(frame, limits=small)
    with pytest.raises(WireError):
        encode_hop(KIND_ASK, 2**64, "a", "/p", "b", "/q", Ping(1))
    with pytest.raises(WireError):
        encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", Ping(-1))
    with pytest.raises(WireError):
        encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", object())


def test_numbers_only_payloads_are_packed_with_the_envelope_in_one_call() -> None:
    assert codec_for_type(Ping).fixed is not None and codec_for_type(Point).fixed is not None
    assert codec_for_type(Req).fixed is None and codec_for_type(Flat).fixed is None
    frame = encode_hop(KIND_TELL, 3, "a", "/p", "b", "/q", Point(-1, 2))
    assert frame == encode_envelope_fields(KIND_TELL, 3, "a", "/p", "b", "/q",
                                           *encode_message(Point(-1, 2)))
    with pytest.raises(WireError):
        encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", Point(2**31, 0))
    with pytest.raises(WireError):
        encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", Point("x", 0))  # type: ignore[arg-type]
    with pytest.raises(WireError) as info:
        encode_hop(KIND_TELL, 0, "a", "/p" * 40, "b", "/q", Point(1, 2),
                   limits=WireLimits(message_bytes_max=128))
    assert info.value.reason == "oversized"


def test_non_flat_payloads_and_no_payload_take_the_general_path() -> None:
    made: list[tuple[str, str]] = []

    def factory(node: str, path: str) -> Address:
        made.append((node, path))
        return Address(node, path)

    down = Down(Address("n", "/user/w"), "normal", 3)
    frame = encode_hop(KIND_SYSTEM, 0, "a", "/user/w", "b", "/user/v", down)
    assert decode_hop(frame, address_factory=factory)[3] == down
    assert made == [("n", "/user/w")]
    reply = encode_hop(KIND_REPLY, 9, "b", "/user/v", "a", "", None)
    assert decode_hop(reply) == (KIND_REPLY, 9, ("b", "/user/v", "a", ""), None)


def test_truncated_and_padded_frames_are_rejected() -> None:
    frame = encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", Req(5, "hello"))
    for cut in range(8, len(frame), 8):
        assert _verdict(frame[:cut]) is None
    assert _verdict(frame + b"\0" * 8) == _reference(frame + b"\0" * 8)


def test_a_message_class_validation_still_runs_on_the_one_pass_decode() -> None:
    from tests.wire.msgs import Checked, schema

    ok = encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", Checked(5))
    assert decode_hop(ok)[3] == Checked(5)
    builder = schema.Checked.new_message()
    builder.n = -1
    bad = encode_envelope_fields(KIND_TELL, 0, "a", "/p", "b", "/q",
                                 codec_for_type(Checked).type_id, builder.to_bytes())
    with pytest.raises(WireError):
        decode_hop(bad)
    # a plain class is filled slot by slot and still equals what its constructor builds
    got = decode_hop(encode_hop(KIND_TELL, 0, "a", "/p", "b", "/q", Point(3, -4)))[3]
    assert type(got) is Point and got == Point(3, -4) and hash(got) == hash(Point(3, -4))
    with pytest.raises(AttributeError):
        got.x = 5  # type: ignore[misc]  # still frozen
