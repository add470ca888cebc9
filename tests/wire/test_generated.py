"""``@message`` without a hand-written schema: the struct is generated from the type hints,
compiles with the official compiler, and round-trips through the wire, across nodes."""

from __future__ import annotations

import enum
import subprocess
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import numpy as np
import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.sim import Simulation
from focusflow.supervisor import Actor, LoopbackNetwork
from focusflow.wire import (
    SCHEMA_DIR,
    Address,
    Float32,
    Int8,
    Int32,
    UInt16,
    UInt64,
    WireError,
    array_field,
    codec_for_type,
    decode_hop,
    decode_message,
    encode_hop,
    encode_message,
    generated_schema,
    message,
)
from focusflow.wire._generate import derive_id
from focusflow.wire.system import Ping
from tests.support import require_tool


@message
class Point:
    x: Int32
    y: Int32 = 0


@message(id="tests.Reading")
class Reading:
    """Every field kind the generator maps."""

    flag: bool
    count: int
    tiny: Int8
    port: UInt16
    big: UInt64
    ratio: float
    ratio32: Float32
    name: str
    blob: bytes
    where: Point
    maybe: Point | None
    note: str | None
    raw: bytes | None
    points: tuple[Point, ...]
    words: tuple[str, ...]
    numbers: tuple[Int32, ...]
    flags: tuple[bool, ...]
    owner: Address
    peers: tuple[Address, ...]
    ping: Ping
    mood: Literal["calm", "busy"]
    moods: tuple[Literal["calm", "busy"], ...]
    samples: np.ndarray = array_field("<f4")


@message
class Light:
    color: Literal["red", "amber", "green"]
    history: tuple[Literal["on", "off"], ...] = ()


@message
class Add:
    a: int
    b: int


@message
class Sum:
    total: int
    by: str


def _reading(**over: Any) -> Reading:
    base: dict[str, Any] = dict(
        flag=True, count=-(2**62), tiny=-128, port=65535, big=2**64 - 1, ratio=0.1,
        ratio32=0.5, name="π ünïcode", blob=b"\x00\xff", where=Point(1, -2), maybe=None,
        note=None, raw=b"", points=(Point(3, 4), Point(5)), words=("a", "", "c"),
        numbers=(1, -2), flags=(True, False), owner=Address("n1", "/user/a"),
        peers=(Address("n2", "/user/b"),), ping=Ping(7), mood="busy", moods=("calm", "busy"),
        samples=np.array([0.5, 1.5], dtype="<f4"))
    base.update(over)
    return Reading(**base)


def test_every_field_kind_round_trips_without_a_capnp_file() -> None:
    msg = _reading()
    type_id, data = encode_message(msg)
    assert type_id == derive_id("tests.Reading")
    back = decode_message(type_id, data)
    assert back == msg and back.maybe is None and back.note is None and back.raw == b""
    assert np.array_equal(back.samples, msg.samples)
    full = _reading(maybe=Point(9, 9), note="")
    back = decode_message(*encode_message(full))
    assert back.maybe == Point(9, 9) and back.note == ""  # empty text is not None


@settings(max_examples=40, deadline=None)
@given(a=st.integers(-(2**63), 2**63 - 1), b=st.integers(-(2**63), 2**63 - 1),
       by=st.text(max_size=20))
def test_flat_generated_messages_take_the_fast_path_and_round_trip(a: int, b: int,
                                                                   by: str) -> None:
    assert codec_for_type(Add).fixed is not None  # numbers only: one-pack frames
    assert codec_for_type(Sum).flat is not None
    for msg in (Add(a, b), Sum(a, by)):
        frame = encode_hop(0, 1, "n1", "/user/a", "n2", "/user/b", msg)
        assert decode_hop(frame)[3] == msg


@message
class Note:
    seq: int
    text: str | None = None
    raw: bytes | None = None


def test_optional_text_and_data_keep_none_apart_from_empty() -> None:
    for msg in (Note(1), Note(2, "", b""), Note(3, "x", None)):
        assert decode_message(*encode_message(msg)) == msg
        assert decode_hop(encode_hop(0, 1, "n1", "/user/a", "n2", "/user/b", msg))[3] == msg


def test_literal_fields_are_capnp_enums_travelling_as_str() -> None:
    msg = Light("amber", ("on", "off", "on"))
    assert decode_message(*encode_message(msg)) == msg
    assert decode_hop(encode_hop(0, 1, "n1", "/user/a", "n2", "/user/b", Light("green")))[3] \
        == Light("green")
    text = next(iter(generated_schema(Light).values()))
    assert "enum ColorEnum { red @0; amber @1; green @2; }" in text
    with pytest.raises(WireError):
        encode_message(Light("blue"))  # type: ignore[arg-type]


def test_values_that_do_not_fit_are_wire_errors() -> None:
    with pytest.raises(WireError):
        encode_message(_reading(tiny=128))
    with pytest.raises(WireError):
        encode_message(Add(2**63, 0))


def test_ids_follow_the_documented_rule_and_are_stable() -> None:
    def rule(key: str) -> int:
        digest = blake3(b"focusflow.message.v1\0" + key.encode()).digest(length=8)
        return int.from_bytes(digest, "little") | 1 << 63

    assert codec_for_type(Point).type_id == rule(f"{__name__}.Point")
    assert codec_for_type(Reading).type_id == rule("tests.Reading")
    assert derive_id("app.Ping") == 0xDD5BB60369DC2246  # pinned: ids on the wire never move


