"""Encode and decode payload messages and the envelope, with limits.

Every decode goes through ``_guard``: whatever pycapnp (or a message's ``__post_init__``)
raises on hostile bytes becomes one ``WireError``, so a receiver needs exactly one
``except`` to reject a frame and survive.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from focusflow.wire._errors import WireError
from focusflow.wire._message import (
    DEFAULT_LIMITS,
    WireLimits,
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


def decode_message(type_id: int, data: bytes, *, limits: WireLimits = DEFAULT_LIMITS) -> Any:
    """Decode the bytes of a message registered under ``type_id``.

    Raises:
        WireError: unknown type id, malformed or oversized bytes, or values rejected by
            the message class's own validation.
    """
    if type_id == NO_PAYLOAD:
        if data:
            raise WireError("payload bytes present with payload type 0")
        return None
    codec = codec_for_id(type_id)
    _check_size(data, limits, "payload")
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


def encode_envelope(env: Envelope, *, limits: WireLimits = DEFAULT_LIMITS) -> bytes:
    """Encode an envelope (attribute stores: several times faster than kwargs in pycapnp).

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
