"""Actor shells: the DA sampler (per validator and light node) and a share server.

Thin by design: all protocol logic is in :class:`~focusflow.actors.da.core.DaSamplerCore`
and :class:`~focusflow.actors.da.pinning.ShareStore`. The shells turn messages into core
calls and core effects into runtime calls: the sampling seed comes from ``ctx.random``,
time from ``ctx.now_ns()``, timeouts from ``ctx.start_timer``; requests and answers are
tells (an ask would block the sampler's mailbox while it waits), so one sampler has all
its samples in flight at once.

Not wired yet (see docs/da.md): block production does not notarise with the data root and
``focusflow sim`` does not report ``data_available``; consensus has to exist first. A
subscriber ref given at spawn receives every :class:`Verdict` as it is made, which is the
hook consensus will use.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from focusflow.actors.da import core
from focusflow.actors.da.codec import (
    DaHeader,
    DahRequest,
    DahResponse,
    FraudProofNotice,
    NamespaceRequest,
    NamespaceResponse,
    SampleRequest,
    SampleResponse,
)
from focusflow.actors.da.pinning import PinningPolicy, ShareStore
from focusflow.actors.da.share import SHARE_SIZE
from focusflow.actors.da.square import ExtendedDataSquare
from focusflow.supervisor import Actor, ActorRef, MailboxFull
from focusflow.wire import load_schema, message

__all__ = [
    "DaSamplerActor",
    "PruneShares",
    "PublishSquare",
    "Published",
    "SamplerTick",
    "ShareServerActor",
    "Verdict",
    "VerdictQuery",
]

schema: Any = load_schema(Path(__file__).with_name("da.capnp"))
#: The square a publisher may hand over: 128 x 128 shares.
publish_bytes_max = 128 * 128 * SHARE_SIZE


@message(schema.SamplerTick)
class SamplerTick:
    """Timer message: run the core's ``tick``."""

    unused: bool = False


@message(schema.VerdictQuery)
class VerdictQuery:
    """Ask a sampler what it decided for ``height``."""

    height: int


@message(schema.Verdict)
class Verdict:
    """A sampler's decision (``decided`` is False while sampling or for unknown heights)."""

    height: int
    data_root: bytes
    decided: bool
    available: bool
    samples_verified: int
    reason: str


@message(schema.PublishSquare)
class PublishSquare:
    """A producer's original k x k square, as one bulk ``Data`` field."""

    height: int
    epoch: int
    k: int
    shares: bytes


@message(schema.PruneShares)
class PruneShares:
    """The epoch has advanced to ``epoch``: apply the pinning policy."""

    epoch: int


@message(schema.Published)
class Published:
    """The header fields of a published square."""

    header: DaHeader


def _verdict_message(v: core.Verdict) -> Verdict:
    return Verdict(v.height, v.data_root, True, v.available, v.samples_verified, v.reason)


