"""Shared types of the consensus cores: committee, limits, effects, errors, messages.

Why one module: the mempool DAG, the fast-path BFT, the Snowball fallback and the block
builder exchange these values in-process (a validator is the four cores side by side),
and every one of them crosses the wire through ``codec`` as Cap'n Proto bytes.
Everything here is frozen so a core can hand a value to another without copying.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

DIGEST_BYTES = 32
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
SKIP = b""  # the anchor vote that says "no anchor for this slot"


# --------------------------------------------------------------------------- committee


@dataclass(frozen=True, slots=True)
class Validator:
    """One committee member: its index on the wire, Ed25519 verify key and stake."""

    index: int
    public_key: bytes
    stake: int


@dataclass(frozen=True)
class Committee:
    """The validator set of an epoch, with stake thresholds.

    ``quorum_stake`` is the least stake strictly above 2/3 of the total (2f+1 for equal
    stakes), ``validity_stake`` the least stake strictly above 1/3 (f+1). Two quorums
    intersect in at least ``validity_stake``, which exceeds what Byzantine validators hold
    (< 1/3 by assumption): the docs/consensus.md safety argument rests on this.
    """

    validators: tuple[Validator, ...]
    total_stake: int = field(init=False)
    quorum_stake: int = field(init=False)
    validity_stake: int = field(init=False)

    def __post_init__(self) -> None:
        assert len(self.validators) >= 1, "empty committee"
        assert all(v.index == i for i, v in enumerate(self.validators)), "indices must be 0..n-1"
        assert all(v.stake > 0 for v in self.validators), "stake must be positive"
        assert len({v.public_key for v in self.validators}) == len(self.validators)
        total = sum(v.stake for v in self.validators)
        quorum = (2 * total) // 3 + 1
        object.__setattr__(self, "total_stake", total)
        object.__setattr__(self, "quorum_stake", quorum)
        object.__setattr__(self, "validity_stake", total - quorum + 1)
        assert 2 * self.quorum_stake - total >= self.validity_stake

    @property
    def size(self) -> int:
        """Number of validators."""
        return len(self.validators)

    def stake_of(self, indices: Iterable[int]) -> int:
        """Stake held by a set of validator indices (each counted once)."""
        return sum(self.validators[i].stake for i in set(indices))

    def is_member(self, index: int) -> bool:
        """Whether ``index`` names a validator of this committee."""
        return 0 <= index < len(self.validators)

    def leader(self, slot: int) -> int:
        """Base leader of an anchor slot (every round from 2 on): round-robin.

        Round-robin rather than stake-weighted so that every validator, honest or not,
        leads equally often. The schedule validators vote by is ``BftCore.leader``: this
        one with the slots of the validators that committed history scores worst handed
        to the best (``bft/reputation.py``); the fallback covers the faulty leaders left.
        """
        assert slot >= 2, f"slot {slot} is not an anchor round"
        return (slot - 2) % len(self.validators)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Batch:
    """Client transactions sorted by focus tag, highest first (opaque signed bytes)."""

    payloads: tuple[bytes, ...]
    focus: tuple[int, ...]

    def __post_init__(self) -> None:
        assert len(self.payloads) == len(self.focus)


@dataclass(frozen=True, slots=True)
class Header:
    """A DAG vertex proposal: author's header for ``round``."""

    round: int
    author: int
    parents: tuple[bytes, ...]
    batches: tuple[Batch, ...]
    anchor_vote: bytes = SKIP


@dataclass(frozen=True, slots=True)
class SignedHeader:
    """A header with the exact signed bytes, their signature and the author's key."""

    header: Header
    payload: bytes
    signature: bytes
    public_key: bytes
    digest: bytes


@dataclass(frozen=True, slots=True)
class Vote:
    """A voter's signature over a header digest."""

    header_digest: bytes
    round: int
    author: int
    voter: int
    signature: bytes
    public_key: bytes


@dataclass(frozen=True, slots=True)
class Certificate:
    """A signed header with votes carrying at least the quorum stake."""

    signed: SignedHeader
    votes: tuple[tuple[int, bytes], ...]

    @property
    def digest(self) -> bytes:
        """A certificate is named by its header's digest (one cert per header)."""
        return self.signed.digest

    @property
    def round(self) -> int:
        """Round of the certified header."""
        return self.signed.header.round

    @property
    def author(self) -> int:
        """Author of the certified header."""
        return self.signed.header.author


@dataclass(frozen=True, slots=True)
class CertRequest:
    """Ask a peer for certificates (and their missing ancestry) by digest."""

    digests: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CertResponse:
    """Certificates answering a ``CertRequest``, lowest round first."""

    certificates: tuple[Certificate, ...]


