"""The wire: Cap'n Proto schemas, message types, encode/decode with limits, framing.

Public surface::

    from focusflow.wire import message, array_field, UInt32, WireError

    @message                       # struct generated from the hints (embedders)
    class EdgeBatch:
        src: np.ndarray = array_field("<u4")
        dst: np.ndarray = array_field("<u4")
        weight: UInt32 = 0
        note: str = ""

    @message(load_schema(path).Vote)   # or bound to a hand-written struct (protocol)
    class Vote: ...

    type_id, data = encode_message(EdgeBatch(...))
    obj = decode_message(type_id, data)

Everything malformed or oversized raises ``WireError`` (alias ``MalformedFrame``).
The wire knows addresses (``Address``) but no actor. See ``docs/wire.md``.
"""

from focusflow.wire._codec import (
    KIND_ASK,
    KIND_ERROR,
    KIND_NAMES,
    KIND_REPLY,
    KIND_SYSTEM,
    KIND_TELL,
    NO_PAYLOAD,
    Envelope,
    EnvelopeFields,
    decode_envelope,
    decode_envelope_fields,
    decode_message,
    encode_envelope,
    encode_envelope_capnp,
    encode_envelope_fields,
    encode_message,
    from_bytes,
    to_bytes,
)
from focusflow.wire._errors import MalformedFrame, WireError
from focusflow.wire._framing import FRAME_BYTES_MAX_DEFAULT, FrameDecoder, encode_frame
from focusflow.wire._generate import (
    Float32,
    Float64,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    WireType,
    generated_schema,
)
from focusflow.wire._hop import (
    HopRoute,
    decode_hop,
    decode_hop_on,
    encode_hop,
    encode_hop_on,
    hop_route,
    hop_template,
)
from focusflow.wire._message import (
    DEFAULT_LIMITS,
    Address,
    WireLimits,
    array_field,
    bind_address_factory,
    codec_for_id,
    codec_for_type,
    message,
    registered_types,
)
from focusflow.wire._schema import SCHEMA_DIR, load_schema, runtime_schema

__all__ = [
    "DEFAULT_LIMITS",
    "FRAME_BYTES_MAX_DEFAULT",
    "KIND_ASK",
    "KIND_ERROR",
    "KIND_NAMES",
    "KIND_REPLY",
    "KIND_SYSTEM",
    "KIND_TELL",
    "NO_PAYLOAD",
    "SCHEMA_DIR",
    "Address",
    "Envelope",
    "EnvelopeFields",
    "Float32",
    "Float64",
    "FrameDecoder",
    "HopRoute",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "MalformedFrame",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "WireError",
    "WireLimits",
    "WireType",
    "array_field",
    "bind_address_factory",
    "codec_for_id",
    "codec_for_type",
    "decode_envelope",
    "decode_envelope_fields",
    "decode_hop",
    "decode_hop_on",
    "decode_message",
    "encode_envelope",
    "encode_envelope_capnp",
    "encode_envelope_fields",
    "encode_frame",
    "encode_hop",
    "encode_hop_on",
    "encode_message",
    "from_bytes",
    "generated_schema",
    "hop_route",
    "hop_template",
    "load_schema",
    "message",
    "registered_types",
    "runtime_schema",
    "to_bytes",
]
