"""Python message types bound to Cap'n Proto structs.

A message is a frozen dataclass decorated with ``@message(schema.Struct)`` (a hand-written
struct: the protocol's wire types) or plain ``@message`` (the struct is generated from the
type hints, see ``_generate``: what embedders use). The decorator
registers the class under the struct's 64-bit schema id (the key that travels in every
envelope) and generates, once per type, straight-line encode and decode functions: no
per-message reflection, and ``new_message()`` plus attribute stores, which pycapnp runs
several times faster than ``new_message(**kwargs)``.

Field mapping (Python snake_case ↔ Cap'n Proto camelCase):

============================  ==============================================
Cap'n Proto                   Python annotation
============================  ==============================================
Bool / Int* / UInt* / Float*  ``bool`` / ``int`` / ``float``
enum                          ``str`` (the enumerant name)
Text / Data                   ``str`` / ``bytes``
Data + ``array_field(dtype)`` ``numpy.ndarray`` (little-endian bytes; bulk data)
struct                        another ``@message`` class (``| None`` allowed) or ``Address``
List(T)                       ``tuple[T, ...]`` of any of the above element kinds
============================  ==============================================

Unions and other shapes: give the class ``_to_builder(self, builder)`` and
``_from_reader(cls, reader)`` and they are used instead of the generated pair.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, dataclass_transform

import numpy as np

from focusflow.wire._errors import WireError
from focusflow.wire._fast import FlatLayout

T = TypeVar("T")

#: Largest single encoded message (payload or envelope) accepted or produced, in bytes.
MESSAGE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024
#: Cap'n Proto nesting limit for decoding; our schemas nest at most a few levels.
NESTING_MAX_DEFAULT = 16


@dataclasses.dataclass(frozen=True, slots=True)
class WireLimits:
    """Limits applied when decoding (and, where meaningful, encoding) untrusted bytes."""

    message_bytes_max: int = MESSAGE_BYTES_MAX_DEFAULT
    nesting_max: int = NESTING_MAX_DEFAULT

    def __post_init__(self) -> None:
        assert 8 <= self.message_bytes_max <= 1 << 31, self.message_bytes_max
        assert 1 <= self.nesting_max <= 64, self.nesting_max

    @property
    def traversal_words_max(self) -> int:
        """Traversal budget: every word of the message may be read about once, plus slack."""
        return _traversal_words(self.message_bytes_max)


@functools.lru_cache(maxsize=64)
def _traversal_words(message_bytes_max: int) -> int:
    return message_bytes_max // 8 + 64


DEFAULT_LIMITS = WireLimits()


class Address:
    """A location-transparent actor address: node name plus path on that node.

    The wire layer knows addresses but not actors; the runtime subclasses this as
    ``ActorRef`` and installs a factory (``bind_address_factory``) so that addresses
    decoded from messages come back as usable refs.
    """

    __slots__ = ("node", "path")

    node: str
    path: str

    def __init__(self, node: str, path: str) -> None:
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "path", path)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Address):
            return NotImplemented
        return self.node == other.node and self.path == other.path

    def __hash__(self) -> int:
        return hash((self.node, self.path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node!r}, {self.path!r})"

    def __str__(self) -> str:
        return f"{self.node}:{self.path}"


_address_factory: contextvars.ContextVar[Callable[[str, str], Address]] = (
    contextvars.ContextVar("focusflow_address_factory", default=Address)
)


@contextmanager
def bind_address_factory(factory: Callable[[str, str], Address]) -> Iterator[None]:
    """Decode addresses with ``factory`` inside the block (the runtime binds refs)."""
    token = _address_factory.set(factory)
    try:
        yield
    finally:
        _address_factory.reset(token)


def _make_address(node: str, path: str) -> Address:
    return _address_factory.get()(node, path)


def array_field(dtype: str | np.dtype[Any], **kwargs: Any) -> Any:
    """A dataclass field holding a numpy array that travels as little-endian ``Data``.

    The dtype is fixed per field (e.g. ``"<u4"``); arrays are excluded from ``==``
    (elementwise comparison has no truth value).
    """
    dt = np.dtype(dtype)
    assert dt.byteorder in ("<", "|", "=") or dt.itemsize == 1, f"{dt} must be little-endian"
    dt = dt.newbyteorder("<") if dt.itemsize > 1 else dt
    metadata = {"focusflow_dtype": dt}
    kwargs.setdefault("compare", False)
    return dataclasses.field(metadata=metadata, **kwargs)


def _array_to_bytes(value: Any, dtype: np.dtype[Any]) -> bytes:
    arr = np.asarray(value)
    if arr.dtype != dtype:
        if not np.can_cast(arr.dtype, dtype, casting="same_kind"):
            raise WireError(f"array of {arr.dtype} does not fit field dtype {dtype}", reason="encode")
        arr = arr.astype(dtype)
    return np.ascontiguousarray(arr).tobytes()


def _bytes_to_array(data: bytes, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    if len(data) % dtype.itemsize:
        raise WireError(f"{len(data)} bytes is not a whole number of {dtype} items")
    return np.frombuffer(data, dtype=dtype)


@dataclasses.dataclass(slots=True)
class MessageCodec:
    """Generated encode/decode pair and identity of one registered message type."""

    cls: type
    struct: Any
    type_id: int
    fill: Callable[[Any, Any], None]
    read: Callable[[Any], Any]
    #: Fast path for flat structs (see ``_fast``): layout, obj → values, values → obj.
    flat: FlatLayout | None = None
    values: Callable[[Any], tuple[Any, ...]] | None = None
    make: Callable[[list[Any]], Any] | None = None
    #: The same fast path bound to the class (``FlatLayout.bind``): obj → bytes, and
    #: (buf, base, n, budget) → obj | None, used by the hop codec.
    encode_obj: Callable[[Any], bytes] | None = None
    read_at: Callable[[bytes, int, int, int], Any] | None = None
    #: For structs of numbers only: (struct format, size, pack arguments over ``o``) of
    #: the whole encoding (``FlatLayout.fixed_form``), for the hop codec's one-pack frames.
    fixed: tuple[str, int, str] | None = None
    #: Whether decoding may build addresses (then the runtime binds its ref factory).
    has_address: bool = True
    #: Whether ``cls(...)`` only stores its fields (``_plain_init``): decoders may then
    #: fill the slots directly.
    direct: bool = False


_by_type: dict[type, MessageCodec] = {}
_by_id: dict[int, MessageCodec] = {}


def codec_for_type(cls: type) -> MessageCodec:
    """The codec of a registered message class; raises WireError if it is not one."""
    codec = _by_type.get(cls)
    if codec is None:
        raise WireError(f"{cls.__qualname__} is not a registered @message type", reason="encode")
    return codec


def codec_for_id(type_id: int) -> MessageCodec:
    """The codec registered under a struct id; raises WireError for unknown ids."""
    codec = _by_id.get(type_id)
    if codec is None:
        raise WireError(f"unknown payload type id {type_id:#x}", reason="unknown_type")
    return codec


def registered_types() -> dict[int, type]:
    """Struct id → message class, for introspection and tests."""
    return {tid: c.cls for tid, c in _by_id.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_PRIMITIVES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64",
}


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


class _Gen:
    """Accumulates generated source lines and the names they refer to."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {
            "WireError": WireError,
            "_a2b": _array_to_bytes,
            "_b2a": _bytes_to_array,
            "_addr": _make_address,
        }
        self.counter = 0

    def name(self, value: Any) -> str:
        self.counter += 1
        key = f"_v{self.counter}"
        self.env[key] = value
        return key


