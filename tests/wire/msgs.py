"""Message types for the runtime's tests, bound to ``testmsgs.capnp``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from focusflow.wire import Address, array_field, load_schema, message

schema = load_schema(Path(__file__).with_name("testmsgs.capnp"))


@message(schema.Point)
class Point:
    x: int
    y: int


@message(schema.Everything)
class Everything:
    flag: bool
    small: int
    big: int
    ratio: float
    name: str
    blob: bytes
    color: str
    where: Point
    maybe: Point | None
    numbers: tuple[int, ...]
    words: tuple[str, ...]
    points: tuple[Point, ...]
    owner: Address
    weights: np.ndarray = array_field("<f8")


@message(schema.Holder)
class Holder:
    """An address two levels down (its refs must still be bound by the runtime)."""

    inner: Everything


@message(schema.EdgeBatch)
class EdgeBatch:
    """Bulk data: three arrays in one struct, never one struct per edge."""

    src: np.ndarray = array_field("<u4")
    dst: np.ndarray = array_field("<u4")
    weight: np.ndarray = array_field("<f4")


@message(schema.Nest)
class Nest:
    """A recursive struct (custom hooks: generated codecs need the child type first)."""

    child: Nest | None
    depth: int

    def _to_builder(self, builder: Any) -> None:
        builder.depth = self.depth
        if self.child is not None:
            Nest._to_builder(self.child, builder.init("child"))

    @classmethod
    def _from_reader(cls, reader: Any) -> Nest:
        child = cls._from_reader(reader.child) if reader._has("child") else None
        return cls(child, reader.depth)


@message(schema.Flat)
class Flat:
    """Every flat field kind: takes the fast path (``focusflow.wire._fast``)."""

    flag: bool
    small: int
    name: str
    other: bool
    u16: int
    f32: float
    f64: float
    color: str
    blob: bytes
    big: int
    i32: int


@message(schema.Req)
class Req:
    n: int = 0
    text: str = ""


@message(schema.Resp)
class Resp:
    n: int = 0
    text: str = ""


def nested(depth: int) -> Nest:
    """A chain of ``depth`` Nest structs."""
    node = Nest(None, 0)
    for i in range(1, depth):
        node = Nest(node, i)
    return node


@message(schema.Checked)
class Checked:
    """Rejects negative values in ``__post_init__``: every decoder must run it."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")


@message(schema.Mixed)
class Mixed:
    """Numbers only, fields of several widths out of byte order (hop templates)."""

    a: int
    b: float
    c: int = 7
    d: int = -1
    e: float = 0.5
    f: int = 0
