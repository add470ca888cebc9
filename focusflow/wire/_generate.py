"""Cap'n Proto structs generated from a ``@message`` dataclass's type hints.

An embedder's message needs no hand-written ``.capnp`` file: ``@message`` without a struct
writes one from the annotations, loads it with pycapnp, and binds the class to it exactly
as it binds a hand-written struct (the same codec, fast path and limits). The text is
ordinary Cap'n Proto, kept per class (``generated_schema``) so the official compiler can
check it, and so a program in another language can read the same bytes.

**Ids.** A hand-written schema gets its ids from ``capnp id``; a generated one derives
them from a key, by default ``"<module>.<qualname>"`` of the class (``id=`` on the
decorator overrides it, e.g. for a class defined in ``__main__`` of two programs, or one
that moves)::

    struct id = first 8 bytes of BLAKE3("focusflow.message.v1\\0" + key), little-endian,
                with the top bit set (as Cap'n Proto requires of every id)
    file id   = the same over "focusflow.message.file.v1\\0" + key

Fields become ordinals ``@0, @1, ...`` in declaration order, so appending a field (with a
default) keeps old bytes readable; reordering or removing one does not.

**Mapping** (annotation → Cap'n Proto type)::

    bool → Bool    int → Int64    float → Float64    str → Text    bytes → Data
    Literal["red", "green"] → an enum nested in the struct (values travel as str)
    Int8 … Int64, UInt8 … UInt64, Float32, Float64 (``Annotated`` aliases) → that width
    numpy.ndarray with ``array_field(dtype)`` → Data (little-endian bytes)
    another generated @message class, or a runtime.capnp one (Ping, ...) → its struct
    Address → ActorAddress (runtime.capnp)
    X | None for Text, Data, a struct or Address → the same pointer, null for None
    tuple[T, ...] → List(T) for T any of the element kinds above except arrays

Anything else (``int | None``, ``list[T]``, nested tuples, enums, dicts, recursive
messages) is a ``TypeError`` at class definition that says what to use instead.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from typing import Annotated, Any

import numpy as np
from blake3 import blake3

from focusflow.wire._message import Address, MessageCodec, _by_id, _by_type
from focusflow.wire._schema import SCHEMA_DIR, generated_texts, load_generated, schema_file_of


@dataclasses.dataclass(frozen=True, slots=True)
class WireType:
    """Marker inside ``Annotated`` naming the Cap'n Proto type of a number field."""

    capnp: str
    python: type


Int8 = Annotated[int, WireType("Int8", int)]
Int16 = Annotated[int, WireType("Int16", int)]
Int32 = Annotated[int, WireType("Int32", int)]
Int64 = Annotated[int, WireType("Int64", int)]
UInt8 = Annotated[int, WireType("UInt8", int)]
UInt16 = Annotated[int, WireType("UInt16", int)]
UInt32 = Annotated[int, WireType("UInt32", int)]
UInt64 = Annotated[int, WireType("UInt64", int)]
Float32 = Annotated[float, WireType("Float32", float)]
Float64 = Annotated[float, WireType("Float64", float)]

_PLAIN = {bool: "Bool", int: "Int64", float: "Float64", str: "Text", bytes: "Data"}
_ID_STRUCT = b"focusflow.message.v1\0"
_ID_FILE = b"focusflow.message.file.v1\0"
_FIELD_NAME = re.compile(r"^[a-z][A-Za-z0-9]*$")

#: Generated file name → schema text, for every generated message of this process.
_texts = generated_texts


def derive_id(key: str, *, domain: bytes = _ID_STRUCT) -> int:
    """The 64-bit Cap'n Proto id of a generated struct (or file) named by ``key``."""
    assert key, "an id needs a non-empty key"
    digest = blake3(domain + key.encode("utf-8")).digest(length=8)
    return int.from_bytes(digest, "little") | (1 << 63)


def _struct_name(cls: type) -> str:
    """A valid Cap'n Proto type name (capitalised, no underscores) from the class name."""
    name = "".join(part[:1].upper() + part[1:] for part in cls.__name__.split("_") if part)
    return name if name[:1].isalpha() else "Message" + name


