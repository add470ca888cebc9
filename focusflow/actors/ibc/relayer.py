"""The untrusted relayer actor, and the query dispatch every IBC chain shell uses.

A relayer moves packets from A's outbox to B and acknowledgements from B back to A. It
is untrusted by construction: it can drop, delay, reorder or duplicate (``faults``), and
the chains' cores refuse anything that breaks order or fails a proof. Anyone can run
one; several may serve one channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from focusflow.actors.ibc.core import IbcChain, IbcError
from focusflow.actors.ibc.messages import (
    AckOutbox,
    AckPacket,
    AckQuery,
    ChannelStatus,
    Outbox,
    OutboxQuery,
    ReceiptQuery,
    RecvPacket,
    StatusQuery,
)
from focusflow.actors.rollup.messages import RollupTick
from focusflow.supervisor import Actor, ActorCrashed, AskTimeout
from focusflow.supervisor._errors import ActorNotFound

__all__ = ["RelayFaults", "RelayerActor", "serve_query"]

ASK_TIMEOUT_MS = 500
delayed_max = 4096


def serve_query(chain: IbcChain, msg: Any, now_ns: int) -> Any | None:
    """Answer a relayer's query from ``chain`` (None: not a query)."""
    try:
        if isinstance(msg, OutboxQuery):
            return chain.outbox(msg.channel, from_seq=msg.from_seq, count_max=msg.count_max,
                                now_ns=now_ns)
        if isinstance(msg, AckQuery):
            return chain.ack_outbox(msg.channel, from_seq=msg.from_seq,
                                    count_max=msg.count_max, now_ns=now_ns)
        if isinstance(msg, StatusQuery):
            return chain.status(msg.channel, now_ns)
        if isinstance(msg, ReceiptQuery):
            return chain.receipt(msg.channel, msg.sequence, now_ns)
    except IbcError:
        return None
    return None


@dataclass(frozen=True)
class RelayFaults:
    """What a malicious or broken relayer does to each message it carries."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: bool = False
    delay_ms_max: float = 0.0


class RelayerActor(Actor):
    """Relays one channel: A (``a``, ``a_channel``) → B and B's acks back to A."""

    def __init__(self, a: tuple[str, str], a_channel: str, b: tuple[str, str], b_channel: str,
                 *, relay_ms: float = 50.0, faults: RelayFaults | None = None) -> None:
        self.a = self.ctx.ref_for(*a)
        self.b = self.ctx.ref_for(*b)
        self.a_channel, self.b_channel = a_channel, b_channel
        self.relay_ms = relay_ms
        self.faults = faults or RelayFaults()
        self.delayed = 0
        self.relayed = 0

    async def on_start(self) -> None:
        self.ctx.start_timer("relay", self.relay_ms, RollupTick(0), repeat=True)

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, RollupTick):
            await self._round()
        elif isinstance(msg, RecvPacket):  # a delayed packet coming due
            self.delayed -= 1
            self.ctx.tell_nowait(self.b, msg)
        elif isinstance(msg, AckPacket):
            self.delayed -= 1
            self.ctx.tell_nowait(self.a, msg)
        return None

    async def _ask(self, ref: Any, msg: Any) -> Any:
        try:
            return await self.ctx.ask(ref, msg, timeout_ms=ASK_TIMEOUT_MS)
        except (AskTimeout, ActorCrashed, ActorNotFound):
            return None

    async def _round(self) -> None:
        status = await self._ask(self.b, StatusQuery(self.b_channel))
        box = await self._ask(self.a, OutboxQuery(
            self.a_channel, status.next_recv if isinstance(status, ChannelStatus) else 1))
        if isinstance(box, Outbox):
            await self._carry(self.b, [RecvPacket(p, pr, box.header)
                                       for p, pr in zip(box.packets, box.proofs, strict=True)])
        mine = await self._ask(self.a, StatusQuery(self.a_channel))
        if isinstance(mine, ChannelStatus):
            acks = await self._ask(self.b, AckQuery(self.b_channel, mine.next_ack))
            if isinstance(acks, AckOutbox):
                await self._carry(self.a, [
                    AckPacket(p, a, pr, acks.header)
                    for p, a, pr in zip(acks.packets, acks.acks, acks.proofs, strict=True)])

    async def _carry(self, to: Any, msgs: list[Any]) -> None:
        rng, f = self.ctx.random, self.faults
        if f.reorder:
            rng.shuffle(msgs)
        for m in msgs:
            if rng.random() < f.drop:
                continue
            copies = 2 if rng.random() < f.duplicate else 1
            for _ in range(copies):
                self.relayed += 1
                if f.delay_ms_max and self.delayed < delayed_max and rng.random() < 0.5:
                    self.delayed += 1
                    self.ctx.start_timer(f"late{self.relayed}", rng.random() * f.delay_ms_max,
                                         m)
                else:
                    self.ctx.tell_nowait(to, m)
