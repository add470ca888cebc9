"""Cap'n Proto encoding of every consensus message (schema: ``consensus.capnp``).

Encode and decode are paired and both check limits: a decoder never trusts a length it
read, and signed payloads are kept as the exact bytes that were signed, so a digest or a
signature is never computed over a re-encoded struct.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from focusflow.actors.consensus.crypto import DOMAIN_HEADER, digest
from focusflow.actors.consensus.types import (
    DIGEST_BYTES,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    Batch,
    BlockHeader,
    BlockSig,
    Certificate,
    CertRequest,
    CertResponse,
    Header,
    Payload,
    PollQuery,
    PollReply,
    SignedHeader,
    Vote,
)
from focusflow.limits import TX_BYTES_MAX
from focusflow.memo import BoundedMemo
from focusflow.wire import load_schema

schema: Any = load_schema(Path(__file__).with_name("consensus.capnp"))

message_bytes_max = 16 << 20  # one hop; larger frames are refused before parsing
batch_txs_max = 65_536
parents_max = 1024
batches_max = 64
request_digests_max = 4096
response_certs_max = 4096
votes_max = 1024


_T = TypeVar("_T")


class DecodeError(ValueError):
    """Bytes from a peer that are not a well-formed message within limits."""


def _reader(struct: Any, data: bytes) -> Any:
    if len(data) > message_bytes_max:
        raise DecodeError(f"frame of {len(data)} bytes over message_bytes_max")
    try:
        return struct.from_bytes(data, traversal_limit_in_words=message_bytes_max // 8 + 1024)
    except Exception as exc:  # pycapnp raises KjException subclasses
        raise DecodeError(f"not a {struct}: {exc}") from exc


# --------------------------------------------------------------------------- batches


def _fill_batch(b: Any, batch: Batch) -> None:
    assert len(batch.payloads) <= batch_txs_max
    lengths = np.fromiter((len(p) for p in batch.payloads), dtype=np.uint32, count=len(batch.payloads))
    offsets = np.zeros(len(batch.payloads) + 1, dtype="<u4")
    np.cumsum(lengths, out=offsets[1:])
    b.focus = np.asarray(batch.focus, dtype="<u4").tobytes()
    b.offsets = offsets.tobytes()
    b.payloads = b"".join(batch.payloads)


def _read_batch(b: Any) -> Batch:
    focus = np.frombuffer(bytes(b.focus), dtype="<u4")
    offsets = np.frombuffer(bytes(b.offsets), dtype="<u4")
    blob = bytes(b.payloads)
    n = len(focus)
    if n > batch_txs_max or len(offsets) != n + 1:
        raise DecodeError("batch columns disagree or exceed batch_txs_max")
    if n and (offsets[0] != 0 or int(offsets[-1]) != len(blob) or np.any(np.diff(offsets.astype(np.int64)) < 0)):
        raise DecodeError("batch offsets are not a monotone cover of the payload bytes")
    if n and int(np.max(np.diff(offsets.astype(np.int64)))) > TX_BYTES_MAX:
        raise DecodeError(f"transaction over TX_BYTES_MAX ({TX_BYTES_MAX} bytes)")
    payloads = tuple(blob[int(offsets[i]) : int(offsets[i + 1])] for i in range(n))
    return Batch(payloads=payloads, focus=tuple(int(x) for x in focus))


# --------------------------------------------------------------------------- headers


def encode_header(h: Header) -> bytes:
    """Bytes of a ``Header`` struct: what its author signs."""
    assert len(h.parents) <= parents_max and len(h.batches) <= batches_max
    assert all(len(p) == DIGEST_BYTES for p in h.parents)
    m = schema.Header.new_message(round=h.round, author=h.author, anchorVote=h.anchor_vote)
    ps = m.init("parents", len(h.parents))
    for i, p in enumerate(h.parents):
        ps[i] = p
    bs = m.init("batches", len(h.batches))
    for i, batch in enumerate(h.batches):
        _fill_batch(bs[i], batch)
    return bytes(m.to_bytes())


def _decode_header(data: bytes) -> Header:
    """Parse header bytes; raises ``DecodeError`` on anything malformed or over limits."""
    with _reader(schema.Header, data) as m:
        if len(m.parents) > parents_max or len(m.batches) > batches_max:
            raise DecodeError("header over parents_max or batches_max")
        parents = tuple(bytes(p) for p in m.parents)
        if any(len(p) != DIGEST_BYTES for p in parents):
            raise DecodeError("parent digest of the wrong length")
        vote = bytes(m.anchorVote)
        if len(vote) not in (0, DIGEST_BYTES):
            raise DecodeError("anchor vote of the wrong length")
        batches = tuple(_read_batch(b) for b in m.batches)
        return Header(round=m.round, author=m.author, parents=parents, batches=batches, anchor_vote=vote)


def signed_header(payload: bytes, signature: bytes, public_key: bytes) -> SignedHeader:
    """Wrap signed header bytes, parsing them once and naming them by their digest."""
    return SignedHeader(
        header=decode_header(payload),
        payload=payload,
        signature=signature,
        public_key=public_key,
        digest=digest(DOMAIN_HEADER, payload),
    )


def _fill_signed(s: Any, sh: SignedHeader) -> None:
    s.payload = sh.payload
    s.signature = sh.signature
    s.publicKey = sh.public_key


def _check_sig_fields(signature: bytes, public_key: bytes) -> None:
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        raise DecodeError("signature or public key of the wrong length")


def _read_signed(s: Any) -> SignedHeader:
    sig, key = bytes(s.signature), bytes(s.publicKey)
    _check_sig_fields(sig, key)
    return signed_header(bytes(s.payload), sig, key)


def _fill_cert(c: Any, cert: Certificate) -> None:
    assert len(cert.votes) <= votes_max
    _fill_signed(c.header, cert.signed)
    vs = c.init("votes", len(cert.votes))
    for i, (voter, sig) in enumerate(cert.votes):
        vs[i].voter = voter
        vs[i].signature = sig


def _read_cert(c: Any) -> Certificate:
    if len(c.votes) > votes_max:
        raise DecodeError("certificate over votes_max")
    votes = tuple((int(v.voter), bytes(v.signature)) for v in c.votes)
    return Certificate(signed=_read_signed(c.header), votes=votes)


def encode_block_header(h: BlockHeader) -> bytes:
    """Bytes of a ``BlockHeader``: what notarisers sign."""
    m = schema.BlockHeader.new_message(
        height=h.height,
        parent=h.parent,
        stateRoot=h.state_root,
        daRoot=h.da_root,
        piRoot=h.pi_root,
        anchor=h.anchor,
        anchorRound=h.anchor_round,
    )
    if h.reputation:
        m.init("reputation", len(h.reputation))
        for i, v in enumerate(h.reputation):
            m.reputation[i] = v
    return bytes(m.to_bytes())


def _decode_block_header(data: bytes) -> BlockHeader:
    """Parse block header bytes."""
    with _reader(schema.BlockHeader, data) as m:
        return BlockHeader(
            height=m.height,
            parent=bytes(m.parent),
            state_root=bytes(m.stateRoot),
            da_root=bytes(m.daRoot),
            pi_root=bytes(m.piRoot),
            anchor=bytes(m.anchor),
            anchor_round=m.anchorRound,
            reputation=tuple(m.reputation),
        )


# --------------------------------------------------------------------------- envelope


def encode_message(sender: int, payload: Payload) -> bytes:
    """Encode one validator-to-validator hop."""
    m = schema.Message.new_message(sender=sender)
    if isinstance(payload, SignedHeader):
        _fill_signed(m.init("header"), payload)
    elif isinstance(payload, Vote):
        v = m.init("vote")
        v.headerDigest = payload.header_digest
        v.round = payload.round
        v.author = payload.author
        v.voter = payload.voter
        v.signature = payload.signature
        v.publicKey = payload.public_key
    elif isinstance(payload, Certificate):
        _fill_cert(m.init("certificate"), payload)
    elif isinstance(payload, CertRequest):
        assert len(payload.digests) <= request_digests_max
        ds = m.init("certRequest").init("digests", len(payload.digests))
        for i, d in enumerate(payload.digests):
            ds[i] = d
    elif isinstance(payload, CertResponse):
        assert len(payload.certificates) <= response_certs_max
        cs = m.init("certResponse").init("certificates", len(payload.certificates))
        for i, cert in enumerate(payload.certificates):
            _fill_cert(cs[i], cert)
    elif isinstance(payload, PollQuery):
        q = m.init("pollQuery")
        q.slot, q.nonce = payload.slot, payload.nonce
    elif isinstance(payload, PollReply):
        r = m.init("pollReply")
        r.slot, r.nonce, r.preference = payload.slot, payload.nonce, payload.preference
    elif isinstance(payload, BlockSig):
        b = m.init("blockSig")
        b.voter = payload.voter
        b.signed.payload = payload.payload
        b.signed.signature = payload.signature
        b.signed.publicKey = payload.public_key
    else:  # pragma: no cover - exhaustive over Payload
        raise AssertionError(f"unknown payload {type(payload)}")
    return bytes(m.to_bytes())


def _decode_message(data: bytes) -> tuple[int, Payload]:
    """Decode one hop into (claimed sender, payload); ``DecodeError`` when malformed."""
    with _reader(schema.Message, data) as m:
        which = str(m.which())
        out: Payload
        if which == "header":
            out = _read_signed(m.header)
        elif which == "vote":
            v = m.vote
            out = Vote(bytes(v.headerDigest), v.round, v.author, v.voter, bytes(v.signature), bytes(v.publicKey))
            _check_sig_fields(out.signature, out.public_key)
            if len(out.header_digest) != DIGEST_BYTES:
                raise DecodeError("vote digest of the wrong length")
        elif which == "certificate":
            out = _read_cert(m.certificate)
        elif which == "certRequest":
            ds = m.certRequest.digests
            if len(ds) > request_digests_max:
                raise DecodeError("request over request_digests_max")
            out = CertRequest(tuple(bytes(d) for d in ds))
        elif which == "certResponse":
            cs = m.certResponse.certificates
            if len(cs) > response_certs_max:
                raise DecodeError("response over response_certs_max")
            out = CertResponse(tuple(_read_cert(c) for c in cs))
        elif which == "pollQuery":
            out = PollQuery(m.pollQuery.slot, m.pollQuery.nonce)
        elif which == "pollReply":
            r = m.pollReply
            out = PollReply(r.slot, r.nonce, bytes(r.preference))
            if len(out.preference) not in (0, DIGEST_BYTES):
                raise DecodeError("poll preference of the wrong length")
        elif which == "blockSig":
            b = m.blockSig
            out = BlockSig(b.voter, bytes(b.signed.payload), bytes(b.signed.signature), bytes(b.signed.publicKey))
            _check_sig_fields(out.signature, out.public_key)
        else:
            raise DecodeError(f"unknown message kind {which}")
        return int(m.sender), out


def _parse_error(exc: Exception) -> DecodeError:
    return exc if isinstance(exc, DecodeError) else DecodeError(f"malformed frame: {exc}")


decoded_memo_max = 4_096
"""Hops, and header payloads, each memo remembers (least recently used out): a few rounds of
headers, votes and certificates of a 100-validator committee."""
decoded_memo_bytes_max = 32 << 20
"""...and at most this many bytes of them per memo (a decoded value holds about as many
again): ≤ ~128 MB for both memos, whatever the size of the hops."""
_decoded_messages: BoundedMemo[bytes, tuple[int, Payload]] = BoundedMemo(
    decoded_memo_max, weigh=len, weight_max=decoded_memo_bytes_max)
_decoded_headers: BoundedMemo[bytes, Header] = BoundedMemo(
    decoded_memo_max, weigh=len, weight_max=decoded_memo_bytes_max)


def _remembered(memo: BoundedMemo[bytes, _T], data: bytes, decode: Callable[[bytes], _T]) -> _T:
    """``decode(data)`` (its errors as ``DecodeError``), remembered by the exact bytes.

    Sound because decoding is a pure function of the bytes and every decoded value is a
    frozen dataclass of bytes, ints and tuples, so one value can be handed to every
    receiver. Malformed bytes are not remembered; neither is anything but ``bytes`` (a
    bytearray or memoryview could change under its key)."""

    def checked() -> _T:
        try:
            return decode(data)
        except Exception as exc:  # pycapnp reads lazily: KjException/ValueError surface here
            raise _parse_error(exc) from exc

    return memo.get_or_compute(data, checked) if type(data) is bytes else checked()


def decode_header(data: bytes) -> Header:
    """Parse header bytes; raises ``DecodeError`` on anything malformed or over limits.

    Remembered by its exact bytes: a header arrives alone and again inside its
    certificate, at every validator."""
    return _remembered(_decoded_headers, data, _decode_header)


def decode_block_header(data: bytes) -> BlockHeader:
    """Parse block header bytes; raises ``DecodeError`` when malformed."""
    try:
        return _decode_block_header(data)
    except Exception as exc:
        raise _parse_error(exc) from exc


def decode_message(data: bytes) -> tuple[int, Payload]:
    """Decode one hop into (claimed sender, payload); ``DecodeError`` when malformed.

    Remembered by its exact bytes (see :func:`_remembered`): a broadcast reaches every peer
    as the same bytes, so n simulated validators (or a production node hearing the same
    gossip twice) decode it once."""
    return _remembered(_decoded_messages, data, _decode_message)
