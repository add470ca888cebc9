"""Leader reputation (HammerHead-style): a leader schedule computed from committed history.

Why: with round-robin leaders a crashed, slow or withholding validator still leads one
slot in n, and every such slot costs honest validators a ``leader_timeout_ms`` wait. Here
each committed anchor adds a score delta per validator, computed only from what the
anchor commits (its ordered causal history and the slot decisions of the chain); every
``every_anchors`` committed anchors the schedule is recomputed from the last
``window_anchors`` deltas: the worst validators (up to the stake a Byzantine coalition
may hold) hand their slots to the best ones. The new schedule leads the slots from the
switching anchor's round + ``lag_slots`` on.

Because the inputs are committed data (the same sequence of anchors and histories at
every honest validator, docs/consensus.md Lemma 4), every honest validator that has
committed the switching anchor computes the same schedule for the same slots. The commit
rule never reads the schedule (anchor votes are explicit), so a validator that has not yet
committed a switch and votes by the older schedule costs that slot its fast path, never
safety.

Score of validator v over the window (integers, deterministic):

* +1 per certificate of v in a committed history (it was available and referenced in
  time: a crashed or late validator's certificates are not);
* +1 per such certificate whose anchor vote is the committed anchor of its slot (it voted
  for what the chain decided, in time);
* ``-skip_penalty`` per slot whose scheduled leader was v and that did not commit v's
  certificate (skipped, or decided for another certificate by the fallback).

A validator's certificates are unique per (round, author) (Lemma 1), so it earns at most
2 points per round by itself; it cannot raise another validator's score, and it can lower
one only by keeping it out of the committed DAG, which the honest validators' references
prevent once the network is timely.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from focusflow.actors.consensus.types import SKIP, BlockHeader, Certificate, Committee


@dataclass(frozen=True, slots=True)
class ReputationConfig:
    """When and how the leader schedule follows committed history."""

    enabled: bool = True  # False: the plain round-robin ``Committee.leader``
    every_anchors: int = 5  # W: recompute after every W committed anchors (block heights)
    window_anchors: int = 60  # K: score over the last K committed anchors
    lag_slots: int = 2  # a schedule computed at anchor round r leads slots >= r + lag
    skip_penalty: int = 8  # score lost per led slot that did not commit the leader's cert
    # A validator hands its slots over only when it scores at least this much below its
    # replacement: the window's edges move a few points between timely validators, and
    # reshuffling honest leaders on that noise only costs (measured: +4% p50 at n = 4).
    min_gap: int = 8

    def __post_init__(self) -> None:
        assert self.every_anchors >= 1 and self.window_anchors >= 1, "empty reputation window"
        assert self.lag_slots >= 1, "a schedule cannot lead the slot that switched it"
        assert self.skip_penalty >= 0 and self.min_gap >= 1


def swaps_for(committee: Committee, scores: Sequence[int], min_gap: int = 1) -> dict[int, int]:
    """Which validators hand their slots to whom: the worst by score, up to the stake a
    Byzantine coalition may hold (total − quorum, f for 3f+1 equal stakes), each replaced by
    one of the best, and only where the worst scores at least ``min_gap`` lower. Ties rank
    the lower index first, so the result is a pure function of the scores."""
    assert len(scores) == committee.size
    ranked = sorted(range(committee.size), key=lambda v: (scores[v], v))
    budget = committee.total_stake - committee.quorum_stake
    worst: list[int] = []
    stake = 0
    for v in ranked:
        s = committee.validators[v].stake
        if stake + s > budget:
            break
        worst.append(v)
        stake += s
    best = [v for v in reversed(ranked) if v not in worst][: len(worst)]
    return {w: b for w, b in zip(worst, best, strict=False) if scores[w] <= scores[b] - min_gap}


class LeaderSchedule:
    """The leader of every slot, as committed history decides it (see module docstring).

    Fed by the commit rule with each committed anchor in chain order (``on_commit``);
    read by the voting rule, the Snowball preference and the ``via`` label (``leader``).
    """

    def __init__(self, *, committee: Committee, config: ReputationConfig, gc_depth_rounds: int) -> None:
        self.committee = committee
        self.config = config
        self.gc_depth_rounds = gc_depth_rounds
        self.epochs: list[tuple[int, dict[int, int]]] = [(2, {})]  # (first slot, swaps), ascending
        self.window: deque[tuple[int, ...]] = deque(maxlen=config.window_anchors)
        self.decided: dict[int, bytes] = {}  # committed slot -> anchor digest (SKIP: skipped)
        self.height = 0  # committed anchors so far (the block height)
        self.last_slot = 1  # highest committed slot

    def leader(self, slot: int) -> int:
        """Leader of ``slot`` under the latest schedule whose first slot is <= ``slot``."""
        base = self.committee.leader(slot)
        if not self.config.enabled:
            return base
        for first, swaps in reversed(self.epochs):
            if first <= slot:
                return swaps.get(base, base)
        return base  # before the first switch (or below the GC floor: nothing asks there)

    def resume(self, *, height: int, anchor_round: int,
               recent: Sequence[BlockHeader] = ()) -> None:
        """Start above a chain we did not commit ourselves (``ValidatorCore.resume_chain``),
        rebuilding the schedule from the score deltas its blocks carry (``recent``: the
        headers of the last blocks, consecutive, ending at ``height``).

        Why: the schedule decides which anchor a validator votes for. A restarted
        validator that voted by round-robin while the others followed their swaps split
        the votes of every swapped slot; with one validator down the others need its
        vote for a quorum, so no slot was ever decided again. Replayed from committed
        deltas, the epochs that lead the slots ahead are the ones the others computed —
        exactly, once ``recent`` spans ``window_anchors + every_anchors`` blocks (or
        starts at height 1): an epoch computed from a partial window is left out (it
        would lead only slots below ours). Headers without deltas (reputation off, or a
        log from before they were recorded) leave round-robin, as before.
        """
        self.height = height
        self.last_slot = max(1, anchor_round)
        cfg = self.config
        if not cfg.enabled or not recent or any(len(h.reputation) != self.committee.size for h in recent):
            return
        assert recent[-1].height == height and anchor_round == recent[-1].anchor_round
        assert all(b.height == a.height + 1 for a, b in pairwise(recent))
        from_genesis = recent[0].height == 1
        previous: int | None = None
        for replayed, h in enumerate(recent, start=1):
            if previous is not None:
                for skipped in range(previous + 1, h.anchor_round):
                    self.decided[skipped] = SKIP
            self.decided[h.anchor_round] = h.anchor
            previous = h.anchor_round
            self.window.append(h.reputation)
            if h.height % cfg.every_anchors == 0 and (from_genesis or replayed >= cfg.window_anchors):
                swaps = swaps_for(self.committee, self.scores(), cfg.min_gap)
                self.epochs.append((h.anchor_round + cfg.lag_slots, swaps))
        self._prune()

    def on_commit(self, slot: int, anchor: Certificate, history: Sequence[Certificate]) -> tuple[int, ...]:
        """Account one committed anchor (chain order); maybe switch the schedule. Returns
        the anchor's score delta per validator (its block carries it: ``resume``)."""
        if not self.config.enabled:
            return ()
        assert slot > self.last_slot, "anchors are committed in slot order"
        delta = [0] * self.committee.size
        penalty = self.config.skip_penalty
        for skipped in range(self.last_slot + 1, slot):
            self.decided[skipped] = SKIP
            delta[self.leader(skipped)] -= penalty
        self.decided[slot] = anchor.digest
        if anchor.author != self.leader(slot):
            delta[self.leader(slot)] -= penalty
        for c in history:
            delta[c.author] += 1
            vote = c.signed.header.anchor_vote
            if vote != SKIP and self.decided.get(c.round - 1) == vote:
                delta[c.author] += 1
        self.window.append(tuple(delta))
        self.height += 1
        self.last_slot = slot
        if self.height % self.config.every_anchors == 0:
            swaps = swaps_for(self.committee, self.scores(), self.config.min_gap)
            self.epochs.append((slot + self.config.lag_slots, swaps))
        self._prune()
        return tuple(delta)

    def scores(self) -> list[int]:
        """Each validator's score over the window."""
        return [sum(col) for col in zip(*self.window, strict=True)] if self.window else [0] * self.committee.size

    def _prune(self) -> None:
        floor = self.last_slot - self.gc_depth_rounds - 1  # history certs vote for slots above it
        self.decided = {s: d for s, d in self.decided.items() if s > floor}
        # Keep every epoch that leads a slot above the GC floor (late votes, polls and
        # labels ask about recent slots; nothing asks below the floor).
        while len(self.epochs) > 1 and self.epochs[1][0] <= floor:
            self.epochs.pop(0)

    def invariants(self) -> None:
        """Checks run after every step."""
        assert len(self.window) <= self.config.window_anchors
        assert all(a[0] < b[0] for a, b in zip(self.epochs, self.epochs[1:], strict=False))
        assert all(v not in swaps.values() for _, swaps in self.epochs for v in swaps), "a swapped-out leader leads"
