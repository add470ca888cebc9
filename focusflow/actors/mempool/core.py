"""Narwhal-style DAG mempool core (sans-IO): batches, headers, votes, certificates, GC.

A validator proposes one header per round. A header of round r > 1 references the
certificates of round r-1 that it holds (at least the quorum stake of them) and carries
the validator's next batch of transactions, sorted by focus. Peers vote once per
(round, author); the author turns the quorum stake of votes into a certificate and
broadcasts it. Uniqueness follows from quorum intersection: two certificates for one
(round, author) would need an honest voter to vote twice.

Simplification (documented in docs/consensus.md): the worker/primary split of Narwhal is
collapsed, so a header carries its batches. A certificate therefore proves that the quorum
stake stored the data, which is what Narwhal's separate batch certificates achieve.

The core never reads a clock or does I/O: inputs are decoded messages with ``now_ns``,
outputs are effects. Which round to propose next, and the anchor vote it carries, is
decided by the validator (``focusflow.actors.consensus.node``) from the BFT rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import DOMAIN_TX, DOMAIN_VOTE, Signer, Verifier, digest
from focusflow.actors.consensus.types import (
    SKIP,
    Batch,
    Broadcast,
    Certificate,
    CertRequest,
    CertResponse,
    ClientTx,
    Committee,
    Effect,
    Header,
    Misbehaviour,
    PeerFault,
    Reject,
    Send,
    SignedHeader,
    Vote,
    require,
)
from focusflow.actors.mempool.budget import BudgetConfig, QueueBudget
from focusflow.actors.mempool.qos import FocusQos, QosConfig, sort_by_focus

AdmitBatch = Callable[[Sequence[bytes]], Sequence[bool | str]]
"""Batch admission check (signatures, format) over opaque transaction bytes: per tx
``True`` (admitted), or ``False`` / a reason (refused; the reason, e.g. the state core's
``"oversized: ..."``, goes back to the client in the ``Reject``)."""

RESTART_ROUNDS_MAX = 64
"""How far above all we signed a peer's DAG restart round may be for us to adopt it. A
Byzantine member's restart header can hold a restarting validator out of the DAG only
until the others reach that round (64 rounds: seconds); a validator whose watermark is
further below the others' restarts alone, falls behind and catches up by block sync."""

#: Steps of one walk below waiting certificates for what to ask (``DagCore._gap``).
GAP_WALK_MAX = 256


def admitted(verdict: bool | str) -> bool:
    """Whether an ``AdmitBatch`` verdict admits the tx (a reason string refuses it)."""
    return not isinstance(verdict, str) and bool(verdict)


@dataclass(frozen=True, slots=True)
class DagConfig:
    """Limits and timing of the DAG mempool."""

    header_txs_max: int = 512
    pending_txs_max: int = 16_384
    utilisation_max: float = 0.7
    qos_lanes_count: int = 8
    gc_depth_rounds: int = 60
    resend_ms: int = 400
    sync_certs_max: int = 1024
    # Signed header bytes per CertResponse (always at least one certificate): full headers
    # are ~2 MB (512 txs of 4 KiB), so 1024 of them would be far over the wire's 16 MiB
    # message limit, and encoding such an answer crashed the answering validator (issue
    # 21). The asker requests what is still missing from its next header or certificate.
    sync_bytes_max: int = 8 * 1024 * 1024
    waiting_certs_max: int = 8192
    waiting_headers_max: int = 1024
    verify_peer_batches: bool = True
    # Votes go to every validator, not only the header's author, so each one assembles
    # the certificate itself one delay earlier (the author's certificate broadcast stays
    # for sync and resends). n² votes instead of n; see docs/consensus.md.
    votes_to_all: bool = True
    peer_votes_max: int = 4096  # headers of others whose votes we are still collecting
    # Latency bound on admission (``mempool.budget``): bytes admitted and not yet ordered
    # steered so that the oldest waits ``queue_delay_ms``; over it the lowest focus is shed.
    budget: BudgetConfig = field(default_factory=BudgetConfig)


