"""Encode and decode payload messages and the envelope, with limits.

Every decode goes through ``_guard``: whatever pycapnp (or a message's ``__post_init__``)
raises on hostile bytes becomes one ``WireError``, so a receiver needs exactly one
``except`` to reject a frame and survive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from focusflow.wire._errors import WireError
from focusflow.wire._fast import FlatLayout
from focusflow.wire._message import (
    DEFAULT_LIMITS,
    Address,
    MessageCodec,
    WireLimits,
    bind_address_factory,
    codec_for_id,
    codec_for_type,
)
from focusflow.wire._schema import runtime_schema

_schema = runtime_schema()
_EnvelopeStruct = _schema.Envelope

KIND_TELL: int = int(_schema.kindTell)
KIND_ASK: int = int(_schema.kindAsk)
KIND_REPLY: int = int(_schema.kindReply)
KIND_ERROR: int = int(_schema.kindError)
KIND_SYSTEM: int = int(_schema.kindSystem)
KINDS = (KIND_TELL, KIND_ASK, KIND_REPLY, KIND_ERROR, KIND_SYSTEM)
KIND_NAMES = {KIND_TELL: "tell", KIND_ASK: "ask", KIND_REPLY: "reply",
              KIND_ERROR: "error", KIND_SYSTEM: "system"}

#: Payload type id meaning "no payload" (an ask answered with None).
NO_PAYLOAD = 0
_U64_MAX = (1 << 64) - 1


def _first_line(exc: BaseException) -> str:
    """pycapnp messages carry a native stack dump after the first line; keep the reason."""
    text = str(exc).strip().split("\n", 1)[0]
    return f"{type(exc).__name__}: {text}"


def _check_size(data: bytes, limits: WireLimits, what: str) -> None:
    if len(data) > limits.message_bytes_max:
        raise WireError(
            f"{what} of {len(data)} bytes exceeds message_bytes_max={limits.message_bytes_max}",
            reason="oversized",
        )
    if len(data) < 8 or len(data) % 8:
        raise WireError(f"{what} of {len(data)} bytes is not a whole number of words")


def encode_message(obj: Any, *, limits: WireLimits = DEFAULT_LIMITS) -> tuple[int, bytes]:
    """Encode a registered message; return ``(struct id, bytes)``.

    ``None`` encodes as ``(NO_PAYLOAD, b"")``.

    Raises:
        WireError: ``obj`` is not a registered message, a field does not fit its type, or
            the result exceeds ``limits.message_bytes_max`` (reason "encode"/"oversized").
    """
    if obj is None:
        return NO_PAYLOAD, b""
    codec = codec_for_type(type(obj))
    flat = codec.flat
    if flat is not None and codec.values is not None:
        flat_data: bytes = flat.encode(codec.values(obj))
        if len(flat_data) > limits.message_bytes_max:
            raise WireError(f"{type(obj).__qualname__} encodes to {len(flat_data)} bytes "
                            f"> {limits.message_bytes_max}", reason="oversized")
        return codec.type_id, flat_data
    try:
        builder = codec.struct.new_message()
        codec.fill(obj, builder)
        data: bytes = builder.to_bytes()
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"cannot encode {type(obj).__qualname__}: {_first_line(exc)}", reason="encode") from exc
    if len(data) > limits.message_bytes_max:
        raise WireError(
            f"{type(obj).__qualname__} encodes to {len(data)} bytes > {limits.message_bytes_max}",
            reason="oversized",
        )
    assert len(data) % 8 == 0
    return codec.type_id, data


def decode_message(type_id: int, data: bytes, *, limits: WireLimits = DEFAULT_LIMITS,
                   address_factory: Callable[[str, str], Address] | None = None) -> Any:
    """Decode the bytes of a message registered under ``type_id``.

    ``address_factory`` builds the values of ``Address`` fields (the runtime passes one
    that makes refs bound to the receiving node).

    Raises:
        WireError: unknown type id, malformed or oversized bytes, or values rejected by
            the message class's own validation.
    """
    if type_id == NO_PAYLOAD:
        if data:
            raise WireError("payload bytes present with payload type 0")
        return None
    codec = codec_for_id(type_id)
    n = len(data)
    if n > limits.message_bytes_max or n < 8 or n & 7:
        _check_size(data, limits, "payload")
    if address_factory is not None and codec.has_address:
        with bind_address_factory(address_factory):
            return _decode(codec, data, limits)
    return _decode(codec, data, limits)


def _decode(codec: MessageCodec, data: bytes, limits: WireLimits) -> Any:
    flat = codec.flat
    if flat is not None and codec.make is not None:
        values = flat.decode(data, limits.traversal_words_max)
        if values is not None:
            try:
                return codec.make(values)
            except WireError:
                raise
            except Exception as exc:
                raise WireError(f"invalid {codec.cls.__qualname__}: {_first_line(exc)}") from exc
    try:
        with codec.struct.from_bytes(
            data,
            traversal_limit_in_words=limits.traversal_words_max,
            nesting_limit=limits.nesting_max,
        ) as reader:
            obj = codec.read(reader)
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"malformed {codec.cls.__qualname__}: {_first_line(exc)}") from exc
    assert type(obj) is codec.cls
    return obj


def to_bytes(obj: Any) -> bytes:
    """Bytes of one message (for signing, hashing, storage): no envelope, no type id."""
    assert obj is not None
    return encode_message(obj)[1]


def from_bytes(cls: type[Any], data: bytes, *, limits: WireLimits = DEFAULT_LIMITS) -> Any:
    """Inverse of ``to_bytes`` for a known class."""
    return decode_message(codec_for_type(cls).type_id, data, limits=limits)


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope:
    """What travels on every hop: addressing, ask/reply pairing and the payload bytes."""

    kind: int
    correlation_id: int
    sender_node: str
    sender_path: str
    receiver_node: str
    receiver_path: str
    payload_type: int
    payload: bytes

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert 0 <= self.correlation_id <= _U64_MAX
        assert 0 <= self.payload_type <= _U64_MAX


_ENVELOPE_FIELDS = ["kind", "correlationId", "senderNode", "senderPath", "receiverNode",
                    "receiverPath", "payloadType", "payload"]
_envelope_flat = FlatLayout.for_struct(_EnvelopeStruct.schema, _ENVELOPE_FIELDS)
assert _envelope_flat is not None, "the envelope must stay a flat struct"
_env_encode = _envelope_flat.encode
_env_decode = _envelope_flat.decode



#: (kind, correlation_id, sender_node, sender_path, receiver_node, receiver_path,
#:  payload_type, payload): the envelope as a plain tuple, for the runtime's hot path.
EnvelopeFields = tuple[int, int, str, str, str, str, int, bytes]


def encode_envelope_fields(kind: int, correlation_id: int, sender_node: str, sender_path: str,
                           receiver_node: str, receiver_path: str, payload_type: int,
                           payload: bytes, *, limits: WireLimits = DEFAULT_LIMITS) -> bytes:
    """``encode_envelope`` without building an ``Envelope`` object (the hot path).

    Raises:
        WireError: a field does not fit, or the result exceeds ``message_bytes_max``.
    """
    assert kind in KIND_NAMES, kind
    data: bytes = _env_encode((kind, correlation_id, sender_node, sender_path, receiver_node,
                               receiver_path, payload_type, payload))
    if len(data) > limits.message_bytes_max:
        raise WireError(f"envelope of {len(data)} bytes exceeds the limit", reason="oversized")
    return data


def decode_envelope_fields(data: bytes, *, limits: WireLimits = DEFAULT_LIMITS) -> list[Any]:
    """``decode_envelope`` as a list in ``EnvelopeFields`` order (the hot path).

    Raises:
        WireError: malformed or oversized bytes, or an unknown kind.
    """
    n = len(data)
    if n > limits.message_bytes_max or n < 8 or n & 7:
        _check_size(data, limits, "envelope")
    values = _env_decode(data, limits.traversal_words_max)
    if values is None:
        env = _decode_envelope_capnp(data, limits)
        return [env.kind, env.correlation_id, env.sender_node, env.sender_path,
                env.receiver_node, env.receiver_path, env.payload_type, env.payload]
    if values[0] not in KIND_NAMES:
        raise WireError(f"unknown envelope kind {values[0]}", reason="unknown_kind")
    return values


def encode_envelope(env: Envelope, *, limits: WireLimits = DEFAULT_LIMITS) -> bytes:
    """Encode an envelope.

    Raises:
        WireError: the encoded envelope exceeds ``limits.message_bytes_max``.
    """
    return encode_envelope_fields(env.kind, env.correlation_id, env.sender_node,
                                  env.sender_path, env.receiver_node, env.receiver_path,
                                  env.payload_type, env.payload, limits=limits)


def encode_envelope_capnp(env: Envelope, *, limits: WireLimits = DEFAULT_LIMITS) -> bytes:
    """The general pycapnp encoder: the reference the fast path is tested against.

    Raises:
        WireError: the encoded envelope exceeds ``limits.message_bytes_max``.
    """
    b = _EnvelopeStruct.new_message()
    b.kind = env.kind
    b.correlationId = env.correlation_id
    b.senderNode = env.sender_node
    b.senderPath = env.sender_path
    b.receiverNode = env.receiver_node
    b.receiverPath = env.receiver_path
    b.payloadType = env.payload_type
    b.payload = env.payload
    data: bytes = b.to_bytes()
    if len(data) > limits.message_bytes_max:
        raise WireError(f"envelope of {len(data)} bytes exceeds the limit", reason="oversized")
    return data


def decode_envelope(data: bytes, *, limits: WireLimits = DEFAULT_LIMITS) -> Envelope:
    """Decode and validate an envelope.

    Raises:
        WireError: malformed or oversized bytes, or an unknown kind.
    """
    return Envelope(*decode_envelope_fields(data, limits=limits))


def _decode_envelope_capnp(data: bytes, limits: WireLimits) -> Envelope:
    """The general decoder (pycapnp), for inputs outside the fast path's narrow form."""
    _check_size(data, limits, "envelope")
    try:
        with _EnvelopeStruct.from_bytes(
            data,
            traversal_limit_in_words=limits.traversal_words_max,
            nesting_limit=limits.nesting_max,
        ) as r:
            kind = r.kind
            if kind not in KIND_NAMES:
                raise WireError(f"unknown envelope kind {kind}", reason="unknown_kind")
            env = Envelope(kind, r.correlationId, r.senderNode, r.senderPath,
                           r.receiverNode, r.receiverPath, r.payloadType, r.payload)
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"malformed envelope: {_first_line(exc)}") from exc
    return env
