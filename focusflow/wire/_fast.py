"""A pure-Python fast path for flat Cap'n Proto structs.

pycapnp costs about a microsecond per field access; for the envelope (on every hop) and
for common flat messages (numbers, text, bytes, numpy arrays) we encode and decode the
standard Cap'n Proto wire format ourselves, with one ``struct`` call for the whole fixed
part and straight-line code generated once per struct layout.

Scope and safety:

* Only structs whose fields are all primitives, enums, Text or Data with zero defaults
  qualify (``FlatLayout.for_struct`` returns None otherwise).
* The decoder accepts only what it fully validates: one segment whose size matches the
  input, the root struct right after the root pointer with exactly our section sizes,
  null or byte-list pointers in bounds, Text NUL-terminated and UTF-8, a traversal
  budget like pycapnp's, blobs in order without overlap. Anything else (far pointers, several segments, other section
  sizes from a newer schema, odd but legal encodings) returns ``None`` and the caller
  falls back to pycapnp, which then decides (raising ``WireError`` if malformed).
* Its output is ordinary Cap'n Proto; the tests check both directions against pycapnp.
"""

from __future__ import annotations

import struct
from typing import Any

from focusflow.wire._errors import WireError

_PRIM = {
    "int8": ("b", 1), "int16": ("h", 2), "int32": ("i", 4), "int64": ("q", 8),
    "uint8": ("B", 1), "uint16": ("H", 2), "uint32": ("I", 4), "uint64": ("Q", 8),
    "float32": ("f", 4), "float64": ("d", 8), "enum": ("H", 2),
}
_PAD = tuple(b"\0" * i for i in range(8))