class DagCore:
    """One validator's view of the DAG and its own proposals."""

    def __init__(
        self,
        *,
        committee: Committee,
        me: int,
        signer: Signer,
        verifier: Verifier,
        admit_batch: AdmitBatch,
        config: DagConfig | None = None,
    ) -> None:
        assert committee.is_member(me)
        assert committee.validators[me].public_key == signer.public_key, "key is not ours"
        self.committee = committee
        self.me = me
        self.signer = signer
        self.verifier = verifier
        self.admit_batch = admit_batch
        self.config = config or DagConfig()
        self.qos = FocusQos(
            QosConfig(
                capacity_txs_per_round=self.config.header_txs_max,
                utilisation_max=self.config.utilisation_max,
                lanes_count=self.config.qos_lanes_count,
            )
        )
        self.certs: dict[bytes, Certificate] = {}
        self.by_round: dict[int, dict[int, Certificate]] = {}
        self.voted: dict[tuple[int, int], SignedHeader] = {}
        self.waiting: dict[bytes, tuple[int, Certificate]] = {}
        self.waiting_headers: dict[bytes, tuple[int, SignedHeader]] = {}
        #: while a sync answer is inserted: the digests its certificates ask for
        self._asks: list[bytes] | None = None
        self.round = 0
        self.vote_floor = 0  # after a restart: never vote at or below (we may have voted)
        self.restartable = False  # resumed, no certificate yet: may restart the DAG (below)
        self.stalled = False  # set by the validator core: our quorum round has not moved
        self.seen_round = 0  # highest round of a certificate we verified (held or not)
        self.gc_round = 0
        self.own: SignedHeader | None = None
        self.own_votes: dict[int, bytes] = {}
        self.own_sent_ns = 0
        self.own_txs: list[ClientTx] = []  # the batch of ``own``, until it is certified
        # round -> (digest, batch) of our certificates not yet seen with a child
        self.own_unlinked: dict[int, tuple[bytes, list[ClientTx]]] = {}
        self.peer_votes: dict[bytes, dict[int, bytes]] = {}  # header digest -> voter -> sig
        self.pending: list[ClientTx] = []
        self.budget = QueueBudget(self.config.budget)
        self.stats = {
            "txs_admitted": 0,
            "txs_shed": 0,
            "txs_overloaded": 0,  # refused at the door: over the latency budget
            "txs_evicted": 0,  # accepted earlier, shed for a higher-focus arrival
            "txs_invalid": 0,
            "equivocations": 0,
            "txs_carried": 0,  # taken back from a header of ours replaced uncertified
            "txs_requeued": 0,  # taken back from a certificate of ours that nobody linked
        }

    # ------------------------------------------------------------------ clients

    def submit(self, txs: Sequence[ClientTx], now_ns: int = 0) -> list[Effect]:
        """Admit client transactions: batch check, QoS shedding, the latency budget
        (``budget``: lowest focus gives way), bounded pending queue."""
        if not txs:
            return []
        effects: list[Effect] = []
        if self.budget.enabled:  # what cannot enter even if valid is refused before the
            fits = self.budget.plan([(t.focus, len(t.payload)) for t in txs],  # costly check
                                    [(t.focus, len(t.payload)) for t in self.pending]).admit
            floor = min((p.focus for p in self.pending), default=0)
            effects.extend(self._overloaded(t, floor) for t, ok in zip(txs, fits, strict=True) if not ok)
            txs = [t for t, ok in zip(txs, fits, strict=True) if ok]
            if not txs:
                return effects
        verdicts = list(self.admit_batch([t.payload for t in txs]))
        assert len(verdicts) == len(txs), "admission check must answer every transaction"
        valid = [t for t, v in zip(txs, verdicts, strict=True) if admitted(v)]
        for t, v in zip(txs, verdicts, strict=True):
            if not admitted(v):
                self.stats["txs_invalid"] += 1
                why = v if isinstance(v, str) and v else "admission check failed"
                effects.append(self._reject(t, f"invalid: {why}"))
        focus = np.fromiter((t.focus for t in valid), dtype=np.uint32, count=len(valid))
        keep = self.qos.admit(focus)
        passed: list[ClientTx] = []
        for t, k in zip(valid, keep, strict=True):
            if k:
                passed.append(t)
            else:
                self.stats["txs_shed"] += 1
                effects.append(self._reject(t, "shed: focus below the open lanes under load"))
        effects.extend(self._within_budget(passed, now_ns))
        effects.extend(self._trim_pending())
        return effects

    def _within_budget(self, arrivals: list[ClientTx], now_ns: int) -> list[Effect]:
        """Admit what the latency budget holds; evict queued lower focus for higher
        arrivals, refuse the rest (see ``mempool.budget``)."""
        plan = self.budget.plan([(t.focus, len(t.payload)) for t in arrivals],
                                [(t.focus, len(t.payload)) for t in self.pending])
        effects: list[Effect] = []
        if plan.evict:
            gone = set(plan.evict)
            for i in plan.evict:
                t = self.pending[i]
                self.stats["txs_evicted"] += 1
                effects.append(self._drop(t, "shed: evicted by higher-focus transactions "
                                             "while the validator is behind"))
            self.pending = [t for i, t in enumerate(self.pending) if i not in gone]
        floor = min((p.focus for p in self.pending), default=0)
        for t, ok in zip(arrivals, plan.admit, strict=True):
            if ok:
                self.pending.append(t)
                self.budget.admitted(digest(DOMAIN_TX, t.payload), len(t.payload), now_ns)
                self.stats["txs_admitted"] += 1
            else:
                effects.append(self._overloaded(t, floor))
        return effects

    def _overloaded(self, t: ClientTx, floor: int) -> Reject:
        self.stats["txs_overloaded"] += 1
        return self._reject(t, f"overloaded: validator behind, focus {t.focus} not above "
                               f"the queue floor {floor}; retry later")

    def ordered(self, txs: Iterable[bytes], now_ns: int) -> None:
        """Txs were ordered (a ``Commit``): ours leave the latency budget's in-flight set."""
        if self.budget.enabled:
            self.budget.ordered((digest(DOMAIN_TX, tx) for tx in txs), now_ns)

    def status(self, now_ns: int) -> dict[str, int]:
        """Counters (txs_admitted, txs_evicted, txs_carried...) and the latency budget:
        bytes in flight, the budget, our measured ordered bytes/s, txs queued."""
        return {**self.stats, "pending_txs": len(self.pending),
                "in_flight_bytes": self.budget.in_flight_bytes,
                "budget_bytes": self.budget.budget if self.budget.enabled else 0,
                "ordered_bytes_per_s": int(self.budget.rate_bytes_per_s(now_ns))}

    def _reject(self, t: ClientTx, reason: str) -> Reject:
        return Reject(t.client, digest(DOMAIN_TX, t.payload), t.focus, self.qos.cutoff, reason)

    def _drop(self, t: ClientTx, reason: str) -> Reject:
        """Reject a tx admitted earlier: it leaves the budget's in-flight set."""
        r = self._reject(t, reason)
        self.budget.dropped(r.tx_digest)
        return r

    def _trim_pending(self) -> list[Effect]:
        """Keep ``pending_txs_max`` transactions: the lowest-focus overflow is rejected."""
        over = len(self.pending) - self.config.pending_txs_max
        if over <= 0:
            return []
        order = sort_by_focus(np.fromiter((t.focus for t in self.pending), np.uint32, len(self.pending)))
        kept = [self.pending[i] for i in sorted(order[: self.config.pending_txs_max].tolist())]
        dropped = [self.pending[i] for i in order[self.config.pending_txs_max :].tolist()]
        self.pending = kept
        self.stats["txs_shed"] += len(dropped)
        return [self._drop(t, "shed: pending_txs_max reached") for t in dropped]

    def _next_batch(self) -> Batch:
        """Take the highest-focus pending transactions, sorted by focus (one argsort);
        they stay in ``own_txs`` until the header carrying them is certified."""
        self.own_txs = []
        if not self.pending:
            return Batch((), ())
        focus = np.fromiter((t.focus for t in self.pending), np.uint32, len(self.pending))
        order = sort_by_focus(focus)
        take = order[: self.config.header_txs_max].tolist()
        rest = sorted(order[self.config.header_txs_max :].tolist())
        batch = Batch(tuple(self.pending[i].payload for i in take), tuple(int(focus[i]) for i in take))
        self.own_txs = [self.pending[i] for i in take]
        self.pending = [self.pending[i] for i in rest]
        return batch

    def _take_back_uncertified(self) -> list[Effect]:
        """Return the batch of our current header to ``pending`` when it was never certified.

        Why: we propose the next round once we hold the quorum stake of others'
        certificates, possibly before our own header gathered its votes. Only we can turn
        votes for it into a certificate, and ``on_vote`` ignores votes for a header that
        is no longer ``own``, so a replaced uncertified header is dead: its transactions
        would be lost without a ``Reject``. Carrying them into the next header cannot
        commit them twice, because the dead header never enters the DAG.
        """
        own = self.own
        if own is None or own.digest in self.certs or not self.own_txs:
            return []
        assert sum(len(b.payloads) for b in own.header.batches) == len(self.own_txs)
        self.stats["txs_carried"] += len(self.own_txs)
        self.pending = self.own_txs + self.pending
        self.own_txs = []
        return self._trim_pending()  # over pending_txs_max: the lowest focus gets a Reject

    def _requeue_unlinked(self, round_: int) -> list[Effect]:
        """Take back the batch of a certificate of ours that no held certificate of the
        next round links, once we propose two rounds above it.

        Why: our certificate of round r is normally a parent of our own header of r+1; when
        that header died uncertified (see ``_take_back_uncertified``) and the others'
        round-(r+1) headers were built before our certificate reached them, no anchor can
        ever order it (an orphan). Re-proposing its transactions may, rarely, include one
        twice if a late round-(r+1) certificate links the orphan after all; the block core's
        dedup window drops the second copy deterministically, so a block never holds it
        twice.
        """
        effects: list[Effect] = []
        for r in [r for r in self.own_unlinked if r <= round_ - 2]:
            d, txs = self.own_unlinked.pop(r)
            children = self.by_round.get(r + 1, {}).values()
            if any(d in c.signed.header.parents for c in children):
                continue
            self.stats["txs_requeued"] += len(txs)
            self.pending = txs + self.pending
            effects.extend(self._trim_pending())
        assert all(r > round_ - 2 for r in self.own_unlinked)
        return effects

    # ------------------------------------------------------------------ proposing

    def resume_above(self, watermark: int) -> None:
        """After a restart that lost our memory: neither propose nor vote at or below
        ``watermark`` (the highest round we may have signed for, persisted by the shell),
        so a restart can never make us equivocate or vote twice."""
        assert self.own is None and not self.certs, "only before the first message"
        self.round = max(self.round, watermark)
        self.vote_floor = max(self.vote_floor, watermark)
        self.restartable = True

    def restart_at(self, round_: int, now_ns: int) -> list[Effect]:
        """Restart the DAG at ``round_`` with a header without parents.

        Why: after a restart of every validator each core resumed with an empty DAG and a
        watermark (issue 16 finding 1); a header above round 1 needs the quorum stake of
        certificates of the round below as parents, which nobody kept, so no round could
        ever start again. A resumed core that still holds no certificate (or holds some,
        but its quorum round froze at a round its watermark keeps it out of, see
        ``ValidatorCore._maybe_restart_dag``) raises its DAG floor to ``round_ - 1``,
        dropping the certificates at or below it (below the floor parents are not checked,
        as for any certificate the GC dropped), and proposes there; a peer in the same state adopts
        the highest such round it sees (``_adopt_restart``), so the committee meets in one
        round and the next one links a quorum as usual. Safety does not rest on it: a
        block still needs the quorum stake of shares on one header, and the double-sign
        guard keeps each validator to one share per height and one header per round.
        """
        assert (self.restartable and not self.certs) or self.own is None, \
            "restart only a resumed core without certificates, or one that never proposed"
        assert round_ > max(self.round, self.vote_floor, self.gc_round)
        self._raise_floor(round_ - 1)
        return self.propose(round_, SKIP, now_ns)

    def _raise_floor(self, floor: int) -> None:
        self.gc(floor + self.config.gc_depth_rounds)  # gc() keeps gc_depth_rounds below its argument
        assert self.gc_round == floor

    def _adopt_restart(self, sender: int, h: Header, now_ns: int) -> list[Effect] | None:
        """A header without parents above our floor: a peer restarting the DAG. Adopt its
        round if we are restarting too and it is above all we signed (our own header at
        that round goes out first); None when the header must be refused.

        A core that holds certificates adopts too while ``stalled`` (set by the validator
        core: its quorum round has not moved for ``restart_after_ms``): the certificates at
        or below the new floor are dropped (what they carried and no anchor ordered is not
        in a block; clients submit again)."""
        if not ((self.restartable and not self.certs) or self.stalled):
            return None
        if h.round - 1 < max(self.round, self.vote_floor):
            return None
        self._raise_floor(h.round - 1)
        return self.propose(h.round, SKIP, now_ns) if h.round > self.round else []

    def watermark(self) -> int:
        """Highest round we signed a header or a vote for (what the shell persists)."""
        # The keys are (round, author) tuples, so the greatest key holds the greatest round:
        # one C-level max over the keys, no generator (the shell asks on every message).
        voted, _ = max(self.voted, default=(0, 0))
        return max(self.round, voted)

    def quorum_at(self, round_: int) -> bool:
        """Whether we hold certificates of ``round_`` carrying the quorum stake."""
        certs = self.by_round.get(round_, {})
        return self.committee.stake_of(certs) >= self.committee.quorum_stake

    def highest_quorum_round(self) -> int:
        """Highest round for which we hold the quorum stake of certificates (0: none)."""
        for r in sorted(self.by_round, reverse=True):
            if self.quorum_at(r):
                return r
        return 0

    def propose(self, round_: int, anchor_vote: bytes, now_ns: int) -> list[Effect]:
        """Sign and broadcast our header for ``round_`` (parents: all certs of round-1)."""
        assert round_ > self.round, "one header per round, rounds only go up"
        assert round_ == 1 or round_ - 1 <= self.gc_round or self.quorum_at(round_ - 1), \
            "parents must carry the quorum stake"
        assert anchor_vote == SKIP or round_ >= 3
        parents = tuple(sorted(c.digest for c in self.by_round.get(round_ - 1, {}).values()))
        assert anchor_vote == SKIP or anchor_vote in parents, "an anchor vote must link the anchor"
        effects: list[Effect] = self._take_back_uncertified()
        effects.extend(self._requeue_unlinked(round_))
        batch = self._next_batch()
        self.qos.end_round()
        header = Header(round_, self.me, parents, (batch,) if batch.payloads else (), anchor_vote)
        payload = codec.encode_header(header)
        sh = codec.signed_header(payload, self.signer.sign(payload), self.signer.public_key)
        self.round = round_
        self.own = sh
        self.own_votes = {}
        self.own_sent_ns = now_ns
        self.voted[(round_, self.me)] = sh
        self.own_votes[self.me] = self._vote_signature(sh.digest)
        effects.append(Broadcast(codec.encode_message(self.me, sh)))
        effects.extend(self._maybe_certify())
        return effects

    def _vote_signature(self, header_digest: bytes) -> bytes:
        return self.signer.sign(DOMAIN_VOTE + header_digest)

    def _maybe_certify(self) -> list[Effect]:
        own = self.own
        if own is None or own.digest in self.certs:
            return []
        if self.committee.stake_of(self.own_votes) < self.committee.quorum_stake:
            return []
        cert = Certificate(own, tuple(sorted(self.own_votes.items())))
        if self.own_txs:  # in the DAG now: the commit rule owns them, if it is linked
            self.own_unlinked[own.header.round] = (own.digest, self.own_txs)
        self.own_txs = []
        effects = self._insert(cert)
        effects.append(Broadcast(codec.encode_message(self.me, cert)))
        return effects

    # ------------------------------------------------------------------ validation

    def _check_signed(self, sender: int, sh: SignedHeader) -> None:
        """Raise ``PeerFault`` unless ``sh`` is signed by its author, a member."""
        h = sh.header
        require(self.committee.is_member(h.author), sender, "bad-author", f"author {h.author}")
        key = self.committee.validators[h.author].public_key
        require(sh.public_key == key, sender, "bad-key", "header key is not the author's", sh.payload)
        require(
            self.verifier.verify(key, sh.payload, sh.signature),
            sender,
            "bad-signature",
            f"header r{h.round} a{h.author}",
            sh.payload,
            sh.signature,
        )

    def _check_header(self, sender: int, sh: SignedHeader) -> None:
        """Raise ``PeerFault`` unless ``sh`` is well formed and signed by its author."""
        self._check_signed(sender, sh)
        h = sh.header
        require(h.round >= 1, sender, "bad-round", "round 0 is genesis")
        require(len(set(h.parents)) == len(h.parents), sender, "dup-parents", "repeated parent")
        require(h.round != 1 or not h.parents, sender, "bad-parents", "round 1 has no parents")
        require(bool(h.parents) or h.round - 1 <= self.gc_round, sender, "bad-parents",
                "no parents above round 1 (a DAG restart) only at our floor")
        require(
            h.anchor_vote == SKIP or (h.round >= 3 and h.anchor_vote in h.parents),
            sender,
            "bad-anchor-vote",
            "an anchor vote must link the anchor (rounds 3 and up)",
            sh.payload,
        )
        require(
            sum(len(b.payloads) for b in h.batches) <= self.config.header_txs_max,
            sender,
            "oversized",
            "header over header_txs_max",
        )

    def _restart_seen(self, sender: int, sh: SignedHeader, now_ns: int) -> list[Effect] | None:
        """[] unless ``sh`` is a restart header (no parents) above our floor; then the
        effects of adopting its round (``_adopt_restart``), or None to drop it (a restart
        we take no part in: we hold certificates, or signed above it; not an offence)."""
        h = sh.header
        if h.parents or h.round <= 1 or h.round - 1 <= self.gc_round:
            return []
        self._check_signed(sender, sh)
        if h.round > max(self.round, self.vote_floor) + RESTART_ROUNDS_MAX:
            return None
        return self._adopt_restart(sender, h, now_ns)

    def _check_parents(self, sender: int, sh: SignedHeader) -> None:
        """With all parents held: they are certs of round-1, distinct authors, quorum stake."""
        h = sh.header
        if h.round - 1 <= self.gc_round:
            return
        authors = []
        for p in h.parents:
            c = self.certs[p]
            require(c.round == h.round - 1, sender, "bad-parents", "parent not of round-1", sh.payload)
            authors.append(c.author)
        require(len(set(authors)) == len(authors), sender, "bad-parents", "two parents, one author")
        require(
            self.committee.stake_of(authors) >= self.committee.quorum_stake,
            sender,
            "bad-parents",
            "parents below the quorum stake",
            sh.payload,
        )

    def _check_cert(self, sender: int, cert: Certificate) -> None:
        self._check_header(sender, cert.signed)
        voters = [v for v, _ in cert.votes]
        require(len(set(voters)) == len(voters), sender, "bad-cert", "a voter counted twice")
        require(all(self.committee.is_member(v) for v in voters), sender, "bad-cert", "unknown voter")
        message = DOMAIN_VOTE + cert.digest
        for voter, sig in cert.votes:
            key = self.committee.validators[voter].public_key
            require(self.verifier.verify(key, message, sig), sender, "bad-signature", f"vote of {voter}", sig)
        require(
            self.committee.stake_of(voters) >= self.committee.quorum_stake,
            sender,
            "bad-cert",
            "votes below the quorum stake",
        )

    def _request(self, sender: int, missing: list[bytes]) -> list[Effect]:
        """Ask ``sender`` for the gap below ``missing``: what we hold neither as certificates
        nor as certificates waiting for their own ancestry.

        Why: a waiting parent is held; asking for it again made every certificate of a
        sync answer ask for its (waiting) parents, and each ask was answered with the
        whole ancestry again: after a 20 s partition at n = 10 a rejoining validator got
        28 answers of ~1 MB in 100 ms, then gigabytes (the simulator ran out of memory; a
        live peer would have flooded its link). Asking for what the waiting parents still
        lack keeps the retry a re-ask gave (an answer cut by ``sync_bytes_max`` or lost is
        asked again by the next arrival); a sync answer asks once, for the union
        (``on_cert_response``).
        """
        wanted = self._gap(missing)
        if self._asks is not None:
            self._asks.extend(wanted)
            return []
        if not wanted:
            return []
        return [Send(sender, codec.encode_message(self.me, CertRequest(tuple(wanted))))]

    def _gap(self, missing: Iterable[bytes]) -> list[bytes]:
        """The digests below ``missing`` (through waiting certificates) we do not hold.

        Depth first and at most ``GAP_WALK_MAX`` steps: a validator far behind holds
        thousands of waiting certificates and walks on every arrival; one bottom digest
        per walk is enough to make progress (its answer brings that ancestry), and an
        unbounded walk cost it most of its CPU after a 20 s partition.
        """
        gap: list[bytes] = []
        seen: set[bytes] = set()
        stack = list(missing)
        while stack and len(seen) < GAP_WALK_MAX:
            d = stack.pop()
            if d in seen:
                continue
            seen.add(d)
            waiting = self.waiting.get(d)
            if waiting is None:
                gap.append(d)
            else:
                stack.extend(self._missing(waiting[1].signed))
        return gap

    def _beyond_reach(self, round_: int) -> bool:
        """Whether a header of ``round_`` is more than two GC depths above everything we
        hold: its ancestry down to us was collected by every honest peer (each keeps one
        GC depth below its last anchor; the second is slack for anchors lagging rounds),
        so asking for it can never complete. We then drop it instead of asking.

        Why: a validator cut off for longer than that asked every peer for the missing
        parents of every header and certificate it received; each answer (the ancestry,
        up to ``sync_bytes_max``) filled the peer's send queue to it, so the replies to
        its tip probes were dropped too and it never learned it had to catch up by block
        sync (issue 16, nemesis partition: stuck at round 10 while the others passed 170,
        60,000 requests and 40 MB of answers per peer in 25 s).
        The validator shell catches it up by block sync and resumes it above the gap.
        """
        return round_ > max(self.round, self.gc_round) + 2 * self.config.gc_depth_rounds

    def _missing(self, sh: SignedHeader) -> list[bytes]:
        if sh.header.round - 1 <= self.gc_round:
            return []
        return [p for p in sh.header.parents if p not in self.certs]

    # ------------------------------------------------------------------ handlers

    def on_header(self, sender: int, sh: SignedHeader, now_ns: int = 0) -> list[Effect]:
        """Validate a peer's header and vote for it (once per round and author)."""
        restart = self._restart_seen(sender, sh, now_ns)
        if restart is None:
            return []
        return restart + self._on_header(sender, sh, now_ns)

    def _on_header(self, sender: int, sh: SignedHeader, now_ns: int) -> list[Effect]:
        self._check_header(sender, sh)
        h = sh.header
        if h.round <= self.gc_round or h.round <= self.vote_floor:
            return []
        prior = self.voted.get((h.round, h.author))
        if prior is not None and prior.digest != sh.digest:
            self.stats["equivocations"] += 1
            return [
                Misbehaviour(
                    h.author,
                    "equivocation",
                    f"two headers for round {h.round}",
                    (prior.payload, prior.signature, sh.payload, sh.signature),
                )
            ]
        missing = self._missing(sh)
        if missing:
            if self._beyond_reach(h.round):
                return []
            if len(self.waiting_headers) < self.config.waiting_headers_max:
                self.waiting_headers[sh.digest] = (sender, sh)
            return self._request(sender, missing)
        self._check_parents(sender, sh)
        if self.config.verify_peer_batches and prior is None:
            for b in h.batches:
                require(all(admitted(v) for v in self.admit_batch(b.payloads)), sender, "bad-tx", "inadmissible tx", sh.payload)
        self.voted[(h.round, h.author)] = sh
        vote = Vote(sh.digest, h.round, h.author, self.me, self._vote_signature(sh.digest), self.signer.public_key)
        if h.author == self.me:
            return []
        data = codec.encode_message(self.me, vote)
        if not self.config.votes_to_all:
            return [Send(h.author, data)]
        effects: list[Effect] = [Broadcast(data)]
        effects.extend(self._count_peer_vote(sh, self.me, vote.signature))
        return effects

    def on_vote(self, sender: int, vote: Vote) -> list[Effect]:
        """Count a vote for our current header; certify at the quorum stake."""
        own = self.own
        require(vote.voter == sender, sender, "bad-vote", "vote relayed by another peer")
        require(self.committee.is_member(vote.voter), sender, "bad-vote", "unknown voter")
        if own is None or vote.header_digest != own.digest:
            return self._on_peer_vote(sender, vote)
        key = self.committee.validators[vote.voter].public_key
        require(vote.public_key == key, sender, "bad-key", "vote key is not the voter's")
        require(
            self.verifier.verify(key, DOMAIN_VOTE + vote.header_digest, vote.signature),
            sender,
            "bad-signature",
            "vote",
            vote.header_digest,
            vote.signature,
        )
        self.own_votes.setdefault(vote.voter, vote.signature)
        return self._maybe_certify()

    def _on_peer_vote(self, sender: int, vote: Vote) -> list[Effect]:
        """A vote for another validator's header (``votes_to_all``): count it towards a
        certificate we assemble ourselves. Only for the header we voted for ourselves (so
        we hold it and its parents); anything else is late or early and harmless to drop:
        the author's own certificate broadcast still comes."""
        if not self.config.votes_to_all or vote.round <= self.gc_round or vote.header_digest in self.certs:
            return []
        sh = self.voted.get((vote.round, vote.author))
        if sh is None or sh.digest != vote.header_digest or vote.author == self.me:
            return []
        key = self.committee.validators[vote.voter].public_key
        require(vote.public_key == key, sender, "bad-key", "vote key is not the voter's")
        require(
            self.verifier.verify(key, DOMAIN_VOTE + vote.header_digest, vote.signature),
            sender,
            "bad-signature",
            "vote",
            vote.header_digest,
            vote.signature,
        )
        return self._count_peer_vote(sh, vote.voter, vote.signature)

    def _count_peer_vote(self, sh: SignedHeader, voter: int, signature: bytes) -> list[Effect]:
        """Add a verified vote; at the quorum stake, insert the certificate it makes."""
        if sh.digest in self.certs:
            return []
        votes = self.peer_votes.get(sh.digest)
        if votes is None:
            if len(self.peer_votes) >= self.config.peer_votes_max:
                self.peer_votes.pop(next(iter(self.peer_votes)))  # oldest: its author's cert still comes
            votes = self.peer_votes[sh.digest] = {}
        votes.setdefault(voter, signature)
        if self.committee.stake_of(votes) < self.committee.quorum_stake:
            return []
        del self.peer_votes[sh.digest]
        cert = Certificate(sh, tuple(sorted(votes.items())))
        assert not self._missing(sh), "we voted for it, so its parents are held"
        return self._insert(cert)

    def on_certificate(self, sender: int, cert: Certificate, now_ns: int = 0) -> list[Effect]:
        """Validate a certificate; insert it, or fetch its missing ancestry first."""
        if cert.digest in self.certs or cert.round <= self.gc_round:
            return []
        restart = self._restart_seen(sender, cert.signed, now_ns)
        if restart is None:
            return []
        return restart + self._on_certificate(sender, cert, now_ns)

    def _on_certificate(self, sender: int, cert: Certificate, now_ns: int) -> list[Effect]:
        self._check_cert(sender, cert)
        self.seen_round = max(self.seen_round, cert.round)
        effects: list[Effect] = []
        prior = self.voted.get((cert.round, cert.author))
        if prior is not None and prior.digest != cert.digest:
            # We voted for another header of this (round, author): the author equivocated.
            self.stats["equivocations"] += 1
            effects.append(
                Misbehaviour(
                    cert.author,
                    "equivocation",
                    f"certified header differs from the one we voted for, round {cert.round}",
                    (prior.payload, prior.signature, cert.signed.payload, cert.signed.signature),
                )
            )
        missing = self._missing(cert.signed)
        if missing:
            if self._beyond_reach(cert.round):
                return effects
            if len(self.waiting) >= self.config.waiting_certs_max:
                self.waiting.pop(next(iter(self.waiting)))
            self.waiting[cert.digest] = (sender, cert)
            effects.extend(self._request(sender, missing))
            return effects
        self._check_parents(sender, cert.signed)
        effects.extend(self._insert(cert))
        return effects

    def _insert(self, cert: Certificate) -> list[Effect]:
        """Add a certificate whose parents are held, then retry whatever waited on it."""
        slot = self.by_round.setdefault(cert.round, {})
        other = slot.get(cert.author)
        if other is not None and other.digest != cert.digest:
            raise AssertionError("two certificates for one (round, author): quorum intersection broke")
        slot[cert.author] = cert
        self.certs[cert.digest] = cert
        self.restartable = False
        self.peer_votes.pop(cert.digest, None)
        own = self.own
        if own is not None and cert.digest == own.digest and self.own_txs:
            # Our header certified by peers' votes to all while we were cut off (we got
            # the certificate as a missing parent): its batch is in the DAG now, exactly
            # as when we certify it ourselves (``_maybe_certify``).
            self.own_unlinked[own.header.round] = (own.digest, self.own_txs)
            self.own_txs = []
        effects: list[Effect] = []
        for d, (sender, c) in list(self.waiting.items()):
            if d in self.waiting and not self._missing(c.signed):
                del self.waiting[d]
                try:
                    self._check_parents(sender, c.signed)
                    effects.extend(self._insert(c))
                except PeerFault as fault:
                    effects.append(fault.to_effect())
        for d, (sender, sh) in list(self.waiting_headers.items()):
            if d in self.waiting_headers and not self._missing(sh):
                del self.waiting_headers[d]
                try:
                    effects.extend(self.on_header(sender, sh))
                except PeerFault as fault:
                    effects.append(fault.to_effect())
        return effects

    def on_cert_request(self, sender: int, req: CertRequest) -> list[Effect]:
        """Answer with the requested certificates and their ancestry, lowest round first."""
        found: dict[bytes, Certificate] = {}
        frontier = [d for d in req.digests if d in self.certs]
        size = 0
        while frontier and len(found) < self.config.sync_certs_max:
            d = frontier.pop()
            if d in found or d not in self.certs:
                continue
            c = self.certs[d]
            size += len(c.signed.payload)
            if found and size > self.config.sync_bytes_max:
                break
            found[d] = c
            frontier.extend(p for p in c.signed.header.parents if p in self.certs and p not in found)
        if not found:
            return []
        certs = tuple(sorted(found.values(), key=lambda c: (c.round, c.author)))
        return [Send(sender, codec.encode_message(self.me, CertResponse(certs)))]

    def on_cert_response(self, sender: int, resp: CertResponse, now_ns: int = 0) -> list[Effect]:
        """Insert synced certificates one by one; a bad one is reported, the rest kept."""
        effects: list[Effect] = []
        self._asks = []  # one ask for the whole answer (``_request``)
        try:
            for cert in resp.certificates:
                try:
                    effects.extend(self.on_certificate(sender, cert, now_ns))
                except PeerFault as fault:
                    effects.append(fault.to_effect())
            asks = self._asks
        finally:
            self._asks = None
        still = [d for d in dict.fromkeys(asks) if d not in self.certs and d not in self.waiting]
        if still:
            effects.append(Send(sender, codec.encode_message(self.me, CertRequest(tuple(still)))))
        return effects

    # ------------------------------------------------------------------ time, GC

    def tick(self, now_ns: int) -> list[Effect]:
        """Re-broadcast our header while uncertified, our certificate while stuck."""
        own = self.own
        resend_ns = self.config.resend_ms * 1_000_000
        if own is None or now_ns - self.own_sent_ns < resend_ns:
            return []
        self.own_sent_ns = now_ns
        cert = self.certs.get(own.digest)
        if cert is None:
            return [Broadcast(codec.encode_message(self.me, own))]
        if not self.quorum_at(self.round):
            return [Broadcast(codec.encode_message(self.me, cert))]
        return []

    def next_deadline_ns(self) -> int | None:
        """When ``tick`` next has something to do."""
        own = self.own
        if own is None or (own.digest in self.certs and self.quorum_at(self.round)):
            return None  # nothing to resend: the header is certified and the round moved on
        return self.own_sent_ns + self.config.resend_ms * 1_000_000

    def gc(self, committed_round: int) -> None:
        """Forget rounds ``gc_depth_rounds`` below the last committed anchor."""
        new = committed_round - self.config.gc_depth_rounds
        if new <= self.gc_round:
            return
        for r in [r for r in self.by_round if r <= new]:
            for c in self.by_round.pop(r).values():
                del self.certs[c.digest]
        self.voted = {k: v for k, v in self.voted.items() if k[0] > new}
        self.waiting = {d: v for d, v in self.waiting.items() if v[1].round > new}
        self.waiting_headers = {d: v for d, v in self.waiting_headers.items() if v[1].header.round > new}
        live = {sh.digest for sh in self.voted.values()}
        self.peer_votes = {d: v for d, v in self.peer_votes.items() if d in live}
        self.gc_round = new

    def ancestors_at(self, start: Iterable[bytes], round_: int) -> set[bytes]:
        """Digests of round ``round_`` reachable from ``start`` through parent links."""
        return ancestors_at(self.certs, start, round_)

    def invariants(self) -> None:
        """Structural checks the harness runs after every step (AssertionError = our bug).

        O(n): the newest two rounds are checked in full, older ones were checked when
        they were the newest (certificates are immutable once inserted).
        """
        assert len(self.pending) <= self.config.pending_txs_max
        assert len(self.own_txs) <= self.config.header_txs_max
        assert not self.own_txs or (self.own is not None and self.own.digest not in self.certs)
        assert all(r >= self.round - 1 for r in self.own_unlinked), "checked two rounds on"
        assert len(self.waiting) <= self.config.waiting_certs_max
        assert len(self.waiting_headers) <= self.config.waiting_headers_max
        assert len(self.peer_votes) <= self.config.peer_votes_max
        assert len(self.certs) >= len(self.by_round)
        assert not self.by_round or min(self.by_round) > self.gc_round
        for r in sorted(self.by_round)[-2:]:
            for a, c in self.by_round[r].items():
                assert c.round == r and c.author == a and self.certs[c.digest] is c
        assert self.own is None or self.own.header.round == self.round


def ancestors_at(certs: Mapping[bytes, Certificate], start: Iterable[bytes],
                 round_: int) -> set[bytes]:
    """Digests of round ``round_`` reachable from ``start`` through parent links in
    ``certs`` (one round per step: every parent is exactly one round lower)."""
    frontier = {d for d in start if d in certs}
    while frontier:
        if certs[next(iter(frontier))].round <= round_:
            return {d for d in frontier if certs[d].round == round_}
        nxt: set[bytes] = set()
        for d in frontier:
            nxt.update(p for p in certs[d].signed.header.parents if p in certs)
        frontier = nxt
    return set()
