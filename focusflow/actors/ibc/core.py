"""IBC-style ordered channels as a sans-IO core: packets, acks, timeouts, proofs.

Why this shape: a rollup and its hub are separate chains that trust each other's *state
roots* (signed headers), not each other's messages, and the processes that carry packets
between them (relayers) are untrusted — anyone may run one. So every packet that enters a
chain is checked against the sending chain's signed root:

* **send**: the sender writes ``/ibc/commit/<channel>/<seq> = H(packet)`` into its
  authenticated state (the state package's sparse Merkle tree);
* **receive**: the receiver verifies the header's signature (light client: the
  counterparty's Ed25519 key is fixed at channel opening), then the *inclusion* proof of
  the commitment under that root; on an ordered channel it accepts exactly sequence
  ``next_recv`` (earlier = duplicate, later = gap), writes a receipt
  ``/ibc/receipt/<channel>/<seq>`` and an acknowledgement commitment
  ``/ibc/ack/<channel>/<seq> = H(ack)``;
* **ack**: the sender verifies the *inclusion* of the ack commitment under the receiver's
  root and deletes its commitment (in order);
* **timeout**: the sender verifies a receiver header whose time is past the packet's
  timeout and the *absence* of the receipt under its root, deletes the commitment and
  closes the (ordered) channel, as ICS-4 does.

A relayer can therefore drop, delay, reorder or duplicate anything: a duplicate fails the
sequence check, a reordered packet fails until its predecessors arrive, a forged one fails
a proof. Refusals raise :class:`Refused` (the relayer's or counterparty's fault, with the
reason as evidence) and never change state. :class:`IbcChain` is a pure state machine:
time comes in as ``now_ns``; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import blake3
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from focusflow.actors.ibc.messages import (
    AckOutbox,
    AckPacket,
    ChannelStatus,
    Header,
    HeaderBody,
    Outbox,
    Packet,
    ReceiptAnswer,
    RecvPacket,
    TimeoutPacket,
)
from focusflow.actors.state.smt import Proof, SparseMerkleTree, tree_key, value_hash, verify_proof
from focusflow.wire import WireError, from_bytes, to_bytes

__all__ = [
    "IbcChain",
    "IbcError",
    "Refused",
    "ack_key",
    "commit_key",
    "packet_commitment",
    "receipt_key",
]

_COMMIT_CONTEXT = "focusflow 2026 ibc packet commitment v1"
_ACK_CONTEXT = "focusflow 2026 ibc ack commitment v1"
RECEIPT_VALUE = b"\x01"
_T = TypeVar("_T")
#: Packets one query returns; acks remembered for relaying; channels per chain.
outbox_count_max = 256
acks_kept_max = 4096
channels_max = 1024
packet_data_bytes_max = 8 << 20
unacked_max = 4096


class IbcError(Exception):
    """Base of the channel errors."""


class Refused(IbcError):
    """A relayed message was refused: the relayer's or the counterparty's fault.

    ``reason`` is a short machine-readable word (``duplicate``, ``gap``, ``bad_proof``,
    ``bad_header``, ``timed_out``, ``closed``, ...); the state was not touched.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _seq(seq: int) -> bytes:
    return seq.to_bytes(8, "big")


def commit_key(channel: str, seq: int) -> bytes:
    """Key path of a packet commitment on the sending chain."""
    return b"/ibc/commit/" + channel.encode() + b"/" + _seq(seq)


def receipt_key(channel: str, seq: int) -> bytes:
    """Key path of a packet receipt on the receiving chain."""
    return b"/ibc/receipt/" + channel.encode() + b"/" + _seq(seq)


def ack_key(channel: str, seq: int) -> bytes:
    """Key path of an acknowledgement commitment on the receiving chain."""
    return b"/ibc/ack/" + channel.encode() + b"/" + _seq(seq)


def packet_commitment(packet: Packet) -> bytes:
    """H(packet bytes), domain-separated: what the sender commits to."""
    return blake3.blake3(to_bytes(packet), derive_key_context=_COMMIT_CONTEXT).digest()


def ack_commitment(ack: bytes) -> bytes:
    """H(ack bytes), domain-separated: what the receiver commits to."""
    return blake3.blake3(ack, derive_key_context=_ACK_CONTEXT).digest()


@dataclass
class _Channel:
    """One end of an ordered channel."""

    channel: str
    counterparty_chain: str
    counterparty_channel: str
    next_send: int = 1
    next_recv: int = 1
    next_ack: int = 1
    closed: bool = False
    unacked: dict[int, Packet] = field(default_factory=dict)
    acks: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # seq -> (packet, ack)