def _element_kind(type_proto: Any, annotation: Any, where: str) -> tuple[str, Any]:
    """Classify a Cap'n Proto type together with its Python annotation."""
    which = type_proto.which()
    if which in _PRIMITIVES or which in ("text", "data", "enum"):
        return which, None
    if which == "struct":
        inner, _ = _strip_optional(annotation)
        if inner is Address or (isinstance(inner, type) and issubclass(inner, Address)):
            return "address", None
        if isinstance(inner, type) and inner in _by_type:
            want = _by_type[inner].type_id
            if want != type_proto.struct.typeId:
                raise TypeError(f"{where}: {inner.__qualname__} is bound to another struct")
            return "message", inner
        raise TypeError(f"{where}: struct field needs a registered @message class or Address")
    raise TypeError(f"{where}: Cap'n Proto type {which!r} is not supported by @message")


def _gen_field(gen: _Gen, py: str, cp: str, type_proto: Any, ann: Any, meta: Any,
               where: str) -> tuple[list[str], str]:
    """Return (encode lines, decode expression) for one field."""
    which = type_proto.which()
    dtype = meta.get("focusflow_dtype")
    if dtype is not None:
        if which != "data":
            raise TypeError(f"{where}: array_field needs a Data field, got {which}")
        dt = gen.name(dtype)
        return [f"b.{cp} = _a2b(o.{py}, {dt})"], f"_b2a(r.{cp}, {dt})"
    if which == "list":
        inner_ann = typing.get_args(ann)[0] if typing.get_args(ann) else Any
        ekind, ecls = _element_kind(type_proto.list.elementType, inner_ann, where)
        lines = [f"_l = b.init({cp!r}, len(o.{py}))"]
        if ekind == "message":
            c = gen.name(codec_for_type(ecls))
            lines += [f"for _i, _x in enumerate(o.{py}):", f"    {c}.fill(_x, _l[_i])"]
            return lines, f"tuple([{c}.read(_x) for _x in r.{cp}])"
        if ekind == "address":
            lines += [f"for _i, _x in enumerate(o.{py}):",
                      "    _e = _l[_i]; _e.node = _x.node; _e.path = _x.path"]
            return lines, f"tuple([_addr(_x.node, _x.path) for _x in r.{cp}])"
        if ekind == "enum":
            lines += [f"for _i, _x in enumerate(o.{py}):", "    _l[_i] = _x"]
            return lines, f"tuple([str(_x) for _x in r.{cp}])"
        lines += [f"for _i, _x in enumerate(o.{py}):", "    _l[_i] = _x"]
        return lines, f"tuple(r.{cp})"
    kind, cls = _element_kind(type_proto, ann, where)
    _, optional = _strip_optional(ann)
    if kind == "message":
        c = gen.name(codec_for_type(cls))
        enc = [f"{c}.fill(o.{py}, b.init({cp!r}))"]
        dec = f"{c}.read(r.{cp})"
    elif kind == "address":
        enc = [f"_s = b.init({cp!r}); _s.node = o.{py}.node; _s.path = o.{py}.path"]
        dec = f"_addr(r.{cp}.node, r.{cp}.path)"
    elif kind == "enum":
        enc, dec = [f"b.{cp} = o.{py}"], f"str(r.{cp})"
    else:
        enc, dec = [f"b.{cp} = o.{py}"], f"r.{cp}"
    if optional:
        enc = [f"if o.{py} is not None:"] + ["    " + line for line in enc]
        dec = f"({dec} if r._has({cp!r}) else None)"
    return enc, dec


