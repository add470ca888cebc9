"""Frame templates, per-route writers and readers (``encode_hop_on``, ``decode_hop_on``,
``hop_template``): the fast paths of numbers-only payloads. They make the same bytes as
the general two-pass encoding, pycapnp reads those bytes back to the same values, and on
any (corrupted) frame they give the verdict of pycapnp and of the general decoder."""

from __future__ import annotations

import inspect
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.wire import (
    KIND_ASK,
    KIND_NAMES,
    KIND_TELL,
    WireError,
    _hop,
    codec_for_type,
    decode_hop,
    decode_hop_on,
    encode_envelope_fields,
    encode_hop,
    encode_hop_on,
    encode_message,
    hop_route,
    hop_template,
)
from focusflow.wire.system import Ping, Pong
from tests.wire.msgs import Checked, Mixed, Point
from tests.wire.test_hop import _reference, _verdict

texts = st.text(max_size=12)
routes = st.tuples(texts, texts, texts, texts)
kinds = st.sampled_from(sorted(KIND_NAMES))
f32 = st.floats(width=32, allow_nan=False)
mixed = st.builds(Mixed, a=st.integers(-128, 127), b=st.floats(allow_nan=False),
                  c=st.integers(0, 2**16 - 1), d=st.integers(-(2**63), 2**63 - 1), e=f32,
                  f=st.integers(0, 2**32 - 1))
numbers = st.one_of(mixed, st.builds(Ping, seq=st.integers(0, 2**64 - 1)),
                    st.builds(Pong, seq=st.integers(0, 2**64 - 1)),
                    st.builds(Point, x=st.integers(-(2**31), 2**31 - 1),
                              y=st.integers(-(2**31), 2**31 - 1)),
                    st.builds(Checked, n=st.integers(0, 2**63 - 1)))


def _all_decoders(route: tuple[str, str, str, str], cls: type, frame: bytes) -> list[Any]:
    """The frame through every decoder: general, template table, per-route reader, and the
    reader ``hop_template`` finds (each as a verdict: a repr, or None for WireError)."""
    out = [_verdict(frame)]
    for decode in (lambda: decode_hop_on(hop_route(*route), cls, frame),
                   lambda: (hop_template(frame) or decode_hop)(frame) or decode_hop(frame)):
        try:
            out.append(repr(decode()))
        except WireError:
            out.append(None)
    return out


@settings(max_examples=150, deadline=None)
@given(kind=kinds, corr=st.integers(0, 2**64 - 1), route=routes, msg=numbers,
       again=numbers)
def test_route_writers_make_the_two_pass_bytes_and_every_reader_agrees_with_pycapnp(
        kind: int, corr: int, route: tuple[str, str, str, str], msg: Any, again: Any) -> None:
    r = hop_route(*route)
    frame = encode_hop_on(r, kind, corr, msg)
    assert frame == encode_hop(kind, corr, *route, msg)
    assert frame == encode_envelope_fields(kind, corr, *route, *encode_message(msg))
    write = r.writers.get(type(msg))
    assert write is not None and write(kind, corr, msg) == frame
    want = repr((kind, corr, route, msg))
    assert _reference(frame) == want  # pycapnp reads our bytes
    assert decode_hop(frame) == (kind, corr, route, msg)  # now a template exists
    assert _all_decoders(route, type(msg), frame) == [want] * 3
    # a second message of any type on the same route: still exact
    frame2 = encode_hop_on(r, KIND_TELL, 0, again)
    want2 = repr((KIND_TELL, 0, route, again))
    assert _reference(frame2) == want2
    assert _all_decoders(route, type(again), frame2) == [want2] * 3
    assert _all_decoders(route, type(msg), frame2) == [want2] * 3  # wrong hint: same


@settings(max_examples=300, deadline=None)
@given(route=routes, msg=numbers, kind=kinds,
       flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1,
                      max_size=4))
def test_corrupted_frames_get_pycapnps_verdict_from_every_template_path(
        route: tuple[str, str, str, str], msg: Any, kind: int,
        flips: list[tuple[int, int]]) -> None:
    clean = encode_hop(kind, 7, *route, msg)
    decode_hop(clean)
    decode_hop_on(hop_route(*route), type(msg), clean)  # templates and readers in place
    frame = bytearray(clean)
    for pos, value in flips:
        frame[pos % len(frame)] = value
    want = _reference(bytes(frame))
    assert _all_decoders(route, type(msg), bytes(frame)) == [want] * 3


def test_every_byte_outside_the_variable_fields_is_checked() -> None:
    route = ("a", "/user/x", "b", "/user/y")
    clean = encode_hop(KIND_TELL, 0, *route, Mixed(1, 2.0))
    assert decode_hop(clean)[3] == Mixed(1, 2.0)
    assert hop_template(clean) is not None
    s = struct.Struct("<16sB7xQ")  # the variable kind and correlation id
    read = hop_template(clean)
    assert read is not None
    fixed = codec_for_type(Mixed).fixed
    assert fixed is not None
    size = fixed[1]
    for pos in range(len(clean)):
        if 16 <= pos < 32:
            continue
        bad = bytearray(clean)
        bad[pos] ^= 0x40
        got = read(bytes(bad))
        payload_data = pos >= len(clean) - (size - 16)  # Mixed's data words
        if payload_data:
            assert got is not None  # any bits are numbers (or padding) of the payload
        else:
            assert got is None, pos  # not this template: the general decoder decides
        assert _verdict(bytes(bad)) == _reference(bytes(bad))
    assert s.unpack_from(clean)[1:] == (KIND_TELL, 0)


