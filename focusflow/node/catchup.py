"""Finishing the blocks a restart left half-signed: a sans-IO core (issue 16 finding 1).

A validator makes its share of block h + 1 durable before the share leaves it
(``BlockLog.save_pending``), so a crash between signing and finality leaves blocks that
some validators signed and that no log holds. After the restart no consensus core still
collects shares for them. This core does, for the shell (``node/validator.py``), with
two rules:

* **Finish.** A validator holding its own share of block h + 1 (its log at h) counts
  the verified shares of the *same* block that peers offer; at the quorum stake the
  block is final (it is exactly a block sync record: quorum-signed, chained).
* **Adopt.** A validator that never signed anything at h + 1 signs an offered block once
  shares of more than a third of the stake (``validity_stake``) back it. Why this is
  safe: an honest validator signs one block per height, so one of those signers being
  honest means the block came out of consensus; and two blocks cannot both reach the
  quorum stake at h + 1 without an honest validator signing both. Why it is needed:
  when only f + 1 validators had signed h + 1 before a restart of everyone, those wait
  for h + 1 (their guard forbids another block there) and the others resume at h;
  neither half is a quorum, and the chain stalls for good without adoption.

The core keeps at most one offer per peer (the newest), only for the height just above
the caller's tip, so a peer offering many blocks costs memory bounded by the committee
size. Everything is verified here; an offer that does not verify is ignored (counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import DOMAIN_BLOCK, Verifier, digest
from focusflow.actors.consensus.types import BlockSig, Committee
from focusflow.node.chain import txs_match
from focusflow.node.messages import BlockRecord

#: Own pending blocks offered per sync tick (their shares; the block itself only the first).
OFFERED_SHARES_MAX = 8


@dataclass(frozen=True, slots=True)
class Final:
    """A block now backed by the quorum stake: apply it as a synced block."""

    record: BlockRecord


@dataclass(frozen=True, slots=True)
class Adopt:
    """A block at the tip + 1 backed by more than a third of the stake, at a height we
    never signed: the shell executes it, signs it, makes the share durable, then offers."""

    record: BlockRecord


@dataclass(slots=True)
class CatchUp:
    """Shares of blocks signed before a restart and not logged yet (see module doc).

    ``pending``: our own signed blocks above the log, lowest first (``BlockLog.pending``).
    """

    committee: Committee
    verifier: Verifier
    pending: list[BlockRecord] = field(default_factory=list)
    #: digest of our lowest pending block -> signer -> share (ours included)
    shares: dict[bytes, dict[int, bytes]] = field(default_factory=dict)
    #: offering validator -> its newest verified offer at the tip + 1 (one share each)
    offers: dict[int, BlockRecord] = field(default_factory=dict)
    refused: int = 0

    def advance(self, tip: int) -> None:
        """The log reached ``tip``: forget what is at or below it."""
        self.pending = [r for r in self.pending if r.height > tip]
        self.offers = {i: r for i, r in self.offers.items() if r.height == tip + 1}
        mine = self.pending[0].digest if self.pending else None
        self.shares = {d: s for d, s in self.shares.items() if d == mine}

    def adopted(self, mine: BlockRecord, backed: BlockRecord) -> Final | None:
        """We signed ``mine`` (an adopted block, our share durable): collect shares for it
        from now on, starting with those ``backed`` it; final already if they and ours
        reach the quorum stake."""
        self.pending = sorted([*self.pending, mine], key=lambda r: r.height)
        self.shares[mine.digest] = dict(zip(backed.signers, backed.signatures, strict=True))
        return self._count(mine, mine.signers[0], mine.signatures[0])

    def reset(self) -> None:
        """Back in consensus: the core collects shares again."""
        self.pending, self.shares, self.offers = [], {}, {}

    # ----------------------------------------------------------------- shares in
    def on_share(self, sender: int, data: bytes, tip: int) -> Final | None:
        """A consensus frame from ``sender`` while we follow: a share of our lowest
        pending block counts; anything else (another block, a bad signature, bytes that
        do not decode) is not for us and is ignored."""
        mine = self._lowest(tip)
        if mine is None:
            return None
        try:
            claimed, msg = codec.decode_message(data)
        except codec.DecodeError:
            return None
        if not (claimed == sender and isinstance(msg, BlockSig) and msg.voter == sender
                and msg.payload == mine.header and self._signed_by(sender, msg.payload,
                                                                   msg.signature, msg.public_key)):
            return None
        return self._count(mine, sender, msg.signature)

    def on_offer(self, sender: int, record: BlockRecord, *, tip: int, tip_digest: bytes,
                 signed_height: int) -> Final | Adopt | None:
        """A peer's offer of a block it signed (its share only, with the block).

        ``signed_height``: the highest height we ever signed (our guard), which decides
        whether we may adopt.
        """
        if record.height != tip + 1 or not self._valid_offer(sender, record, tip_digest):
            return None
        mine = self._lowest(tip)
        if mine is not None:
            if record.digest != mine.digest:
                return None  # we signed another block here: never adopt, never count
            return self._count(mine, sender, record.signatures[0])
        self.offers[sender] = record
        if signed_height >= record.height:
            return None  # we signed at this height and hold no share: block sync only
        backers = [i for i, r in self.offers.items() if r.digest == record.digest]
        if self.committee.stake_of(backers) < self.committee.validity_stake:
            return None
        return Adopt(record)

    def backers(self, record: BlockRecord) -> BlockRecord:
        """``record`` with every offered share of it (the adopter adds its own after)."""
        got = {i: r.signatures[0] for i, r in self.offers.items() if r.digest == record.digest}
        signers = tuple(sorted(got))
        return BlockRecord(record.height, record.header, record.digest, record.txs, signers,
                           tuple(got[i] for i in signers))

    # ----------------------------------------------------------------- helpers
    def _lowest(self, tip: int) -> BlockRecord | None:
        mine = self.pending[0] if self.pending else None
        return mine if mine is not None and mine.height == tip + 1 else None

    def _count(self, mine: BlockRecord, sender: int, signature: bytes) -> Final | None:
        got = self.shares.setdefault(mine.digest, dict(zip(mine.signers, mine.signatures,
                                                          strict=True)))
        got[sender] = signature
        if self.committee.stake_of(got) < self.committee.quorum_stake:
            return None
        signers = tuple(sorted(got))
        self.shares.pop(mine.digest)
        return Final(BlockRecord(mine.height, mine.header, mine.digest, mine.txs, signers,
                                 tuple(got[i] for i in signers)))

    def _signed_by(self, index: int, payload: bytes, signature: bytes, key: bytes | None = None) -> bool:
        if not self.committee.is_member(index):
            return False
        own = self.committee.validators[index].public_key
        return (key is None or key == own) and self.verifier.verify(own, payload, signature)

    def _valid_offer(self, sender: int, record: BlockRecord, tip_digest: bytes) -> bool:
        """One share, the sender's, over a header that chains on our tip and commits to
        the transactions carried with it."""
        ok = False
        if (record.signers == (sender,) and len(record.signatures) == 1
                and digest(DOMAIN_BLOCK, record.header) == record.digest):
            try:
                header = codec.decode_block_header(record.header)
            except codec.DecodeError:
                header = None
            ok = (header is not None and header.height == record.height
                  and header.parent == tip_digest
                  and self._signed_by(sender, record.header, record.signatures[0])
                  and txs_match(record, header))  # last: it builds the block's square
        if not ok:
            self.refused += 1
        return ok