def test_an_explicit_capnp_id_is_used_as_is() -> None:
    @message(id=0xE0F1A2B3C4D5E6F7)
    class Tagged:
        label: str

    assert codec_for_type(Tagged).type_id == 0xE0F1A2B3C4D5E6F7
    ping_id = codec_for_type(Ping).type_id
    with pytest.raises(TypeError, match="already bound to Ping"):
        message(id=ping_id)(type("Fake", (), {"__annotations__": {"a": "int"}}))
    with pytest.raises(TypeError, match="top bit"):
        message(id=0x1234)(type("Low", (), {"__annotations__": {"a": "int"}}))


def test_generated_schemas_compile_with_the_official_capnp_compiler(tmp_path: Path) -> None:
    capnp_tool = require_tool("capnp")
    files = generated_schema(Reading)
    assert len(files) == 2  # Reading's own file first, then Point's that it imports
    own = next(iter(files))
    assert "struct Reading @0x" in files[own] and "import \"/runtime.capnp\"" in files[own]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run([capnp_tool, "compile", "-o-", f"-I{tmp_path}", f"-I{SCHEMA_DIR}",
                             str(tmp_path / own)], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout) > 100
    assert generated_schema(Ping) == {}  # hand-written structs stay hand-written


class _Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize(("annotation", "match"), [
    (int | None, "only Text, Data, a message or Address may be optional"),
    (list[int], "use tuple"),
    (tuple[int, int], r"tuple\[T, \.\.\.\]"),
    (tuple[tuple[int, ...], ...], r"tuple\[T, \.\.\.\]"),
    (_Color, "enums travel as str"),
    (Literal["red", "green"] | None, "may be optional"),
    (Literal["red", "dark_red"], "camelCase names"),
    (dict[str, int], "cannot be mapped"),
    (np.ndarray, "array_field"),
    (int | str, "only `X | None`"),
    (Annotated[float, Int32.__metadata__[0]], "wire width matching"),
    (complex, "cannot be mapped"),
])
def test_unmappable_annotations_are_clear_type_errors(annotation: Any, match: str) -> None:
    cls = type("Bad", (), {"__annotations__": {"field": annotation}, "__module__": __name__})
    with pytest.raises(TypeError, match=match) as info:
        message(cls)
    assert "Bad.field" in str(info.value)


def test_recursive_and_undecorated_nested_types_are_refused() -> None:
    cls = type("Tree", (), {"__annotations__": {"kids": "tuple[Tree, ...]"},
                            "__module__": __name__})
    with pytest.raises(TypeError, match="recursive"):
        message(cls)
    plain = type("Plain", (), {"__annotations__": {"x": "int"}})
    dataclass_cls = __import__("dataclasses").dataclass(plain)
    with pytest.raises(TypeError, match="not a @message class"):
        message(type("Outer", (), {"__annotations__": {"inner": dataclass_cls}}))


def test_a_component_schema_message_cannot_be_nested_but_its_bytes_can() -> None:
    from focusflow.node.messages import CoreTick

    with pytest.raises(TypeError, match="nest its bytes"):
        message(type("Wrap", (), {"__annotations__": {"tick": CoreTick}}))


class Adder(Actor):
    async def receive(self, msg: Any) -> Any:
        assert isinstance(msg, Add)
        return Sum(msg.a + msg.b, self.ctx.self_ref.node)


async def _loopback_sum() -> Sum:
    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("b") as b:
        a.spawn(Adder, name="adder")
        result: Sum = await b.node.ref("a", "/user/adder").ask(Add(2, 40))
        return result


@pytest.mark.anyio
async def test_an_embedders_messages_cross_two_live_nodes() -> None:
    with anyio.fail_after(10):
        assert await _loopback_sum() == Sum(42, "a")


def test_an_embedders_messages_cross_two_simulated_nodes() -> None:
    sim = Simulation(3)
    sim.add_node("a").spawn(Adder, name="adder")
    b = sim.add_node("b")
    adder = b.ref("a", "/user/adder")

    async def client() -> Sum:
        result: Sum = await adder.ask(Add(-1, 1), timeout_ms=1000)
        return result

    assert sim.run_until_complete(client(), node="b") == Sum(0, "a")


def test_a_forked_child_generates_messages_and_a_gone_directory_is_a_clear_error() -> None:
    """Chaos workers fork: a child defines new messages importing ones generated in the
    parent; if the parent has exited and removed the files, the child gets a clear error
    instead of pycapnp aborting the process."""
    import multiprocessing

    from focusflow.wire import _schema

    ctx = multiprocessing.get_context("fork")
    directory = _schema._private_dir()
    for remove_first, code in ((False, 0), (True, 3)):
        child = ctx.Process(target=_child_defines_a_message, args=(remove_first,))
        child.start()
        child.join(60)
        assert child.exitcode == code
        assert directory.is_dir()


def _child_defines_a_message(remove_first: bool) -> None:
    import os

    from focusflow.wire import _schema

    if remove_first:  # as if the parent had exited and removed it (not the real one:
        # the parent test process still uses it)
        _schema._generated_dir[0] = _schema._generated_dir[0] / "gone"
    try:
        @message(id=f"tests.InChild{remove_first}")
        class InChild:
            where: Point
            label: str
    except RuntimeError as exc:
        os._exit(3 if "before forking" in str(exc) else 4)
    msg = InChild(Point(1, 2), "x")
    os._exit(0 if decode_message(*encode_message(msg)) == msg else 5)
