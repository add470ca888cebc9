"""Hostile frames: random and mutated envelopes never crash a node or its actors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.sim import Simulation
from focusflow.wire import KIND_ASK, KIND_TELL, encode_envelope_fields, encode_message
from tests.supervisor.actors import Echo
from tests.wire.msgs import Req, Resp

_tid, _payload = encode_message(Req(7, "hello"))
VALID = [encode_envelope_fields(kind, corr, "b", "/user/x", "a", "/user/echo", _tid, _payload)
         for kind, corr in ((KIND_TELL, 0), (KIND_ASK, 99))]


@settings(max_examples=200, deadline=None)
@given(base=st.sampled_from(VALID),
       flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 200), junk=st.binary(max_size=64))
def test_mutated_frames_are_rejected_or_handled_and_the_node_survives(
        base: bytes, flips: list[tuple[int, int]], cut: int, junk: bytes) -> None:
    sim = Simulation(1)
    a = sim.add_node("a")
    sim.add_node("b")
    echo = a.spawn(Echo, name="echo")
    frame = bytearray(base)
    for pos, value in flips:
        frame[pos % len(frame)] = value
    for candidate in (bytes(frame), bytes(frame[: len(frame) - cut % len(frame)]), junk):
        a.receive_frame(candidate)
    sim.run(for_ms=100)
    assert a.is_alive(echo)
    assert sim.run_until_complete(a.ask(echo, Req(1, "ok"))) == Resp(1, "ok")
