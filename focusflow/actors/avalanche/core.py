"""Snowball fallback core (sans-IO): repeated stake-weighted sampling on a slot's anchor.

When the fast path stalls (the leader of a slot timed out), a validator asks k peers,
sampled by stake with an injected RNG, which certificate of the slot's round they prefer
as the anchor. Snowball: a value backed by ``alpha_pref`` answers gains confidence and
becomes the preference once it has the most; ``beta`` consecutive polls where one value
reaches ``alpha_conf`` decide it. The decision only becomes the validator's *anchor vote*:
commitment still needs the quorum stake of such votes in the DAG (bft/core.py), so a
Snowball disagreement costs liveness for one slot, never safety.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.types import (
    SKIP,
    Committee,
    Effect,
    PollQuery,
    PollReply,
    Send,
    require,
)


class Rng(Protocol):
    """The randomness the core needs (the runtime's seeded RNG in production and sims)."""

    def random(self) -> float:
        """Uniform float in [0, 1)."""
        ...


@dataclass(frozen=True, slots=True)
class SnowballParams:
    """Snowball parameters: sample size and thresholds."""

    k: int
    alpha_pref: int
    alpha_conf: int
    beta: int

    def __post_init__(self) -> None:
        assert self.k >= 1
        assert self.k // 2 < self.alpha_pref <= self.alpha_conf <= self.k, "alphas must be majorities"
        assert self.beta >= 1

    @classmethod
    def scaled(cls, n: int, *, k: int = 20, alpha_pref: int = 15, alpha_conf: int = 15, beta: int = 20) -> SnowballParams:
        """Defaults 20/15/15/20 scaled to ``n`` validators.

        k is capped at n-1 peers and the alphas keep their 15/20 ratio. When the sample is
        the whole rest of the committee (n <= k+1), the alphas are also lowered so that the
        f = (n-1)//3 Byzantine validators, all sampled and all silent, cannot block every
        poll; never below a strict majority of the sample (what Snowball's safety needs).
        """
        assert n >= 2
        f = (n - 1) // 3
        k_n = min(k, n - 1)
        majority = k_n // 2 + 1
        whole = k_n == n - 1

        def scale(a: int) -> int:
            proportional = math.ceil(a * k_n / k)
            return max(majority, min(proportional, k_n - f) if whole else proportional)

        ap, ac = scale(alpha_pref), scale(alpha_conf)
        return cls(k=k_n, alpha_pref=min(ap, ac), alpha_conf=max(ap, ac), beta=beta)


@dataclass
class Snowball:
    """One Snowball instance (pure): preference, confidence counters, decision."""

    params: SnowballParams
    preference: bytes
    confidence: dict[bytes, int] = field(default_factory=dict)
    last: bytes = SKIP
    count: int = 0
    decided: bytes | None = None
    polls: int = 0

    def record(self, answers: dict[bytes, int], adoptable: Callable[[bytes], bool]) -> None:
        """Apply one poll's answers (value -> number of sampled peers answering it)."""
        assert sum(answers.values()) <= self.params.k
        self.polls += 1
        if self.decided is not None:
            return
        best = max(answers.items(), key=lambda kv: (kv[1], kv[0]), default=(SKIP, 0))
        value, votes = best
        if votes >= self.params.alpha_pref:
            self.confidence[value] = self.confidence.get(value, 0) + 1
            if self.confidence[value] > self.confidence.get(self.preference, 0) and adoptable(value):
                self.preference = value
        if votes >= self.params.alpha_conf:
            if value == self.last:
                self.count += 1
            else:
                self.last, self.count = value, 1
            if self.count >= self.params.beta and value == self.preference:
                self.decided = value
        else:
            self.count = 0


@dataclass(frozen=True, slots=True)
class AvalancheConfig:
    """Timing and limits of the poller."""

    poll_timeout_ms: int = 400
    polls_max: int = 100
    instances_max: int = 64
    params: SnowballParams | None = None


@dataclass
class _Poll:
    snowball: Snowball
    nonce: int = 0
    sample: tuple[int, ...] = ()
    answers: dict[int, bytes] = field(default_factory=dict)
    deadline_ns: int = 0
    resend_ns: int = 0  # when unanswered queries are sent once more (lossy links)


class AvalancheCore:
    """Runs Snowball instances, one per stalled slot."""

    def __init__(self, *, committee: Committee, me: int, rng: Rng, config: AvalancheConfig | None = None) -> None:
        assert committee.is_member(me) and committee.size >= 2
        self.committee = committee
        self.me = me
        self.rng = rng
        self.config = config or AvalancheConfig()
        self.params = self.config.params or SnowballParams.scaled(committee.size)
        assert self.params.k <= committee.size - 1
        self.polls: dict[int, _Poll] = {}
        self._nonce = 0

    def sample(self) -> tuple[int, ...]:
        """k distinct peers (not us), drawn by stake without replacement."""
        peers = [v for v in self.committee.validators if v.index != self.me]
        chosen: list[int] = []
        for _ in range(self.params.k):
            total = sum(v.stake for v in peers)
            x = self.rng.random() * total
            for i, v in enumerate(peers):
                x -= v.stake
                if x < 0 or i == len(peers) - 1:
                    chosen.append(v.index)
                    peers.pop(i)
                    break
        assert len(set(chosen)) == len(chosen) == self.params.k
        return tuple(sorted(chosen))

    def active(self, slot: int) -> bool:
        """Whether an instance runs (or ran) for ``slot``."""
        return slot in self.polls

    def preference(self, slot: int) -> bytes | None:
        """Our current preference for ``slot``, if an instance runs."""
        p = self.polls.get(slot)
        return None if p is None else p.snowball.preference

    def decision(self, slot: int) -> bytes | None:
        """The decided value for ``slot``, if any."""
        p = self.polls.get(slot)
        return None if p is None else p.snowball.decided

    def exhausted(self, slot: int) -> bool:
        """True when ``polls_max`` polls ran without a decision: give up (vote SKIP)."""
        p = self.polls.get(slot)
        return p is not None and p.snowball.decided is None and p.snowball.polls >= self.config.polls_max

    def start(self, slot: int, initial: bytes, now_ns: int) -> list[Effect]:
        """Start sampling for ``slot`` with ``initial`` preference."""
        assert slot not in self.polls, "one instance per slot"
        if len(self.polls) >= self.config.instances_max:
            self.polls.pop(min(self.polls))
        self.polls[slot] = _Poll(Snowball(self.params, initial))
        return self._poll(slot, now_ns)

    def _poll(self, slot: int, now_ns: int) -> list[Effect]:
        p = self.polls[slot]
        self._nonce += 1
        p.nonce = self._nonce
        p.sample = self.sample()
        p.answers = {}
        p.deadline_ns = now_ns + self.config.poll_timeout_ms * 1_000_000
        p.resend_ns = now_ns + self.config.poll_timeout_ms * 500_000
        data = codec.encode_message(self.me, PollQuery(slot, p.nonce))
        return [Send(peer, data) for peer in p.sample]

    def on_reply(self, sender: int, reply: PollReply, now_ns: int, adoptable: Callable[[bytes], bool]) -> list[Effect]:
        """Count an answer; finish the poll when every sampled peer answered or a value
        reached ``alpha_conf``."""
        p = self.polls.get(reply.slot)
        if p is None or reply.nonce != p.nonce or sender not in p.sample:
            return []  # stale or unsolicited: ignore (not evidence: it may just be late)
        require(len(reply.preference) in (0, 32), sender, "bad-poll-reply", "preference length")
        p.answers.setdefault(sender, reply.preference)
        counts = self._counts(p)
        if len(p.answers) == len(p.sample) or max(counts.values()) >= self.params.alpha_conf:
            return self._finish(reply.slot, now_ns, adoptable)
        return []

    @staticmethod
    def _counts(p: _Poll) -> dict[bytes, int]:
        counts: dict[bytes, int] = {}
        for v in p.answers.values():
            counts[v] = counts.get(v, 0) + 1
        return counts

    def _finish(self, slot: int, now_ns: int, adoptable: Callable[[bytes], bool]) -> list[Effect]:
        p = self.polls[slot]
        p.snowball.record(self._counts(p), adoptable)
        p.nonce = -1
        if p.snowball.decided is not None or p.snowball.polls >= self.config.polls_max:
            return []
        return self._poll(slot, now_ns)

    def tick(self, now_ns: int, adoptable: Callable[[bytes], bool]) -> list[Effect]:
        """Re-ask silent peers once at half the timeout (one lost message should not
        fail a poll: β polls must succeed in a row); close polls past their deadline
        (missing answers count as no vote)."""
        effects: list[Effect] = []
        for slot, p in list(self.polls.items()):
            if p.nonce < 0 or p.snowball.decided is not None:
                continue
            if now_ns >= p.deadline_ns:
                effects.extend(self._finish(slot, now_ns, adoptable))
            elif p.resend_ns and now_ns >= p.resend_ns:
                p.resend_ns = 0
                data = codec.encode_message(self.me, PollQuery(slot, p.nonce))
                effects.extend(Send(peer, data) for peer in p.sample if peer not in p.answers)
        return effects

    def next_deadline_ns(self) -> int | None:
        """Earliest open poll deadline."""
        times = [p.resend_ns or p.deadline_ns for p in self.polls.values() if p.nonce >= 0 and p.snowball.decided is None]
        return min(times, default=None)

    def gc(self, slot: int) -> None:
        """Drop instances for slots at or below ``slot`` (decided by the DAG)."""
        for s in [s for s in self.polls if s <= slot]:
            del self.polls[s]

    def invariants(self) -> None:
        """Checks run after every step."""
        assert len(self.polls) <= self.config.instances_max
        for p in self.polls.values():
            assert p.snowball.count <= max(p.snowball.polls, 0)
            assert len(p.answers) <= len(p.sample)
