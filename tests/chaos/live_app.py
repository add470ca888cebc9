"""A small live application for the live-to-sim recording tests (boot functions)."""

from __future__ import annotations

import hashlib
from typing import Any

from focusflow.supervisor import Actor, ChildSpec, Node, Supervisor, SupervisorFlags
from tests.wire.msgs import Req, Resp


class Tally(Actor):
    """Counts requests from peers, draws random numbers, reads the clock, uses timers,
    and answers to a peer node: every kind of input the recorder must capture."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []
        self.draws: list[int] = []
        self.ticks = 0
        self.stamps: list[int] = []
        self.work = ""

    async def on_start(self) -> None:
        data = await self.ctx.storage.read("tally")
        self.ticks = int(data.decode()) if data else 0
        self.ctx.start_timer("tick", 3.0, Req(0, "tick"), repeat=True)

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Req) and msg.text == "tick":
            self.ticks += 1
            self.draws.append(self.ctx.random.randrange(1_000_000))
            self.stamps.append(self.ctx.now_ns())
            await self.ctx.storage.write("tally", str(self.ticks).encode())
            if self.ticks % 4 == 0:  # pure work off the scheduler (a thread, live)
                self.work = await self.ctx.run_blocking(_work, self.ticks)
            return None
        if isinstance(msg, Req):
            self.seen.append((msg.n, msg.text))
            if msg.n % 3 == 0:
                raise RuntimeError("every third request crashes the tally (supervised)")
            peer = self.ctx.ref_for("peer", "/user/sink")
            await self.ctx.tell(peer, Resp(msg.n * 2 + self.ctx.random.randrange(7),
                                           f"{self.ticks}"))
        return None


def _work(n: int) -> str:
    return hashlib.sha256(str(n).encode() * 1000).hexdigest()[:16]


def boot(node: Node) -> None:
    """Boot function the recorder and the replay both call."""
    node.spawn(Supervisor, SupervisorFlags(intensity=100, period_ms=1_000),
               [ChildSpec("tally", Tally)], name="sup")


class Sink(Actor):
    """The peer node's receiver (it is not recorded)."""

    def __init__(self, got: list[int]) -> None:
        self.got = got

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Resp):
            self.got.append(msg.n)
        return None