class _File:
    """The imports a generated file needs, collected while its fields are mapped."""

    def __init__(self, own_name: str) -> None:
        self.own_name = own_name
        self.usings: dict[str, str] = {}
        self.dirs: list[str] = []
        #: Enum declarations nested in the struct (one per ``Literal`` field).
        self.enums: list[str] = []

    def enum_ref(self, ann: Any, where: str) -> str:
        """Declare the enum of a ``Literal["a", "b", ...]`` annotation; return its name."""
        names = typing.get_args(ann)
        if not names or not all(isinstance(n, str) and _FIELD_NAME.match(n) for n in names) \
                or len(set(names)) != len(names):
            raise TypeError(f"{where}: an enum is a Literal of distinct camelCase names "
                            f"(a lowercase letter first, no underscores), not {ann!r}")
        field = where.rsplit(".", 1)[1]
        name = "".join(p[:1].upper() + p[1:] for p in field.split("_")) + "Enum"
        name = f"{name}{len(self.enums)}" if any(e.startswith(f"  enum {name} ")
                                                 for e in self.enums) else name
        self.enums.append(f"  enum {name} {{ "
                          + " ".join(f"{n} @{i};" for i, n in enumerate(names)) + " }")
        return name

    def struct_ref(self, codec: MessageCodec, where: str) -> str:
        """The name under which this file refers to another message's struct."""
        node = codec.struct.schema.node
        generated = _generated_file(codec)
        if generated is not None:
            return self._using(f'import "/{generated}".{_struct_path(node)}', node)
        path = schema_file_of(node.displayName.split(":", 1)[0])
        if path is None or path.parent != SCHEMA_DIR:
            # pycapnp knows a file by how it was first loaded; importing a component's
            # schema again by another path would be a second copy with the same ids
            # (pycapnp aborts the process on that), so only the wire's own can be nested.
            raise TypeError(
                f"{where}: {codec.cls.__qualname__} is bound to a hand-written struct "
                "outside focusflow/wire/schemas; nest its bytes instead (`bytes` + "
                "to_bytes/from_bytes) or make it a generated @message")
        return self._using(f'import "/{path.name}".{_struct_path(node)}', node)

    def _using(self, target: str, node: Any) -> str:
        """An alias for an imported struct: its own name unless that is taken."""
        alias = _struct_path(node).replace(".", "")
        if alias == self.own_name or self.usings.get(alias, target) != target:
            alias = f"S{node.id:016x}"
        self.usings[alias] = target
        return alias

    def address_ref(self) -> str:
        self.usings["Runtime"] = 'import "/runtime.capnp"'
        if str(SCHEMA_DIR) not in self.dirs:
            self.dirs.append(str(SCHEMA_DIR))
        return "Runtime.ActorAddress"


def _struct_path(node: Any) -> str:
    return str(node.displayName).split(":", 1)[1]


def _generated_file(codec: MessageCodec) -> str | None:
    name = f"m{codec.type_id:016x}.capnp"
    return name if name in _texts else None


def _number(ann: Any, where: str) -> str | None:
    """The Cap'n Proto type of an ``Annotated`` number alias, or None if not one."""
    if typing.get_origin(ann) is not Annotated:
        return None
    base, *extras = typing.get_args(ann)
    marks = [e for e in extras if isinstance(e, WireType)]
    if len(marks) != 1 or base is not marks[0].python:
        raise TypeError(f"{where}: Annotated needs exactly one wire width matching its "
                        f"type (e.g. focusflow.wire.Int32), got {ann!r}")
    return marks[0].capnp


def _element(ann: Any, file: _File, where: str) -> str:
    """The Cap'n Proto type of a list element or a plain (non-optional) field."""
    width = _number(ann, where)
    if width is not None:
        return width
    if ann in _PLAIN:
        return _PLAIN[ann]
    if typing.get_origin(ann) is typing.Literal:
        return file.enum_ref(ann, where)
    if isinstance(ann, type) and issubclass(ann, Address):
        return file.address_ref()
    if isinstance(ann, type) and ann in _by_type:
        return file.struct_ref(_by_type[ann], where)
    raise TypeError(_unsupported(ann, where))


def _unsupported(ann: Any, where: str) -> str:
    origin = typing.get_origin(ann)
    if origin is list:
        return f"{where}: use tuple[T, ...] for a list (messages are immutable), not {ann!r}"
    if origin is tuple:
        return f"{where}: only tuple[T, ...] of one element kind maps to a List, not {ann!r}"
    if origin in (typing.Union, types.UnionType):
        return (f"{where}: {ann!r} has no Cap'n Proto form here; only Text, Data, a "
                "message or Address may be optional (use a default, or a nested message)")
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return (f"{where}: enums travel as str; annotate the field "
                "Literal[\"name1\", \"name2\", ...] (a Cap'n Proto enum)")
    if isinstance(ann, type) and dataclasses.is_dataclass(ann):
        return f"{where}: {ann.__qualname__} is not a @message class (decorate it first)"
    if ann is np.ndarray or typing.get_origin(ann) is np.ndarray:
        return f"{where}: an array field needs array_field(dtype) as its default"
    return f"{where}: {ann!r} cannot be mapped to a Cap'n Proto type"


