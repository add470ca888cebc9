"""Actor shells of the rollups: DA grid, sequencer, challenger, link client.

Thin by design: each shell feeds its sans-IO core (``SequencerCore``, ``IbcChain``,
``Replayer``) with messages and timers and turns effects into messages. Time comes from
``ctx.now_ns()``, randomness from ``ctx.random``; nothing else is touched.
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
    ClientControl,
    FetchSquare,
    FraudProof,
    Publish,
    Published,
    RollupTick,
    Square,
    SubmitLinks,
    Submitted,
    SupplyRank,
)
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.kernels import FocusParams
from focusflow.supervisor import Actor, ActorCrashed, AskTimeout
from focusflow.supervisor._errors import ActorNotFound
from focusflow.wire import WireError, from_bytes, to_bytes

__all__ = ["ChallengerActor", "DaGridActor", "LinkClient", "SequencerActor"]

TICK_BATCH, TICK_SETTLE, TICK_RETIRE = 1, 2, 3
ASK_TIMEOUT_MS = 1_000
squares_max = 1 << 16
claim_timeout_ms = 600_000.0
notices_max = 4096


class DaGridActor(Actor):
    """The DA grid as the rollups see it: publish a blob, fetch a square by data root.

    Each blob goes into its own square (``build_square`` + 2D RS + NMT data root of the DA
    package); squares are kept in memory and on the node's disk hook.
    """

    def __init__(self) -> None:
        self.squares: dict[bytes, tuple[bytes, int]] = {}

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Publish):
            root, k, square = blob_square(msg.namespace, msg.blob)
            if len(self.squares) < squares_max:
                self.squares[root] = (square.tobytes(), k)
            return Published(root, 2 * k)
        if isinstance(msg, FetchSquare):
            got = self.squares.get(msg.data_root)
            return Square(False) if got is None else Square(True, got[1], got[0])
        return None


class SequencerActor(Actor):
    """One bucket's sequencer and its IBC chain (one channel to its hub)."""

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

    async def on_start(self) -> None:
        self.ctx.start_timer("batch", self.batch_ms, RollupTick(TICK_BATCH), repeat=True)
        self.ctx.start_timer("settle", self.settle_ms, RollupTick(TICK_SETTLE), repeat=True)

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
            elif msg.kind == TICK_RETIRE:
                self.core.retire()
        elif isinstance(msg, AckPacket):
            with contextlib.suppress(Refused):  # duplicates and forgeries change nothing
                self.ibc.acknowledge(msg)
        elif isinstance(msg, TimeoutPacket):
            with contextlib.suppress(Refused):
                self.ibc.timeout(msg)
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
                try:
                    got = await self.ctx.ask(self.da, Publish(e.namespace, e.blob),
                                             timeout_ms=ASK_TIMEOUT_MS)
                except (AskTimeout, ActorCrashed, ActorNotFound):
                    continue  # the claim waits until the batch is published (retry below)
                if isinstance(got, Published):
                    self.core.published(e.seq, got.data_root)
            elif isinstance(e, EmitClaim):
                self._emit(e.claim)
        await self._republish()

    async def _republish(self) -> None:
        """Batches whose publication failed are published again before the next claim."""
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

    def _emit(self, claim: SupplyRank) -> None:
        now = self.ctx.now_ns()
        try:
            self.ibc.send("hub", to_bytes(claim), timeout_ns=now + int(claim_timeout_ms * 1e6))
        except IbcError:
            return
        if self.probe is not None:
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
    """Watches claims (``ClaimNotice`` from hubs), re-executes them from DA, proves fraud."""

    def __init__(self, name: str, da: tuple[str, str], *, eps: float = 1e-9,
                 hub_path: str = "/user/sup/hub") -> None:
        self.name, self.hub_path = name, hub_path
        self.da = self.ctx.ref_for(*da)
        self.params = FocusParams(eps=eps)
        self.replayers: dict[bytes, Replayer] = {}
        self.waiting: dict[bytes, dict[int, ClaimNotice]] = {}
        self.proofs_sent = 0
        self.frauds: dict[tuple[bytes, int], FraudProof] = {}

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, ClaimNotice):
            try:
                claim = from_bytes(SupplyRank, msg.claim)
            except (WireError, ValueError):
                return None
            proof = self.frauds.get((claim.bucket, claim.period))
            if proof is not None and proof.root == claim.root:
                # the hub asks again (it restarted): the proof may have been lost with it
                self.ctx.tell_nowait(self.ctx.ref_for(msg.hub, self.hub_path), proof)
                return None
            rep = self.replayers.get(claim.bucket)
            if rep is not None and (rep.spent or claim.period <= rep.period):
                return None  # already judged (a repeated notice, e.g. after a hub restart)
            box = self.waiting.setdefault(claim.bucket, {})
            if len(box) < notices_max:
                box[claim.period] = msg
            await self._drain(claim.bucket)
        elif isinstance(msg, RollupTick):
            for bucket in sorted(self.waiting):
                await self._drain(bucket)
        return None

    async def _fetch_all(self, claim: SupplyRank) -> dict[bytes, tuple[bytes, int]] | None:
        out: dict[bytes, tuple[bytes, int]] = {}
        for root in claim.batch_roots():
            try:
                sq = await self.ctx.ask(self.da, FetchSquare(root), timeout_ms=ASK_TIMEOUT_MS)
            except (AskTimeout, ActorCrashed, ActorNotFound):
                return None
            if isinstance(sq, Square) and sq.found:
                out[root] = (sq.shares, sq.k)
        return out

    async def _drain(self, bucket: bytes) -> None:
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
                return
            finding = rep.check(claim, squares.get)
            if not finding.fraud and finding.reason.startswith("data unavailable"):
                self.ctx.start_timer("retry", 200.0, RollupTick(0))
                return
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
