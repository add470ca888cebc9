"""Fuzzing the wire's decoders: every input is decoded or refused with ``WireError``.

A peer controls every byte after the TLS handshake, so the decoders are the first code a
hostile input reaches (issue 16: "fuzzers for every decoder"). ``decode_all`` runs each of
them over one input — the stream framer, the general envelope decoder and the payload
decoder behind it, the one-pass hop decoder and its template readers — and lets anything
but ``WireError`` escape: that is a bug. ``mutate`` makes inputs from valid frames the way
a fuzzer does (bit flips, byte sets, truncation, splices, edits of the words that hold
lengths and pointers). Used by ``tests/wire/test_fuzz_decoders.py`` (hypothesis) and
``benchmarks/fuzz_wire.py`` (10^6 inputs and more).
"""

from __future__ import annotations

import random  # runtime-ok: fuzz inputs, never used by a node
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from focusflow.wire._codec import (
    KIND_ASK,
    KIND_ERROR,
    KIND_REPLY,
    KIND_SYSTEM,
    KIND_TELL,
    decode_envelope,
    decode_message,
    encode_envelope_fields,
    encode_message,
)
from focusflow.wire._errors import WireError
from focusflow.wire._framing import FrameDecoder, encode_frame
from focusflow.wire._hop import decode_hop, hop_template
from focusflow.wire._message import Address
from focusflow.wire.system import Blob, Down, ErrorReply, Exit, Ping, Pong, Stop, Unwatch, Watch

#: The framer's bound while fuzzing (small, so length prefixes over it are exercised).
FUZZ_FRAME_BYTES_MAX = 1 << 16
_KINDS = (KIND_TELL, KIND_ASK, KIND_REPLY, KIND_ERROR, KIND_SYSTEM)


def frames_of(messages: Iterable[Any]) -> list[bytes]:
    """Valid envelopes carrying ``messages``, under every kind (the seeds of mutation)."""
    out = []
    for i, msg in enumerate(messages):
        tid, data = encode_message(msg)
        kind = _KINDS[i % len(_KINDS)]
        out.append(encode_envelope_fields(kind, i, "peer", f"/user/a{i}", "node", "/user/b",
                                          tid, data))
    return out


def system_seeds() -> list[bytes]:
    """Valid frames of the runtime's own message types."""
    who = Address("peer", "/user/w")
    return frames_of([Down(who, "noproc", 3), Exit(who, "error:x", 7), Stop("normal"),
                      Ping(1), Pong(2), Watch(who), Unwatch(who),
                      ErrorReply("ActorCrashed", "boom"), Blob(b"\x00" * 40), Blob(b"")])


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """One fuzzer-style mutation of ``seed`` (several edits stacked at random)."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(data)
        if op == 0 and n:  # flip a bit
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # set a byte to an edge value
            data[rng.randrange(n)] = rng.choice((0, 1, 0x7F, 0x80, 0xFE, 0xFF))
        elif op == 2 and n:  # truncate
            del data[rng.randrange(n):]
        elif op == 3:  # append junk
            data += rng.randbytes(rng.randrange(1, 24))
        elif op == 4 and n >= 8:  # rewrite a whole word (lengths, pointers, counts)
            at = rng.randrange(n // 8) * 8
            word = rng.choice((0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 1 << 29, rng.getrandbits(64)))
            data[at:at + 8] = struct.pack("<Q", word & (2**64 - 1))
        elif op == 5 and n >= 4:  # the segment table: count and size of segment 0
            data[0:4] = struct.pack("<I", rng.choice((0, 1, 2, 511, 0xFFFFFFFF)))
        elif op == 6 and n > 8:  # splice a copy of a slice elsewhere (pointer loops)
            a = rng.randrange(n)
            b = min(n, a + rng.randrange(1, 32))
            at = rng.randrange(n)
            data[at:at] = data[a:b]
        elif op == 7 and n:  # drop a slice
            a = rng.randrange(n)
            del data[a:a + rng.randrange(1, 16)]
    return bytes(data)


def decode_all(data: bytes) -> int:
    """Run every wire decoder over ``data``; return how many accepted it (0..4: the
    envelope decoder, the hop decoder, a template reader, the framer; a valid frame of a
    payload with no template gives 3).

    Raises:
        Exception: anything other than ``WireError`` from a decoder (a decoder bug).
    """
    accepted = 0
    try:
        env = decode_envelope(data)
        decode_message(env.payload_type, env.payload)
        accepted += 1
    except WireError:
        pass
    try:
        decode_hop(data)
        accepted += 1
    except WireError:
        pass
    read = hop_template(data)
    if read is not None and read(data) is not None:
        accepted += 1
    try:  # the input as one framed envelope ...
        for frame in FrameDecoder(frame_bytes_max=FUZZ_FRAME_BYTES_MAX).feed(
                encode_frame(data, frame_bytes_max=1 << 30)):
            decode_hop(frame)
            accepted += 1
    except WireError:
        pass
    try:  # ... and as a stream (its bytes read as length prefixes)
        for frame in FrameDecoder(frame_bytes_max=FUZZ_FRAME_BYTES_MAX).feed(data):
            if frame:
                decode_hop(frame)
    except WireError:
        pass
    return accepted


def fuzz_inputs(seeds: list[bytes], count: int, *, seed: int = 0) -> Iterator[bytes]:
    """``count`` fuzz inputs from ``seed``: mutated ``seeds``, and one in eight plain
    random bytes (the same sequence for the same arguments)."""
    assert seeds and count >= 0
    rng = random.Random(seed)
    for i in range(count):
        if i % 8 == 7:
            yield rng.randbytes(rng.randrange(0, 160))
        else:
            yield mutate(seeds[rng.randrange(len(seeds))], rng)
