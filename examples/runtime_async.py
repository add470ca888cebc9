"""Start an actor system inside an async program (asyncio or trio), supervise an actor,
survive its crash. Run: .venv/bin/python examples/runtime_async.py"""

from __future__ import annotations

from typing import Any

import anyio

from focusflow.supervisor import (
    Actor,
    ActorCrashed,
    ActorSystem,
    ChildSpec,
    Supervisor,
    SupervisorFlags,
)
from focusflow.wire.system import Ping, Pong


class Echo(Actor):
    """Answers Ping(n) with Pong(n); Ping(13) makes it crash."""

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Ping):
            if msg.seq == 13:
                raise RuntimeError("unlucky")
            return Pong(msg.seq)
        return None


async def main() -> None:
    async with ActorSystem("example") as system:
        sup = system.spawn(Supervisor, SupervisorFlags(intensity=3),
                           [ChildSpec("echo", Echo)], name="sup")
        await system.wait_started(sup)
        echo = system.node.ref("example", "/user/sup/echo")
        print(await echo.ask(Ping(1)))
        try:
            await echo.ask(Ping(13))
        except ActorCrashed as exc:
            print("crashed:", exc)
        await anyio.sleep(0.05)  # the supervisor restarts it
        print(await echo.ask(Ping(2)))


if __name__ == "__main__":
    anyio.run(main)  # or anyio.run(main, backend="trio")
