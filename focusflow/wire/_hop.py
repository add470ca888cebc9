"""The hop codec: envelope and payload encoded in one pass and decoded in one pass.

Every message crosses the wire codec on every hop (ARCHITECTURE rule 2), so this is the
runtime's hot path. The bytes are exactly those of ``encode_envelope_fields`` over
``encode_message`` (an ordinary Cap'n Proto ``Envelope`` whose ``payload`` Data holds an
ordinary Cap'n Proto message); only the work to make and check them is shared:

* **Routes.** The four Text fields of an envelope (sender node and path, receiver node
  and path) are the same for every message between two actors. Their pointers and bytes
  (``_Route``) are built once per route and reused; encoding a hop is then one
  ``struct.pack`` for the envelope's fixed part, the payload's own flat encoder, and one
  ``bytes`` join.
* **Decoding** checks the envelope's fixed part once, then looks the exact bytes of the
  four text pointers and the text region up in a bounded table of routes already
  validated (a pure function of those bytes, so the table cannot change a verdict); a
  miss validates them fully (bounds, order, NUL, UTF-8). A flat payload is decoded in
  place (``FlatLayout.decode_at``), without slicing it out of the frame.
* Anything outside this narrow form (several segments, far pointers, other section sizes,
  a non-flat payload, an oversized route) goes through the general functions in
  ``_codec``, which apply every check and raise ``WireError``. The property tests hold
  both paths to pycapnp's verdict and to each other.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import Any

from focusflow.wire._codec import (
    _ENVELOPE_FIELDS,
    KIND_NAMES,
    decode_envelope_fields,
    decode_message,
    encode_envelope_fields,
    encode_message,
)
from focusflow.wire._errors import WireError
from focusflow.wire._message import (
    DEFAULT_LIMITS,
    Address,
    MessageCodec,
    WireLimits,
    _by_id,
    _by_type,
)
from focusflow.wire._schema import runtime_schema

#: Routes (and decoded route keys) remembered; the tables are cleared when full.
ROUTES_MAX = 4096
#: Frame templates (numbers-only payloads, see ``_remember_template``) remembered in all;
#: the tables are cleared when full, which bounds their memory by about
#: TEMPLATES_MAX * (ROUTE_KEY_BYTES_MAX + 64) bytes.
TEMPLATES_MAX = 4096
#: Template readers one route keeps (one per payload class); cleared when full.
ROUTE_READERS_MAX = 16
#: A route key (text pointers + texts) longer than this is decoded but not remembered,
#: so hostile frames cannot grow the table's memory beyond ROUTES_MAX * this.
ROUTE_KEY_BYTES_MAX = 1024

# Envelope layout (checked against the schema in ``_codec`` at import): 3 data words
# (kind: byte 0, correlationId: word 1, payloadType: word 2), 5 pointers (4 Text, then
# payload Data). Segment words: root pointer 0, data 1..3, pointers 4..8, blobs from 9.
ENV_DATA_WORDS = 3
ENV_POINTERS = 5
_ROOT_HI = ENV_DATA_WORDS | (ENV_POINTERS << 16)
_BLOBS_WORD = 1 + ENV_DATA_WORDS + ENV_POINTERS  # 9
_TEXTS_AT = 8 + 8 * _BLOBS_WORD  # byte 80 of the frame
_PTRS_AT = 8 + 8 * (1 + ENV_DATA_WORDS)  # byte 40: first text pointer
_P4_AT = _PTRS_AT + 32  # byte 72: payload pointer

#: Encode: segment table, root pointer, data section, 4 text pointers (as 32 bytes), payload
#: pointer. Decode: the same, skipping the text pointers (the route table checks them).
_HEAD = struct.Struct("<IIIIB7xQQ32sII")
_DHEAD = struct.Struct("<IIIIB7xQQ32xII")
assert _HEAD.size == _DHEAD.size == _TEXTS_AT
_PTR = struct.Struct("<II")
_KINDS = frozenset(range(5))
_TEXT_BYTES_MAX = (1 << 29) - 1

#: The four texts of a route, as decoded: (sender_node, sender_path, receiver_node,
#: receiver_path).
RouteTexts = tuple[str, str, str, str]
#: A template reader: the decoded frame, or None if the frame does not match it.
_Reader = Callable[[bytes], tuple[int, int, RouteTexts, Any] | None]


class HopRoute:
    """The encoded form of one route's four texts: pointer words, blob bytes, word count,
    and per numbers-only payload class the writer of the whole frame in one pack.

    Immutable once built (only ``fixed`` grows), so a sender may keep one per (sender,
    receiver) pair and encode with ``encode_hop_on``, skipping the route table lookup.
    """

    __slots__ = ("fixed", "names", "pointers", "readers", "texts", "words", "writers")

    def __init__(self, texts: RouteTexts) -> None:
        self.names = texts
        #: Per numbers-only payload class: ``put(kind, corr, obj) -> frame`` (raises
        #: WireError), for frames within the default limits (see ``encode_hop_on``).
        self.writers: dict[type, Callable[[int, int, Any], bytes]] = {}
        #: Per numbers-only payload class: the template reader of this route's frames
        #: (see ``decode_hop_on``).
        self.readers: dict[type, _Reader] = {}
        blobs: list[bytes] = []
        pointers: list[bytes] = []
        word = _BLOBS_WORD
        for i, text in enumerate(texts):
            if text.__class__ is not str:
                raise WireError(f"route text {i} is {type(text).__name__}, not str",
                                reason="encode")
            raw = text.encode("utf-8") + b"\0" if text else b""
            if len(raw) > _TEXT_BYTES_MAX:
                raise WireError("route text too large", reason="oversized")
            if not raw:
                pointers.append(b"\0" * 8)
                continue
            offset = word - (1 + ENV_DATA_WORDS + i + 1)  # relative to the pointer's end
            assert offset >= 0
            pointers.append(_PTR.pack((offset << 2) | 1, (len(raw) << 3) | 2))
            blobs.append(raw + b"\0" * (-len(raw) & 7))
            word += (len(raw) + 7) >> 3
        self.pointers = b"".join(pointers)
        self.texts = b"".join(blobs)
        self.words = word - _BLOBS_WORD
        self.fixed: dict[type, tuple[int, Callable[[int, int, Any], bytes]]] = {}
        assert len(self.pointers) == 32 and len(self.texts) == 8 * self.words


_Route = HopRoute
_routes: dict[RouteTexts, HopRoute] = {}
_decoded: dict[bytes, RouteTexts] = {}


def hop_route(sender_node: str, sender_path: str, receiver_node: str,
              receiver_path: str) -> HopRoute:
    """The (shared, cached) encoded route between two actors, for ``encode_hop_on``.

    Raises:
        WireError: a text is not a str or is too large.
    """
    texts = (sender_node, sender_path, receiver_node, receiver_path)
    return _routes.get(texts) or _route(texts)


def _route(texts: RouteTexts) -> HopRoute:
    route = _routes.get(texts)
    if route is None:
        route = _Route(texts)
        if len(_routes) >= ROUTES_MAX:
            _routes.clear()
        _routes[texts] = route
    return route


#: Per payload type id: ``make(pointers, texts, words) -> (size, put)`` where
#: ``put(kind, corr, o)`` packs the envelope, the route's texts and a numbers-only payload
#: in one ``struct.pack`` (None for other payload types).
_makers: dict[int, Callable[..., tuple[int, Callable[[int, int, Any], bytes]]] | None] = {}


def _maker_for(codec: MessageCodec) -> Callable[..., tuple[int, Any]] | None:
    """Generate (once per type) the factory of one-pack frame writers of a numbers-only
    payload type; each route gets its own writer with its texts and sizes bound."""
    if codec.type_id in _makers:
        return _makers[codec.type_id]
    make = None
    if codec.fixed is not None:
        fmt, size, args = codec.fixed
        assert size % 8 == 0
        source = (
            "def make(ptrs, texts, words):\n"
            f"  S = _Struct(_HEAD_FMT + f'{{8 * words}}s' + {fmt!r})\n"
            "  pack = S.pack\n"
            f"  W = {_BLOBS_WORD + size // 8} + words\n"
            "  P4L = (words << 2) | 1\n"
            "  def put(kind, corr, o):\n"
            "    try:\n"
            f"      return pack(0, W, 0, {_ROOT_HI}, kind, corr, {codec.type_id}, ptrs, P4L,"
            f" {(size << 3) | 2}, texts, {args})\n"
            "    except _StructError as exc:\n"
            "      raise WireError(f'value does not fit its field: {exc}',"
            " reason='encode') from exc\n"
            "  return S.size, put\n")
        env: dict[str, Any] = {"_Struct": struct.Struct, "_HEAD_FMT": _HEAD.format,
                               "_StructError": struct.error, "WireError": WireError}
        exec(compile(source, f"<focusflow.wire hop {codec.cls.__qualname__}>", "exec"), env)
        make = env["make"]
    _makers[codec.type_id] = make
    return make


def encode_hop(kind: int, correlation_id: int, sender_node: str, sender_path: str,
               receiver_node: str, receiver_path: str, obj: Any, *,
               limits: WireLimits = DEFAULT_LIMITS) -> bytes:
    """``encode_message`` then ``encode_envelope_fields`` in one pass: byte for byte the
    same frame, the same errors.

    Raises:
        WireError: ``obj`` cannot be encoded, or a limit is exceeded.
    """
    texts = (sender_node, sender_path, receiver_node, receiver_path)
    route = _routes.get(texts) or _route(texts)
    return encode_hop_on(route, kind, correlation_id, obj, limits=limits)


def encode_hop_on(route: HopRoute, kind: int, correlation_id: int, obj: Any, *,
                  limits: WireLimits = DEFAULT_LIMITS) -> bytes:
    """``encode_hop`` on a route from ``hop_route`` (what a sender that keeps its routes
    calls on every message): the same frame, the same errors.

    Raises:
        WireError: ``obj`` cannot be encoded, or a limit is exceeded.
    """
    assert kind in _KINDS, kind
    plan = route.fixed.get(obj.__class__)
    if plan is not None:  # numbers-only payload on a known route: one pack call
        if plan[0] > limits.message_bytes_max:
            raise WireError(f"envelope of {plan[0]} bytes exceeds the limit",
                            reason="oversized")
        try:
            return plan[1](kind, correlation_id, obj)
        except struct.error as exc:
            raise WireError(f"value does not fit its field: {exc}", reason="encode") from exc
    codec = _by_type.get(obj.__class__)
    encode_obj = None if codec is None else codec.encode_obj
    if encode_obj is None:
        type_id, data = encode_message(obj, limits=limits)
        return encode_envelope_fields(kind, correlation_id, *route.names, type_id, data,
                                      limits=limits)
    assert codec is not None
    make = _makers[codec.type_id] if codec.type_id in _makers else _maker_for(codec)
    if make is not None:
        plan = route.fixed[obj.__class__] = make(route.pointers, route.texts, route.words)
        if plan[0] <= DEFAULT_LIMITS.message_bytes_max:
            route.writers[obj.__class__] = plan[1]
        return encode_hop_on(route, kind, correlation_id, obj, limits=limits)
    payload: bytes = encode_obj(obj)
    c = len(payload)
    words = route.words
    w = _BLOBS_WORD + words + (c >> 3)
    try:
        head = _HEAD.pack(0, w, 0, _ROOT_HI, kind, correlation_id, codec.type_id,
                          route.pointers, (words << 2) | 1, (c << 3) | 2)
    except struct.error as exc:
        raise WireError(f"envelope field does not fit: {exc}", reason="encode") from exc
    frame = b"".join((head, route.texts, payload))
    if len(frame) > limits.message_bytes_max:
        raise WireError(f"envelope of {len(frame)} bytes exceeds the limit", reason="oversized")
    assert len(frame) == 8 + 8 * w and not c & 7
    return frame


def _parse_route(key: bytes) -> RouteTexts | None:
    """Validate and decode a route key (4 text pointers, then the text region starting at
    blob word 9): texts in bounds, in pointer order without overlap, NUL-terminated, UTF-8.

    Returns None for a legal but unusual form (the general decoder then decides).

    Raises:
        WireError: a text is not UTF-8.
    """
    region_words = (len(key) - 32) >> 3
    assert len(key) >= 32 and not len(key) & 7
    out: list[str] = []
    end = _BLOBS_WORD
    for i in range(4):
        lo, hi = _PTR.unpack_from(key, 8 * i)
        if lo == 0 and hi == 0:
            out.append("")
            continue
        if lo & 3 != 1 or hi & 7 != 2 or lo >= 1 << 31:
            return None
        start = 1 + ENV_DATA_WORDS + i + 1 + (lo >> 2)
        count = hi >> 3
        if start < end or count == 0:
            return None
        end = start + ((count + 7) >> 3)
        if end > _BLOBS_WORD + region_words:
            return None
        at = 32 + 8 * (start - _BLOBS_WORD)
        if key[at + count - 1] != 0:
            return None
        try:
            out.append(key[at:at + count - 1].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise WireError(f"text is not UTF-8: {exc}") from exc
    return out[0], out[1], out[2], out[3]


_DEFAULT_BUDGET = DEFAULT_LIMITS.traversal_words_max


def decode_hop(frame: bytes, *, limits: WireLimits = DEFAULT_LIMITS,
               address_factory: Callable[[str, str], Address] | None = None,
               ) -> tuple[int, int, RouteTexts, Any]:
    """Decode an envelope and its payload in one pass: ``(kind, correlation_id, (sender_node,
    sender_path, receiver_node, receiver_path), payload)``.

    The narrow one-pass form is checked inline; anything else goes through
    ``decode_envelope_fields`` and ``decode_message`` (``_decode_general``), which apply
    every check and raise. The route tuple is shared between frames of the same route.

    Raises:
        WireError: malformed or oversized input, unknown kind or payload type, or values
            the message class rejects.
    """
    n = len(frame)
    if limits is DEFAULT_LIMITS:
        by_length = _templates.get(frame[32:40])  # the payload type id's bytes
        read = None if by_length is None else by_length.get(n)
        if read is not None:  # a known numbers-only type and length: unpack and compare
            out = read(frame)
            if out is not None:
                return out
    if n > limits.message_bytes_max or n < _TEXTS_AT or n & 7:
        return _decode_general(frame, limits, address_factory)
    seg, w, lo, hi, kind, corr, ptype, plo, phi = _DHEAD.unpack_from(frame)
    budget = _DEFAULT_BUDGET if limits is DEFAULT_LIMITS else limits.traversal_words_max
    if seg or lo or hi != _ROOT_HI or 8 + 8 * w != n or w > budget or kind not in _KINDS:
        return _decode_general(frame, limits, address_factory)
    if plo & 3 == 1 and phi & 7 == 2 and plo < 2147483648:
        start = _TEXTS_AT + 8 * (plo >> 2)
        count = phi >> 3
        if start + ((count + 7) & ~7) > n or count == 0:
            return _decode_general(frame, limits, address_factory)
    elif plo == 0 and phi == 0 and ptype == 0:
        start, count = n, 0  # no payload (None): the texts may run to the end
    else:
        return _decode_general(frame, limits, address_factory)
    # Route texts: first by the whole pointer section and texts (one slice; includes the
    # payload pointer, so it hits for fixed-size payloads), then without the payload
    # pointer; a miss validates the texts. Either key determines the texts fully.
    if start - _TEXTS_AT > ROUTE_KEY_BYTES_MAX:
        return _decode_general(frame, limits, address_factory)
    key = frame[_PTRS_AT:start]
    texts = _decoded.get(key)
    if texts is None:
        texts = _route_texts(frame, start, key)
        if texts is None:
            return _decode_general(frame, limits, address_factory)
    if count == 0:
        return kind, corr, texts, None
    codec = _by_id.get(ptype)
    read_at = None if codec is None else codec.read_at
    if read_at is not None:
        try:
            obj = read_at(frame, start, count, budget)
        except WireError:
            raise
        except Exception as exc:
            assert codec is not None
            raise WireError(f"invalid {codec.cls.__qualname__}: {exc}") from exc
        if obj is not None:
            assert codec is not None
            if codec.fixed is not None and start + count == n and limits is DEFAULT_LIMITS:
                _remember_template(frame, start, codec, texts)
            return kind, corr, texts, obj
    # Not a flat payload type (or an unusual encoding of one): the general decoder.
    return kind, corr, texts, decode_message(ptype, frame[start:start + count], limits=limits,
                                             address_factory=address_factory)


#: Payload type id (its 8 bytes in the frame) -> frame length -> the template reader of
#: that slot; see ``_remember_template``.
_templates: dict[bytes, dict[int, _Reader]] = {}
#: The same slots -> the route bytes of each template (what the slot's reader compares
#: against) -> the route's texts.
_template_routes: dict[tuple[bytes, int], dict[bytes, RouteTexts]] = {}
_templates_count = [0]
#: Payload type id -> ``make(S, A, MIDS) -> read`` (None: no template form).
_template_makers: dict[int, Callable[..., Any] | None] = {}
#: Payload type id -> ``make_exact(S, A, MID, TEXTS) -> read``: a reader of one route's
#: frames only (a bytes comparison instead of a table lookup; ``decode_hop_on``).
_exact_makers: dict[int, Callable[..., Any]] = {}


def _template_maker_for(codec: MessageCodec) -> Callable[..., Any] | None:
    """Generate (once per numbers-only payload type) the factory of template readers.

    A reader unpacks a whole frame with one ``struct`` call into: the segment table and
    root pointer (16 bytes), the kind (its word's other 7 bytes skipped, as everywhere),
    the correlation id, everything from the payload type id to the payload's own root
    pointer (route pointers and texts included) as one bytes value, then the payload's
    numbers. One reader serves a (payload type, frame length) slot: for a given type and
    length the payload, hence every field, sits at the same place, and the route bytes
    (``MID``) are looked up exactly in the slot's table of templates. It returns None
    unless the frame has the slot's length, its route bytes are a template's, the
    segment table and root pointer equal the slot's and the kind is known; it then
    builds the object exactly as ``read_at`` would. (Readers are also tried on frames of
    other types and lengths, e.g. the next frame of a batch: those just return None.)
    """
    if codec.type_id in _template_makers:
        return _template_makers[codec.type_id]
    make = None
    flat = codec.flat
    if codec.fixed is not None and flat is not None:
        cls = codec.cls
        fields = dataclasses.fields(cls)
        order = flat.fixed_order()
        values = "".join(f", v{i}" for i in order)
        env: dict[str, Any] = {"_cls": cls, "_new": object.__new__, "WireError": WireError}
        if codec.direct:
            for i, f in enumerate(fields):
                env[f"_set{i}"] = cls.__dict__[f.name].__set__
            build = ["    o = _new(_cls)"] + [f"    _set{i}(o, v{i})"
                                               for i in range(len(fields))]
        else:  # the constructor validates: its errors are the frame's fault
            args = ", ".join(f"v{i}" for i in range(len(fields)))
            build = ["    try:", f"      o = _cls({args})", "    except WireError:",
                     "      raise", "    except Exception as exc:",
                     f"      raise WireError(f'invalid {cls.__qualname__}: {{exc}}') from exc"]
        source = "\n".join([
            "def make(S, A, MIDS):",
            "  unpack = S.unpack",
            "  N = S.size",
            "  route_of = MIDS.get",
            "  def read(frame):",
            "    if len(frame) != N:",
            "      return None",
            f"    a, kind, corr, mid{values} = unpack(frame)",
            "    texts = route_of(mid)",
            "    if texts is None or a != A or kind > 4:",
            "      return None",
            *build,
            "    return kind, corr, texts, o",
            "  return read",
            "def make_exact(S, A, MID, TEXTS):",
            "  unpack = S.unpack",
            "  N = S.size",
            "  def read(frame):",
            "    if len(frame) != N:",
            "      return None",
            f"    a, kind, corr, mid{values} = unpack(frame)",
            "    if mid != MID or a != A or kind > 4:",
            "      return None",
            *build,
            "    return kind, corr, TEXTS, o",
            "  return read", ""])
        exec(compile(source, f"<focusflow.wire template {cls.__qualname__}>", "exec"), env)
        make = env["make"]
        _exact_makers[codec.type_id] = env["make_exact"]
    _template_makers[codec.type_id] = make
    return make


def _remember_template(frame: bytes, start: int, codec: MessageCodec,
                       texts: RouteTexts) -> None:
    """Remember a frame that the narrow path has just accepted whole (envelope, route
    texts, a numbers-only payload ending the frame) as the template of its (route, type).

    Any frame of the same length that equals it outside the kind, correlation id and
    payload numbers is then valid in exactly the same way: every other byte is the same,
    and every bit pattern of those fields is a legal value (the kind is checked, and a
    class that validates is still built through its constructor). So the template can
    never change a verdict; it only skips re-checking bytes already checked.
    """
    make = _template_maker_for(codec)
    n = len(frame)
    if make is None or start - _TEXTS_AT > ROUTE_KEY_BYTES_MAX:
        return  # not numbers-only, or a route too long to remember
    assert codec.fixed is not None and codec.fixed[0].startswith("IIII")
    if _templates_count[0] >= TEMPLATES_MAX:
        _templates.clear()
        _template_routes.clear()
        _templates_count[0] = 0
    type_bytes = frame[32:40]
    mids = _template_routes.get((type_bytes, n))
    if mids is None:
        s = struct.Struct(f"<16sB7xQ{start + 16 - 32}s{codec.fixed[0][4:]}")
        if s.size != n:
            return  # not the canonical layout: no template
        mids = _template_routes[(type_bytes, n)] = {}
        _templates.setdefault(type_bytes, {})[n] = make(s, frame[:16], mids)
    mid = frame[32:start + 16]
    if mid not in mids:
        mids[mid] = texts
        _templates_count[0] += 1
    assert 0 < _templates_count[0] <= TEMPLATES_MAX


def decode_hop_on(route: HopRoute, cls: type, frame: bytes, *,
                  address_factory: Callable[[str, str], Address] | None = None,
                  ) -> tuple[int, int, RouteTexts, Any]:
    """``decode_hop`` of a frame that ``encode_hop_on(route, ..., cls(...))`` should have
    made (local delivery knows both): the same verdict on any bytes, with the default
    limits. ``route`` and ``cls`` only choose which template (``_remember_template``) to
    compare the frame with first; a frame that does not match it is decoded in full.

    Raises:
        WireError: as ``decode_hop``.
    """
    read = route.readers.get(cls)
    if read is not None:
        out = read(frame)
        if out is not None:
            return out
    out = decode_hop(frame, address_factory=address_factory)
    codec = None if read is not None else _by_type.get(cls)
    if codec is not None and codec.fixed is not None and out[3].__class__ is cls and (
            out[2] == route.names) and _find_template(frame) is not None:
        # The frame is a remembered template (validated in full): read this route's
        # next frames by comparing their bytes with it.
        n, size = len(frame), codec.fixed[1]
        s = struct.Struct(f"<16sB7xQ{n - size + 16 - 32}s{codec.fixed[0][4:]}")
        assert s.size == n
        if len(route.readers) >= ROUTE_READERS_MAX:
            route.readers.clear()
        route.readers[cls] = _exact_makers[codec.type_id](
            s, frame[:16], frame[32:n - size + 16], route.names)  # == out[2]
    return out


def hop_template(frame: bytes) -> _Reader | None:
    """The remembered template reader that accepts ``frame``, or None.

    A receiver of a batch of frames tries the reader of the previous frame first:
    ``read(frame)`` returns what ``decode_hop(frame)`` would, or None if the frame does
    not match that template (then ``decode_hop`` decides).
    """
    return _find_template(frame)


def _find_template(frame: bytes) -> _Reader | None:
    """The template reader that accepts ``frame`` (None if none is remembered)."""
    by_length = _templates.get(frame[32:40])
    read = None if by_length is None else by_length.get(len(frame))
    return read if read is not None and read(frame) is not None else None


def _decode_general(frame: bytes, limits: WireLimits,
                    address_factory: Callable[[str, str], Address] | None,
                    ) -> tuple[int, int, RouteTexts, Any]:
    """``decode_hop`` through the general functions (every check; raises WireError)."""
    fields = decode_envelope_fields(frame, limits=limits)
    msg = decode_message(fields[6], fields[7], limits=limits, address_factory=address_factory)
    return fields[0], fields[1], (fields[2], fields[3], fields[4], fields[5]), msg


def _route_texts(frame: bytes, start: int, key: bytes) -> RouteTexts | None:
    """The texts of a route key not seen yet in its one-slice form (see ``_decode_fast``).

    Raises:
        WireError: a text is not UTF-8.
    """
    short = frame[_PTRS_AT:_P4_AT] + frame[_TEXTS_AT:start]
    texts = _decoded.get(short)
    if texts is None:
        texts = _parse_route(short)
        if texts is None:
            return None
    if len(_decoded) >= ROUTES_MAX - 1:
        _decoded.clear()
    _decoded[short] = _decoded[key] = texts
    return texts


def _check_layout() -> None:
    """This codec hard-codes the envelope's layout; the schema must agree."""
    envelope = runtime_schema().Envelope.schema
    node = envelope.node
    assert node.struct.dataWordCount == ENV_DATA_WORDS, "envelope data section changed"
    assert node.struct.pointerCount == ENV_POINTERS, "envelope pointers changed"
    where = [(n, envelope.fields[n].proto.slot.offset) for n in _ENVELOPE_FIELDS]
    assert where == [("kind", 0), ("correlationId", 1), ("senderNode", 0), ("senderPath", 1),
                     ("receiverNode", 2), ("receiverPath", 3), ("payloadType", 2),
                     ("payload", 4)], where
    assert set(KIND_NAMES) == _KINDS


_check_layout()
