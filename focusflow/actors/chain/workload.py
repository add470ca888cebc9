"""Signed cyberlinks in the state's transaction format, for the simulated network.

Neurons are Ed25519 keys derived from the seed and funded at genesis; particles are CIDs
(``cid_of``) of a fixed pool, drawn with a power law (Zipf, exponent ``zipf_s``) so that
a few particles attract most links, as in a real knowledge graph. Each tx is a LINK batch
of 1..``links_per_tx_max`` links signed over its Cap'n Proto body (``state/tx.py``).

Nonces are strict per account, and consensus orders txs by DAG position and focus, not by
submission: two txs of one neuron in flight could be applied out of order (the second
rejected as ``NONCE_GAP``, and every later one with it). So each neuron has at most one
tx in flight; the client learns that it was finalized (and whether it was applied) through
:meth:`LinkWorkload.on_finalized`, and re-sends a tx that was neither finalized nor
rejected within ``resubmit_ms`` (a shed or lost tx; the same bytes, so a late duplicate is
dropped by the block core's dedup). A share ``invalid_share`` of txs is deliberately
stale (an already used nonce, signed correctly): it passes the mempool's signature check
and must be rejected by the state core as ``REPLAYED`` — counted, never applied.

Sans-IO: the caller injects the RNG (the runtime's seeded ``random.Random``) and ``now_ns``.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import blake3

from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx, tx_hash_of

__all__ = ["LinkWorkload", "Submission", "WorkloadConfig"]


class Rng(Protocol):
    """The part of ``random.Random`` the workload uses."""

    def random(self) -> float: ...

    def randrange(self, start: int, stop: int | None = ..., step: int = ...) -> int: ...

    def paretovariate(self, alpha: float) -> float: ...


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """Shape of the load; ``neurons`` bounds the txs in flight (one per neuron)."""

    chain_id: str = "focusflow-sim"
    neurons: int = 256
    particles: int = 4096
    zipf_s: float = 1.1
    links_per_tx_max: int = 4
    fee: int = 1_000
    balance: int = 10**12
    invalid_share: float = 0.02
    resubmit_ms: float = 4_000.0
    draw_attempts_max: int = 8

    def __post_init__(self) -> None:
        assert 1 <= self.neurons <= 1 << 16 and 2 <= self.particles <= 1 << 24
        assert 1 <= self.links_per_tx_max <= 64 and 0.0 <= self.invalid_share < 1.0
        assert self.zipf_s > 0 and self.resubmit_ms > 0 and self.fee >= 0


@dataclass(frozen=True, slots=True)
class Submission:
    """One tx to send: its bytes, the neuron index, its focus tag, and whether it is a re-send."""

    payload: bytes
    neuron: int
    focus: int
    resend: bool = False
    stale: bool = False


@dataclass(slots=True)
class _InFlight:
    tx_hash: bytes
    payload: bytes
    focus: int
    sent_ns: int


class LinkWorkload:
    """Generates signed link txs and tracks each neuron's nonce from finalized blocks."""

    def __init__(self, config: WorkloadConfig, *, seed: int) -> None:
        self.config = config
        base = blake3.blake3(b"focusflow/chain/workload/v1" + seed.to_bytes(8, "little", signed=True))
        self.neurons = [
            Neuron.from_seed(blake3.blake3(base.digest() + i.to_bytes(4, "little")).digest())
            for i in range(config.neurons)
        ]
        self.addresses = [n.address for n in self.neurons]
        self.particles = [cid_of(b"particle %d" % i) for i in range(config.particles)]
        weights = [1.0 / (rank + 1) ** config.zipf_s for rank in range(config.particles)]
        self.cum_weights = list(itertools.accumulate(weights))
        self.nonces = [0] * config.neurons
        self.in_flight: dict[int, _InFlight] = {}
        self.by_hash: dict[bytes, int] = {}
        self.linked: set[tuple[int, bytes, bytes]] = set()
        self.cursor = 0
        self.made = self.applied = self.rejected = self.resent = self.stale = 0

    def genesis_balances(self) -> dict[bytes, int]:
        """Every neuron's funding at genesis (``/token/balance``)."""
        return dict.fromkeys(self.addresses, self.config.balance)

    def make(self, count: int, now_ns: int, rng: Rng) -> list[Submission]:
        """Up to ``count`` new txs from idle neurons, plus re-sends of stale in-flight txs."""
        assert count >= 0
        out = self._resends(now_ns)
        n = self.config.neurons
        fresh = 0
        for _ in range(n):
            if fresh >= count:
                break
            fresh += 1
            i = self.cursor
            self.cursor = (self.cursor + 1) % n
            if i in self.in_flight:
                continue
            if self.nonces[i] > 0 and rng.random() < self.config.invalid_share:
                out.append(self._stale_tx(i, rng))
                continue
            sub = self._link_tx(i, rng)
            if sub is not None:
                tx_hash = tx_hash_of(sub.payload)
                self.in_flight[i] = _InFlight(tx_hash, sub.payload, sub.focus, now_ns)
                self.by_hash[tx_hash] = i
                out.append(sub)
        self.made += len(out)
        return out

    def on_finalized(self, applied: Iterable[bytes], included: Iterable[bytes]) -> None:
        """A block was finalized: ``included`` are its tx hashes, ``applied`` those that took.

        Idempotent (every validator reports the same block): only in-flight txs count.
        """
        took = set(applied)
        for tx_hash in included:
            i = self.by_hash.pop(tx_hash, None)
            if i is None:
                continue
            del self.in_flight[i]
            if tx_hash in took:
                self.nonces[i] += 1
                self.applied += 1
            else:
                self.rejected += 1  # nonce unchanged: the neuron's next tx reuses it

    def statistics(self) -> dict[str, int]:
        """Counters for the summary."""
        return {
            "made": self.made, "applied": self.applied, "rejected": self.rejected,
            "resent": self.resent, "stale": self.stale, "in_flight": len(self.in_flight),
        }  # fmt: skip

    # ----------------------------------------------------------------- internals

    def _resends(self, now_ns: int) -> list[Submission]:
        limit = int(self.config.resubmit_ms * 1e6)
        out = []
        for i, f in sorted(self.in_flight.items()):
            if now_ns - f.sent_ns >= limit:
                f.sent_ns = now_ns
                out.append(Submission(f.payload, i, f.focus, resend=True))
        self.resent += len(out)
        return out

    def _draw(self, rng: Rng) -> bytes:
        k = bisect.bisect_left(self.cum_weights, rng.random() * self.cum_weights[-1])
        return self.particles[min(k, len(self.particles) - 1)]

    def _links(self, i: int, rng: Rng) -> list[tuple[bytes, bytes]]:
        want = 1 + rng.randrange(self.config.links_per_tx_max)
        links: list[tuple[bytes, bytes]] = []
        for _ in range(want * self.config.draw_attempts_max):
            if len(links) == want:
                break
            src, dst = self._draw(rng), self._draw(rng)
            if src == dst or (i, src, dst) in self.linked or (src, dst) in links:
                continue
            links.append((src, dst))
        return links

    def _focus(self, rng: Rng) -> int:
        return int(min(2**32 - 1, rng.paretovariate(1.5) * 1_000_000))

    def _link_tx(self, i: int, rng: Rng) -> Submission | None:
        links = self._links(i, rng)
        if not links:
            return None
        self.linked.update((i, s, d) for s, d in links)
        payload = make_tx(
            self.neurons[i], chain_id=self.config.chain_id, nonce=self.nonces[i],
            kind=TxKind.LINK, fee=self.config.fee, links=links,
        )  # fmt: skip
        return Submission(payload, i, self._focus(rng))

    def _stale_tx(self, i: int, rng: Rng) -> Submission:
        """A correctly signed tx with an already used nonce: the state must refuse it."""
        src, dst = self._draw(rng), self._draw(rng)
        if src == dst:
            dst = self.particles[(self.particles.index(src) + 1) % len(self.particles)]
        payload = make_tx(
            self.neurons[i], chain_id=self.config.chain_id, nonce=self.nonces[i] - 1,
            kind=TxKind.LINK, fee=self.config.fee, links=[(src, dst)],
        )  # fmt: skip
        self.stale += 1
        return Submission(payload, i, self._focus(rng), stale=True)


def payloads(subs: Sequence[Submission]) -> list[bytes]:
    """The bytes of each submission (for admission checks and tests)."""
    return [s.payload for s in subs]
