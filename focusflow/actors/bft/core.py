"""Fast-path BFT over the DAG (Bullshark-style anchors, one per round, explicit votes).

Every round s >= 2 is a slot. The fast-path anchor of slot s is the certificate of
``leader(s)`` in round s (round-robin adjusted by leader reputation, ``reputation.py``;
the commit rule itself never reads it). Every header of round s+1 carries an *anchor vote*:
the digest of a round-s certificate it links (its parents include it), or SKIP. An
honest validator votes for the leader's certificate when it holds it in time (fast path),
and otherwise for the anchor chosen by the Snowball fallback, or SKIP.

Commit rule (safe whatever mode each validator is in, see docs/consensus.md):

* **direct**: a value V with the quorum stake of votes among the certificates of round
  s+1 that we hold decides slot s = V. Certificates are unique per (round, author) and
  carry one vote each, so any other value has less than the validity stake in the whole
  DAG.
* **settled top**: we commit up to the highest slot t decided directly (V != SKIP) whose
  slot t-1 is also decided directly (SKIP included) or already behind us: slot t-1 cannot
  be judged from t's anchor, whose history holds no other round-t certificate.
* **indirect**: every slot s < t-1 is judged from the lowest anchor of the chain whose
  round is at least s+2, by the votes among the round s+1 certificates *in that
  anchor's causal history*: the value with the most stake if it reaches the validity
  stake (ties: smallest digest), SKIP otherwise. If anyone directly decided s = V, that
  history holds at least the validity stake of V votes (quorum intersection) and no
  other value reaches it, so everybody agrees; and the history is the same everywhere.

Committed anchors are linearised deterministically: the not-yet-ordered causal history of
each anchor, sorted by (round, author).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from focusflow.actors.bft.reputation import LeaderSchedule, ReputationConfig
from focusflow.actors.consensus.types import SKIP, Certificate, Committee


class DagView(Protocol):
    """What the commit rule reads from the mempool DAG."""

    certs: dict[bytes, Certificate]
    by_round: dict[int, dict[int, Certificate]]

    def ancestors_at(self, start: set[bytes], round_: int) -> set[bytes]:
        """Digests of round ``round_`` reachable from ``start``."""
        ...


@dataclass(frozen=True, slots=True)
class BftConfig:
    """Timing and mode switching of the fast path."""

    leader_timeout_ms: int = 1000
    fallback_after_timeouts: int = 2  # consecutive leader timeouts that switch to fallback
    fallback_slots: int = 1  # slots voted in fallback before trying the fast path again
    gc_depth_rounds: int = 60
    history_certs_max: int = 1 << 16
    reputation: ReputationConfig = field(default_factory=ReputationConfig)


@dataclass(frozen=True, slots=True)
class OrderedAnchor:
    """One committed anchor and its newly ordered causal history."""

    slot: int
    anchor: Certificate
    via: str
    history: tuple[Certificate, ...]
    reputation: tuple[int, ...] = ()  # the anchor's leader-score delta (its block carries it)


@dataclass
class ModeState:
    """Fast/fallback mode of this validator (local: safety never depends on it)."""

    mode: str = "fast"
    consecutive_timeouts: int = 0
    fallback_votes: int = 0
    slot_started_ns: dict[int, int] = field(default_factory=dict)


def tally(committee: Committee, voters: list[Certificate]) -> dict[bytes, int]:
    """Stake per anchor vote value among ``voters`` (each certificate counted once)."""
    out: dict[bytes, int] = {}
    seen: set[int] = set()
    for c in voters:
        assert c.author not in seen, "two certificates of one author in a round"
        seen.add(c.author)
        v = c.signed.header.anchor_vote
        out[v] = out.get(v, 0) + committee.validators[c.author].stake
    return out


class BftCore:
    """Commit rule, linearisation and the local fast/fallback mode."""

    def __init__(self, *, committee: Committee, config: BftConfig | None = None) -> None:
        self.committee = committee
        self.config = config or BftConfig()
        self.last_slot = 1  # every slot <= last_slot is decided (slots start at round 2)
        self.last_anchor_round = 0
        self.ordered: dict[bytes, int] = {}  # digest -> round, pruned below the GC depth
        self.mode = ModeState()
        self.decisions: dict[int, str] = {}  # slot -> "fast" | "fallback" | "skip" (bounded by GC)
        #: A resumed core's last committed anchor (from its block log): its causal history
        #: is what the others ordered before; marked ordered before our first commit.
        self.resumed_anchor: bytes | None = None
        self.schedule = LeaderSchedule(
            committee=committee, config=self.config.reputation, gc_depth_rounds=self.config.gc_depth_rounds
        )

    def leader(self, slot: int) -> int:
        """Fast-path leader of ``slot``: round-robin, with the slots of the validators that
        committed history scores worst handed to the best (``reputation.py``)."""
        return self.schedule.leader(slot)

    # ------------------------------------------------------------------ commit rule

    def direct(self, dag: DagView, slot: int, *, skip_counts: bool = False) -> bytes | None:
        """The value directly decided for ``slot`` from what we hold, if any.

        A value needs the quorum stake of votes among the round ``slot+1`` certificates we
        hold. SKIP counts only with ``skip_counts`` (a directly skipped slot settles the
        slot below a commit; it never triggers one).
        """
        voters = list(dag.by_round.get(slot + 1, {}).values())
        for value, stake in tally(self.committee, voters).items():
            if stake < self.committee.quorum_stake:
                continue
            if value == SKIP and skip_counts:
                return value
            if value != SKIP and value in dag.certs:
                return value
        return None

    def indirect(self, dag: DagView, slot: int, anchor: Certificate) -> bytes:
        """Decision for ``slot`` as seen from the causal history of a later ``anchor``."""
        assert anchor.round >= slot + 2, "a slot is judged from two rounds up or more"
        reach = dag.ancestors_at({anchor.digest}, slot + 1)
        voters = [dag.certs[d] for d in reach]
        counts = tally(self.committee, voters)
        best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if not best or best[0][1] < self.committee.validity_stake:
            return SKIP
        value = best[0][0]
        if value != SKIP and value not in dag.certs:
            return SKIP  # cannot happen for a linked vote (parents are held); kept total
        return value

    def _top(self, dag: DagView) -> tuple[int, bytes, bytes | None] | None:
        """Highest slot t decided directly (non-SKIP) whose slot t-1 is settled too:
        decided directly (SKIP included) or already behind us. Slot t-1 cannot be judged
        from t's anchor (its votes are in round t, the anchor's own round)."""
        top = max(dag.by_round, default=0)
        for t in range(top - 1, self.last_slot, -1):
            v = self.direct(dag, t)
            if v is None:
                continue
            if t - 1 <= self.last_slot:
                return (t, v, None)
            below = self.direct(dag, t - 1, skip_counts=True)
            if below is not None:
                return (t, v, below)
        return None

    def try_commit(self, dag: DagView) -> list[OrderedAnchor]:
        """Commit the highest settled direct decision and, through it, the earlier slots.

        Slot s (s < t-1) is judged from the lowest anchor already in the chain whose round
        is at least s+2: every validator with the same decisions above s picks the same
        anchor, hence the same history (docs/consensus.md, safety argument).
        """
        found = self._top(dag)
        if found is None:
            return []
        self._adopt_resumed_history(dag)
        slot, value, below = found
        chain: list[tuple[int, Certificate]] = [(slot, dag.certs[value])]
        self.decisions[slot] = "decided"
        if below is not None:
            if below == SKIP:
                self.decisions[slot - 1] = "skip"
            else:
                chain.append((slot - 1, dag.certs[below]))
        for s2 in range(slot - 2, self.last_slot, -1):
            judge = min((a for _, a in chain if a.round >= s2 + 2), key=lambda a: a.round)
            v2 = self.indirect(dag, s2, judge)
            if v2 == SKIP:
                self.decisions[s2] = "skip"
                continue
            chain.append((s2, dag.certs[v2]))
        out = [self._order(dag, s3, a) for s3, a in sorted(chain, key=lambda sa: sa[0])]
        self.last_slot = slot
        self.last_anchor_round = slot
        self._prune()
        return out

    def _adopt_resumed_history(self, dag: DagView) -> None:
        """Resumed on a chain committed elsewhere: mark the causal history of its last
        anchor as ordered, as it is at every validator that committed that anchor (each
        committed anchor lies in the causal history of the next: quorum intersection), so
        our first histories — their blocks' transactions and reputation deltas — are the
        others' (issue 16: a restarted validator counted every certificate above its
        floor again, its block header differed and, with one validator down, no block
        could be finalized). Without that anchor in our DAG we cannot know; we try once."""
        anchor = self.resumed_anchor
        self.resumed_anchor = None
        cert = dag.certs.get(anchor) if anchor is not None else None
        if cert is None:
            return
        floor = cert.round - self.config.gc_depth_rounds
        stack = [cert.digest]
        while stack:
            d = stack.pop()
            c = dag.certs.get(d)
            if d in self.ordered or c is None or c.round <= floor:
                continue
            self.ordered[d] = c.round
            stack.extend(c.signed.header.parents)

    def _order(self, dag: DagView, slot: int, anchor: Certificate) -> OrderedAnchor:
        """Deterministic linearisation of the anchor's not-yet-ordered causal history."""
        assert anchor.round == slot
        floor = anchor.round - self.config.gc_depth_rounds
        seen: dict[bytes, Certificate] = {}
        stack = [anchor.digest]
        while stack:
            d = stack.pop()
            if d in seen or d in self.ordered:
                continue
            c = dag.certs.get(d)
            if c is None:
                # Only below our GC floor may a parent be absent (DAG closure above it).
                continue
            if c.round <= floor:
                continue
            seen[d] = c
            assert len(seen) <= self.config.history_certs_max, "history over history_certs_max"
            stack.extend(c.signed.header.parents)
        history = tuple(sorted(seen.values(), key=lambda c: (c.round, c.author)))
        for c in history:
            self.ordered[c.digest] = c.round
        via = "fast" if anchor.author == self.leader(slot) else "fallback"
        self.decisions[slot] = via
        reputation = self.schedule.on_commit(slot, anchor, history)
        return OrderedAnchor(slot, anchor, via, history, reputation)

    def _prune(self) -> None:
        floor = self.last_anchor_round - self.config.gc_depth_rounds
        self.ordered = {d: r for d, r in self.ordered.items() if r > floor}
        self.decisions = {s: v for s, v in self.decisions.items() if s > floor}

    # ------------------------------------------------------------------ mode

    def slot_started(self, slot: int, now_ns: int) -> int:
        """When we first waited on ``slot``'s leader (start of its timeout)."""
        return self.mode.slot_started_ns.setdefault(slot, now_ns)

    def on_fast_vote(self, slot: int) -> None:
        """We voted for the leader in time: the fast path works."""
        self.mode.consecutive_timeouts = 0
        self.mode.slot_started_ns.pop(slot, None)

    def on_timeout(self, slot: int) -> bool:
        """The leader of ``slot`` timed out; True when this switches us to fallback."""
        self.mode.consecutive_timeouts += 1
        if self.mode.mode == "fast" and self.mode.consecutive_timeouts >= self.config.fallback_after_timeouts:
            self.mode.mode = "fallback"
            self.mode.fallback_votes = 0
            return True
        return False

    def on_fallback_vote(self, slot: int) -> bool:
        """We cast a fallback vote; True when this switches us back to the fast path."""
        assert self.mode.mode == "fallback"
        self.mode.fallback_votes += 1
        self.mode.slot_started_ns.pop(slot, None)
        if self.mode.fallback_votes >= self.config.fallback_slots:
            self.mode.mode = "fast"
            self.mode.consecutive_timeouts = 0
            return True
        return False

    def invariants(self) -> None:
        """Checks run after every step."""
        assert self.last_slot >= 1
        assert self.mode.mode in ("fast", "fallback")
        assert all(r > self.last_anchor_round - self.config.gc_depth_rounds for r in self.ordered.values())
        self.schedule.invariants()
