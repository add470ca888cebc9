"""A validator's consensus core: mempool DAG + fast-path BFT + Snowball + blocks.

This is the one sans-IO state machine the actor shell (and the test harness) drives:
``submit`` for client transactions, ``receive`` for peer bytes, ``tick`` for time. It
decodes each hop (Cap'n Proto), routes it to the sub-core that owns it, then runs the
two rules that tie them together: commit whatever the DAG decides, and propose the next
round with the anchor vote the mode calls for.

Errors: a malformed or invalid peer message becomes a ``Misbehaviour`` effect (the
peer's fault, with evidence) and the core carries on; anything else is our bug, and the
core stays failed: every later call raises ``LocalBug``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from focusflow.actors.avalanche.core import AvalancheConfig, AvalancheCore, Rng
from focusflow.actors.bft.core import BftConfig, BftCore, tally
from focusflow.actors.consensus import codec
from focusflow.actors.consensus.blocks import (
    BlockConfig,
    BlockCore,
    DaRootOf,
    StateTransition,
    merkle_da_root,
)
from focusflow.actors.consensus.crypto import DOMAIN_ELECT, Signer, Verifier, digest
from focusflow.actors.consensus.types import (
    SKIP,
    BlockHeader,
    BlockSig,
    Certificate,
    CertRequest,
    CertResponse,
    ClientTx,
    Commit,
    Committee,
    Effect,
    LocalBug,
    Misbehaviour,
    ModeChange,
    PeerFault,
    PollQuery,
    PollReply,
    Send,
    SetTimer,
    SignedHeader,
    Vote,
)
from focusflow.actors.consensus.view import ConsensusView, consensus_view
from focusflow.actors.mempool.core import AdmitBatch, DagConfig, DagCore

_WAIT = None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Configuration of every sub-core of a validator."""

    dag: DagConfig = field(default_factory=DagConfig)
    bft: BftConfig = field(default_factory=BftConfig)
    avalanche: AvalancheConfig = field(default_factory=AvalancheConfig)
    blocks: BlockConfig = field(default_factory=BlockConfig)
    fallback_fetch_timeout_ms: int = 2000
    resume_floor_rounds: int = 20  # DAG floor of a core resumed after a restart, below its anchor
    restart_after_ms: int = 1500  # a resumed core with no certificate this long restarts the DAG