class DaSamplerActor(Actor):
    """Samples every header it is told about from ``peers`` (share servers), round robin."""

    def __init__(
        self,
        peers: tuple[ActorRef, ...],
        config: core.SamplerConfig | None = None,
        subscriber: ActorRef | None = None,
    ) -> None:
        assert peers, "a sampler needs at least one peer to ask"
        self.peers = peers
        self.core = core.DaSamplerCore(config)
        self.subscriber = subscriber
        self._widths: dict[int, int] = {}
        self._timer_at_ns: int | None = None

    async def receive(self, msg: Any) -> Any:
        now = self.ctx.now_ns()
        if isinstance(msg, DaHeader):
            seed = self.ctx.random.getrandbits(256).to_bytes(32, "little")
            self._widths[msg.height] = msg.width
            await self._apply(self.core.on_header(msg.height, msg.data_root, msg.width, seed, now))
        elif isinstance(msg, SampleResponse):
            await self._apply(self.core.on_sample(msg.height, msg.row, msg.col, msg.sample, now))
        elif isinstance(msg, FraudProofNotice):
            await self._apply(self.core.on_fraud_proof(msg.height, msg.proof))
        elif isinstance(msg, SamplerTick):
            self._timer_at_ns = None
            await self._apply(self.core.tick(now))
        elif isinstance(msg, VerdictQuery):
            decided = self.core.verdict(msg.height)
            if decided is None:
                return Verdict(msg.height, b"", False, False, 0, "not decided")
            return _verdict_message(decided)
        else:
            self.ctx.log.warning("da_sampler_unexpected_message", type=type(msg).__name__)
        return None

    async def _apply(self, effects: list[core.Effect]) -> None:
        for effect in effects:
            if isinstance(effect, core.RequestSample):
                peer = self._peer_for(effect)
                # An overloaded peer (MailboxFull) is not an error: the cell's timeout retries it.
                with contextlib.suppress(MailboxFull):
                    self.ctx.tell_nowait(peer, SampleRequest(effect.height, effect.row, effect.col))
            elif isinstance(effect, core.SetTimer):
                self._schedule(effect.at_ns)
            elif isinstance(effect, core.Verdict):
                self._widths.pop(effect.height, None)
                self.ctx.log.info(
                    "da_verdict",
                    height=effect.height,
                    available=effect.available,
                    reason=effect.reason,
                )
                if self.subscriber is not None:
                    await self.ctx.tell(self.subscriber, _verdict_message(effect))
            elif isinstance(effect, core.Misbehaviour):
                self.ctx.log.warning(
                    "da_peer_misbehaviour", height=effect.height, reason=effect.reason
                )
        self.core.invariants()

    def _peer_for(self, effect: core.RequestSample) -> ActorRef:
        """Spread cells over peers; each retry of a cell goes to the next peer."""
        width = self._widths.get(effect.height, 1)
        return self.peers[(effect.row * width + effect.col + effect.attempt) % len(self.peers)]

    def _schedule(self, at_ns: int) -> None:
        """Keep one timer, at the earliest deadline the core asked for."""
        if self._timer_at_ns is not None and self._timer_at_ns <= at_ns:
            return
        self._timer_at_ns = at_ns
        delay_ms = max(0.0, (at_ns - self.ctx.now_ns()) / 1e6)
        self.ctx.start_timer("da_sampler_tick", delay_ms, SamplerTick())


class ShareServerActor(Actor):
    """Holds published squares in a :class:`ShareStore` and answers sample requests.

    ``withhold`` (tests and chaos only) maps a height to the cells this server refuses,
    which is how a malicious producer looks from the outside.
    """

    def __init__(
        self,
        policy: PinningPolicy | None = None,
        withhold: dict[int, np.ndarray] | None = None,
        hash_name: str = "blake3",
    ) -> None:
        assert hash_name in ("blake3", "sha256")
        self.store = ShareStore(policy)
        self.withhold = withhold or {}
        self.hash_name = hash_name

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, SampleRequest):
            sample = None
            mask = self.withhold.get(msg.height)
            if mask is None or not mask[msg.row, msg.col]:
                sample = self.store.sample(msg.height, msg.row, msg.col)
            sender = self.ctx.sender
            if sender is not None:
                answer = SampleResponse(msg.height, msg.row, msg.col, sample)
                # An overloaded sampler (MailboxFull) times out and retries: drop the answer.
                with contextlib.suppress(MailboxFull):
                    self.ctx.tell_nowait(sender, answer)
            return None
        if isinstance(msg, DahRequest | NamespaceRequest):
            reply: Any
            if isinstance(msg, DahRequest):
                reply = DahResponse(msg.height, self.store.dah(msg.height))
            else:
                rows = self.store.namespace(msg.height, msg.namespace)
                reply = NamespaceResponse(
                    msg.height, msg.namespace, None if rows is None else tuple(rows)
                )
            sender = self.ctx.sender
            if sender is not None:
                with contextlib.suppress(MailboxFull):
                    self.ctx.tell_nowait(sender, reply)
            return None
        if isinstance(msg, PublishSquare):
            if len(msg.shares) != msg.k * msg.k * SHARE_SIZE or len(msg.shares) > publish_bytes_max:
                self.ctx.log.warning("da_server_bad_square", height=msg.height, k=msg.k)
                return None  # the publisher's fault: refuse, do not crash the store
            original = np.frombuffer(msg.shares, dtype=np.uint8).reshape(msg.k, msg.k, SHARE_SIZE)
            eds = ExtendedDataSquare.extend(original.copy(), hash_name=self.hash_name)  # type: ignore[arg-type]
            self.store.add_block(msg.height, msg.epoch, eds)
            return Published(DaHeader(msg.height, eds.data_root(), eds.width))
        if isinstance(msg, PruneShares):
            report = self.store.prune(msg.epoch)
            self.ctx.log.info(
                "da_server_pruned",
                epoch=msg.epoch,
                archived=report.archived,
                dropped=report.dropped,
            )
            return None
        self.ctx.log.warning("da_server_unexpected_message", type=type(msg).__name__)
        return None