def _nested_has_address(annotation: Any) -> bool:
    """Whether a field's nested message type (or list element type) decodes addresses."""
    inner, _ = _strip_optional(annotation)
    if typing.get_origin(inner) is tuple and typing.get_args(inner):
        inner, _ = _strip_optional(typing.get_args(inner)[0])
    codec = _by_type.get(inner) if isinstance(inner, type) else None
    return codec is not None and codec.has_address


def _build_codec(cls: type, struct: Any) -> MessageCodec:
    schema = struct.schema
    type_id = int(schema.node.id)
    custom_fill = getattr(cls, "_to_builder", None)
    custom_read = getattr(cls, "_from_reader", None)
    if custom_fill is not None and custom_read is not None:
        return MessageCodec(cls=cls, struct=struct, type_id=type_id, fill=custom_fill,
                            read=custom_read)
    hints = typing.get_type_hints(cls, localns={cls.__name__: cls})
    gen = _Gen()
    enc_lines = ["def fill(o, b):"]
    dec_args: list[str] = []
    flat_ok = True
    has_address = False
    for f in dataclasses.fields(cls):
        cp = _camel(f.name)
        where = f"{cls.__qualname__}.{f.name}"
        if cp not in schema.fields:
            raise TypeError(f"{where}: struct {schema.node.displayName} has no field {cp!r}")
        proto = schema.fields[cp].proto
        if proto.which() != "slot":
            raise TypeError(f"{where}: unions/groups need _to_builder/_from_reader")
        enc, dec = _gen_field(gen, f.name, cp, proto.slot.type, hints[f.name], f.metadata, where)
        enc_lines += ["    " + line for line in enc]
        dec_args.append(dec)
        which = proto.slot.type.which()
        flat_ok &= which in _PRIMITIVES or which in ("text", "data", "enum")
        flat_ok &= not _strip_optional(hints[f.name])[1]  # the fast path has no null
        has_address |= "_addr(" in dec or _nested_has_address(hints[f.name])
    if len(enc_lines) == 1:
        enc_lines.append("    pass")
    src = "\n".join(enc_lines) + "\n"
    src += f"def read(r):\n    return _cls({', '.join(dec_args)})\n"
    gen.env["_cls"] = cls
    exec(compile(src, f"<focusflow.wire codec {cls.__qualname__}>", "exec"), gen.env)
    fill: Callable[[Any, Any], None] = gen.env["fill"]
    read: Callable[[Any], Any] = gen.env["read"]
    codec = MessageCodec(cls=cls, struct=struct, type_id=type_id, fill=fill, read=read,
                         has_address=has_address)
    if flat_ok:
        _add_flat(codec, gen)
    return codec