@dataclass(frozen=True, slots=True)
class PollQuery:
    """Snowball: "which anchor do you prefer for ``slot``?"."""

    slot: int
    nonce: int


@dataclass(frozen=True, slots=True)
class PollReply:
    """Snowball answer; ``preference`` is a certificate digest or ``SKIP``."""

    slot: int
    nonce: int
    preference: bytes


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """What a block commits: height, parent, state, data-availability and π roots."""

    height: int
    parent: bytes
    state_root: bytes
    da_root: bytes
    pi_root: bytes
    anchor: bytes
    anchor_round: int
    #: The leader-reputation score delta of this block's anchor, one per validator
    #: (``bft/reputation.py``; empty with reputation off). Committed, so a validator that
    #: did not commit these blocks itself (restarted, synced) rebuilds the leader schedule
    #: from its log exactly as the others computed it: a restarted validator voting by
    #: another schedule split every slot's votes, and with one validator down no slot
    #: could be decided again (issue 16 finding 1, restart while another is down).
    reputation: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class BlockSig:
    """A notarisation share: ``payload`` is the encoded BlockHeader that was signed."""

    voter: int
    payload: bytes
    signature: bytes
    public_key: bytes


@dataclass(frozen=True, slots=True)
class ClientTx:
    """A client's transaction as submitted: opaque signed bytes and a focus tag."""

    payload: bytes
    focus: int
    client: int


Payload = (
    SignedHeader | Vote | Certificate | CertRequest | CertResponse | PollQuery | PollReply | BlockSig
)


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Send:
    """Deliver encoded ``data`` to validator ``to``."""

    to: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Deliver encoded ``data`` to every other validator."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call ``tick`` again no later than ``at_ns``."""

    at_ns: int


@dataclass(frozen=True, slots=True)
class Reject:
    """Tell a client its transaction was not admitted, and why (QoS shed, invalid...)."""

    client: int
    tx_digest: bytes
    focus: int
    cutoff: int
    reason: str


@dataclass(frozen=True, slots=True)
class Commit:
    """An anchor and its causal history were ordered: ``txs`` in final order."""

    slot: int
    anchor: bytes
    via: str  # "fast" (the slot's leader) or "fallback" (another vertex, chosen by Snowball)
    certificates: tuple[bytes, ...]
    txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Finalize:
    """A block was notarised by the quorum stake of signatures.

    ``signatures[i]`` is validator ``signers[i]``'s signature over the encoded header:
    the effect carries the notarisation itself, so whoever makes the block durable
    stores the quorum certificate every reader of a block checks (block sync, the
    node's block-log check) without keeping shares of its own.
    """

    header: BlockHeader
    digest: bytes
    signers: tuple[int, ...]
    signatures: tuple[bytes, ...]
    txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class SettleRewards:
    """Deterministic reward batch for blocks ``first_height..last_height``."""

    batch: int
    first_height: int
    last_height: int
    payouts: tuple[tuple[int, int], ...]  # (validator, amount), by validator index


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """A peer broke the protocol; ``evidence`` holds the offending bytes when provable."""

    peer: int
    kind: str
    detail: str
    evidence: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class ModeChange:
    """The validator switched between the fast path and the Snowball fallback."""

    mode: str
    slot: int


Effect = (
    Send
    | Broadcast
    | SetTimer
    | Reject
    | Commit
    | Finalize
    | SettleRewards
    | Misbehaviour
    | ModeChange
)


# --------------------------------------------------------------------------- errors


class ConsensusError(Exception):
    """Base of the errors raised by the consensus cores."""


class PeerFault(ConsensusError):
    """A remote (possibly Byzantine) peer sent something invalid: its fault, not ours.

    Carries the peer index, a short ``kind`` and the offending bytes as evidence, so the
    caller can turn it into a ``Misbehaviour`` effect and keep running.
    """

    def __init__(self, peer: int, kind: str, detail: str, evidence: tuple[bytes, ...] = ()):
        super().__init__(f"peer {peer}: {kind}: {detail}")
        self.peer = peer
        self.kind = kind
        self.detail = detail
        self.evidence = evidence

    def to_effect(self) -> Misbehaviour:
        """The effect that reports this fault."""
        return Misbehaviour(self.peer, self.kind, self.detail, self.evidence)


class LocalBug(ConsensusError):
    """Our own invariant broke: the core stays failed (TigerBeetle: crash, don't limp)."""


def require(condition: bool, peer: int, kind: str, detail: str, *evidence: bytes) -> None:
    """Raise ``PeerFault`` unless ``condition``: validation of remote input."""
    if not condition:
        raise PeerFault(peer, kind, detail, tuple(evidence))
