"""The DAG after a restart of every validator, and a validator cut off beyond reach (issue
16 finding 1 and the nemesis partition): restart headers without parents, adoption of the
highest restart round, the bounds on both, and no ancestry requests beyond two GC depths.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.blocks import BlockCore
from focusflow.actors.consensus.crypto import CachingVerifier
from focusflow.actors.consensus.types import (
    SKIP,
    BlockSig,
    Broadcast,
    CertRequest,
    Commit,
    Misbehaviour,
    Send,
    SignedHeader,
)
from focusflow.actors.mempool.core import RESTART_ROUNDS_MAX, DagConfig, DagCore
from tests.consensus.test_cores import _dags, _keys, _pump


def _restart_header(effects: Sequence[object]) -> SignedHeader:
    (frame,) = [e for e in effects if isinstance(e, Broadcast)]
    _, header = codec.decode_message(frame.data)
    assert isinstance(header, SignedHeader) and not header.header.parents
    return header


def _resumed(watermarks: list[int]) -> list[DagCore]:
    dags = _dags(len(watermarks))
    for d, w in zip(dags, watermarks, strict=True):
        d.resume_above(w)
    return dags


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5000), st.lists(st.integers(0, 3), min_size=3, max_size=3),
       st.integers(1, 5003), st.integers(0, 3), st.permutations(range(4)))
def test_a_dag_every_validator_lost_restarts_at_one_round_and_links_a_quorum_next(
        base: int, spread: list[int], straggler: int, starter: int, seats: list[int]) -> None:
    """Whoever restarts first, the others adopt the highest restart round they see above
    everything they signed; the committee then holds a quorum of certificates at one
    round and every core can propose the next one with parents as usual.

    Watermarks as a stalled or crashed committee leaves them: rounds only advance with a
    quorum, so at least a quorum signed within a few rounds of the top; one validator (a
    straggler, down for a while) may be anywhere below or at it."""
    marks = [base + d for d in spread] + [min(straggler, base + 3)]
    watermarks = [marks[seats[i]] for i in range(4)]
    dags = _resumed(watermarks)
    r0 = max(dags[starter].round, dags[starter].vote_floor) + 1
    _pump(dags, [(starter, e) for e in dags[starter].restart_at(r0, 0)])
    # a core that signed above r0 cannot adopt it: it restarts above its own watermark,
    # and those that adopted r0 (holding its certificate by then) drop that one; so the
    # cores whose watermark was highest restart too, until one round gathers a quorum
    for i in sorted(range(4), key=lambda i: -watermarks[i]):
        core = dags[i]
        if core.restartable and not core.certs:
            _pump(dags, [(i, e) for e in core.restart_at(max(core.round, core.vote_floor) + 1, 0)])
    top = max(d.highest_quorum_round() for d in dags)
    assert top >= 1, {i: (d.round, d.gc_round, len(d.certs)) for i, d in enumerate(dags)}
    holders = [d for d in dags if d.quorum_at(top)]
    assert len(holders) >= 3
    for holder in holders:
        if top + 1 > holder.round:
            header = holder.propose(top + 1, SKIP, 0)
            assert header, "a quorum of certificates at the restart round: the next round links it"


def test_a_core_holding_certificates_drops_a_restart_header_and_blames_nobody() -> None:
    live = _dags(4)
    _pump(live, [(i, e) for i, d in enumerate(live) for e in d.propose(1, SKIP, 0)])
    assert all(d.quorum_at(1) for d in live)
    stranger = _resumed([0, 0, 0, 5])[3]
    header = _restart_header(stranger.restart_at(6, 0))
    assert live[0].on_header(3, header, 0) == []  # dropped, no vote, no misbehaviour
    assert live[0].gc_round == 0 and not live[0].restartable


def test_a_restart_round_far_above_everything_we_signed_is_not_adopted() -> None:
    dags = _resumed([10, 10, 10, 10])
    header = _restart_header(dags[3].restart_at(11 + RESTART_ROUNDS_MAX + 1, 0))
    assert dags[0].on_header(3, header, 0) == []
    assert dags[0].gc_round == 0 and dags[0].round == 10  # our rounds did not jump


def test_a_restart_round_at_or_below_our_watermark_is_not_adopted() -> None:
    dags = _resumed([20, 5, 5, 5])
    header = _restart_header(dags[1].restart_at(6, 0))
    assert dags[0].on_header(1, header, 0) == []  # we may have signed round 6: never again
    assert dags[0].round == 20 and dags[0].restartable


def test_no_ancestry_request_beyond_two_gc_depths() -> None:
    """A validator cut off asks for the parents of what it cannot link only while the
    ancestry can still be held by a peer (two GC depths above everything it holds)."""
    depth = 5
    dags = _dags(4, config=DagConfig(gc_depth_rounds=depth))
    for r in range(1, 2 * depth + 4):  # validator 3 hears nothing
        _pump(dags, [(i, e) for i, d in enumerate(dags[:3]) for e in d.propose(r, SKIP, 0)],
              drop={3})
    cut = dags[3]
    near = next(c for c in dags[0].certs.values() if c.round == 2 * depth)
    far = next(c for c in dags[0].certs.values() if c.round == 2 * depth + 3)
    asked = cut.on_certificate(0, near, 0)
    assert any(isinstance(e, Send) and isinstance(codec.decode_message(e.data)[1], CertRequest)
               for e in asked)
    assert cut.on_certificate(0, far, 0) == []
    assert cut.seen_round == far.round  # verified, counted as the network's progress


def test_a_conflicting_early_share_is_reported_without_losing_our_commit() -> None:
    """A share for a height we had not built, on other bytes (a Byzantine peer, or an
    honest one that signed its own block before a restart), must not abort the commit
    that builds that height: our share still goes out, the block stays ours."""
    signers, com = _keys(4)
    verifier = CachingVerifier()

    def core(i: int) -> BlockCore:
        return BlockCore(committee=com, me=i, signer=signers[i], verifier=verifier,
                         execute=lambda root, txs: (bytes([len(txs)]) * 32, bytes(32)))

    ours, theirs = core(0), core(1)
    theirs.on_commit(Commit(3, b"\x01" * 32, "direct", (), (b"tx-a",)), [1])
    first = theirs.own_shares[1]
    _, sig = codec.decode_message(first)
    assert isinstance(sig, BlockSig)
    assert ours.on_block_sig(1, sig) == []  # early: we have not built height 1
    effects = ours.on_commit(Commit(4, b"\x03" * 32, "direct", (), (b"tx-c",)), [0])
    assert any(isinstance(e, Broadcast) for e in effects), "our own share went out"
    assert any(isinstance(e, Misbehaviour) and e.kind == "conflicting-block" for e in effects)
    assert ours.height == 1 and ours.blocks[1].sigs.keys() == {0}


def test_two_finalized_validators_help_each_other_once_not_for_ever() -> None:
    """Chaos seed 21: a share for a height both had finalized reached v1; v1 helped v2 with
    its own, v2 (finalized too) helped v1 back, and so on: 74,000 shares each in 3 virtual
    seconds. Help goes once per peer and height."""
    signers, com = _keys(4)
    verifier = CachingVerifier()
    cores = [BlockCore(committee=com, me=i, signer=signers[i], verifier=verifier,
                       execute=lambda root, txs: (bytes([len(txs)]) * 32, bytes(32)))
             for i in range(4)]
    shares: list[tuple[int, bytes]] = []
    for h, commit in enumerate([Commit(3, b"\x01" * 32, "direct", (), (b"a",)),
                                Commit(5, b"\x02" * 32, "direct", (), (b"b",)),
                                Commit(7, b"\x03" * 32, "direct", (), (b"c",))], start=1):
        for i, c in enumerate(cores):
            c.on_commit(commit, [i])
            shares.append((i, c.own_shares[h]))
    for i, data in shares:  # everyone finalizes heights 1..3
        for j, c in enumerate(cores):
            if j != i:
                _, sig = codec.decode_message(data)
                assert isinstance(sig, BlockSig)
                c.on_block_sig(i, sig)
    assert all(c.finalized_height == 3 for c in cores)
    # a stray share of height 1 (a duplicate on the wire) reaches v1 from v2
    _, stray = codec.decode_message(cores[2].own_shares[1])
    assert isinstance(stray, BlockSig)
    exchanged = 0
    inbox: list[tuple[int, int, BlockSig]] = [(2, 1, stray)]
    while inbox and exchanged < 100:
        sender, to, share = inbox.pop()
        for e in cores[to].on_block_sig(sender, share):
            assert isinstance(e, Send)
            _, back = codec.decode_message(e.data)
            assert isinstance(back, BlockSig)
            inbox.append((to, e.to, back))
            exchanged += 1
    assert exchanged == 2, exchanged  # v1 helps v2 once, v2 helps v1 once, then quiet


def test_a_stalled_core_with_certificates_joins_a_restart_round() -> None:
    """Chaos seed 159: two validators restarted the DAG at a round the third (still holding
    certificates, waiting for votes the restarted ones could no longer give) dropped; with
    the fourth down, no round could gather a quorum again. A core whose quorum round has
    not moved for ``restart_after_ms`` adopts the restart round; a healthy one does not."""
    live = _dags(4)
    _pump(live, [(i, e) for i, d in enumerate(live) for e in d.propose(1, SKIP, 0)])
    held = live[0]
    assert held.certs and not held.restartable
    restarted = _resumed([0, 0, 3, 3])[2]
    header = _restart_header(restarted.restart_at(4, 0))
    assert held.on_header(2, header, 0) == [] and held.gc_round == 0  # healthy: drops it
    held.stalled = True  # the validator core saw no quorum round move for a while
    effects = held.on_header(2, header, 0)
    assert held.gc_round == 3 and held.round == 4 and not held.certs
    assert any(isinstance(e, Broadcast) for e in effects)  # our own restart header went out
