"""The hub's actor shell: IBC channels in, merger core, durable event log, adjudication.

Durability (a hub crash loses nothing): every input that changed the hub — a received
packet, an acknowledgement, a fraud verdict, a tick that accepted or merged — is written
to the node's storage as one ``HubEvent`` and synced before anything that depends on it
leaves the actor (relayers only see acks through later queries). On restart the shell
replays the log through fresh cores, which are deterministic, and ends in the exact
state, IBC tree and counters included; packets received but not yet durable were never
acknowledged, so relayers deliver them again. (The log is never compacted: a snapshot
of the cores is the missing piece for long runs.)

DA availability: every ``PROBE_MS`` the hub tells the DA grid the data roots of its
claims in a window (``ProbeSquares``; a tell, so a grid that is down never blocks the
channels) and logs each answer (``SquaresHeld``) as an ``EV_AVAIL`` event: the core
counts a claim's window only in time its data was seen available. The answers are
written without a sync of their own (like the sequencer's acks): the next synced event
makes them durable, and one lost with a crash is harmless, since a restart gives every
pending claim a whole window again anyway.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from focusflow.actors.hub.core import (
    Adjudicate,
    Committed,
    Forward,
    HubCore,
    Notify,
    Rejected,
    Slashed,
)
from focusflow.actors.ibc.core import IbcChain, IbcError, Refused
from focusflow.actors.ibc.messages import AckPacket, RecvPacket, TimeoutPacket
from focusflow.actors.ibc.relayer import serve_query
from focusflow.actors.rollup.bucket import Bucket
from focusflow.actors.rollup.claims import OptimisticVerifier, Replayer
from focusflow.actors.rollup.messages import (
    ClaimNotice,
    ClaimsAnswer,
    ClaimsQuery,
    FetchSquare,
    FraudProof,
    HubEvent,
    HubQuery,
    HubState,
    ProbeSquares,
    RollupTick,
    Square,
    SquaresHeld,
    SupplyRank,
)
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.kernels import FocusParams
from focusflow.supervisor import Actor, ActorCrashed, AskTimeout
from focusflow.supervisor._errors import ActorNotFound, MailboxFull
from focusflow.wire import WireError, from_bytes, to_bytes

__all__ = ["HubActor"]

EV_RECV, EV_ACK, EV_VERDICT, EV_TICK, EV_TIMEOUT, EV_RESUME, EV_DISPUTE = 1, 2, 3, 4, 5, 6, 7
EV_AVAIL = 8
TICK_JUDGE, TICK_PROBE = 9, 10
#: how often the hub asks the DA grid whether its claims' data is held
PROBE_MS = 100.0
ROOT_BYTES = 32
JUDGE_RETRY_MS = 200.0
LOG_PREFIX = "hub.log."
ASK_TIMEOUT_MS = 1_000
UP = "up"
forward_timeout_ms = 600_000.0
#: claims one ``ClaimsQuery`` answer carries (a watcher asks again from where it stopped)
claims_answer_max = 256


class HubActor(Actor):
    """A regional (``upstream`` given) or global hub."""

    def __init__(self, name: str, seed: bytes, *, rollups: dict[str, bytes],
                 regions: dict[str, bytes], upstream: tuple[str, bytes] | None,
                 da: tuple[str, str], watchers: list[tuple[str, str]],
                 merge_ms: float = 1_000.0, window_ms: float = 1_000.0, bond: int = 10_000,
                 tick_ms: float = 20.0, eps: float = 1e-9,
                 probe: RollupProbe | None = None) -> None:
        trusted = dict(rollups) | dict(regions)
        if upstream is not None:
            trusted[upstream[0]] = upstream[1]
        self.name = name
        self.ibc = IbcChain(name, seed, trusted=trusted)
        for chain in rollups:
            self.ibc.open_channel(chain, counterparty_chain=chain, counterparty_channel="hub")
        for chain in regions:
            self.ibc.open_channel(chain, counterparty_chain=chain, counterparty_channel=UP)
        if upstream is not None:
            self.ibc.open_channel(UP, counterparty_chain=upstream[0], counterparty_channel=name)
        self.rollups, self.regions = dict(rollups), dict(regions)
        self.core = HubCore(name, verifier=OptimisticVerifier(window_ms), merge_ms=merge_ms,
                            bonds={k: bond for k in rollups.values()},
                            redistribute=upstream is None, forward=upstream is not None)
        self.da = self.ctx.ref_for(*da)
        self.watchers = [self.ctx.ref_for(*w) for w in watchers]
        self.tick_ms, self.probe = tick_ms, probe
        self.params = FocusParams(eps=eps)
        self.log_next = 0
        self.replaying = False
        self.refused = 0
        self.unjudged = 0  # adjudications put off (the DA grid did not answer)
        self._delivered: tuple[str, bytes, int] | None = None

    async def on_start(self) -> None:
        keys = self.ctx.storage.keys(LOG_PREFIX)
        self.replaying = True
        for key in keys:
            raw = await self.ctx.storage.read(key)
            assert raw is not None, "a listed log entry vanished"
            self._apply(from_bytes(HubEvent, raw))
        self.replaying = False
        self.log_next = len(keys)
        if keys:
            if self.probe is not None:
                self.probe.hub_restarts += 1
            await self._event(HubEvent(EV_RESUME, self.ctx.now_ns()))
        # a notice may have been lost with the crash: tell the watchers again about every
        # claim still in its window (watchers ignore what they already judged)
        for queue in self.core.pending.values():
            for entry in queue:
                notice = ClaimNotice(to_bytes(entry.claim), self.ctx.node_name, entry.deadline_ns)
                for w in self.watchers:
                    self.ctx.tell_nowait(w, notice)
        if self.core.disputed():  # disputes logged before the crash wait for a verdict
            self.ctx.start_timer("judge", 0.0, RollupTick(TICK_JUDGE))
        self.ctx.start_timer("tick", self.tick_ms, RollupTick(0), repeat=True)
        self.ctx.start_timer("probe", PROBE_MS, RollupTick(TICK_PROBE), repeat=True)

    # ------------------------------------------------------------------ messages

    async def receive(self, msg: Any) -> Any:
        now = self.ctx.now_ns()
        answer = serve_query(self.ibc, msg, now)
        if answer is not None:
            return answer
        if isinstance(msg, RecvPacket):
            await self._event(HubEvent(EV_RECV, now, to_bytes(msg)))
        elif isinstance(msg, AckPacket):
            await self._event(HubEvent(EV_ACK, now, to_bytes(msg)))
        elif isinstance(msg, TimeoutPacket):
            await self._event(HubEvent(EV_TIMEOUT, now, to_bytes(msg)))
        elif isinstance(msg, RollupTick) and msg.kind == TICK_PROBE:
            roots = self.core.probe_roots()
            if roots is not None:  # sending changes nothing: only the answer is logged
                with contextlib.suppress(MailboxFull):  # the next probe asks again
                    self.ctx.tell_nowait(self.da, ProbeSquares(roots, now))
        elif isinstance(msg, SquaresHeld):
            if msg.sent_ns <= now and all(len(r) == ROOT_BYTES for r in msg.data_roots):
                await self._event(HubEvent(EV_AVAIL, now, b"".join(msg.data_roots),
                                           msg.sent_ns.to_bytes(8, "big")), sync=False)
        elif isinstance(msg, RollupTick) and msg.kind == TICK_JUDGE:
            for proof in self.core.disputed():
                await self._judge(proof, now)
        elif isinstance(msg, RollupTick):
            await self._event(HubEvent(EV_TICK, now))
        elif isinstance(msg, FraudProof):
            # durable before judging: a disputed claim is not accepted until its verdict
            await self._event(HubEvent(EV_DISPUTE, now, to_bytes(msg)))
            await self._judge(msg, now)
        elif isinstance(msg, HubQuery):
            return self.state()
        elif isinstance(msg, ClaimsQuery):
            return self.claims(msg.bucket, msg.from_period, after_bucket=msg.after_bucket)
        return None

    def claims(self, bucket: bytes, from_period: int, *, after_bucket: bytes = b""
               ) -> ClaimsAnswer:
        """One page of ``HubCore.claims_page`` (at most ``claims_answer_max`` claims)."""
        kept, more = self.core.claims_page(bucket, from_period, after_bucket=after_bucket,
                                           limit=claims_answer_max)
        return ClaimsAnswer(np.array([d for _, d in kept], dtype=np.uint64),
                            tuple(to_bytes(c) for c, _ in kept), self.ctx.node_name, more)

    async def _event(self, event: HubEvent, *, sync: bool = True) -> None:
        """Apply an input; if it changed the hub, make it durable, then act on it.

        ``sync=False`` (availability answers) leaves the write to the next sync, unless
        the event has effects (an acceptance must be durable before it is forwarded)."""
        effects = self._apply(event)
        if effects is None:
            return
        await self.ctx.storage.write(f"{LOG_PREFIX}{self.log_next:012d}", to_bytes(event))
        if sync or effects:
            await self.ctx.storage.sync()
        self.log_next += 1
        if self._delivered is not None and self.probe is not None:
            key, self._delivered = self._delivered, None
            self.probe.delivered[key] = self.probe.delivered.get(key, 0) + 1
        for e in effects:
            if isinstance(e, Notify):
                notice = ClaimNotice(to_bytes(e.claim), self.ctx.node_name, e.deadline_ns)
                for w in self.watchers:
                    self.ctx.tell_nowait(w, notice)
            elif isinstance(e, Committed) and self.probe is not None and self.core.redistribute:
                self.probe.committed(e.merged, e.now_ns)
            elif isinstance(e, Slashed) and self.probe is not None:
                self.probe.slashed.append(e.sequencer)

    def _apply(self, ev: HubEvent) -> list[Any] | None:
        """Run one event through the cores; None when it changed nothing (not logged)."""
        if ev.kind == EV_RECV:
            return self._recv(from_bytes(RecvPacket, ev.a), ev.now_ns)
        if ev.kind in (EV_ACK, EV_TIMEOUT):
            try:
                if ev.kind == EV_ACK:
                    self.ibc.acknowledge(from_bytes(AckPacket, ev.a))
                else:
                    self.ibc.timeout(from_bytes(TimeoutPacket, ev.a))
            except Refused:
                return None
            return []
        if ev.kind == EV_VERDICT:
            period = int.from_bytes(ev.b[:8], "big")
            return list(self.core.adjudicated(ev.a, period, fraud=ev.flag,
                                              challenger=ev.b[8:].decode()))
        if ev.kind == EV_RESUME:
            self.core.resume(ev.now_ns)
            return []
        if ev.kind == EV_DISPUTE:
            return [] if self.core.dispute(from_bytes(FraudProof, ev.a)) else None
        if ev.kind == EV_AVAIL:
            held = [ev.a[i:i + ROOT_BYTES] for i in range(0, len(ev.a), ROOT_BYTES)]
            found = self.core.observed(held, int.from_bytes(ev.b, "big"), ev.now_ns)
            if found is not None:
                self._forward(found, ev.now_ns)
            return found
        assert ev.kind == EV_TICK, f"unknown hub event {ev.kind}"
        before = self._fingerprint()
        effects = self.core.tick(ev.now_ns)
        self._forward(effects, ev.now_ns)
        return effects if effects or self._fingerprint() != before else None

    def _fingerprint(self) -> tuple[int, int, int | None]:
        return (self.core.height, sum(len(q) for q in self.core.pending.values()),
                self.core.next_merge_ns)

    def _recv(self, msg: RecvPacket, now_ns: int) -> list[Any] | None:
        try:
            packet = self.ibc.recv(msg, now_ns=now_ns)
        except Refused:
            self.refused += 1
            return None
        try:
            claim = from_bytes(SupplyRank, packet.data)
        except (WireError, ValueError):
            return []  # received (acked) but malformed: the sender's fault, nothing merged
        from_rollup = packet.dest_channel in self.rollups
        if from_rollup and claim.sequencer != self.rollups[packet.dest_channel]:
            return [Rejected(claim.bucket, claim.period, "claim of another sequencer")]
        effects = list(self.core.claim(claim, now_ns, window=from_rollup))
        self._forward(effects, now_ns)
        if not self.replaying and not any(isinstance(e, Rejected) for e in effects):
            self._delivered = (self.name, claim.bucket, claim.period)  # counted once durable
        return effects

    def _forward(self, effects: list[Any], now_ns: int) -> None:
        for e in effects:
            if isinstance(e, Forward):
                # a channel closed by a timeout refuses: the region stops forwarding
                with contextlib.suppress(IbcError):
                    self.ibc.send(UP, to_bytes(e.claim),
                                  timeout_ns=now_ns + int(forward_timeout_ms * 1e6))

    async def _judge(self, proof: FraudProof, now: int) -> None:
        """Adjudicate the claim ``proof`` names; if the DA grid cannot answer now, the
        claim stays disputed (not accepted) and is judged again ``JUDGE_RETRY_MS`` later."""
        for e in self.core.fraud(proof):
            if isinstance(e, Adjudicate) and not await self._adjudicate(e, now):
                self.unjudged += 1
                self.ctx.start_timer("judge", JUDGE_RETRY_MS, RollupTick(TICK_JUDGE))

    async def _adjudicate(self, adj: Adjudicate, now: int) -> bool:
        """Re-execute the disputed claim from DA and record the verdict durably; False
        when it cannot be judged now (data not available)."""
        judge = Replayer(adj.claim.bucket, Bucket(adj.claim.bucket).namespace, self.params)
        squares: dict[bytes, tuple[bytes, int]] = {}
        for claim in (*adj.history, adj.claim):
            for root in claim.batch_roots():
                try:
                    sq = await self.ctx.ask(self.da, FetchSquare(root), timeout_ms=ASK_TIMEOUT_MS)
                except (AskTimeout, ActorCrashed, ActorNotFound):
                    return False  # cannot judge now: retried while the claim waits
                if isinstance(sq, Square) and sq.found:
                    squares[root] = (sq.shares, sq.k)
        for claim in adj.history:
            if judge.check(claim, squares.get).fraud:
                return False  # history was accepted: a judge that disagrees has bad data
        finding = judge.check(adj.claim, squares.get)
        if finding.reason.startswith("data unavailable"):
            return False
        info = adj.claim.period.to_bytes(8, "big") + adj.challenger.encode()
        await self._event(HubEvent(EV_VERDICT, now, adj.claim.bucket, info, finding.fraud))
        return True

    def state(self) -> HubState:
        """The merged state (for queries, tests and the scenario's checks)."""
        core = self.core
        buckets = tuple(sorted(core.accepted))
        return HubState(core.height, core.root,
                        np.array([core.accepted[b].period for b in buckets], dtype=np.uint64),
                        np.array([core.credits.get(b, 0) for b in buckets], dtype=np.uint64),
                        core.global_q, buckets, tuple(sorted(core.slashed)), core.pool)

    def invariants(self) -> None:
        """Core and channel invariants (the simulator calls this)."""
        self.core.invariants()
        self.ibc.invariants()
