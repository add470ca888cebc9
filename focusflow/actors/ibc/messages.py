"""Message types of the IBC-style channels, bound to ``ibc.capnp``.

Packets and headers nest as bytes (``to_bytes``) so that a signature covers exactly the
bytes it was made over and relayers forward them without re-encoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from focusflow.wire import load_schema, message

schema: Any = load_schema(Path(__file__).with_name("ibc.capnp"))


@message(schema.Packet)
class Packet:
    """One packet of an ordered channel."""

    source_channel: str
    dest_channel: str
    sequence: int
    timeout_ns: int
    data: bytes = b""


@message(schema.HeaderBody)
class HeaderBody:
    """What a chain signs: (chain, height, root, time)."""

    chain: str
    height: int
    root: bytes
    time_ns: int


@message(schema.Header)
class Header:
    """A header body's bytes plus the chain's Ed25519 signature over them."""

    body: bytes
    signature: bytes


@message(schema.OutboxQuery)
class OutboxQuery:
    """Relayer -> sender: unacknowledged packets from ``from_seq`` on."""

    channel: str
    from_seq: int = 1
    count_max: int = 64


@message(schema.Outbox)
class Outbox:
    """Sender -> relayer: packets with inclusion proofs against ``header``."""

    header: bytes
    packets: tuple[bytes, ...] = ()
    proofs: tuple[bytes, ...] = ()


@message(schema.AckQuery)
class AckQuery:
    """Relayer -> receiver: acknowledgements from ``from_seq`` on."""

    channel: str
    from_seq: int = 1
    count_max: int = 64


@message(schema.AckOutbox)
class AckOutbox:
    """Receiver -> relayer: packets, their acks and inclusion proofs of the acks."""

    header: bytes
    packets: tuple[bytes, ...] = ()
    acks: tuple[bytes, ...] = ()
    proofs: tuple[bytes, ...] = ()


@message(schema.ReceiptQuery)
class ReceiptQuery:
    """Relayer -> receiver: was packet ``sequence`` received? (for a timeout)"""

    channel: str
    sequence: int


@message(schema.ReceiptAnswer)
class ReceiptAnswer:
    """Receiver -> relayer: inclusion or absence proof of the receipt."""

    header: bytes
    received: bool
    proof: bytes


@message(schema.StatusQuery)
class StatusQuery:
    """Relayer -> chain: the channel's counters."""

    channel: str


@message(schema.ChannelStatus)
class ChannelStatus:
    """A channel end's counters (what a relayer uses to skip useless work)."""

    channel: str
    next_send: int
    next_recv: int
    next_ack: int
    closed: bool
    time_ns: int


@message(schema.RecvPacket)
class RecvPacket:
    """Relayer -> receiver: a packet, the proof of its commitment, the sender's header."""

    packet: bytes
    proof: bytes
    header: bytes


@message(schema.AckPacket)
class AckPacket:
    """Relayer -> sender: an acknowledgement with its proof and the receiver's header."""

    packet: bytes
    ack: bytes
    proof: bytes
    header: bytes


@message(schema.TimeoutPacket)
class TimeoutPacket:
    """Relayer -> sender: absence of the receipt under a header past the timeout."""

    packet: bytes
    proof: bytes
    header: bytes
