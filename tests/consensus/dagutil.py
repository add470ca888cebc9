"""Hand-built DAGs for commit-rule tests: certificates with dummy signatures.

The commit rule never checks signatures (the mempool did), so these certificates carry
zero bytes; what matters is rounds, authors, parents and anchor votes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from focusflow.actors.consensus.crypto import DOMAIN_HEADER, digest
from focusflow.actors.consensus.types import (
    SKIP,
    Certificate,
    Committee,
    Header,
    SignedHeader,
    Validator,
)
from focusflow.actors.mempool.core import ancestors_at


def committee(n: int) -> Committee:
    """Equal-stake committee with placeholder keys."""
    return Committee(tuple(Validator(i, bytes([i + 1]) * 32, 1) for i in range(n)))


def make_cert(round_: int, author: int, parents: tuple[bytes, ...], vote: bytes = SKIP, salt: int = 0) -> Certificate:
    """A certificate whose digest depends on every field (and ``salt``)."""
    h = Header(round_, author, tuple(sorted(parents)), (), vote)
    payload = repr((round_, author, sorted(parents), vote, salt)).encode()
    sh = SignedHeader(h, payload, bytes(64), bytes(32), digest(DOMAIN_HEADER, payload))
    return Certificate(sh, ())


@dataclass
class View:
    """A DAG view implementing ``DagView`` (what BftCore reads)."""

    certs: dict[bytes, Certificate] = field(default_factory=dict)
    by_round: dict[int, dict[int, Certificate]] = field(default_factory=dict)

    def add(self, c: Certificate) -> None:
        assert all(p in self.certs for p in c.signed.header.parents), "views are closed under parents"
        self.certs[c.digest] = c
        self.by_round.setdefault(c.round, {})[c.author] = c

    def ancestors_at(self, start: set[bytes], round_: int) -> set[bytes]:
        return ancestors_at(self.certs, start, round_)


def random_dag(rng: random.Random, com: Committee, rounds: int, p_vote_leader: float) -> list[Certificate]:
    """A random DAG: each round, a random quorum (or more) of authors, each with a random
    quorum of parents and an arbitrary anchor vote (possibly adversarial) from round 3 on."""
    n = com.size
    q = com.quorum_stake
    prev: list[Certificate] = []
    out: list[Certificate] = []
    for r in range(1, rounds + 1):
        authors = rng.sample(range(n), rng.randint(q, n))
        cur = []
        for a in sorted(authors):
            if r == 1:
                parents: tuple[bytes, ...] = ()
            else:
                k = q if rng.random() < 0.7 else rng.randint(q, len(prev))
                parents = tuple(c.digest for c in rng.sample(prev, k))
            vote = SKIP
            if r >= 3 and parents:
                # Two competing candidates per slot (the leader's and a rival), so that
                # values often split the stake near the thresholds.
                leader = next((c for c in prev if c.author == com.leader(r - 1)), None)
                rival = min(parents)
                x = rng.random()
                if leader is not None and leader.digest in parents and x < p_vote_leader:
                    vote = leader.digest
                elif x < p_vote_leader + (1 - p_vote_leader) * 0.7:
                    vote = rival
            cur.append(make_cert(r, a, parents, vote))
        out.extend(cur)
        prev = cur
    return out