class ValidatorCore:
    """One validator's consensus state machine."""

    def __init__(
        self,
        *,
        committee: Committee,
        me: int,
        signer: Signer,
        verifier: Verifier,
        admit_batch: AdmitBatch,
        execute: StateTransition,
        rng: Rng,
        config: NodeConfig | None = None,
        genesis_state_root: bytes = bytes(32),
        da_root_of: DaRootOf = merkle_da_root,
    ) -> None:
        self.config = config or NodeConfig()
        assert self.config.dag.gc_depth_rounds == self.config.bft.gc_depth_rounds, "one GC depth"
        self.committee = committee
        self.me = me
        self.dag = DagCore(
            committee=committee, me=me, signer=signer, verifier=verifier, admit_batch=admit_batch, config=self.config.dag
        )
        self.bft = BftCore(committee=committee, config=self.config.bft)
        self.snow = AvalancheCore(committee=committee, me=me, rng=rng, config=self.config.avalanche)
        self.blocks = BlockCore(
            committee=committee, me=me, signer=signer, verifier=verifier, execute=execute, config=self.config.blocks,
            genesis_state_root=genesis_state_root, da_root_of=da_root_of,
        )
        self.failed: BaseException | None = None
        self.started = False
        self.fetch_started_ns: dict[int, int] = {}
        self.commits = 0
        self.resumed_slot = 0  # the anchor round of the block we resumed after (resume_chain)
        self.resumed_ns: int | None = None  # first step of a resumed core (DAG restart clock)
        self.quorum_round = 0  # the DAG's highest quorum round, and when it last grew
        self.quorum_moved_ns = 0

    def resume_chain(
        self,
        *,
        watermark: int,
        height: int,
        parent: bytes,
        state_root: bytes,
        anchor_round: int,
        recent_txs: Sequence[bytes],
        recent_headers: Sequence[BlockHeader] = (),
    ) -> None:
        """Rejoin consensus after a restart, on a chain finalized up to ``height``.

        Why: the core keeps its DAG and vote record in memory; a restarted validator that
        caught up by block sync must (1) never sign a header or vote at or below
        ``watermark`` (the highest round it may have signed, persisted by the shell before
        anything left), (2) build its next block as ``height + 1`` on ``parent``, and (3)
        order only anchors above ``anchor_round`` (the anchor of block ``height``), with
        the DAG's GC floor at or above the others' (``resume_floor_rounds`` below the
        anchor; theirs is ``gc_depth_rounds`` below their own, newer, last anchor), so that
        certificates whose parents the others already collected can still be inserted
        (a floor below theirs leaves every synced certificate waiting for a parent nobody
        can send), and (4) lead slots by the schedule the others follow, rebuilt from
        ``recent_headers`` (the last blocks' headers, ending at ``height``:
        ``LeaderSchedule.resume``). The price: a certificate older than that floor and still unordered is
        invisible to us; our block would then differ from the others' and not finalize.
        """
        assert not self.started and self.commits == 0, "only before the first step"
        assert watermark >= 0 and anchor_round >= 0 and height >= 0
        self.dag.resume_above(watermark)
        floor = max(0, anchor_round - self.config.resume_floor_rounds)
        self.dag.gc(floor + self.config.dag.gc_depth_rounds)  # gc() keeps gc_depth_rounds below its argument
        assert self.dag.gc_round == max(0, floor) or floor <= 0
        self.bft.last_slot = max(1, anchor_round)
        self.bft.last_anchor_round = anchor_round
        self.bft.schedule.resume(height=height, anchor_round=anchor_round, recent=recent_headers)
        self.bft.resumed_anchor = recent_headers[-1].anchor if recent_headers else None
        self.blocks.resume(height=height, parent=parent, state_root=state_root, recent_txs=recent_txs)
        self.commits = height
        self.resumed_slot = anchor_round

    # ------------------------------------------------------------------ entry points

    def submit(self, txs: Sequence[ClientTx], now_ns: int) -> list[Effect]:
        """Client transactions into the mempool (rejections come back as effects)."""
        return self._guard(lambda: self.dag.submit(txs, now_ns), now_ns)

    def receive(self, data: bytes, sender: int, now_ns: int) -> list[Effect]:
        """Bytes from peer ``sender`` (authenticated by the transport)."""
        return self._guard(lambda: self._dispatch(data, sender, now_ns), now_ns)

    def receive_final_shares(self, payload: bytes, shares: Sequence[tuple[int, bytes]],
                             now_ns: int) -> list[Effect]:
        """The shares of a block a peer holds as final (block sync: the shell verified the
        record's quorum signatures), counted as if each signer had sent its own: they
        finish a block of ours with the same header whose shares never reached us.

        Why: a block is final once the quorum stake of shares is *here*; a peer that
        finalized it answers our re-sent share once with its own (``BlockCore`` helps
        once per peer and height), and if that answer is lost our finality stops at
        that height for good, while we keep building blocks above it (chaos seed 12
        with a settle phase: a validator restarted after an fsync failure logged
        nothing past block 27 while the others reached 52)."""

        def run() -> list[Effect]:
            effects: list[Effect] = []
            for voter, signature in shares:
                if not self.committee.is_member(voter):
                    continue
                key = self.committee.validators[voter].public_key
                try:
                    effects.extend(self.blocks.on_block_sig(voter, BlockSig(voter, payload, signature, key)))
                except PeerFault as fault:
                    effects.append(fault.to_effect())
            return effects

        return self._guard(run, now_ns)

    def tick(self, now_ns: int) -> list[Effect]:
        """Time passed: resends, poll timeouts, leader timeouts."""

        def run() -> list[Effect]:
            effects = self.dag.tick(now_ns)
            effects.extend(self.blocks.tick(now_ns))
            effects.extend(self.snow.tick(now_ns, self._adoptable_for_any))
            return effects

        return self._guard(run, now_ns)

    def _guard(self, step: Callable[[], list[Effect]], now_ns: int) -> list[Effect]:
        if self.failed is not None:
            raise LocalBug(f"validator {self.me} failed earlier: {self.failed!r}")
        try:
            try:
                effects: list[Effect] = list(step())
            except PeerFault as fault:
                effects = [fault.to_effect()]
            except codec.DecodeError as exc:
                effects = [Misbehaviour(-1, "malformed", str(exc))]
            effects.extend(self._progress(now_ns))
            for e in effects:
                if isinstance(e, Commit):  # ordered: out of the mempool's latency budget
                    self.dag.ordered(e.txs, now_ns)
            deadline = self._next_deadline(now_ns)
            if deadline is not None:
                effects.append(SetTimer(deadline))
            return effects
        except PeerFault as fault:  # a fault surfacing from a deferred step
            return [fault.to_effect()]
        except BaseException as exc:
            self.failed = exc
            raise

    def _dispatch(self, data: bytes, sender: int, now_ns: int) -> list[Effect]:
        # A DAG whose quorum round has not moved for restart_after_ms may join a peer's
        # restart round (DagCore._adopt_restart): some validators restarted it while we
        # kept certificates nobody else can extend (chaos seed 159: v0 and v2 restarted
        # at round 26, v3 held round 24 and waited for round-25 votes they could no
        # longer give; with v1 down, no round could gather a quorum again).
        self.dag.stalled = now_ns - self.quorum_moved_ns >= self.config.restart_after_ms * 1_000_000
        claimed, msg = codec.decode_message(data)
        if claimed != sender or not self.committee.is_member(sender) or sender == self.me:
            return [Misbehaviour(sender, "bad-sender", f"envelope says {claimed}")]
        if isinstance(msg, SignedHeader):
            return self.dag.on_header(sender, msg, now_ns)
        if isinstance(msg, Vote):
            return self.dag.on_vote(sender, msg)
        if isinstance(msg, Certificate):
            return self.dag.on_certificate(sender, msg, now_ns)
        if isinstance(msg, CertRequest):
            return self.dag.on_cert_request(sender, msg)
        if isinstance(msg, CertResponse):
            return self.dag.on_cert_response(sender, msg, now_ns)
        if isinstance(msg, PollQuery):
            pref = self._preference(msg.slot)
            return [Send(sender, codec.encode_message(self.me, PollReply(msg.slot, msg.nonce, pref)))]
        if isinstance(msg, PollReply):
            effects = self.snow.on_reply(sender, msg, now_ns, self._adoptable(msg.slot))
            if msg.preference != SKIP and msg.preference not in self.dag.certs and self.snow.active(msg.slot):
                effects.append(Send(sender, codec.encode_message(self.me, CertRequest((msg.preference,)))))
            return effects
        assert isinstance(msg, BlockSig)
        return self.blocks.on_block_sig(sender, msg)

    # ------------------------------------------------------------------ the glue rules

    def _progress(self, now_ns: int) -> list[Effect]:
        effects: list[Effect] = []
        if not self.started:
            self.started = True
            if self.dag.round == 0:  # a resumed validator waits for a quorum above its watermark
                effects.extend(self.dag.propose(1, SKIP, now_ns))
            elif self.dag.restartable:
                self.resumed_ns = now_ns
        top = self.dag.highest_quorum_round()
        if top != self.quorum_round or not self.quorum_moved_ns:
            self.quorum_round, self.quorum_moved_ns = top, now_ns
        effects.extend(self._maybe_restart_dag(now_ns))
        for ordered in self.bft.try_commit(self.dag):
            txs = tuple(tx for c in ordered.history for b in c.signed.header.batches for tx in b.payloads)
            commit = Commit(ordered.slot, ordered.anchor.digest, ordered.via, tuple(c.digest for c in ordered.history), txs)
            self.commits += 1
            effects.append(commit)
            effects.extend(self.blocks.on_commit(commit, [c.author for c in ordered.history],
                                                 ordered.reputation))
        if self.bft.last_anchor_round:
            self.dag.gc(self.bft.last_anchor_round)
            self.snow.gc(self.bft.last_slot)
        effects.extend(self._advance(now_ns))
        for slot in [s for s in self.bft.mode.slot_started_ns if s < self.dag.round]:
            del self.bft.mode.slot_started_ns[slot]
        return effects

    def _maybe_restart_dag(self, now_ns: int) -> list[Effect]:
        """Resumed, never proposed since, and stuck for ``restart_after_ms``: restart the
        DAG above everything we signed (``DagCore.restart_at``; peers adopt the highest
        such round, a stalled peer too).

        Two ways to be stuck. Without any certificate: every validator lost its DAG (a
        restart of all of them). With the certificates peers sent, but a quorum round
        that stopped moving: the open round is one we signed in before the crash (our
        watermark), so we may neither vote in it nor propose there, and with one
        validator down the others need exactly our votes — the round is frozen for
        everyone (issue 16 finding 1, restart while another is down: the simulator froze
        7 of 18 such runs at one round, all three live validators in consensus)."""
        dag = self.dag
        if self.resumed_ns is None:
            return []
        if dag.own is not None:
            # We take part again (proposed, or adopted a peer's restart round). Forget the
            # deadline: left set, it stayed in the past and made the core tick at once,
            # for ever (chaos seed 159: 148,000 ticks in 6 virtual s).
            self.resumed_ns = None
            return []
        if now_ns < self._restart_deadline_ns():
            return []
        self.resumed_ns = None
        return dag.restart_at(max(dag.round, dag.vote_floor, dag.gc_round) + 1, now_ns)

    def _restart_deadline_ns(self) -> int:
        """When a resumed core that has not proposed restarts the DAG: ``restart_after_ms``
        after it resumed, or after its quorum round last moved once it holds certificates."""
        assert self.resumed_ns is not None
        since = max(self.resumed_ns, self.quorum_moved_ns) if self.dag.certs else self.resumed_ns
        return since + self.config.restart_after_ms * 1_000_000

    def _advance(self, now_ns: int) -> list[Effect]:
        """Propose the next round once the previous one has the quorum stake of certs."""
        top = self.dag.highest_quorum_round()
        if top < self.dag.round:
            return []
        target = top + 1
        effects: list[Effect] = []
        vote = SKIP
        if target >= 3:
            chosen = self._anchor_vote(target - 1, now_ns, effects)
            if chosen is _WAIT:
                return effects
            vote = chosen
        effects.extend(self.dag.propose(target, vote, now_ns))
        return effects

    def _anchor_vote(self, slot: int, now_ns: int, effects: list[Effect]) -> bytes | None:
        """The anchor vote for ``slot``, or ``_WAIT`` (leader timer / Snowball running)."""
        leader = self.dag.by_round.get(slot, {}).get(self.bft.leader(slot))
        for stale in [s for s in self.bft.mode.slot_started_ns if s < slot]:
            del self.bft.mode.slot_started_ns[stale]  # we jumped past it: no timer for it
        started = self.bft.slot_started(slot, now_ns)
        if self.bft.mode.mode == "fast":
            if leader is not None:
                self.bft.on_fast_vote(slot)
                return leader.digest
            if now_ns < started + self.config.bft.leader_timeout_ms * 1_000_000:
                return _WAIT
            if not self.bft.on_timeout(slot):
                self.bft.mode.slot_started_ns.pop(slot, None)
                return SKIP
            effects.append(ModeChange("fallback", slot))
        shortcut = self._settled_elsewhere(slot, leader)
        if shortcut is not None:
            # The leader's certificate is here after all, or the next round already
            # shows the validity stake behind one value: vote with them, no polling
            # (a validator that lags would otherwise poll for every slot it jumps to).
            if self.bft.on_fallback_vote(slot):
                effects.append(ModeChange("fast", slot))
            return shortcut
        if not self.snow.active(slot):
            effects.extend(self.snow.start(slot, self._initial_preference(slot), now_ns))
        decided = self.snow.decision(slot)
        if decided is None and not self.snow.exhausted(slot):
            return _WAIT
        value = SKIP if decided is None else decided
        if value != SKIP and value not in self.dag.certs:
            first = self.fetch_started_ns.setdefault(slot, now_ns)
            if now_ns < first + self.config.fallback_fetch_timeout_ms * 1_000_000:
                return _WAIT
            value = SKIP
        if self.bft.on_fallback_vote(slot):
            effects.append(ModeChange("fast", slot))
        self.fetch_started_ns.pop(slot, None)
        return value

    def _settled_elsewhere(self, slot: int, leader: Certificate | None) -> bytes | None:
        """A fallback vote that needs no poll: the leader's certificate when held, else a
        value (held, or SKIP) that round ``slot+1`` certificates back with the validity
        stake. Liveness only: any vote is safe (docs/consensus.md)."""
        if leader is not None:
            return leader.digest
        counts = tally(self.committee, list(self.dag.by_round.get(slot + 1, {}).values()))
        for value, stake in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            held = value == SKIP or (value in self.dag.certs and self.dag.certs[value].round == slot)
            if stake >= self.committee.validity_stake and held:
                return value
        return None

    def _initial_preference(self, slot: int) -> bytes:
        """The leader's cert if held, else the held round-``slot`` cert with the least
        election hash: what every validator with the same view would pick."""
        certs = self.dag.by_round.get(slot, {})
        leader = certs.get(self.bft.leader(slot))
        if leader is not None:
            return leader.digest
        if not certs:
            return SKIP
        return min((c.digest for c in certs.values()), key=lambda d: digest(DOMAIN_ELECT, slot.to_bytes(8, "little") + d))

    def _preference(self, slot: int) -> bytes:
        """What we answer a poll with: our vote if cast, else our current preference."""
        own = self.dag.voted.get((slot + 1, self.me))
        if own is not None:
            return own.header.anchor_vote
        pref = self.snow.preference(slot)
        if pref is not None:
            return pref
        return self._initial_preference(slot)

    def _adoptable(self, slot: int) -> Callable[[bytes], bool]:
        def ok(value: bytes) -> bool:
            return value == SKIP or (value in self.dag.certs and self.dag.certs[value].round == slot)

        return ok

    def _adoptable_for_any(self, value: bytes) -> bool:
        return value == SKIP or value in self.dag.certs

    def _next_deadline(self, now_ns: int) -> int | None:
        deadlines = (self.dag.next_deadline_ns(), self.snow.next_deadline_ns(), self.blocks.next_deadline_ns())
        times = [t for t in deadlines if t is not None]
        if self.bft.mode.mode == "fast":  # in fallback mode Snowball's polls drive time
            for slot, started in self.bft.mode.slot_started_ns.items():
                if slot + 1 > self.dag.round:
                    times.append(started + self.config.bft.leader_timeout_ms * 1_000_000)
        for first in self.fetch_started_ns.values():
            times.append(first + self.config.fallback_fetch_timeout_ms * 1_000_000)
        if self.resumed_ns is not None:
            times.append(self._restart_deadline_ns())
        # A deadline already past (we were not called for a while: crash, pause, lost
        # timer) fires at once; dropping it would leave the core waiting for a message
        # that nobody sends.
        return max(min(times), now_ns + 1) if times else None

    # ------------------------------------------------------------------ checks

    def view(self) -> ConsensusView:
        """A read-only snapshot for operators (``consensus.view``): round, leader, the
        votes seen and missing, what is built and finalized."""
        return consensus_view(self)

    @property
    def finalized_height(self) -> int:
        """Height of the last notarised block."""
        return self.blocks.finalized_height

    def invariants(self) -> None:
        """Every sub-core's invariants plus the glue's own.

        A core whose step raised refuses every further input (``_guard``) and its state
        stopped mid-step, so its structure is not checked; an ``OSError`` there is the
        environment's (the state transition's durable commit failed: the shell crashes and
        restarts from durable state), anything else is our bug and fails here.
        """
        if self.failed is not None:
            assert isinstance(self.failed, OSError), f"the core failed: {self.failed!r}"
            return
        self.dag.invariants()
        self.bft.invariants()
        self.snow.invariants()
        self.blocks.invariants()
        assert self.bft.last_slot <= max(max(self.dag.by_round, default=self.bft.last_slot), self.resumed_slot)
        assert self.blocks.height == self.commits
