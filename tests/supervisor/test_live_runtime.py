"""The live runtime on asyncio and trio: the same actors, the real clock."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from focusflow.supervisor import (
    Actor,
    ActorCrashed,
    ActorSystem,
    AskTimeout,
    ChildSpec,
    MailboxFull,
    Supervisor,
    SupervisorFlags,
)
from focusflow.wire.system import Ping
from tests.supervisor.actors import EVENTS, Echo, Recorder, Slow, Ticker, Watcher
from tests.wire.msgs import Req, Resp

pytestmark = pytest.mark.anyio


async def test_ask_and_tell_from_an_async_program() -> None:
    async with ActorSystem("live") as system:
        echo = system.spawn(Echo, name="echo")
        assert await echo.ask(Req(1, "a")) == Resp(1, "a")
        assert await system.ask(echo, Req(2, "b")) == Resp(2, "b")
        await echo.tell(Req(3))
        assert system.whereis("nobody") is None


async def test_ask_timeout_uses_the_real_clock() -> None:
    async with ActorSystem() as system:
        slow = system.spawn(Slow, 300.0)
        with anyio.fail_after(5):
            with pytest.raises(AskTimeout):
                await slow.ask(Req(1), timeout_ms=50)


async def test_supervisor_restarts_a_crashed_child_live() -> None:
    EVENTS.clear()
    async with ActorSystem() as system:
        sup = system.spawn(Supervisor, SupervisorFlags(intensity=3),
                           [ChildSpec("r", Recorder, ("r",))], name="sup")
        await system.wait_started(sup)  # a supervisor has started when all children have
        r = system.node.ref(system.name, "/user/sup/r")
        first = (await r.ask(Req(0))).n
        with pytest.raises(ActorCrashed):
            await r.ask(Req(-1))
        for _ in range(100):
            if system.node.incarnation(r) not in (0, first):
                break
            await anyio.sleep(0.01)
        assert (await r.ask(Req(0))).n != first
    assert EVENTS[-1] == ("stop", "r")  # shutdown on leaving the block


async def test_timers_and_watch_live() -> None:
    async with ActorSystem() as system:
        t = system.spawn(Ticker)
        await t.ask(Req(10, "start"))
        await anyio.sleep(0.2)
        ticks = (await t.ask(Req(0, "?"))).n
        assert ticks >= 3
        echo = system.spawn(Echo)
        w = system.spawn(Watcher)
        await w.ask(Req(0, f"{system.name}|{echo.path}"))
        assert await system.stop(echo) == "shutdown"
        await anyio.sleep(0.01)
        assert (await w.ask(Req(1))).text == "shutdown"


async def test_tell_nowait_raises_mailbox_full_and_tell_waits() -> None:
    async with ActorSystem() as system:
        slow = system.spawn(Slow, 200.0, mailbox_depth_max=1)  # long: robust under load
        await system.wait_started(slow)
        slow.tell_nowait(Req(1))
        await anyio.sleep(0.005)  # taken into the handler
        slow.tell_nowait(Req(2))
        with pytest.raises(MailboxFull):
            slow.tell_nowait(Req(3))
        with anyio.fail_after(5):
            await slow.tell(Req(4))  # waits for room instead
        assert (await slow.ask(Req(5))).n == 4


class UsesIO(Actor):
    async def receive(self, msg: Any) -> Any:
        async def io() -> int:
            await anyio.sleep(0.01)
            return 41

        value = await self.ctx.run_io(io)
        return Resp(value + 1, "")


async def test_real_io_runs_outside_the_scheduler() -> None:
    async with ActorSystem() as system:
        assert (await system.spawn(UsesIO).ask(Req(0))).n == 42


async def test_an_exception_in_the_body_propagates_unwrapped() -> None:
    with pytest.raises(KeyError):
        async with ActorSystem() as system:
            system.spawn(Echo)
            raise KeyError("mine")


async def test_file_storage_hook(tmp_path: Any) -> None:
    class Store(Actor):
        async def receive(self, msg: Any) -> Any:
            await self.ctx.storage.write("k", msg.text.encode())
            await self.ctx.storage.sync()
            data = await self.ctx.storage.read("k")
            return Resp(len(self.ctx.storage.keys()), data.decode())

    async with ActorSystem(storage_dir=tmp_path) as system:
        assert await system.spawn(Store).ask(Req(0, "hello")) == Resp(1, "hello")
    assert (tmp_path / "k").read_bytes() == b"hello"


async def test_two_live_systems_over_a_loopback_network() -> None:
    from focusflow.supervisor import ActorNotFound, LoopbackNetwork

    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("b") as b:
        a.spawn(Echo, name="echo")
        remote = b.node.ref("a", "/user/echo")
        assert await remote.ask(Req(4, "x")) == Resp(4, "x")
        w = b.spawn(Watcher)
        await w.ask(Req(0, "a|/user/echo"))
        await remote.tell(Req(-3))  # stops normally
        with anyio.fail_after(5):
            while (await w.ask(Req(1))).n == 0:
                await anyio.sleep(0.005)
        assert (await w.ask(Req(1))).text == "normal"
        with pytest.raises(ActorNotFound):
            await remote.ask(Req(1))
        net.detach("a")
        await remote.tell(Req(1))
        assert any(d.reason == "unreachable" for d in b.dead_letters())


class LongIO(Actor):
    async def receive(self, msg: Any) -> Any:
        async def forever() -> None:
            await anyio.sleep(3600)

        await self.ctx.run_io(forever)
        return None


async def test_leaving_the_block_does_not_wait_for_orphaned_io() -> None:
    with anyio.fail_after(10):
        async with ActorSystem() as system:
            ref = system.spawn(LongIO, shutdown_ms=100)
            await ref.tell(Req(1))
            await anyio.sleep(0.05)
    # the busy actor was killed after 100 ms and its I/O task cancelled


class Hasher(Actor):
    async def receive(self, msg: Any) -> Any:
        import threading

        def work(text: str) -> tuple[int, str]:
            return len(text * 1000), threading.current_thread().name

        n, thread = await self.ctx.run_blocking(work, msg.text)
        return Resp(n, thread)


async def test_blocking_work_runs_in_a_worker_thread_live() -> None:
    import threading

    async with ActorSystem() as system:
        answer = await system.spawn(Hasher).ask(Req(0, "abc"))
        assert answer.n == 3000 and answer.text != threading.current_thread().name


class _Keeper(Actor):
    """Keeps every message object it receives; answers an ask with what it is given."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    async def receive(self, msg: Any) -> Any:
        self.got.append(msg)
        return msg if not isinstance(msg, Ping) or msg.seq != 99 else object()


async def test_every_local_hop_crosses_the_codec_both_ways() -> None:
    """Local tells, asks and answers are encoded and decoded (one-pass hop codec):
    the receiver gets an equal but distinct object, and what cannot travel fails."""
    async with ActorSystem("hops") as system:
        keeper = system.spawn(_Keeper, name="keeper")
        sent = [Ping(7), Req(1, "ünï"), Req(2, "")]
        for msg in sent:
            await keeper.tell(msg)
        answer = await keeper.ask(Ping(8))
        actor = system.node.actor_of(keeper)
        assert isinstance(actor, _Keeper)
        assert actor.got[:3] == sent
        assert all(a is not b for a, b in zip(actor.got, sent, strict=False))
        assert answer == Ping(8) and answer is not actor.got[3]
        with pytest.raises(ActorCrashed):
            await keeper.ask(Ping(99))  # the answer is not a message: the asker hears why
        assert system.node.stats["malformed"] == 0