def _add_flat(codec: MessageCodec, gen: _Gen) -> None:
    """Attach the fast path when every field is flat (primitives, enums, Text, Data)."""
    fields = dataclasses.fields(codec.cls)
    layout = FlatLayout.for_struct(codec.struct.schema, [_camel(f.name) for f in fields])
    if layout is None:
        return
    out, make, makers = [], [], []
    for i, f in enumerate(fields):
        dtype = f.metadata.get("focusflow_dtype")
        if dtype is None:
            out.append(f"o.{f.name}")
            make.append(f"v[{i}]")
            makers.append("{}")
        else:
            dt = gen.name(dtype)
            out.append(f"_a2b(o.{f.name}, {dt})")
            make.append(f"_b2a(v[{i}], {dt})")
            makers.append(f"_b2a({{}}, {dt})")
    src = f"def values(o):\n    return ({', '.join(out)}{',' if len(out) == 1 else ''})\n"
    src += f"def make(v):\n    return _cls({', '.join(make)})\n"
    exec(compile(src, f"<focusflow.wire flat {codec.cls.__qualname__}>", "exec"), gen.env)
    codec.flat = layout
    codec.values = gen.env["values"]
    codec.make = gen.env["make"]
    direct = codec.direct = _plain_init(codec.cls, fields)
    if direct:
        gen.env["_new"] = object.__new__
        for i, f in enumerate(fields):
            gen.env[f"_set{i}"] = codec.cls.__dict__[f.name].__set__
    codec.encode_obj, codec.read_at = layout.bind(out, makers, gen.env, direct=direct)
    codec.fixed = layout.fixed_form(out)