class FlatLayout:
    """Encode/decode functions generated for one flat struct layout."""

    __slots__ = ("_spec", "decode", "decode_at", "encode", "source")

    def __init__(self, encode: Any, decode: Any, decode_at: Any, source: str,
                 spec: _Spec) -> None:
        self._spec = spec
        #: ``encode(values) -> bytes``; values in Python field order. Raises WireError.
        self.encode = encode
        #: ``decode(buf, traversal_words_max) -> list | None``. Raises WireError.
        self.decode = decode
        #: ``decode_at(buf, base, n, traversal_words_max) -> list | None``: the same for the
        #: ``n`` bytes at ``buf[base:]`` (a payload nested in an envelope, read in place
        #: without slicing it out). The caller guarantees ``base + n <= len(buf)``.
        self.decode_at = decode_at
        self.source = source

    @classmethod
    def for_struct(cls, schema: Any, names: list[str]) -> FlatLayout | None:
        """The layout of ``schema`` for the camelCase field ``names``, or None if not flat."""
        node = schema.node
        if node.which() != "struct" or node.struct.discriminantCount:
            return None
        dw, pc = node.struct.dataWordCount, node.struct.pointerCount
        data_items: dict[int, tuple[str, str]] = {}  # byte offset -> (fmt, expr)
        bools: dict[int, list[tuple[int, int]]] = {}  # byte offset -> [(field idx, bit)]
        ptrs: list[tuple[int, int, str]] = []  # (pointer index, field idx, "text"|"data")
        enums: dict[int, list[str]] = {}
        for i, name in enumerate(names):
            if name not in schema.fields:
                return None
            field = schema.fields[name]
            proto = field.proto
            if proto.which() != "slot" or proto.slot.hadExplicitDefault:
                return None
            which = proto.slot.type.which()
            off = proto.slot.offset
            if which == "bool":
                bools.setdefault(off // 8, []).append((i, off % 8))
            elif which in _PRIM:
                fmt, size = _PRIM[which]
                if which == "enum":
                    try:
                        enums[i] = list(field.schema.enumerants)
                    except Exception:
                        return None
                data_items[off * size] = (fmt, str(i))
            elif which in ("text", "data"):
                ptrs.append((off, i, which))
            else:
                return None
        for byte in bools:
            if byte in data_items:
                return None
            data_items[byte] = ("B", f"b{byte}")
        return _generate(dw, pc, len(names), data_items, bools, sorted(ptrs), enums)

    def bind(self, getters: list[str], makers: list[str], env: dict[str, Any], *,
             direct: bool = False) -> tuple[Any, Any]:
        """Straight-line functions for one message class (the hop codec's hot path):
        ``encode_obj(obj) -> bytes`` reads the fields with ``getters`` (expressions over
        ``o``), and ``read_at(buf, base, n, budget) -> obj | None`` builds the object with
        ``makers`` (format strings over each decoded value, ``{}``) and ``env['_cls']``:
        no values tuple or list in between. Same checks and errors as ``encode`` and
        ``decode_at``; exceptions from the class's constructor propagate. ``direct``:
        build the object with ``env['_new']`` and the slot setters ``env['_set<i>']``
        instead of calling the class (for classes whose ``__init__`` only stores fields).
        """
        spec = self._spec
        assert len(getters) == len(makers) == spec.nfields and "_cls" in env
        env = {**env, "_head": spec.head, "_PAD": _PAD, "WireError": WireError}
        source = (_encode_source(spec, env, getters=getters)
                  + _decode_source(spec, env, makers=makers, direct=direct))
        exec(compile(source, "<focusflow.wire flat bound>", "exec"), env)
        return env["encode_obj"], env["read_at"]

    def fixed_form(self, getters: list[str]) -> tuple[str, int, str] | None:
        """For a struct of numbers only (no pointers, bools or enums): the ``struct``
        format of its whole encoding (no byte-order mark), its size in bytes, and the
        argument list (over ``o``, through ``getters``) that packs it, so that the hop
        codec packs an envelope and this payload in one call. None for other structs.
        """
        spec = self._spec
        if spec.pc or spec.bools or spec.enums:
            return None
        assert len(getters) == spec.nfields and spec.head.format.startswith("<")
        words = 1 + spec.dw
        args = "".join(f", {getters[int(x)]}" for x in spec.order)
        return spec.head.format[1:], 8 + 8 * words, f"0, {words}, 0, {spec.root_hi}{args}"

    def fixed_order(self) -> list[int]:
        """For a numbers-only struct (see ``fixed_form``): the Python field index of each
        value that ``fixed_form``'s format packs, in that order (byte order, not field
        order), so that a decoder unpacking the same format knows which field is which."""
        spec = self._spec
        assert not (spec.pc or spec.bools or spec.enums), "numbers-only structs only"
        order = [int(x) for x in spec.order]
        assert sorted(order) == list(range(spec.nfields))
        return order


class _Spec:
    """What the code generators need to know about one layout."""

    def __init__(self, dw: int, pc: int, nfields: int, data_items: dict[int, tuple[str, str]],
                 bools: dict[int, list[tuple[int, int]]], ptrs: list[tuple[int, int, str]],
                 enums: dict[int, list[str]]) -> None:
        assert dw >= 0 and pc >= 0 and nfields >= 0
        self.dw, self.pc, self.nfields = dw, pc, nfields
        self.bools, self.ptrs, self.enums = bools, ptrs, enums
        fmt = ["<IIII"]  # segment table (count-1, words), root pointer (lo, hi)
        #: expression names of the data section, in byte order
        self.order: list[str] = []
        pos = 0
        for byte in sorted(data_items):
            f, expr = data_items[byte]
            if byte < pos:
                raise AssertionError("overlapping fields")
            fmt.append("x" * (byte - pos) + f)
            self.order.append(expr)
            pos = byte + struct.calcsize("<" + f)
        if pos > dw * 8:
            raise AssertionError("data section overflow")
        fmt.append("x" * (dw * 8 - pos))
        fmt.append("II" * pc)
        self.head = struct.Struct("".join(fmt))
        self.root_hi = dw | (pc << 16)


def _generate(dw: int, pc: int, nfields: int, data_items: dict[int, tuple[str, str]],
              bools: dict[int, list[tuple[int, int]]], ptrs: list[tuple[int, int, str]],
              enums: dict[int, list[str]]) -> FlatLayout:
    spec = _Spec(dw, pc, nfields, data_items, bools, ptrs, enums)
    env: dict[str, Any] = {"_head": spec.head, "_PAD": _PAD, "WireError": WireError}
    source = _encode_source(spec, env) + _decode_source(spec, env)
    exec(compile(source, "<focusflow.wire flat layout>", "exec"), env)
    return FlatLayout(env["encode"], env["decode"], env["decode_at"], source, spec)


def _encode_source(spec: _Spec, env: dict[str, Any], *, getters: list[str] | None = None,
                   ) -> str:
    """``encode(values) -> bytes``: one ``struct.pack`` for the fixed part, then blobs
    (``encode_obj(o)`` reading the fields with ``getters`` when given)."""
    dw, pc, nfields, order = spec.dw, spec.pc, spec.nfields, spec.order
    bools, enums, root_hi = spec.bools, spec.enums, spec.root_hi
    fields = [f"f{i}" for i in range(nfields)]
    by_ptr = {p: (i, kind) for p, i, kind in spec.ptrs}
    e = ["def encode(values):" if getters is None else "def encode_obj(o):", "  try:"]
    if getters is not None:
        e += [f"    f{i} = {g}" for i, g in enumerate(getters)]
    elif nfields:
        e.append(f"    {', '.join(fields)}{',' if nfields == 1 else ''} = values")
    for i, opts in enums.items():
        env[f"_enum{i}"] = {n: k for k, n in enumerate(opts)}
        e.append(f"    f{i} = _enum{i}[f{i}]")
    for byte, members in bools.items():
        parts = " | ".join(f"({'1' if b == 0 else str(1 << b)} if f{i} else 0)" for i, b in members)
        e.append(f"    b{byte} = {parts}")
    e.append(f"    w = {1 + dw + pc}")
    tail: list[str] = []
    for p in range(pc):
        if p not in by_ptr:
            e.append(f"    p{p}l = p{p}h = 0")
            continue
        i, kind = by_ptr[p]
        if kind == "text":
            e.append(f"    if f{i}.__class__ is not str: raise TypeError('field {i}: str expected')")
            e.append(f"    t{i} = f{i}.encode('utf-8') + b'\\0' if f{i} else b''")
        else:
            e.append(f"    t{i} = f{i} if f{i}.__class__ is bytes else bytes(f{i})")
        e += [f"    c{i} = len(t{i})",
              f"    if c{i}:",
              f"      if c{i} >= 536870912: raise ValueError('blob too large')",
              f"      p{p}l = ((w - {1 + dw + p + 1}) << 2) | 1; p{p}h = (c{i} << 3) | 2",
              f"      w += (c{i} + 7) >> 3",
              "    else:",
              f"      p{p}l = p{p}h = 0"]
        tail += [f"t{i}", f"_PAD[-c{i} & 7]"]
    ptr_args = "".join(f", p{p}l, p{p}h" for p in range(pc))
    data_args = "".join(f", {x if x.startswith('b') else 'f' + x}" for x in order)
    e.append(f"    h = _head.pack(0, w, 0, {root_hi}{data_args}{ptr_args})")
    e.append("  except (TypeError, ValueError, KeyError, OverflowError, AttributeError,")
    e.append("          UnicodeEncodeError, __import__('struct').error) as exc:")
    e.append("    raise WireError(f'value does not fit its field: {exc}', reason='encode') from exc")
    e.append(f"  return b''.join((h, {', '.join(tail)}))" if tail else "  return h")
    return "\n".join(e) + "\n"


def _decode_source(spec: _Spec, env: dict[str, Any], *, makers: list[str] | None = None,
                   direct: bool = False) -> str:
    """``decode_at(buf, base, n, budget) -> list | None`` for the narrow validated form
    only, and ``decode(buf, budget)`` = ``decode_at(buf, 0, len(buf), budget)``."""
    dw, pc, nfields, order = spec.dw, spec.pc, spec.nfields, spec.order
    bools, enums, root_hi, ptrs, head = spec.bools, spec.enums, spec.root_hi, spec.ptrs, spec.head
    d = ["def decode(buf, budget):",
         "  return decode_at(buf, 0, len(buf), budget)",
         "def decode_at(buf, base, n, budget):"] if makers is None else [
         "def read_at(buf, base, n, budget):"]
    d += [
         f"  if n < {head.size}: return None",
         f"  seg, w, lo, hi{''.join(', ' + ('d' + x if not x.startswith('b') else x) for x in order)}"
         f"{''.join(f', p{p}l, p{p}h' for p in range(pc))} = _head.unpack_from(buf, base)",
         f"  if seg or lo or hi != {root_hi} or 8 + 8 * w != n or w > budget: return None"]
    values = [""] * nfields
    for x in order:
        if not x.startswith("b"):
            i = int(x)
            if i in enums:
                env[f"_names{i}"] = tuple(enums[i])
                d.append(f"  if d{i} >= {len(enums[i])}: return None")
                values[i] = f"_names{i}[d{i}]"
            else:
                values[i] = f"d{i}"
    for byte, members in bools.items():
        for i, b in members:
            values[i] = f"bool(b{byte} & {1 << b})"
    # Blobs must lie in bounds, in pointer order and without overlap (``end`` only grows):
    # then the bytes read never exceed the segment, so no traversal amplification is
    # possible; anything else (overlap, backward offsets) is left to pycapnp.
    d.append(f"  end = {1 + dw + pc}")
    for p, i, kind in ptrs:
        pword = 1 + dw + p
        empty = "''" if kind == "text" else "b''"
        d += [f"  if p{p}l == 0 and p{p}h == 0:",
              f"    v{i} = {empty}",
              f"  elif p{p}l & 3 != 1 or p{p}h & 7 != 2 or p{p}l >= 2147483648: return None",
              "  else:",
              f"    s = {pword + 1} + (p{p}l >> 2)",
              f"    c = p{p}h >> 3",
              "    if s < end: return None",
              "    end = s + ((c + 7) >> 3)",
              "    if end > w: return None",
              "    o_ = base + 8 + 8 * s"]
        if kind == "text":
            d += ["    if c == 0 or buf[o_ + c - 1] != 0: return None",
                  "    try:",
                  f"      v{i} = buf[o_:o_ + c - 1].decode('utf-8')",
                  "    except UnicodeDecodeError as exc:",
                  "      raise WireError(f'text is not UTF-8: {exc}') from exc"]
        else:
            d.append(f"    v{i} = buf[o_:o_ + c]")
        values[i] = f"v{i}"
    assert all(values), "every field has a decoder"
    if makers is None:
        d.append(f"  return [{', '.join(values)}]")
    elif direct:
        d.append("  o = _new(_cls)")
        d += [f"  _set{i}(o, {m.format(v)})"
              for i, (m, v) in enumerate(zip(makers, values, strict=True))]
        d.append("  return o")
    else:
        d.append(f"  return _cls({', '.join(m.format(v) for m, v in zip(makers, values, strict=True))})")
    return "\n".join(d) + "\n"