class IbcChain:
    """A chain's IBC state: one authenticated tree, a signing key, its channel ends.

    ``trusted`` maps counterparty chain ids to their Ed25519 public keys (the light
    clients' trust roots, fixed when a channel opens).
    """

    def __init__(self, chain_id: str, seed: bytes, *, trusted: Mapping[str, bytes]) -> None:
        assert chain_id and len(seed) == 32
        self.chain_id = chain_id
        self._key = SigningKey(seed)
        self.public_key = bytes(self._key.verify_key)
        self.trusted = {c: VerifyKey(k) for c, k in trusted.items()}
        self.tree = SparseMerkleTree()
        self.height = 0
        self.channels: dict[str, _Channel] = {}

    # ------------------------------------------------------------------ set-up and queries

    def open_channel(self, channel: str, *, counterparty_chain: str,
                     counterparty_channel: str) -> None:
        """Open an ordered channel end (idempotent for the same arguments).

        Raises IbcError for an untrusted counterparty or a conflicting re-open.
        """
        if counterparty_chain not in self.trusted:
            raise IbcError(f"no light client for chain {counterparty_chain!r}")
        old = self.channels.get(channel)
        if old is not None:
            if (old.counterparty_chain, old.counterparty_channel) != (
                    counterparty_chain, counterparty_channel):
                raise IbcError(f"channel {channel!r} is open with another counterparty")
            return
        if len(self.channels) >= channels_max:
            raise IbcError("channels_max reached")
        self.channels[channel] = _Channel(channel, counterparty_chain, counterparty_channel)

    def root(self) -> bytes:
        """Current state root."""
        return self.tree.root()

    def header(self, now_ns: int) -> Header:
        """A signed header of the current root at ``now_ns`` (a query; changes nothing)."""
        body = to_bytes(HeaderBody(self.chain_id, self.height, self.root(), now_ns))
        return Header(body, self._key.sign(body).signature)

    def status(self, channel: str, now_ns: int) -> ChannelStatus:
        """The channel's counters."""
        ch = self._channel(channel)
        return ChannelStatus(channel, ch.next_send, ch.next_recv, ch.next_ack, ch.closed, now_ns)

    def outbox(self, channel: str, *, from_seq: int, count_max: int, now_ns: int) -> Outbox:
        """Unacknowledged packets from ``from_seq`` with inclusion proofs (one header)."""
        ch = self._channel(channel)
        count = max(0, min(count_max, outbox_count_max))
        seqs = [s for s in sorted(ch.unacked) if s >= from_seq][:count]
        packets = tuple(to_bytes(ch.unacked[s]) for s in seqs)
        proofs = tuple(self.tree.prove(commit_key(channel, s)).to_bytes() for s in seqs)
        return Outbox(to_bytes(self.header(now_ns)), packets, proofs)

    def ack_outbox(self, channel: str, *, from_seq: int, count_max: int,
                   now_ns: int) -> AckOutbox:
        """Acknowledgements written from ``from_seq`` on, with inclusion proofs."""
        ch = self._channel(channel)
        count = max(0, min(count_max, outbox_count_max))
        seqs = [s for s in sorted(ch.acks) if s >= from_seq][:count]
        proofs = tuple(self.tree.prove(ack_key(channel, s)).to_bytes() for s in seqs)
        return AckOutbox(to_bytes(self.header(now_ns)), tuple(ch.acks[s][0] for s in seqs),
                         tuple(ch.acks[s][1] for s in seqs), proofs)

    def receipt(self, channel: str, seq: int, now_ns: int) -> ReceiptAnswer:
        """Inclusion or absence proof of the receipt of packet ``seq``."""
        self._channel(channel)
        key = receipt_key(channel, seq)
        proof = self.tree.prove(key)
        received = proof.leaf is not None and proof.leaf[0] == tree_key(key)
        return ReceiptAnswer(to_bytes(self.header(now_ns)), received, proof.to_bytes())

    # ------------------------------------------------------------------ transitions

    def send(self, channel: str, data: bytes, *, timeout_ns: int) -> Packet:
        """Commit a new packet on ``channel``; returns it (the relayer will fetch it).

        Raises IbcError when the channel is closed, full or the data too large (local
        misuse, not a peer's fault).
        """
        ch = self._channel(channel)
        if ch.closed:
            raise IbcError(f"channel {channel!r} is closed")
        if len(ch.unacked) >= unacked_max:
            raise IbcError("unacked_max packets in flight")
        if len(data) > packet_data_bytes_max:
            raise IbcError("packet data too large")
        packet = Packet(channel, ch.counterparty_channel, ch.next_send, timeout_ns, data)
        self._write({commit_key(channel, ch.next_send): packet_commitment(packet)})
        ch.unacked[ch.next_send] = packet
        ch.next_send += 1
        return packet

    def recv(self, msg: RecvPacket, *, now_ns: int, ack: bytes = b"\x01") -> Packet:
        """Accept the next packet of an ordered channel; write receipt and ack commitment.

        Raises Refused (state untouched) for a duplicate, a gap, a bad header or proof, a
        timed-out packet or a closed channel.
        """
        packet = _decode(Packet, msg.packet)
        ch = self.channels.get(packet.dest_channel)
        if ch is None:
            raise Refused("unknown_channel", packet.dest_channel)
        if ch.closed:
            raise Refused("closed", ch.channel)
        if packet.source_channel != ch.counterparty_channel:
            raise Refused("wrong_source", packet.source_channel)
        if packet.sequence < ch.next_recv:
            raise Refused("duplicate", f"seq {packet.sequence} < next {ch.next_recv}")
        if packet.sequence > ch.next_recv:
            raise Refused("gap", f"seq {packet.sequence} > next {ch.next_recv}")
        if now_ns >= packet.timeout_ns:
            raise Refused("timed_out", f"now {now_ns} >= timeout {packet.timeout_ns}")
        body = self._verify_header(msg.header, ch.counterparty_chain)
        key = commit_key(packet.source_channel, packet.sequence)
        if not verify_proof(body.root, key, packet_commitment(packet), _proof(msg.proof)):
            raise Refused("bad_proof", "packet commitment not included in the sender's root")
        seq = packet.sequence
        self._write({receipt_key(ch.channel, seq): RECEIPT_VALUE,
                     ack_key(ch.channel, seq): ack_commitment(ack)})
        ch.next_recv += 1
        ch.acks[seq] = (bytes(msg.packet), ack)
        while len(ch.acks) > acks_kept_max:
            del ch.acks[min(ch.acks)]
        return packet

    def acknowledge(self, msg: AckPacket) -> tuple[Packet, bytes]:
        """Process the receiver's acknowledgement of our next unacked packet.

        Raises Refused (state untouched) for an unknown or out-of-order packet, a bad
        header or proof.
        """
        packet = _decode(Packet, msg.packet)
        ch = self.channels.get(packet.source_channel)
        if ch is None:
            raise Refused("unknown_channel", packet.source_channel)
        mine = ch.unacked.get(packet.sequence)
        if mine is None or mine != packet:
            raise Refused("duplicate" if packet.sequence < ch.next_ack else "unknown_packet",
                          f"seq {packet.sequence}")
        if packet.sequence != ch.next_ack:
            raise Refused("gap", f"ack {packet.sequence} before {ch.next_ack}")
        body = self._verify_header(msg.header, ch.counterparty_chain)
        key = ack_key(packet.dest_channel, packet.sequence)
        if not verify_proof(body.root, key, ack_commitment(msg.ack), _proof(msg.proof)):
            raise Refused("bad_proof", "ack commitment not included in the receiver's root")
        self._write({commit_key(ch.channel, packet.sequence): None})
        del ch.unacked[packet.sequence]
        ch.next_ack += 1
        return packet, bytes(msg.ack)

    def timeout(self, msg: TimeoutPacket) -> Packet:
        """Time a packet out: the receiver's root, past the timeout, lacks its receipt.

        Deletes the commitment and closes the ordered channel (ICS-4 semantics: an
        ordered channel cannot skip a sequence). Raises Refused otherwise.
        """
        packet = _decode(Packet, msg.packet)
        ch = self.channels.get(packet.source_channel)
        if ch is None or ch.unacked.get(packet.sequence) != packet:
            raise Refused("unknown_packet", f"seq {packet.sequence}")
        body = self._verify_header(msg.header, ch.counterparty_chain)
        if body.time_ns < packet.timeout_ns:
            raise Refused("not_timed_out", f"header time {body.time_ns} < {packet.timeout_ns}")
        key = receipt_key(packet.dest_channel, packet.sequence)
        if not verify_proof(body.root, key, None, _proof(msg.proof)):
            raise Refused("bad_proof", "receipt absence not proven")
        self._write({commit_key(ch.channel, packet.sequence): None})
        del ch.unacked[packet.sequence]
        ch.closed = True
        return packet

    # ------------------------------------------------------------------ internals

    def invariants(self) -> None:
        """Assert the channel counters and the unacked set agree."""
        for ch in self.channels.values():
            assert 1 <= ch.next_ack <= ch.next_send and ch.next_recv >= 1
            assert all(ch.next_ack <= s < ch.next_send for s in ch.unacked)
            if not ch.closed:
                assert set(ch.unacked) == set(range(ch.next_ack, ch.next_send))

    def _channel(self, channel: str) -> _Channel:
        ch = self.channels.get(channel)
        if ch is None:
            raise IbcError(f"no channel {channel!r}")
        return ch

    def _write(self, changes: Mapping[bytes, bytes | None]) -> None:
        _, overlay = self.tree.update({tree_key(k): (None if v is None else value_hash(v))
                                       for k, v in changes.items()})
        self.tree.apply(overlay)
        self.height += 1

    def _verify_header(self, raw: bytes, chain: str) -> HeaderBody:
        header = _decode(Header, raw)
        key = self.trusted.get(chain)
        if key is None:
            raise Refused("bad_header", f"no light client for {chain!r}")
        try:
            key.verify(header.body, header.signature)
        except (BadSignatureError, ValueError, TypeError) as e:
            raise Refused("bad_header", "signature does not verify") from e
        body = _decode(HeaderBody, header.body)
        if body.chain != chain or len(body.root) != 32:
            raise Refused("bad_header", f"header of {body.chain!r}, expected {chain!r}")
        return body


def _decode(cls: type[_T], raw: bytes) -> _T:
    try:
        return from_bytes(cls, bytes(raw))
    except WireError as e:
        raise Refused("malformed", str(e)) from e


def _proof(raw: bytes) -> Proof:
    try:
        return Proof.from_bytes(bytes(raw))
    except ValueError as e:
        raise Refused("bad_proof", str(e)) from e
