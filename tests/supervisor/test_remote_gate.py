"""The door for remote messages (rule 8, issue 16 finding 2): a peer can neither stop,
crash nor bloat another node through system messages, and sends only what its role may.

Two live nodes on a ``LoopbackNetwork``; the attacker's frames are what a pinned peer
could put on the wire (its own node name as sender, any path, any payload).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from focusflow.supervisor import (
    REMOTE_PATH_CHARS_MAX,
    ActorCrashed,
    ActorSystem,
    ChildSpec,
    LoopbackNetwork,
    RemotePolicy,
    Supervisor,
    SupervisorFlags,
)
from focusflow.wire import (
    KIND_ASK,
    KIND_REPLY,
    KIND_SYSTEM,
    KIND_TELL,
    Address,
    encode_envelope_fields,
    encode_message,
)
from focusflow.wire.system import Down, Exit, Stop, Unwatch, Watch
from tests.supervisor.actors import Echo, Recorder, Slow
from tests.wire.msgs import Req, Resp

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the gate is runtime-independent code; one backend keeps it quick


def frame(kind: int, msg: Any, *, sender: str = "evil", sender_path: str = "/user/x",
          to: str = "a", path: str = "/user/sup", corr: int = 0) -> bytes:
    tid, data = encode_message(msg)
    return encode_envelope_fields(kind, corr, sender, sender_path, to, path, tid, data)


async def settle(system: ActorSystem) -> None:
    for _ in range(5):
        await anyio.sleep(0.01)


async def tree(a: ActorSystem) -> tuple[Any, Any]:
    sup = a.spawn(Supervisor, SupervisorFlags(intensity=1, period_ms=60_000),
                  [ChildSpec("r", Recorder, ("r",))], name="sup")
    await a.wait_started(sup)
    return sup, a.node.ref("a", "/user/sup/r")


async def test_a_remote_stop_does_not_stop_the_tree() -> None:
    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("evil") as evil:
        sup, child = await tree(a)
        evil.node._request_stop(evil.node.ref("a", "/user/sup"), "pwned")  # the real send path
        a.receive_frame(frame(KIND_SYSTEM, Stop("pwned")))  # and the single-frame path
        await settle(a)
        assert a.node.is_alive(sup) and a.node.is_alive(child)
        assert a.node.stats["refused"] == 2
        assert a.node.gate.refusals[("evil", "stop_from_remote")] == 2


async def test_a_forged_exit_with_the_right_incarnation_does_not_reach_the_supervisor() -> None:
    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("evil"):
        sup, child = await tree(a)
        uid = a.node.incarnation(child)
        forged = Exit(Address("a", "/user/sup/r"), "error:boom", uid)
        for _ in range(3):  # beyond the intensity of 1: before the gate, the tree gave up
            a.node.receive_frames([frame(KIND_SYSTEM, forged)])
        await settle(a)
        assert a.node.is_alive(sup) and a.node.incarnation(child) == uid
        assert a.node.gate.refusals[("evil", "exit_from_remote")] == 3


async def test_remote_watches_are_bounded_per_peer_and_freed_on_disconnect() -> None:
    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("evil"):
        a.spawn(Echo, name="echo")
        limit = 256
        for i in range(limit + 50):
            a.receive_frame(frame(KIND_SYSTEM, Watch(Address("evil", f"/user/w{i}")),
                                  path="/user/echo"))
        long_path = "/user/" + "w" * 65_536
        a.receive_frame(frame(KIND_SYSTEM, Watch(Address("evil", long_path)), path="/user/echo"))
        a.receive_frame(frame(KIND_SYSTEM, Watch(Address("evil", "/user/x")),
                              sender_path=long_path, path="/user/echo"))
        cell = a.node._cells["/user/echo"]
        assert len(cell.watchers) == limit == len(a.node.gate.watches["evil"])
        assert a.node.gate.refusals[("evil", "watch_table_full")] == 50
        assert a.node.gate.refusals[("evil", "bad_route")] == 2
        # a watch for a watcher on another node is not this peer's to set up
        a.receive_frame(frame(KIND_SYSTEM, Watch(Address("b", "/user/w")), path="/user/echo"))
        assert a.node.gate.refusals[("evil", "watch_for_other_node")] == 1
        # Unwatch frees a slot; a disconnect frees the whole table
        a.receive_frame(frame(KIND_SYSTEM, Unwatch(Address("evil", "/user/w0")), path="/user/echo"))
        assert len(cell.watchers) == limit - 1
        net.detach("evil")
        assert not cell.watchers and "evil" not in a.node.gate.watches


async def test_an_honest_remote_watch_still_sees_the_death() -> None:
    from tests.supervisor.actors import Watcher

    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("b") as b:
        a.spawn(Echo, name="echo")
        w = b.spawn(Watcher)
        await w.ask(Req(0, "a|/user/echo"))
        await settle(a)
        assert a.node.gate.watches == {"b": {("/user/echo", w.path)}}
        await b.node.ref("a", "/user/echo").tell(Req(-3))  # stops normally
        with anyio.fail_after(5):
            while (await w.ask(Req(1))).n == 0:
                await anyio.sleep(0.005)
        assert a.node.gate.watches == {} and a.node.stats["refused"] == 0


async def test_a_down_for_another_nodes_actor_is_refused() -> None:
    from tests.supervisor.actors import Watcher

    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("b") as b, net.system("evil"):
        b.spawn(Echo, name="echo")
        w = a.spawn(Watcher, name="w")
        await w.ask(Req(0, "b|/user/echo"))
        await settle(a)
        a.receive_frame(frame(KIND_SYSTEM, Down(Address("b", "/user/echo"), "forged"),
                              path=w.path))
        await settle(a)
        assert (await w.ask(Req(1))).n == 0  # b's echo lives: no Down reached the watcher
        assert a.node.gate.refusals[("evil", "down_for_other_node")] == 1


async def test_a_down_disguised_as_a_tell_never_reaches_a_watcher() -> None:
    from tests.supervisor.actors import Watcher

    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("b") as b, net.system("evil") as evil:
        b.spawn(Echo, name="echo")
        w = a.spawn(Watcher, name="w")
        await w.ask(Req(0, "b|/user/echo"))
        forged = Down(Address("evil", "/user/x"), "forged")
        await evil.node.ref("a", w.path).tell(forged)  # the batch path
        a.receive_frame(frame(KIND_TELL, forged, path=w.path))  # the single-frame path
        await settle(a)
        assert (await w.ask(Req(1))).n == 0
        assert a.node.gate.refusals[("evil", "signal_as_message")] == 2


async def test_an_answer_from_a_node_that_was_not_asked_is_refused() -> None:
    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("b") as b, net.system("evil"):
        b.spawn(Slow, 200.0, name="slow")
        asking = a.node.ask(a.node.ref("b", "/user/slow"), Req(5), timeout_ms=5_000)
        corr = max(a.node._pending)
        a.receive_frame(frame(KIND_REPLY, Resp(666, "forged"), path="", corr=corr))
        with anyio.fail_after(5):
            while not asking.done():
                await anyio.sleep(0.01)
        assert asking.result() == Resp(1, "")
        assert a.node.gate.refusals[("evil", "answer_not_asked")] == 1


async def test_a_policy_admits_only_what_the_senders_role_may_send() -> None:
    net = LoopbackNetwork()
    async with net.system("a") as a, net.system("v") as v, net.system("f") as f:
        a.spawn(Echo, name="echo")
        a.node.set_remote_policy(RemotePolicy(
            roles={"v": "validator", "f": "full"},
            actors={"/user/echo": {"validator": frozenset({Req})}}))
        echo_v = v.node.ref("a", "/user/echo")
        assert await echo_v.ask(Req(1, "ok")) == Resp(1, "ok")
        with pytest.raises(ActorCrashed) as refused:
            await f.node.ref("a", "/user/echo").ask(Req(2))
        assert refused.value.error_type == "Unauthorized"
        with pytest.raises(ActorCrashed):
            await echo_v.ask(Resp(3, "a class the table does not list"))
        await f.node.ref("a", "/user/echo").tell(Req(4))  # a batch frame on the fast path
        a.receive_frame(frame(KIND_TELL, Req(5), sender="stranger", path="/user/echo"))
        a.receive_frame(frame(KIND_ASK, Req(6), sender="v", path="/user/other", corr=1))
        await settle(a)
        got = a.node.gate.refusals
        assert got[("f", "not_authorized")] == 2 and got[("v", "not_authorized")] == 2
        assert got[("stranger", "not_authorized")] == 1
        # watching needs an actor the peer may talk to
        a.receive_frame(frame(KIND_SYSTEM, Watch(Address("f", "/user/w")), sender="f",
                              path="/user/echo"))
        assert got[("f", "watch_not_authorized")] == 1
        assert a.node.gate.watches == {}


def test_route_limit_is_far_above_real_paths() -> None:
    from focusflow.node.validator import VALIDATOR_PATH

    assert len(VALIDATOR_PATH) * 4 < REMOTE_PATH_CHARS_MAX
