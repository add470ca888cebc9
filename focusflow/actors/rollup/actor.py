"""Actor shells of the rollups: DA grid, sequencer, challenger, link client.

Thin by design: each shell feeds its sans-IO core (``SequencerCore``, ``IbcChain``,
``Replayer``) with messages and timers and turns effects into messages. Time comes from
``ctx.now_ns()``, randomness from ``ctx.random``, the disk is ``ctx.storage``; nothing
else is touched.

Crashes (kill -9, or the simulator's crash that drops unsynced writes):

* the **sequencer** logs every transition that leaves it — a batch it cut (before the
  batch goes to the DA grid), a claim it sent (before a relayer can read the packet),
  an acknowledgement or timeout it took, its retirement — as ``SequencerEvent``s and
  syncs; on restart it replays them through fresh cores (``SequencerCore.replay_batch``
  / ``replay_claim``, the same ``IbcChain`` calls) and resumes with the same batches,
  graph, period, vector, channel sequence numbers and unacknowledged packets. Links it
  had accepted but not yet cut into a batch (at most ``batch_ms`` of them) are lost:
  a ``Submitted`` answer means queued, a batch means committed.
* the **DA grid** writes each square and syncs before it answers ``Published``, so a
  data root a claim pins is always on its disk; it reloads them on start.
* the **challenger** keeps nothing: on start (and whenever a bucket's notices have a
  gap) it asks the hubs for their claims (``ClaimsQuery``), re-executes the accepted
  ones from the DA grid and judges the pending ones, inside their windows.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any

import numpy as np

from focusflow.actors.da.share import graph_namespace
from focusflow.actors.ibc.core import IbcChain, IbcError, Refused
from focusflow.actors.ibc.messages import AckPacket, TimeoutPacket
from focusflow.actors.ibc.relayer import serve_query
from focusflow.actors.rollup.bucket import Bucket, BucketError
from focusflow.actors.rollup.claims import Replayer, blob_square
from focusflow.actors.rollup.core import EmitClaim, PublishBatch, SequencerCore
from focusflow.actors.rollup.messages import (
    ClaimNotice,
    ClaimsAnswer,
    ClaimsQuery,
    ClientControl,
    FetchSquare,
    FraudProof,
    ProbeSquares,
    Publish,
    Published,
    RollupTick,
    SequencerEvent,
    Square,
    SquaresHeld,
    SubmitLinks,
    Submitted,
    SupplyRank,
)
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.kernels import FocusParams
from focusflow.supervisor import Actor, ActorCrashed, AskTimeout
from focusflow.supervisor._errors import ActorNotFound, MailboxFull
from focusflow.wire import WireError, from_bytes, to_bytes

__all__ = ["ChallengerActor", "DaGridActor", "LinkClient", "SequencerActor"]

TICK_BATCH, TICK_SETTLE, TICK_RETIRE, TICK_RESYNC = 1, 2, 3, 4
EV_BATCH, EV_CLAIM, EV_ACK, EV_TIMEOUT, EV_RETIRE = 1, 2, 3, 4, 5
SEQ_LOG_PREFIX = "seq.log."
SQUARE_PREFIX = "da.sq."
RESYNC_MS = 200.0
RESYNC_GAP_MS = 50.0
#: the challenger's wait for a square: short, since a grid that is down must not eat
#: the window (it retries every 200 ms); the grid answers a live fetch in milliseconds
FETCH_TIMEOUT_MS = 400
#: pages of claims one resync takes from a hub before judging what it has
resync_pages_max = 64
ASK_TIMEOUT_MS = 1_000
squares_max = 1 << 16
#: data roots one availability probe may name (the hub core's ``probe_roots_max``)
probe_roots_max = 4096
claim_timeout_ms = 600_000.0
notices_max = 4096


class DaGridActor(Actor):
    """The DA grid as the rollups see it: publish a blob, fetch a square by data root.

    Each blob goes into its own square (``build_square`` + 2D RS + NMT data root of the DA
    package). Why durable before the answer: the data root in ``Published`` is what a
    claim pins and what a challenger re-executes inside the claim's window; a grid that
    answered first and crashed before its write reached the disk would leave a claim no
    one can check. So each square is written and synced (``da.sq.<root>``: u32 k, then
    the shares) before the answer, and loaded again on start. A full grid
    (``squares_max``) answers nothing: the sequencer retries, its claim waits.
    """

    def __init__(self) -> None:
        self.squares: dict[bytes, tuple[bytes, int]] = {}
        self.refused = 0

    async def on_start(self) -> None:
        for key in self.ctx.storage.keys(SQUARE_PREFIX):
            raw = await self.ctx.storage.read(key)
            assert raw is not None and len(raw) >= 4, f"square {key} vanished or is cut"
            root = bytes.fromhex(key[len(SQUARE_PREFIX):])
            self.squares[root] = (raw[4:], int.from_bytes(raw[:4], "little"))

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Publish):
            root, k, square = blob_square(msg.namespace, msg.blob)
            if root not in self.squares:
                if len(self.squares) >= squares_max:
                    self.refused += 1
                    return None  # overload: no data root, the claim waits
                shares = square.tobytes()
                await self.ctx.storage.write(SQUARE_PREFIX + root.hex(),
                                             k.to_bytes(4, "little") + shares)
                await self.ctx.storage.sync()
                self.squares[root] = (shares, k)
            return Published(root, 2 * k)
        if isinstance(msg, FetchSquare):
            got = self.squares.get(msg.data_root)
            return Square(False) if got is None else Square(True, got[1], got[0])
        if isinstance(msg, ProbeSquares):
            sender = self.ctx.sender
            if sender is not None and len(msg.data_roots) <= probe_roots_max:
                held = tuple(r for r in msg.data_roots if r in self.squares)
                with contextlib.suppress(MailboxFull):  # the hub probes again
                    self.ctx.tell_nowait(sender, SquaresHeld(held, msg.sent_ns))
            else:
                self.refused += 1
        return None


class SequencerActor(Actor):
    """One bucket's sequencer and its IBC chain (one channel to its hub), crash-durable.

    Durable log (``seq.log.<n>``, one ``SequencerEvent`` each): ``EV_BATCH`` (batch bytes,
    fee) is synced before the batch is published, ``EV_CLAIM`` (claim bytes, packet
    timeout) before the handler that sent the packet returns (a relayer only sees a
    packet through a later query), ``EV_TIMEOUT`` and ``EV_RETIRE`` at once. ``EV_ACK`` is
    written without its own sync: an acknowledgement lost to a crash is carried again by
    the relayer (the hub keeps its acks), so it may lag, never lie.
    """

    def __init__(self, bucket_key: bytes, seed: bytes, *, chain: str, hub_chain: str,
                 hub_key: bytes, da: tuple[str, str], batch_ms: float = 100.0,
                 settle_ms: float = 500.0, lie: float = 0.0, lie_from: int = 1,
                 eps: float = 1e-9, probe: RollupProbe | None = None) -> None:
        self.ibc = IbcChain(chain, seed, trusted={hub_chain: hub_key})
        self.ibc.open_channel("hub", counterparty_chain=hub_chain, counterparty_channel=chain)
        self.core = SequencerCore(Bucket(bucket_key), self.ibc.public_key,
                                  params=FocusParams(eps=eps), lie=lie, lie_from=lie_from)
        self.da = self.ctx.ref_for(*da)
        self.batch_ms, self.settle_ms, self.probe = batch_ms, settle_ms, probe
        self.arrivals: deque[tuple[int, int]] = deque()
        self.batch_arrivals: dict[int, list[tuple[int, int]]] = {}
        self.log_next = 0
        self.replayed = 0

    async def on_start(self) -> None:
        keys = self.ctx.storage.keys(SEQ_LOG_PREFIX)
        for key in keys:
            raw = await self.ctx.storage.read(key)
            assert raw is not None, "a listed log entry vanished"
            self._replay(from_bytes(SequencerEvent, raw))
        self.log_next = self.replayed = len(keys)
        self.ctx.start_timer("batch", self.batch_ms, RollupTick(TICK_BATCH), repeat=True)
        self.ctx.start_timer("settle", self.settle_ms, RollupTick(TICK_SETTLE), repeat=True)

    def _replay(self, ev: SequencerEvent) -> None:
        """Apply one logged event to fresh cores (deterministic: same calls, same state)."""
        if ev.kind == EV_BATCH:
            self.core.replay_batch(ev.a, ev.n)
        elif ev.kind == EV_CLAIM:
            self.core.replay_claim(from_bytes(SupplyRank, ev.a))
            with contextlib.suppress(IbcError):  # it failed the same way the first time
                self.ibc.send("hub", ev.a, timeout_ns=ev.n)
        elif ev.kind == EV_ACK:
            self.ibc.acknowledge(from_bytes(AckPacket, ev.a))
        elif ev.kind == EV_TIMEOUT:
            self.ibc.timeout(from_bytes(TimeoutPacket, ev.a))
        else:
            assert ev.kind == EV_RETIRE, f"unknown sequencer event {ev.kind}"
            self.core.retire()

    async def _log(self, ev: SequencerEvent, *, sync: bool = True) -> None:
        await self.ctx.storage.write(f"{SEQ_LOG_PREFIX}{self.log_next:012d}", to_bytes(ev))
        self.log_next += 1
        if sync:
            await self.ctx.storage.sync()

    async def receive(self, msg: Any) -> Any:
        now = self.ctx.now_ns()
        answer = serve_query(self.ibc, msg, now)
        if answer is not None:
            return answer
        if isinstance(msg, SubmitLinks):
            try:
                accepted, refused = self.core.submit(msg)
            except BucketError:
                return Submitted(0, len(msg.src))
            if accepted:
                self.arrivals.append((now, accepted))
            return Submitted(accepted, refused)
        if isinstance(msg, RollupTick):
            if msg.kind == TICK_BATCH:
                await self._run(self.core.cut_batch())
            elif msg.kind == TICK_SETTLE:
                await self._run(self.core.settle())
            elif msg.kind == TICK_RETIRE and not self.core.retiring:
                self.core.retire()
                await self._log(SequencerEvent(EV_RETIRE))
        elif isinstance(msg, AckPacket):
            with contextlib.suppress(Refused):  # duplicates and forgeries change nothing
                self.ibc.acknowledge(msg)
                await self._log(SequencerEvent(EV_ACK, to_bytes(msg)), sync=False)
        elif isinstance(msg, TimeoutPacket):
            with contextlib.suppress(Refused):
                self.ibc.timeout(msg)
                await self._log(SequencerEvent(EV_TIMEOUT, to_bytes(msg)))
        return None

    def _take_arrivals(self, count: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        while count and self.arrivals:
            t, n = self.arrivals.popleft()
            if n > count:
                self.arrivals.appendleft((t, n - count))
                n = count
            out.append((t, n))
            count -= n
        return out

    async def _run(self, effects: list[Any]) -> None:
        for e in effects:
            if isinstance(e, PublishBatch):
                self.batch_arrivals[e.seq] = self._take_arrivals(e.links)
                await self._log(SequencerEvent(EV_BATCH, e.blob, e.fee))
                try:
                    got = await self.ctx.ask(self.da, Publish(e.namespace, e.blob),
                                             timeout_ms=ASK_TIMEOUT_MS)
                except (AskTimeout, ActorCrashed, ActorNotFound):
                    continue  # the claim waits until the batch is published (retry below)
                if isinstance(got, Published):
                    self.core.published(e.seq, got.data_root)
            elif isinstance(e, EmitClaim):
                await self._emit(e.claim)
        await self._republish()

    async def _republish(self) -> None:
        """Batches whose publication failed (or was cut short by a crash: the grid answers
        the same root for the same blob) are published again before the next claim."""
        for seq, root in sorted(self.core.roots.items()):
            if root:
                continue
            blob = self.core.unpublished_blob(seq)
            try:
                got = await self.ctx.ask(self.da, Publish(self.core.bucket.namespace, blob),
                                         timeout_ms=ASK_TIMEOUT_MS)
            except (AskTimeout, ActorCrashed, ActorNotFound):
                return
            if isinstance(got, Published):
                self.core.published(seq, got.data_root)

    async def _emit(self, claim: SupplyRank) -> None:
        now = self.ctx.now_ns()
        data = to_bytes(claim)
        timeout_ns = now + int(claim_timeout_ms * 1e6)
        sent = True
        try:
            self.ibc.send("hub", data, timeout_ns=timeout_ns)
        except IbcError:
            sent = False
        # durable before this handler returns: only then can a relayer query the packet
        await self._log(SequencerEvent(EV_CLAIM, data, timeout_ns))
        if sent and self.probe is not None:
            first = claim.first_batch
            arr: list[tuple[int, int]] = []
            for s in range(first, first + len(claim.batch_roots())):
                arr += self.batch_arrivals.pop(s, [])
            self.probe.claim_sent(claim.bucket, claim.period, arr)
            self.probe.links_ordered += claim.links

    def invariants(self) -> None:
        """Core and channel invariants (the simulator calls this)."""
        self.core.invariants()
        self.ibc.invariants()


class ChallengerActor(Actor):
    """Watches claims (``ClaimNotice`` from hubs), re-executes them from DA, proves fraud.

    Keeps nothing on disk: what it must judge is re-derived. On start it asks every hub
    in ``hubs`` for the claims still in their windows (``ClaimsQuery`` with no bucket;
    notices sent while it was down are lost, the hubs still hold the claims). A bucket
    whose next claim is missing while later ones wait — after a restart, its whole
    accepted history; later, a lost notice — is asked for from that period on,
    ``RESYNC_GAP_MS`` after the gap is seen (answers are paged by the hub's
    ``claims_answer_max``): the accepted claims rebuild the bucket's replayer from the DA
    grid, then the pending ones are judged in order.
    """

    def __init__(self, name: str, da: tuple[str, str], *, eps: float = 1e-9,
                 hub_path: str = "/user/sup/hub", hubs: tuple[str, ...] = ()) -> None:
        self.name, self.hub_path = name, hub_path
        self.da = self.ctx.ref_for(*da)
        self.hubs = tuple(hubs)
        self.params = FocusParams(eps=eps)
        self.replayers: dict[bytes, Replayer] = {}
        self.waiting: dict[bytes, dict[int, ClaimNotice]] = {}
        self.proofs_sent = 0
        self.resyncs = 0
        self.frauds: dict[tuple[bytes, int], FraudProof] = {}
        self.synced: set[str] = set()  # hubs whose pending claims were all taken
        #: where the pages of each hub's pending claims got to: (bucket, period)
        self.synced_to: dict[str, tuple[bytes, int]] = dict.fromkeys(self.hubs, (b"", 1))

    async def on_start(self) -> None:
        if self.hubs:
            self.ctx.start_timer("resync", 0.0, RollupTick(TICK_RESYNC))

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, ClaimNotice):
            await self._notice(msg, resync=False)
        elif isinstance(msg, RollupTick):
            if msg.kind == TICK_RESYNC:
                await self._resync()
            for bucket in self._by_deadline():
                if not await self._drain(bucket):
                    break  # the DA grid did not answer: the others would wait for it too
        return None

    def _by_deadline(self) -> list[bytes]:
        """Buckets with a claim in its window first, the earliest deadline first (after a
        restart the window is what is scarce); buckets with only accepted claims last."""
        def key(b: bytes) -> tuple[int, bytes]:
            live = [n.deadline_ns for n in self.waiting[b].values() if n.deadline_ns]
            return (min(live) if live else 1 << 64, b)
        return sorted(self.waiting, key=key)

    async def _notice(self, msg: ClaimNotice, *, resync: bool) -> None:
        try:
            claim = from_bytes(SupplyRank, msg.claim)
        except (WireError, ValueError):
            return
        proof = self.frauds.get((claim.bucket, claim.period))
        if proof is not None and proof.root == claim.root:
            if not resync:  # the hub asks again (it restarted): the proof may be lost
                self.ctx.tell_nowait(self.ctx.ref_for(msg.hub, self.hub_path), proof)
            return
        rep = self.replayers.get(claim.bucket)
        if rep is not None and (rep.spent or claim.period <= rep.period):
            return  # already judged (a repeated notice, e.g. after a hub restart)
        box = self.waiting.setdefault(claim.bucket, {})
        if len(box) < notices_max and (not resync or claim.period not in box):
            box[claim.period] = msg
        if not resync:
            await self._drain(claim.bucket)

    async def _resync(self) -> None:
        """Ask hubs for claims: every hub not yet synced since start (all its buckets),
        and the hub of each bucket whose next claim is missing (from that period on)."""
        asks: list[tuple[str, ClaimsQuery]] = [
            (h, ClaimsQuery(b"", self.synced_to[h][1], self.synced_to[h][0]))
            for h in self.hubs if h not in self.synced]
        for bucket, box in sorted(self.waiting.items()):
            rep = self.replayers.get(bucket)
            nxt = 1 if rep is None else rep.period + 1
            if box and nxt not in box and not (rep is not None and rep.spent):
                asks.append((box[min(box)].hub, ClaimsQuery(bucket, nxt)))
        for hub, first in asks:
            query: ClaimsQuery | None = first
            for _ in range(resync_pages_max):
                if query is None:
                    break
                query = await self._page(hub, query)
        if set(self.hubs) - self.synced:
            self.ctx.start_timer("resync", RESYNC_MS, RollupTick(TICK_RESYNC))

    async def _page(self, hub: str, query: ClaimsQuery) -> ClaimsQuery | None:
        """Ask ``hub`` one page of claims and queue them; the next page's query, or None
        when there is none (or the hub did not answer: the resync timer asks again)."""
        try:
            got = await self.ctx.ask(self.ctx.ref_for(hub, self.hub_path), query,
                                     timeout_ms=ASK_TIMEOUT_MS)
        except (AskTimeout, ActorCrashed, ActorNotFound):
            return None
        if not isinstance(got, ClaimsAnswer):
            return None
        self.resyncs += 1
        last: SupplyRank | None = None
        for raw, deadline in zip(got.claims, got.deadlines.tolist(), strict=True):
            await self._notice(ClaimNotice(raw, hub, int(deadline)), resync=True)
            last = from_bytes(SupplyRank, raw)
        more = got.truncated and last is not None
        if query.bucket:  # a bucket's history: the next page starts after its last period
            return ClaimsQuery(query.bucket, last.period + 1) if more and last else None
        if more and last is not None:  # pending claims: after the last (bucket, period)
            self.synced_to[hub] = (last.bucket, last.period + 1)
            return ClaimsQuery(b"", last.period + 1, last.bucket)
        self.synced.add(hub)
        return None

    async def _fetch_all(self, claim: SupplyRank) -> dict[bytes, tuple[bytes, int]] | None:
        """The claim's squares, None when the grid did not answer. Every ask is sent
        before the first answer is awaited (one round trip, not one per batch): what a
        watcher can judge inside a window is bounded by its fetches."""
        roots = claim.batch_roots()
        asks = [self.ctx.ask(self.da, FetchSquare(root), timeout_ms=FETCH_TIMEOUT_MS)
                for root in roots]
        out: dict[bytes, tuple[bytes, int]] = {}
        failed = False
        for root, ask in zip(roots, asks, strict=True):
            try:
                sq = await ask  # awaited even after a failure: no answer is left dangling
            except (AskTimeout, ActorCrashed, ActorNotFound):
                failed = True
                continue
            if isinstance(sq, Square) and sq.found:
                out[root] = (sq.shares, sq.k)
        return None if failed else out

    async def _drain(self, bucket: bytes) -> bool:
        """Judge the bucket's claims in period order; False when the DA grid did not
        answer (a retry is scheduled)."""
        box = self.waiting.get(bucket, {})
        rep = self.replayers.get(bucket)
        if rep is None:
            rep = self.replayers[bucket] = Replayer(bucket, Bucket(bucket).namespace, self.params)
        while rep.period + 1 in box and not rep.spent:
            notice = box[rep.period + 1]
            claim = from_bytes(SupplyRank, notice.claim)
            squares = await self._fetch_all(claim)
            if squares is None:
                self.ctx.start_timer("retry", 200.0, RollupTick(0))
                return False
            finding = rep.check(claim, squares.get)
            if not finding.fraud and finding.reason.startswith("data unavailable"):
                self.ctx.start_timer("retry", 200.0, RollupTick(0))
                return True  # this bucket's data is missing, not the grid
            del box[claim.period]
            if finding.fraud:
                hub = self.ctx.ref_for(notice.hub, self.hub_path)
                self.proofs_sent += 1
                proof = FraudProof(claim.bucket, claim.period, claim.root, finding.residual,
                                   self.name)
                if len(self.frauds) < notices_max:
                    self.frauds[(claim.bucket, claim.period)] = proof
                self.ctx.tell_nowait(hub, proof)
                box.clear()  # the bucket freezes; later claims build on the bad one
        if box and not rep.spent and self.hubs:  # a gap: ask the hub for what is missing
            self.ctx.start_timer("resync", RESYNC_GAP_MS, RollupTick(TICK_RESYNC))
        return True


class LinkClient(Actor):
    """Submits links to the rollups every ``tick_ms``: the scenario's workload.

    Buckets with an even index are named by an explicit bucket id, odd ones by the
    particles' namespace (``graph_namespace``), so both routing rules are exercised.
    """

    def __init__(self, buckets: list[str], sequencers: dict[str, tuple[str, str]], *,
                 links_per_tick: int = 40, tick_ms: float = 50.0, particles: int = 200,
                 neurons: int = 16) -> None:
        self.buckets = buckets
        self.refs = {b: self.ctx.ref_for(*r) for b, r in sequencers.items()}
        self.links_per_tick, self.tick_ms = links_per_tick, tick_ms
        self.particles, self.neurons = particles, neurons
        self.active: set[str] = set()

    async def on_start(self) -> None:
        self.ctx.start_timer("tick", self.tick_ms, RollupTick(0), repeat=True)

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, ClientControl):
            (self.active.add if msg.on else self.active.discard)(msg.bucket)
        elif isinstance(msg, RollupTick):
            rng = self.ctx.np_random
            for i, name in enumerate(self.buckets):
                if name not in self.active or name not in self.refs:
                    continue
                n = self.links_per_tick
                src = rng.integers(0, self.particles, n).astype(np.uint64)
                dst = (src + np.uint64(1) + rng.integers(0, self.particles - 1, n).astype(
                    np.uint64)) % np.uint64(self.particles)
                dst = np.where(rng.random(n) < 0.5, dst, (dst * np.uint64(7)) % np.uint64(
                    max(self.particles // 10, 2)))
                dst = np.where(dst == src, (src + np.uint64(1)) % np.uint64(self.particles),
                               dst)
                neuron = rng.integers(0, self.neurons, n).astype(np.uint64)
                kw = ({"bucket_id": name.encode()} if i % 2 == 0
                      else {"particle_ns": graph_namespace(name)})
                self.ctx.tell_nowait(self.refs[name], SubmitLinks(neuron, src, dst, fee=n, **kw))
        return None
