"""Byzantine behaviours for simulations: rewrite what a validator sends and receives.

Used by the deterministic harness (``harness.py``) and the ``focusflow sim`` scenario
(``scenario.py``). A Byzantine validator runs the honest core; this class mutates its
effects (and, for double votes, its vote record) so the honest validators face:

* ``equivocate``: two different signed headers per round, one to each half of the peers;
* ``withhold``: no header when it leads a slot, half of its votes dropped;
* ``partial_anchor``: its anchor certificate reaches only half of the peers;
* ``poll_lie``: Snowball answers name a certificate other than the leader's;
* ``double_vote``: it votes for every header it sees (equivocating ones too);
* ``bad_sig``: 30% of its headers, votes and block shares carry broken signatures;
* ``silent``: it sends nothing.

Test and simulation machinery only: never imported by a node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import Signer
from focusflow.actors.consensus.types import (
    Batch,
    BlockSig,
    Broadcast,
    Certificate,
    ClientTx,
    Committee,
    Effect,
    PollReply,
    Send,
    SignedHeader,
    Vote,
)

if TYPE_CHECKING:
    from focusflow.actors.consensus.node import ValidatorCore

BEHAVIOURS = ("equivocate", "withhold", "partial_anchor", "poll_lie", "double_vote", "bad_sig", "silent")


class _Rng(Protocol):
    def random(self) -> float: ...

    def shuffle(self, x: list[int]) -> None: ...


class Adversary:
    """Applies each Byzantine validator's behaviours to its traffic."""

    def __init__(
        self,
        *,
        committee: Committee,
        signers: Mapping[int, Signer],
        behaviours: Mapping[int, tuple[str, ...]],
        rng: _Rng,
        extra_tx: Callable[[int], ClientTx],
    ) -> None:
        assert all(b in BEHAVIOURS for bs in behaviours.values() for b in bs), "unknown behaviour"
        assert set(behaviours) <= set(signers), "a Byzantine validator needs its key to equivocate"
        self.committee = committee
        self.signers = signers
        self.behaviours = behaviours
        self.rng = rng
        self.extra_tx = extra_tx

    def outgoing(self, i: int, node: ValidatorCore, effects: list[Effect]) -> list[Effect]:
        """Validator ``i``'s effects as its behaviours rewrite them."""
        behaviours = self.behaviours.get(i)
        if not behaviours:
            return effects
        if "silent" in behaviours:
            return [e for e in effects if not isinstance(e, Send | Broadcast)]
        out: list[Effect] = []
        for e in effects:
            if isinstance(e, Broadcast | Send):
                out.extend(self._mutate(i, node, behaviours, e))
            else:
                out.append(e)
        return out

    def incoming(self, i: int, node: ValidatorCore, data: bytes) -> None:
        """Before validator ``i`` handles ``data``: forget votes if it double-votes."""
        if "double_vote" not in self.behaviours.get(i, ()):
            return
        _, msg = codec.decode_message(data)
        if isinstance(msg, SignedHeader):
            node.dag.voted.pop((msg.header.round, msg.header.author), None)

    def _mutate(self, i: int, node: ValidatorCore, behaviours: tuple[str, ...], e: Send | Broadcast) -> list[Effect]:
        _, msg = codec.decode_message(e.data)
        if "withhold" in behaviours:
            r = msg.header.round if isinstance(msg, SignedHeader) else 0
            if r >= 2 and node.bft.leader(r) == i:
                return []  # withhold our anchor: the fast path must time out
            if isinstance(msg, Vote) and self.rng.random() < 0.5:
                return []
        if "partial_anchor" in behaviours and isinstance(msg, Certificate) and isinstance(e, Broadcast):
            r = msg.round
            if r >= 2 and node.bft.leader(r) == i:
                # Our anchor's certificate reaches only some peers: mixed views of the slot.
                peers = [j for j in range(self.committee.size) if j != i]
                self.rng.shuffle(peers)
                return [Send(j, e.data) for j in peers[: len(peers) // 2]]
        if "poll_lie" in behaviours and isinstance(msg, PollReply) and isinstance(e, Send):
            # Push Snowball away from the leader: answer with another certificate.
            certs = node.dag.by_round.get(msg.slot, {})
            others = sorted(c.digest for a, c in certs.items() if a != node.bft.leader(msg.slot))
            if others:
                return [replace(e, data=codec.encode_message(i, replace(msg, preference=others[0])))]
        if "bad_sig" in behaviours and self.rng.random() < 0.3:
            bad = self._corrupt(i, msg)
            if bad is not None:
                return [replace(e, data=bad)]
        if "equivocate" in behaviours and isinstance(msg, SignedHeader) and isinstance(e, Broadcast):
            return self._equivocate(i, node, msg)
        return [e]

    def _corrupt(self, i: int, msg: object) -> bytes | None:
        if isinstance(msg, SignedHeader):
            sig = bytes([msg.signature[0] ^ 1]) + msg.signature[1:]
            return codec.encode_message(i, replace(msg, signature=sig))
        if isinstance(msg, Vote):
            return codec.encode_message(i, replace(msg, signature=bytes(64)))
        if isinstance(msg, BlockSig):
            return codec.encode_message(i, replace(msg, signature=bytes(64)))
        return None

    def _equivocate(self, i: int, node: ValidatorCore, sh: SignedHeader) -> list[Effect]:
        """Send one header to half the peers and a conflicting one to the other half."""
        h = sh.header
        if h.batches:
            alt = replace(h, batches=())
        else:
            extra = self.extra_tx(i)
            alt = replace(h, batches=(Batch((extra.payload,), (extra.focus,)),))
        payload = codec.encode_header(alt)
        alt_sh = codec.signed_header(payload, self.signers[i].sign(payload), self.signers[i].public_key)
        node.dag.voted[(h.round, i)] = sh  # keep our own record consistent
        peers = [j for j in range(self.committee.size) if j != i]
        a = codec.encode_message(i, sh)
        b = codec.encode_message(i, alt_sh)
        return [Send(j, a if k % 2 == 0 else b) for k, j in enumerate(peers)]
