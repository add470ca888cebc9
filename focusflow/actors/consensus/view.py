"""A read-only snapshot of a validator's consensus core: what it waits for, and on whom.

Why: when a chain stops making blocks, an operator's first questions are the ones a
CometBFT ``/consensus_state`` or Erlang's observer answer: which round are we in, who
leads it, whose votes arrived and whose are missing, how far did we commit. The cores
hold all of it; :func:`consensus_view` reads it (never mutates, never advances time) into
plain frozen values, so the node (``node.explain``) can name the validators and serve it
over ``/v1/consensus``, and tests can drive a core and check the view directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from focusflow.actors.consensus.types import Committee

if TYPE_CHECKING:
    from focusflow.actors.consensus.node import ValidatorCore


@dataclass(frozen=True, slots=True)
class Tally:
    """Who has and who has not contributed to one quorum (validator indices)."""

    seen: tuple[int, ...]
    missing: tuple[int, ...]
    stake_seen: int
    stake_needed: int  # the quorum stake

    @classmethod
    def of(cls, committee: Committee, seen: Iterable[int]) -> Tally:
        have = sorted(set(seen))
        return cls(tuple(have), tuple(i for i in range(committee.size) if i not in have),
                   committee.stake_of(have), committee.quorum_stake)

    @property
    def complete(self) -> bool:
        """Whether the seen stake reaches the quorum."""
        return self.stake_seen >= self.stake_needed


@dataclass(frozen=True, slots=True)
class ConsensusView:
    """One validator's consensus state at a moment (see ``docs/operations.md``).

    ``round``: the DAG round of our latest header. ``header_votes``: the votes on that
    header (a certificate needs the quorum stake). ``certificates``: the authors whose
    round-``round`` certificate we hold (the next round needs the quorum stake of them).
    ``leader``: the fast-path leader of anchor slot ``round`` (reputation schedule; None below slot 2) and
    whether we hold its certificate. ``block_votes``: notarisation shares of the block
    after the last finalized one, None when no such block is built yet.
    """

    me: int
    round: int
    mode: str  # "fast" | "fallback"
    consecutive_timeouts: int
    leader: int | None
    leader_certified: bool
    header_votes: Tally
    certificates: Tally
    last_decided_slot: int
    built_height: int
    finalized_height: int
    block_votes: Tally | None
    pending_txs: int


def consensus_view(core: ValidatorCore) -> ConsensusView:
    """Snapshot ``core`` (read-only: the core is not advanced, nothing is mutated)."""
    committee, dag, blocks = core.committee, core.dag, core.blocks
    round_ = dag.round
    own = dag.own
    voters: Iterable[int] = ()
    if own is not None and own.header.round == round_:
        cert = dag.certs.get(own.digest)
        voters = [v for v, _ in cert.votes] if cert is not None else list(dag.own_votes)
    held = dag.by_round.get(round_, {})
    leader = core.bft.leader(round_) if round_ >= 2 else None
    pending = blocks.blocks.get(blocks.finalized_height + 1)
    return ConsensusView(
        me=core.me,
        round=round_,
        mode=core.bft.mode.mode,
        consecutive_timeouts=core.bft.mode.consecutive_timeouts,
        leader=leader,
        leader_certified=leader is not None and leader in held,
        header_votes=Tally.of(committee, voters),
        certificates=Tally.of(committee, held),
        last_decided_slot=core.bft.last_slot,
        built_height=blocks.height,
        finalized_height=blocks.finalized_height,
        block_votes=None if pending is None else Tally.of(committee, pending.sigs),
        pending_txs=len(dag.pending),
    )
