"""A backlog of messages runs as one coroutine that awaits each handler (``Node._run``),
and a ``LoopbackNetwork`` hands frames over in batches (``Node.receive_frames``): the
same outcomes as one handler per step — order, replies, suspension, crashes, stops,
malformed frames — on asyncio and trio."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from focusflow.supervisor import (
    Actor,
    ActorCrashed,
    ActorNotFound,
    ActorRef,
    ActorSystem,
    LoopbackNetwork,
)
from focusflow.wire import KIND_ASK, KIND_TELL, encode_hop, hop_template
from focusflow.wire.system import Ping, Pong
from tests.wire.msgs import Req, Resp

pytestmark = pytest.mark.anyio


class Log(Actor):
    """Records what it handles; Req(n): n < 0 crashes, text "wait" awaits an ask to the
    helper mid-backlog, "stop" stops itself; asks are answered with the count so far."""

    def __init__(self, seen: list[int], helper: ActorRef | None = None) -> None:
        self.seen = seen
        self.helper = helper

    async def receive(self, msg: Any) -> Any:
        if msg.n < 0:
            raise ValueError("negative")
        if msg.text == "wait":
            assert self.helper is not None
            await self.ctx.ask(self.helper, Req(msg.n))
        if msg.text == "stop":
            self.ctx.stop()
        self.seen.append(msg.n)
        return Resp(len(self.seen))


class Helper(Actor):
    async def receive(self, msg: Any) -> Any:
        await self.ctx.sleep(1)
        return Resp(msg.n)


async def test_a_backlog_keeps_order_across_a_handler_that_suspends() -> None:
    seen: list[int] = []
    async with ActorSystem("b") as system:
        helper = system.spawn(Helper)
        log = system.spawn(Log, seen, helper)
        for i in range(300):  # queued before the actor runs: one backlog
            system.node.tell(log, Req(i, "wait" if i in (5, 130) else ""))
        with anyio.fail_after(5):
            assert await log.ask(Req(1000)) == Resp(301)
    assert seen == [*range(300), 1000]


async def test_a_crash_inside_a_backlog_answers_that_ask_and_drops_the_rest() -> None:
    seen: list[int] = []
    async with ActorSystem("b") as system:
        log = system.spawn(Log, seen)
        early = system.node.ask(log, Req(1), timeout_ms=5_000)
        for i in range(2, 10):
            system.node.tell(log, Req(i))
        crash = system.node.ask(log, Req(-1), timeout_ms=5_000)
        late = system.node.ask(log, Req(99), timeout_ms=5_000)
        with anyio.fail_after(5):
            assert await system.runtime.wait_for(early) == Resp(1)
            with pytest.raises(ActorCrashed):
                await system.runtime.wait_for(crash)
            with pytest.raises(ActorNotFound):  # the actor stopped: never handled
                await system.runtime.wait_for(late)
    assert seen == list(range(1, 10))


async def test_a_stop_inside_a_backlog_ends_the_run_after_that_message() -> None:
    seen: list[int] = []
    async with ActorSystem("b") as system:
        log = system.spawn(Log, seen)
        for i in range(20):
            system.node.tell(log, Req(i, "stop" if i == 7 else ""))
        with anyio.fail_after(5):
            while system.node.is_alive(log):
                await anyio.sleep(0.001)
        assert [d.reason for d in system.dead_letters()][:12] == ["stopped"] * 12
    assert seen == list(range(8))


async def test_loopback_batches_keep_order_and_count_malformed_frames() -> None:
    seen: list[int] = []
    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("b") as b:
        log = b.spawn(Log, seen, name="log")

        class Source(Actor):
            async def receive(self, msg: Any) -> Any:
                remote = self.ctx.ref_for("b", "/user/log")
                for i in range(msg.n):
                    await self.ctx.tell(remote, Req(i, "x" * (i % 3)))  # several lengths
                return await self.ctx.ask(remote, Req(msg.n))

        source = a.spawn(Source)
        with anyio.fail_after(5):
            assert await source.ask(Req(700)) == Resp(701)
        good = encode_hop(KIND_TELL, 0, "a", "", "b", log.path, Req(5000))
        bad = good[:-8]  # truncated
        b.node.receive_frames([good, bad, good, b"\x00" * 7, good])
        with anyio.fail_after(5):
            assert await log.ask(Req(6000)) == Resp(705)
        assert b.node.stats["malformed"] == 2
    assert seen == [*range(701), 5000, 5000, 5000, 6000]


class PingLog(Actor):
    """Records the seq of each Ping (a numbers-only message: the template fast paths)."""

    def __init__(self, seen: list[int]) -> None:
        self.seen = seen

    async def receive(self, msg: Any) -> Any:
        self.seen.append(msg.seq)
        return Pong(len(self.seen))


async def test_a_batch_refuses_frames_for_other_nodes_and_dead_actors() -> None:
    seen: list[int] = []
    async with ActorSystem("b") as b:
        log = b.spawn(PingLog, seen, name="log")
        good = encode_hop(KIND_TELL, 0, "a", "/user/x", "b", log.path, Ping(1))
        elsewhere = encode_hop(KIND_TELL, 0, "a", "/user/x", "c", log.path, Ping(2))
        nobody = encode_hop(KIND_TELL, 0, "a", "/user/x", "b", "/user/none", Ping(3))
        ask = encode_hop(KIND_ASK, 77, "a", "/user/x", "b", log.path, Ping(4))
        b.node.receive_frames([good, good, elsewhere, good, nobody, good, ask, good])
        b.node.receive_frames([elsewhere, good, elsewhere])
        assert hop_template(good) is not None  # the batch took the template path
        with anyio.fail_after(5):
            assert await log.ask(Ping(9)) == Pong(8)
        assert b.node.stats["malformed"] == 3
        assert [d.reason for d in b.dead_letters()].count("noproc") == 1
    assert seen == [1, 1, 1, 1, 4, 1, 1, 9]