def _plain_init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> bool:
    """Whether ``cls(...)`` only stores its fields: a slots dataclass whose ``__init__``
    dataclasses generated, without ``__post_init__`` (then decoding may fill the slots
    directly, about twice as fast as the frozen ``__init__``; nothing is skipped)."""
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    return (code is not None and code.co_filename == "<string>"
            and not hasattr(cls, "__post_init__")
            and all(f.init and type(cls.__dict__.get(f.name)).__name__ == "member_descriptor"
                    for f in fields))


def _fast_init(codec: MessageCodec) -> None:
    """Give a plain message class (``codec.direct``) an ``__init__`` that stores each
    field with its slot's setter instead of the frozen dataclass's
    ``object.__setattr__`` per field: the same signature, defaults and result (the
    instance stays frozen: only ``__setattr__`` is refused), about twice as fast, and
    every message an actor sends is built once."""
    cls = codec.cls
    fields = dataclasses.fields(cls)
    if not codec.direct or any(
            f.kw_only or f.default_factory is not dataclasses.MISSING for f in fields):
        return
    env: dict[str, Any] = {}
    params, body = [], []
    for i, f in enumerate(fields):
        env[f"_set{i}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            env[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        body.append(f"    _set{i}(self, {f.name})")
    source = "\n".join([f"def __init__(self{''.join(', ' + p for p in params)}):",
                        *(body or ["    pass"]), ""])
    exec(compile(source, f"<focusflow.wire init {cls.__qualname__}>", "exec"), env)
    init = env["__init__"]
    old = cls.__dict__["__init__"]
    init.__qualname__, init.__doc__ = old.__qualname__, old.__doc__
    init.__annotations__ = dict(getattr(old, "__annotations__", {}))
    cls.__init__ = init  # type: ignore[misc]


def _register(codec: MessageCodec) -> None:
    other = _by_id.get(codec.type_id)
    if other is not None and other.cls is not codec.cls:
        same = (other.cls.__module__, other.cls.__qualname__) == (
            codec.cls.__module__, codec.cls.__qualname__)
        if not same:
            raise TypeError(
                f"struct id {codec.type_id:#x} already bound to {other.cls.__qualname__}")
        _by_type.pop(other.cls, None)  # a module reload re-creates the class
    _by_id[codec.type_id] = codec
    _by_type[codec.cls] = codec


_SNAKE_OK = re.compile(r"^[a-z_][a-z0-9_]*$")


@typing.overload
def message(struct: type[T], /) -> type[T]: ...


@typing.overload
def message(struct: Any = None, /, *, id: str | int | None = None) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, array_field))
def message(struct: Any = None, /, *, id: str | int | None = None) -> Any:
    """Class decorator: make ``cls`` a frozen dataclass bound to a Cap'n Proto struct.

    ``@message(schema.Struct)`` binds a hand-written struct (the protocol's wire types).
    ``@message`` or ``@message(id="app.Ping")`` generates the struct from the type hints
    (``focusflow.wire._generate``: the mapping, and the struct id: ``id`` itself if an
    int, e.g. from ``capnp id``, else derived from the key ``id`` or, by default, the
    class's ``"module.qualname"``).

    Raises:
        TypeError: a field has no counterpart in the struct, an unsupported type, or the
            struct id is already bound to another class (a local bug, found at import).
    """

    def wrap(cls: type[T], bound: Any = struct) -> type[T]:
        if "__dataclass_fields__" not in cls.__dict__:
            cls = dataclasses.dataclass(frozen=True, slots=True)(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            assert _SNAKE_OK.match(f.name), f"{cls.__qualname__}.{f.name}: use snake_case"
        if bound is None:
            from focusflow.wire._generate import generate_struct

            bound = generate_struct(cls, id or f"{cls.__module__}.{cls.__qualname__}")
        codec = _build_codec(cls, bound)
        _fast_init(codec)
        _register(codec)
        return cls

    if isinstance(struct, type):  # bare ``@message``
        assert id is None
        return wrap(struct, None)
    assert id is None or struct is None, "id= names a generated struct, not a given one"
    return wrap