def _field_type(ann: Any, meta: Any, file: _File, where: str) -> str:
    if meta.get("focusflow_dtype") is not None:
        if not (ann is np.ndarray or typing.get_origin(ann) is np.ndarray):
            raise TypeError(f"{where}: array_field needs a numpy.ndarray annotation")
        return "Data"
    inner, optional = _strip_none(ann)
    if typing.get_origin(inner) is tuple and not optional:
        args = typing.get_args(inner)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"List({_element(args[0], file, where)})"
        raise TypeError(_unsupported(inner, where))
    pointer = inner in (str, bytes) or (isinstance(inner, type) and (
        issubclass(inner, Address) or inner in _by_type))
    if optional and not pointer:
        raise TypeError(_unsupported(ann, where))
    return _element(inner, file, where)


def _strip_none(ann: Any) -> tuple[Any, bool]:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = typing.get_args(ann)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0], True
        raise TypeError(f"{ann!r}: only `X | None` unions can be mapped")
    return ann, False


def _ids(key: str | int) -> tuple[int, int]:
    """(struct id, file id) of a key: an explicit id (from ``capnp id``) or a name."""
    if isinstance(key, int):
        if not (1 << 63) <= key < (1 << 64):
            raise TypeError(f"id {key:#x} is not a Cap'n Proto id (64 bits, top bit set)")
        return key, derive_id(f"{key:#x}", domain=_ID_FILE)
    return derive_id(key), derive_id(key, domain=_ID_FILE)


def schema_text(cls: type, key: str | int) -> tuple[str, str, list[str]]:
    """Generate the schema of dataclass ``cls``: (file name, text, extra import dirs)."""
    from focusflow.wire._message import _camel

    struct_id, file_id = _ids(key)
    file = _File(_struct_name(cls))
    hints = typing.get_type_hints(cls, include_extras=True, localns={cls.__name__: cls})
    lines = []
    for ordinal, f in enumerate(dataclasses.fields(cls)):
        where = f"{cls.__qualname__}.{f.name}"
        cp = _camel(f.name)
        if not _FIELD_NAME.match(cp):
            raise TypeError(f"{where}: field name must be snake_case starting with a letter")
        if hints[f.name] is cls or cls in typing.get_args(hints[f.name]):
            raise TypeError(f"{where}: recursive messages cannot be generated")
        try:
            kind = _field_type(hints[f.name], f.metadata, file, where)
        except TypeError as exc:
            raise TypeError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
        lines.append(f"  {cp} @{ordinal} :{kind};")
    head = [f"# Generated by focusflow.wire from {cls.__module__}.{cls.__qualname__} "
            "(do not edit: edit the class).", f"@{file_id:#x};", ""]
    head += [f"using {alias} = {target};" for alias, target in sorted(file.usings.items())]
    body = [f"struct {_struct_name(cls)} @{struct_id:#x} {{", *lines, *file.enums, "}", ""]
    text = "\n".join(head + ([""] if file.usings else []) + body)
    return f"m{struct_id:016x}.capnp", text, file.dirs


def generate_struct(cls: type, key: str | int) -> Any:
    """Generate, load and return the pycapnp struct for dataclass ``cls``.

    Raises:
        TypeError: a field cannot be mapped (the message says which and what to use), or
            the key's id is already bound to a different schema in this process.
        RuntimeError: a forked child whose parent has exited (see ``_schema``).
    """
    name, text, dirs = schema_text(cls, key)
    old = _texts.get(name)
    if old is not None and old != text:
        raise TypeError(f"{cls.__qualname__}: the id of {key!r} is already bound to "
                        "another shape")
    bound = _by_id.get(_ids(key)[0])
    if old is None and bound is not None:  # a hand-written struct's id: pycapnp would abort
        raise TypeError(f"{cls.__qualname__}: struct id {_ids(key)[0]:#x} is already bound "
                        f"to {bound.cls.__qualname__}")
    module = load_generated(name, text, dirs)
    struct = getattr(module, _struct_name(cls))
    assert int(struct.schema.node.id) == _ids(key)[0]
    return struct


def generated_schema(cls: type) -> dict[str, str]:
    """File name → schema text of ``cls``'s generated file and the generated files it
    imports (its own first): what ``capnp compile`` needs besides ``runtime.capnp`` and
    hand-written schemas. Empty for a class bound to a hand-written struct."""
    codec = _by_type.get(cls)
    if codec is None:
        raise TypeError(f"{cls.__qualname__} is not a registered @message type")
    first = _generated_file(codec)
    out: dict[str, str] = {}
    todo = [first] if first else []
    while todo:
        name = todo.pop(0)
        if name in out:
            continue
        out[name] = _texts[name]
        todo += re.findall(r'import "/(m[0-9a-f]{16}\.capnp)"', _texts[name])
    return out
