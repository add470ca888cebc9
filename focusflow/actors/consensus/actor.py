"""Thin actor shell of a validator's consensus core (``node.ValidatorCore``).

The shell only translates: a peer's ``Frame`` (the core's Cap'n Proto bytes nested as
Data), a client's ``SubmitTxs`` and its own ``ConsensusTick`` timer go into the core with
``ctx.now_ns()``; the core's effects go out as tells to the peers' shells, one keyed timer,
and calls of the ``sink`` the embedding provides (commits, finalized blocks, rewards,
rejections, misbehaviour, mode changes). No protocol logic lives here. The mempool DAG,
the BFT commit rule, Snowball and the block builder are sub-cores of one validator core
(they share the DAG in memory), so a validator is one actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from focusflow.actors.consensus.adversary import Adversary
from focusflow.actors.consensus.blocks import StateTransition
from focusflow.actors.consensus.crypto import Signer, Verifier
from focusflow.actors.consensus.node import NodeConfig, ValidatorCore
from focusflow.actors.consensus.types import (
    Broadcast,
    ClientTx,
    Committee,
    Effect,
    Send,
    SetTimer,
)
from focusflow.actors.mempool.core import AdmitBatch
from focusflow.supervisor import Actor, MailboxFull
from focusflow.wire import array_field, load_schema, message

_schema = load_schema(Path(__file__).with_name("consensus.capnp"))

VALIDATOR_PATH = "/user/validator"
WATERMARK_KEY = "consensus/watermark"
Sink = Callable[[int, int, Effect], None]
"""(validator index, now_ns, effect) for every non-network effect."""


@message(_schema.Frame)
class Frame:
    """One hop between validator shells; ``data`` is an encoded consensus ``Message``."""

    sender: int
    data: bytes


@message(_schema.SubmitTxs)
class SubmitTxs:
    """Client transactions, columnar (focus tags, offsets into payloads)."""

    focus: np.ndarray = array_field("<u4")
    offsets: np.ndarray = array_field("<u4")
    payloads: bytes = b""
    client: int = 0

    @classmethod
    def of(cls, txs: Sequence[ClientTx], client: int) -> SubmitTxs:
        """Pack transactions into one message (bulk data in three Data fields)."""
        lengths = np.fromiter((len(t.payload) for t in txs), dtype=np.uint32, count=len(txs))
        offsets = np.zeros(len(txs) + 1, dtype="<u4")
        np.cumsum(lengths, out=offsets[1:])
        focus = np.fromiter((t.focus for t in txs), dtype="<u4", count=len(txs))
        return cls(focus, offsets, b"".join(t.payload for t in txs), client)

    def unpack(self) -> list[ClientTx]:
        """The transactions; raises ValueError when the columns disagree."""
        n = len(self.focus)
        if len(self.offsets) != n + 1 or (n and int(self.offsets[-1]) != len(self.payloads)):
            raise ValueError("SubmitTxs columns disagree")
        return [
            ClientTx(self.payloads[int(self.offsets[i]) : int(self.offsets[i + 1])], int(self.focus[i]), self.client)
            for i in range(n)
        ]


@message(_schema.ConsensusTick)
class ConsensusTick:
    """The shell's own timer message."""

    unused: bool = False


class ValidatorActor(Actor):
    """Hosts one ``ValidatorCore``; peers are the same actor on nodes ``names``."""

    def __init__(
        self,
        *,
        index: int,
        names: tuple[str, ...],
        committee: Committee,
        signer: Signer,
        verifier: Verifier,
        admit_batch: AdmitBatch,
        execute: StateTransition,
        sink: Sink,
        config: NodeConfig | None = None,
        adversary: Adversary | None = None,
    ) -> None:
        assert len(names) == committee.size and 0 <= index < len(names)
        self.index = index
        self.names = names
        self.sink = sink
        self.adversary = adversary
        self.dropped = 0
        self.watermark = 0
        self.core = ValidatorCore(
            committee=committee,
            me=index,
            signer=signer,
            verifier=verifier,
            admit_batch=admit_batch,
            execute=execute,
            rng=self.ctx.random,
            config=config,
        )

    async def on_start(self) -> None:
        """Resume above the persisted watermark (a restart must not sign twice for a
        round), then start: a fresh validator proposes round 1."""
        stored = await self.ctx.storage.read(WATERMARK_KEY)
        self.watermark = int(stored.decode()) if stored else 0
        if self.watermark:
            self.core.dag.resume_above(self.watermark)
        await self._step(self.core.tick(self.ctx.now_ns()))

    async def receive(self, msg: Any) -> Any:
        """Feed the core; apply its effects. A core bug raises: the supervisor decides."""
        now = self.ctx.now_ns()
        if isinstance(msg, Frame):
            if self.adversary is not None:
                self.adversary.incoming(self.index, self.core, msg.data)
            await self._step(self.core.receive(msg.data, msg.sender, now))
        elif isinstance(msg, SubmitTxs):
            await self._step(self.core.submit(msg.unpack(), now))
        elif isinstance(msg, ConsensusTick):
            await self._step(self.core.tick(now))
        self.core.invariants()
        return None

    async def _step(self, effects: list[Effect]) -> None:
        """Persist the signing watermark (synced) before any header or vote leaves."""
        mark = self.core.dag.watermark()
        if mark > self.watermark:
            await self.ctx.storage.write(WATERMARK_KEY, str(mark).encode())
            await self.ctx.storage.sync()
            self.watermark = mark
        self._apply(effects)

    def _apply(self, effects: list[Effect]) -> None:
        if self.adversary is not None:
            effects = self.adversary.outgoing(self.index, self.core, effects)
        now = self.ctx.now_ns()
        for e in effects:
            if isinstance(e, Send):
                self._tell(e.to, e.data)
            elif isinstance(e, Broadcast):
                for j in range(len(self.names)):
                    if j != self.index:
                        self._tell(j, e.data)
            elif isinstance(e, SetTimer):
                self.ctx.start_timer("tick", max(0.0, (e.at_ns - now) / 1e6), ConsensusTick())
            else:
                self.sink(self.index, now, e)

    def _tell(self, to: int, data: bytes) -> None:
        ref = self.ctx.ref_for(self.names[to], VALIDATOR_PATH)
        try:
            self.ctx.tell_nowait(ref, Frame(self.index, data))
        except MailboxFull:
            self.dropped += 1  # the protocol resends what matters; count the overload
