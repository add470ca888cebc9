"""The catch-up core (``node/catchup.py``, issue 16 finding 1): finishing our own pending
block with peers' shares, adopting an offered block backed by more than a third of the
stake, and never adopting on a forged, mis-chained or under-backed offer."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import Ed25519Verifier
from focusflow.actors.consensus.types import BlockSig
from focusflow.node.catchup import Adopt, CatchUp, Final
from focusflow.node.messages import BlockRecord
from tests.node.test_chain import COMMITTEE, SIGNERS, make_record

TIP = bytes([7]) * 32  # digest of our block 4
BLOCK = make_record(5, TIP, (b"tx-a", b"tx-b"), [0, 1, 2, 3])
OTHER = make_record(5, TIP, (b"tx-c",), [0, 1, 2, 3])


def share_of(record: BlockRecord, i: int) -> BlockRecord:
    """Validator ``i``'s own offer of ``record``: its share only."""
    k = record.signers.index(i)
    return dataclasses.replace(record, signers=(i,), signatures=(record.signatures[k],))


def core(pending: tuple[BlockRecord, ...] = ()) -> CatchUp:
    return CatchUp(COMMITTEE, Ed25519Verifier(), pending=list(pending))


def offer(c: CatchUp, i: int, record: BlockRecord, *, signed: int = 4) -> Final | Adopt | None:
    return c.on_offer(i, record, tip=4, tip_digest=TIP, signed_height=signed)


def test_a_block_offered_by_more_than_a_third_of_the_stake_is_adopted() -> None:
    c = core()
    assert offer(c, 0, share_of(BLOCK, 0)) is None  # a quarter of the stake: not yet
    decision = offer(c, 1, share_of(BLOCK, 1))
    assert isinstance(decision, Adopt) and decision.record.digest == BLOCK.digest
    assert c.backers(decision.record).signers == (0, 1)
    # we sign it: with the two backers, three of four is the quorum at once
    mine = share_of(BLOCK, 2)
    final = c.adopted(mine, c.backers(decision.record))
    assert isinstance(final, Final) and final.record.signers == (0, 1, 2)
    assert final.record.txs == BLOCK.txs


def test_never_adopted_at_a_height_we_signed() -> None:
    c = core()
    offer(c, 0, share_of(BLOCK, 0), signed=5)
    assert offer(c, 1, share_of(BLOCK, 1), signed=5) is None


def test_offers_of_two_blocks_do_not_add_up() -> None:
    c = core()
    assert offer(c, 0, share_of(BLOCK, 0)) is None
    assert offer(c, 1, share_of(OTHER, 1)) is None  # one each: neither has the stake
    # a validator changing its offer counts once, for its newest block
    assert offer(c, 0, share_of(OTHER, 0)) == Adopt(share_of(OTHER, 0))


def test_forged_and_mischained_offers_are_refused_and_counted() -> None:
    c = core()
    good0 = share_of(BLOCK, 0)
    forged = [
        dataclasses.replace(good0, signatures=(bytes(64),)),  # bad signature
        dataclasses.replace(good0, signers=(1,)),  # someone else's share claimed as ours
        dataclasses.replace(good0, txs=(b"tx-evil",)),  # transactions not the header's
        dataclasses.replace(good0, digest=bytes(32)),  # digest not the header's
        share_of(make_record(5, bytes(32), (b"x",), [0]), 0),  # does not chain on our tip
        BlockRecord(5, b"\x00garbage", BLOCK.digest, (), (0,), (bytes(64),)),
        dataclasses.replace(BLOCK, signers=(0, 1), signatures=BLOCK.signatures[:2]),  # two shares
    ]
    for bad in forged:
        assert offer(c, 0, bad) is None
    assert c.refused == len(forged) and c.offers == {}
    # a forged offer in validator 1's name never backs validator 0's real one
    assert offer(c, 0, good0) is None
    assert offer(c, 1, dataclasses.replace(share_of(BLOCK, 1), signatures=(bytes(64),))) is None
    assert offer(c, 5, share_of(BLOCK, 1)) is None  # not a validator


def test_our_pending_block_is_finished_by_shares_and_offers_of_the_same_block() -> None:
    mine = share_of(BLOCK, 0)
    c = core((mine,))
    # an offer of another block at our pending height is never counted nor adopted
    assert offer(c, 1, share_of(OTHER, 1)) is None and offer(c, 2, share_of(OTHER, 2)) is None
    frame = codec.encode_message(1, BlockSig(1, BLOCK.header, BLOCK.signatures[1],
                                             SIGNERS[1].public_key))
    assert c.on_share(1, frame, 4) is None  # two of four
    assert c.on_share(2, frame, 4) is None  # claimed sender 1 in a frame from 2: ignored
    final = offer(c, 3, share_of(BLOCK, 3))
    assert isinstance(final, Final) and final.record.signers == (0, 1, 3)


def test_offers_below_or_above_the_next_height_are_ignored() -> None:
    c = core()
    for h in (4, 6):
        rec = share_of(make_record(h, TIP, (b"t",), [0]), 0)
        assert c.on_offer(0, rec, tip=4, tip_digest=TIP, signed_height=4) is None
    assert c.offers == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.booleans()), max_size=12))
def test_adoption_needs_honest_looking_backing_of_one_block(offers: list[tuple[int, bool, bool]]) -> None:
    """Whatever order and mix of offers arrive: an adoption only ever happens for a block
    whose current, verified offers come from validators of more than a third of the stake,
    and at most the blocks offered can be adopted."""
    c = core()
    latest: dict[int, BlockRecord] = {}
    for who, other, forge in offers:
        rec = share_of(OTHER if other else BLOCK, who)
        if forge:
            rec = dataclasses.replace(rec, signatures=(bytes(64),))
        got = offer(c, who, rec)
        if not forge:
            latest[who] = rec
        if got is not None:
            assert isinstance(got, Adopt)
            backers = [i for i, r in latest.items() if r.digest == got.record.digest]
            assert COMMITTEE.stake_of(backers) >= COMMITTEE.validity_stake
            assert got.record.digest in {BLOCK.digest, OTHER.digest}
