"""IBC-style ordered channels: proofs, ordering, no double delivery, timeouts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.ibc.core import IbcChain, IbcError, Refused
from focusflow.actors.ibc.messages import (
    AckPacket,
    Outbox,
    Packet,
    RecvPacket,
    TimeoutPacket,
)
from focusflow.wire import from_bytes, to_bytes

SEED_A, SEED_B, SEED_X = b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32


def _pair() -> tuple[IbcChain, IbcChain]:
    pub = {s: IbcChain("tmp", s, trusted={}).public_key for s in (SEED_A, SEED_B)}
    a = IbcChain("rollup", SEED_A, trusted={"hub": pub[SEED_B]})
    b = IbcChain("hub", SEED_B, trusted={"rollup": pub[SEED_A]})
    a.open_channel("to-hub", counterparty_chain="hub", counterparty_channel="from-rollup")
    b.open_channel("from-rollup", counterparty_chain="rollup", counterparty_channel="to-hub")
    return a, b


def _relay_items(box: Outbox) -> list[RecvPacket]:
    return [RecvPacket(p, pr, box.header) for p, pr in zip(box.packets, box.proofs, strict=True)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["drop", "dup", "swap", "deliver", "old"]),
                          st.integers(0, 7)), min_size=5, max_size=60))
def test_relayer_that_drops_delays_reorders_duplicates_cannot_break_order(
        plan: list[tuple[str, int]]) -> None:
    a, b = _pair()
    sent = [a.send("to-hub", b"claim %d" % i, timeout_ns=10**18).sequence for i in range(8)]
    delivered: list[int] = []
    old = _relay_items(a.outbox("to-hub", from_seq=1, count_max=64, now_ns=1))
    queue: list[RecvPacket] = []
    for action, i in plan:
        fresh = _relay_items(a.outbox("to-hub", from_seq=1, count_max=64, now_ns=2))
        if action == "deliver":
            queue += fresh
        elif action == "dup" and queue:
            queue.append(queue[i % len(queue)])
        elif action == "swap" and len(queue) > 1:
            j = i % (len(queue) - 1)
            queue[j], queue[j + 1] = queue[j + 1], queue[j]
        elif action == "drop" and queue:
            queue.pop(i % len(queue))
        elif action == "old":
            queue.append(old[i % len(old)])  # a stale header and proof, replayed
        while queue:
            msg = queue.pop(0)
            try:
                delivered.append(b.recv(msg, now_ns=3).sequence)
            except Refused as e:
                assert e.reason in ("duplicate", "gap")
        a.invariants()
        b.invariants()
    # whatever the relayer did: in order, each at most once, no gaps
    assert delivered == list(range(1, len(delivered) + 1))
    # an honest relayer finishing the job delivers the rest exactly once
    for msg in _relay_items(a.outbox("to-hub", from_seq=1, count_max=64, now_ns=4)):
        try:
            delivered.append(b.recv(msg, now_ns=5).sequence)
        except Refused as e:
            assert e.reason == "duplicate"
    assert delivered == sent


def test_acks_are_proven_in_order_and_delete_commitments() -> None:
    a, b = _pair()
    for i in range(3):
        a.send("to-hub", b"x%d" % i, timeout_ns=10**18)
    for msg in _relay_items(a.outbox("to-hub", from_seq=1, count_max=8, now_ns=1)):
        b.recv(msg, now_ns=2)
    acks = b.ack_outbox("from-rollup", from_seq=1, count_max=8, now_ns=3)
    items = [AckPacket(p, ack, pr, acks.header)
             for p, ack, pr in zip(acks.packets, acks.acks, acks.proofs, strict=True)]
    with pytest.raises(Refused, match="gap"):
        a.acknowledge(items[1])
    with pytest.raises(Refused, match="bad_proof"):
        a.acknowledge(AckPacket(items[0].packet, b"forged ack", items[0].proof, acks.header))
    for item in items:
        a.acknowledge(item)
    with pytest.raises(Refused, match="duplicate"):
        a.acknowledge(items[0])
    assert a.status("to-hub", 0).next_ack == 4
    assert a.outbox("to-hub", from_seq=1, count_max=8, now_ns=4).packets == ()
    a.invariants()


def test_forged_packets_and_headers_are_refused() -> None:
    a, b = _pair()
    a.send("to-hub", b"real", timeout_ns=10**18)
    box = a.outbox("to-hub", from_seq=1, count_max=8, now_ns=1)
    [msg] = _relay_items(box)
    real = from_bytes(Packet, msg.packet)
    forged = to_bytes(Packet(real.source_channel, real.dest_channel, 1, real.timeout_ns,
                             b"forged"))
    with pytest.raises(Refused, match="bad_proof"):
        b.recv(RecvPacket(forged, msg.proof, msg.header), now_ns=2)
    # a header signed by a key the hub does not trust for "rollup"
    x = IbcChain("rollup", SEED_X, trusted={"hub": b.public_key})
    x.open_channel("to-hub", counterparty_chain="hub", counterparty_channel="from-rollup")
    x.send("to-hub", b"forged", timeout_ns=10**18)
    [fake] = _relay_items(x.outbox("to-hub", from_seq=1, count_max=8, now_ns=1))
    with pytest.raises(Refused, match="bad_header"):
        b.recv(fake, now_ns=2)
    assert b.status("from-rollup", 0).next_recv == 1
    b.recv(msg, now_ns=2)
    assert b.status("from-rollup", 0).next_recv == 2


def test_timeout_needs_proven_absence_and_closes_the_ordered_channel() -> None:
    a, b = _pair()
    a.send("to-hub", b"one", timeout_ns=100)
    a.send("to-hub", b"two", timeout_ns=100)
    box = _relay_items(a.outbox("to-hub", from_seq=1, count_max=8, now_ns=1))
    b.recv(box[0], now_ns=50)
    with pytest.raises(Refused, match="timed_out"):
        b.recv(box[1], now_ns=150)
    # receipt of #1 exists: a timeout of #1 cannot be proven
    got = b.receipt("from-rollup", 1, now_ns=200)
    assert got.received
    with pytest.raises(Refused):
        a.timeout(TimeoutPacket(box[0].packet, got.proof, got.header))
    # header too early: refused
    early = b.receipt("from-rollup", 2, now_ns=99)
    with pytest.raises(Refused, match="not_timed_out"):
        a.timeout(TimeoutPacket(box[1].packet, early.proof, early.header))
    late = b.receipt("from-rollup", 2, now_ns=200)
    assert not late.received
    assert from_bytes(Packet, box[1].packet) == a.timeout(
        TimeoutPacket(box[1].packet, late.proof, late.header))
    assert a.status("to-hub", 0).closed
    with pytest.raises(IbcError):
        a.send("to-hub", b"three", timeout_ns=10**18)
