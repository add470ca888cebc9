"""Actor classes shared by the runtime tests (module-level so TOML can name them)."""

from __future__ import annotations

from typing import Any

from focusflow.supervisor import Actor, ActorRef, Down
from tests.wire.msgs import Req, Resp

#: Lifecycle events appended by ``Recorder`` actors: ("start"|"stop", name).
EVENTS: list[tuple[str, str]] = []


class Echo(Actor):
    """Answers Req(n, text) with Resp(n, text); Req(-1) crashes; Req(-2) never answers."""

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Req):
            if msg.n == -1:
                raise RuntimeError("asked to crash")
            if msg.n == -2:
                await self.ctx.sleep(10_000_000)
            if msg.n == -3:
                self.ctx.stop()
                return None
            return Resp(msg.n, msg.text)
        return None


class Recorder(Actor):
    """Records start/stop in EVENTS; Req(-1) crashes it; answers Resp(incarnation)."""

    def __init__(self, name: str, *, stop_delay_ms: float = 0.0, fail_start: bool = False) -> None:
        self.name = name
        self.stop_delay_ms = stop_delay_ms
        self.fail_start = fail_start

    async def on_start(self) -> None:
        EVENTS.append(("start", self.name))
        if self.fail_start:
            raise RuntimeError("cannot start")

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Req) and msg.n == -1:
            raise RuntimeError("crash on request")
        if isinstance(msg, Req) and msg.n == -4:
            self.ctx.stop()  # a normal exit
            return None
        return Resp(self.ctx.incarnation, self.name)

    async def on_stop(self) -> None:
        if self.stop_delay_ms:
            await self.ctx.sleep(self.stop_delay_ms)
        EVENTS.append(("stop", self.name))


class Watcher(Actor):
    """Watches a ref given in Req.text ("node|path") and collects Down messages."""

    def __init__(self) -> None:
        self.downs: list[Down] = []

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Down):
            self.downs.append(msg)
            return None
        if isinstance(msg, Req) and msg.n == 0:
            node, path = msg.text.split("|")
            self.ctx.watch(self.ctx.ref_for(node, path))
            return None
        if isinstance(msg, Req) and msg.n == 1:
            return Resp(len(self.downs), ";".join(d.reason for d in self.downs))
        return None


class Slow(Actor):
    """Handles each message by sleeping ``delay_ms`` first (to fill its mailbox)."""

    def __init__(self, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.seen = 0

    async def receive(self, msg: Any) -> Any:
        await self.ctx.sleep(self.delay_ms)
        self.seen += 1
        return Resp(self.seen, "")


class Stasher(Actor):
    """Stashes Req until it gets Req(n=0, text="open"), then answers them all in order."""

    def __init__(self) -> None:
        self.open = False
        self.log: list[int] = []

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Req) and msg.text == "open":
            self.open = True
            self.ctx.unstash_all()
            return Resp(0, "opened")
        if not self.open:
            self.ctx.stash()
            return None
        self.log.append(msg.n)
        return Resp(msg.n, ",".join(map(str, self.log)))


class Ticker(Actor):
    """Counts timer ticks; Req(n) with text "start"/"cancel" controls a repeating timer."""

    def __init__(self) -> None:
        self.ticks = 0

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Req) and msg.text == "start":
            self.ctx.start_timer("t", float(msg.n), Req(0, "tick"), repeat=True)
        elif isinstance(msg, Req) and msg.text == "cancel":
            self.ctx.cancel_timer("t")
        elif isinstance(msg, Req) and msg.text == "tick":
            self.ticks += 1
        return Resp(self.ticks, "")


class Forwarder(Actor):
    """Asks ``target`` on behalf of the caller (actor-to-actor ask across nodes)."""

    def __init__(self, target: ActorRef) -> None:
        self.target = target

    async def receive(self, msg: Any) -> Any:
        return await self.ctx.ask(self.target, msg, timeout_ms=1_000)