def test_an_unknown_kind_is_refused_even_when_the_rest_matches_a_template() -> None:
    clean = encode_hop(KIND_ASK, 5, "a", "/p", "b", "/q", Ping(3))
    decode_hop(clean)
    bad = bytearray(clean)
    bad[16] = 9
    with pytest.raises(WireError):
        decode_hop(bytes(bad))
    with pytest.raises(WireError):
        decode_hop_on(hop_route("a", "/p", "b", "/q"), Ping, bytes(bad))


def test_a_validating_class_is_still_built_through_its_constructor() -> None:
    route = ("a", "/p", "b", "/q")
    clean = encode_hop(KIND_TELL, 0, *route, Checked(5))
    assert decode_hop(clean)[3] == Checked(5)
    assert decode_hop_on(hop_route(*route), Checked, clean)[3] == Checked(5)
    bad = bytearray(clean)
    bad[-8:] = (-1).to_bytes(8, "little", signed=True)  # n = -1: __post_init__ refuses
    assert hop_template(clean) is not None
    for decode in (lambda: decode_hop(bytes(bad)),
                   lambda: decode_hop_on(hop_route(*route), Checked, bytes(bad))):
        with pytest.raises(WireError):
            decode()


def test_template_tables_are_bounded() -> None:
    for i in range(_hop.TEMPLATES_MAX + 50):
        decode_hop(encode_hop(KIND_TELL, 0, "a", f"/user/{i}", "b", "/", Ping(i)))
    assert 0 < _hop._templates_count[0] <= _hop.TEMPLATES_MAX
    total = sum(len(mids) for mids in _hop._template_routes.values())
    assert total == _hop._templates_count[0]
    assert sum(len(by_len) for by_len in _hop._templates.values()) == len(
        _hop._template_routes)
    long_path = "/user/" + "x" * (_hop.ROUTE_KEY_BYTES_MAX + 8)
    before = _hop._templates_count[0]
    assert decode_hop(encode_hop(KIND_TELL, 0, "a", long_path, "b", "/", Ping(1)))[3] == Ping(1)
    assert _hop._templates_count[0] == before  # a long route is not remembered
    r = hop_route("a", "/p", "b", "/q")
    for cls in (Ping, Pong, Point, Mixed, Checked):
        decode_hop_on(r, cls, encode_hop_on(r, KIND_TELL, 0, cls(1, 2) if cls in (Point, Mixed)
                                            else cls(1)))
    assert 0 < len(r.readers) <= _hop.ROUTE_READERS_MAX


def test_many_routes_of_one_type_and_length_share_one_exact_reader() -> None:
    frames = [encode_hop(KIND_TELL, 0, "a", f"/user/${i:03d}", "b", "/user/sink", Ping(i))
              for i in range(300)]
    for frame in frames:
        decode_hop(frame)
    read = hop_template(frames[0])
    assert read is not None
    for i, frame in enumerate(frames):
        got = read(frame)
        assert got is not None and got[2][1] == f"/user/${i:03d}" and got[3] == Ping(i)
    other = encode_hop(KIND_TELL, 0, "a", "/user/$999", "b", "/user/sink", Ping(1))
    assert read(other) is None  # an unseen route: decoded in full, then remembered
    assert decode_hop(other)[2][1] == "/user/$999" and read(other) is not None


def test_limits_still_apply_to_route_writers() -> None:
    r = hop_route("a", "/p", "b", "/q")
    with pytest.raises(WireError) as info:
        encode_hop_on(r, KIND_TELL, 0, Ping(2**64))
    assert info.value.reason == "encode"
    write = r.writers[Ping]
    with pytest.raises(WireError):
        write(KIND_TELL, 0, Ping(-1))
    assert codec_for_type(Mixed).fixed is not None and codec_for_type(Mixed).direct


def test_plain_message_classes_keep_their_constructor_contract() -> None:
    assert str(inspect.signature(Mixed)).split(" -> ")[0] == (
        "(a: 'int', b: 'float', c: 'int' = 7, d: 'int' = -1, e: 'float' = 0.5, "
        "f: 'int' = 0)")
    m = Mixed(1, 2.0, d=4)
    assert (m.a, m.b, m.c, m.d, m.e, m.f) == (1, 2.0, 7, 4, 0.5, 0)
    assert m == Mixed(1, 2.0, 7, 4) and hash(m) == hash(Mixed(1, 2.0, 7, 4))
    with pytest.raises(AttributeError):
        m.a = 3  # type: ignore[misc]  # still frozen
    with pytest.raises(TypeError):
        Mixed(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Mixed(1, 2.0, 3, 4, 5.0, 6, 7)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        Checked(-1)  # a class with __post_init__ keeps the dataclass __init__
    assert not codec_for_type(Checked).direct
