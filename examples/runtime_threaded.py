"""Drive actors from plain synchronous code (Pykka-style futures and proxies).
Run: .venv/bin/python examples/runtime_threaded.py"""

from __future__ import annotations

from typing import Any

from focusflow.embed import ThreadedActorSystem
from focusflow.supervisor import Actor
from focusflow.wire.system import Ping, Pong


class Counter(Actor):
    def __init__(self) -> None:
        self.total = 0

    def add(self, n: int) -> int:  # called through a proxy, inside the actor
        self.total += n
        return self.total

    async def receive(self, msg: Any) -> Any:
        self.total += msg.seq
        return Pong(self.total)


def main() -> None:
    with ThreadedActorSystem("threads") as system:
        counter = system.spawn(Counter, name="counter")
        counter.tell(Ping(5))
        print(counter.ask(Ping(1)))                      # blocks: Pong(seq=6)
        future = counter.ask(Ping(1), block=False)       # a ThreadFuture
        print(future.get(timeout=1.0))
        proxy = counter.proxy()
        print(proxy.add(10).get(), proxy.total.get())    # 17 17


if __name__ == "__main__":
    main()
