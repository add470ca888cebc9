"""Embedding: ``async with ActorSystem`` and the threaded facade with Pykka-style futures."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from focusflow.embed import ThreadedActorSystem, ThreadFuture
from focusflow.supervisor import Actor, ActorCrashed, ActorSystem
from tests.supervisor.actors import Echo, Slow
from tests.wire.msgs import Req, Resp


class Account(Actor):
    def __init__(self) -> None:
        self.balance = 0
        self.threads: set[str] = set()

    def deposit(self, amount: int) -> int:
        self.threads.add(threading.current_thread().name)
        if amount < 0:
            raise ValueError("negative deposit")
        self.balance += amount
        return self.balance

    async def slow_double(self) -> int:
        await self.ctx.sleep(5)
        self.balance *= 2
        return self.balance

    async def receive(self, msg: Any) -> Any:
        self.balance += msg.n
        return Resp(self.balance, "")


@pytest.mark.anyio
async def test_async_embedding_in_a_few_lines() -> None:
    async with ActorSystem("app") as system:
        ref = system.spawn(Echo)
        assert await ref.ask(Req(1, "x")) == Resp(1, "x")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_threaded_facade_tell_ask_and_futures(backend: str) -> None:
    with ThreadedActorSystem("threads", backend=backend) as system:
        acct = system.spawn(Account, name="acct")
        acct.tell(Req(5))
        assert acct.ask(Req(1)) == Resp(6, "")
        future = acct.ask(Req(1), block=False)
        assert isinstance(future, ThreadFuture)
        assert future.map(lambda r: r.n * 10).get(timeout=5) == 70
        assert system.whereis("nobody") is None


def test_proxy_calls_methods_and_reads_attributes_inside_the_actor() -> None:
    with ThreadedActorSystem() as system:
        acct = system.spawn(Account)
        proxy = acct.proxy()
        assert proxy.deposit(10).get(timeout=5) == 10
        assert proxy.slow_double().get(timeout=5) == 20
        assert proxy.balance.get(timeout=5) == 20
        with pytest.raises(ValueError, match="negative"):
            proxy.deposit(-1).get(timeout=5)
        assert proxy.balance.get(timeout=5) == 20  # the actor survived (Pykka semantics)
        threads = proxy.threads.get(timeout=5)
        assert threading.current_thread().name not in threads  # ran on the system thread


def test_threaded_errors_and_timeouts() -> None:
    with ThreadedActorSystem() as system:
        echo = system.spawn(Echo)
        with pytest.raises(ActorCrashed):
            echo.ask(Req(-1))
        slow = system.spawn(Slow, 2_000.0)
        with pytest.raises(TimeoutError):
            slow.ask(Req(1), block=False).get(timeout=0.05)
        assert echo.stop() in ("shutdown", "noproc")
