"""Fuzzing the wire's decoders (issue 16): random and mutated frames are decoded or
refused with ``WireError``, never another exception (``focusflow.wire.fuzz``)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.node.messages import BlockRecord, Blocks, ConsensusFrame, Query, SubmitTxs
from focusflow.wire import WireError, decode_hop
from focusflow.wire.fuzz import decode_all, frames_of, fuzz_inputs, mutate, system_seeds

_RECORD = BlockRecord(3, b"h" * 64, b"d" * 32, (b"tx",), (0, 1), (b"s" * 64, b"t" * 64))
SEEDS = system_seeds() + frames_of([ConsensusFrame(b"c" * 100), Blocks((_RECORD,), 9),
                                    SubmitTxs((b"a" * 50,), (1,)), Query("links", "00")])


def test_the_seeds_are_valid_frames() -> None:
    for frame in SEEDS:
        decode_hop(frame)
        assert decode_all(frame) >= 3  # every decoder path accepts a valid frame


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes_are_refused_with_wire_error_only(data: bytes) -> None:
    decode_all(data)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(SEEDS),
       edits=st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 4096), junk=st.binary(max_size=32))
def test_hand_mutated_frames_are_refused_with_wire_error_only(
        base: bytes, edits: list[tuple[int, int]], cut: int, junk: bytes) -> None:
    frame = bytearray(base)
    for pos, value in edits:
        frame[pos % len(frame)] = value
    for candidate in (bytes(frame), bytes(frame[: len(frame) - cut % len(frame)]) + junk):
        decode_all(candidate)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzzer_mutations_are_refused_with_wire_error_only(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        decode_all(mutate(SEEDS[rng.randrange(len(SEEDS))], rng))


def test_a_fixed_run_of_inputs() -> None:
    assert sum(decode_all(d) for d in fuzz_inputs(SEEDS, 3000, seed=5)) > 0
    try:
        decode_hop(b"\xff" * 8)
    except WireError:
        pass
    else:
        raise AssertionError("eight bytes of 0xff are not a frame")
