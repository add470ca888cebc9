"""Edge cases: kills of busy actors, node ping, dead-letter listeners, temporary siblings,
stash of asks, child exits to plain parents, restart failures, registry rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from focusflow.sim import Simulation
from focusflow.supervisor import (
    Actor,
    ActorRef,
    ChildSpec,
    DeadLetter,
    Exit,
    Supervisor,
    SupervisorFlags,
    which_children,
)
from focusflow.wire.system import Ping, Pong
from tests.supervisor.actors import EVENTS, Echo, Recorder, Slow
from tests.wire.msgs import Req, Resp


@pytest.fixture(autouse=True)
def _clear() -> Iterator[None]:
    EVENTS.clear()
    yield
    EVENTS.clear()


def test_an_actor_busy_in_a_handler_is_killed_after_its_shutdown_timeout() -> None:
    sim = Simulation(1)
    n = sim.add_node("n")
    slow = n.spawn(Slow, 60_000.0, shutdown_ms=300)
    pending = n.ask(slow, Req(1), timeout_ms=100_000)
    sim.run(for_ms=10)
    t0 = sim.now_ns()
    reason = sim.run_until_complete(n.stop(slow))
    assert reason == "killed"
    assert (sim.now_ns() - t0) / 1e6 == pytest.approx(300)
    sim.run()
    assert not pending.done() or pending.exception() is not None


def test_every_node_answers_ping_at_its_root() -> None:
    sim = Simulation(1)
    a = sim.add_node("a")
    b = sim.add_node("b")
    assert sim.run_until_complete(b.ask(b.ref("a", "/"), Ping(7))) == Pong(7)
    assert a.actor_count() == 0


def test_dead_letter_listeners_see_undeliverable_messages() -> None:
    sim = Simulation(1)
    n = sim.add_node("n")
    seen: list[DeadLetter] = []
    n.on_dead_letter(seen.append)
    n.tell(n.ref("n", "/user/ghost"), Req(1))
    sim.run()
    assert [(d.receiver, d.reason, d.message_type) for d in seen] == [("/user/ghost", "noproc", "Req")]


def test_one_for_all_does_not_restart_temporary_siblings() -> None:
    sim = Simulation(1)
    n = sim.add_node("n")
    sup = n.spawn(Supervisor, SupervisorFlags(strategy="one_for_all", intensity=5), [
        ChildSpec("a", Recorder, ("a",)),
        ChildSpec("t", Recorder, ("t",), restart="temporary"),
        ChildSpec("c", Recorder, ("c",)),
    ], name="sup")
    sim.run()
    n.tell(n.ref("n", "/user/sup/c"), Req(-1))
    sim.run()
    children = dict(sim.run_until_complete(which_children(sup)))
    assert set(children) == {"a", "c"}
    assert all(children.values())
    assert ("start", "t") in EVENTS and EVENTS.count(("start", "t")) == 1


def test_a_stashed_ask_is_answered_after_unstash() -> None:
    from tests.supervisor.actors import Stasher

    sim = Simulation(1)
    n = sim.add_node("n")
    s = n.spawn(Stasher)
    fut = n.ask(s, Req(4))
    sim.run(for_ms=10)
    assert not fut.done()
    sim.run_until_complete(n.ask(s, Req(0, "open")))
    assert sim.run_until_complete(fut) == Resp(4, "4")


class Parent(Actor):
    """A plain (non-supervisor) parent that records its children's exits."""

    def __init__(self) -> None:
        self.exits: list[Exit] = []
        self.child: ActorRef | None = None

    async def on_start(self) -> None:
        self.child = self.ctx.spawn(Echo, name="kid")

    async def on_child_exit(self, exit: Exit) -> None:
        self.exits.append(exit)

    async def receive(self, msg: Any) -> Any:
        return Resp(len(self.exits), ";".join(e.reason for e in self.exits))


def test_a_plain_parent_gets_its_childs_exit_and_stops_it_on_stop() -> None:
    sim = Simulation(1)
    n = sim.add_node("n")
    p = n.spawn(Parent, name="p")
    sim.run()
    kid = n.ref("n", "/user/p/kid")
    assert n.is_alive(kid)
    n.tell(kid, Req(-1))
    sim.run()
    answer = sim.run_until_complete(n.ask(p, Req(0)))
    assert answer.n == 1 and answer.text.startswith("error:RuntimeError")
    assert not n.is_alive(kid)  # plain parents do not restart
    sim.run_until_complete(n.stop(p))
    assert n.actor_count() == 0


def test_a_child_that_cannot_restart_exhausts_the_budget_and_escalates() -> None:
    sim = Simulation(1)
    n = sim.add_node("n")

    class FailsAfterFirst(Recorder):
        starts = 0

        async def on_start(self) -> None:
            FailsAfterFirst.starts += 1
            if FailsAfterFirst.starts > 1:
                raise RuntimeError("cannot restart")

    sup = n.spawn(Supervisor, SupervisorFlags(intensity=3, period_ms=60_000),
                  [ChildSpec("w", FailsAfterFirst, ("w",))])
    sim.run()
    n.tell(n.ref("n", sup.path + "/w"), Req(-1))
    sim.run()
    assert not n.is_alive(sup)
    assert FailsAfterFirst.starts == 1 + 3  # three restart attempts, then it gives up


def test_spawn_rejects_bad_and_duplicate_names() -> None:
    sim = Simulation(1)
    n = sim.add_node("n")
    n.spawn(Echo, name="x")
    for bad in ("", "a/b", "$1"):
        with pytest.raises(ValueError):
            n.spawn(Echo, name=bad)
    with pytest.raises(ValueError):
        n.spawn(Echo, name="x")
    sim.run()


def test_timers_die_with_their_actor() -> None:
    from tests.supervisor.actors import Ticker

    sim = Simulation(1)
    n = sim.add_node("n")
    t = n.spawn(Ticker)
    sim.run_until_complete(n.ask(t, Req(10, "start")))
    sim.run(for_ms=55)
    sim.run_until_complete(n.stop(t))
    delivered = n.stats["delivered"]
    sim.run(for_ms=1_000)
    assert n.stats["delivered"] == delivered
    assert sim.run(for_ms=1) == 0  # quiet: nothing scheduled any more


class Batcher(Actor):
    """Holds asks until it has three, then answers them all (deferred replies)."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Any, int]] = []

    async def receive(self, msg: Any) -> Any:
        handle = self.ctx.defer_reply()
        if handle is None:
            return None
        if msg.n < 0:
            handle.fail("negative", error_type="ValueError")
            return None
        self.waiting.append((handle, msg.n))
        if len(self.waiting) == 3:
            total = sum(n for _, n in self.waiting)
            for h, n in self.waiting:
                h.reply(Resp(n, str(total)))
            self.waiting.clear()
        return Resp(-1, "ignored")  # deferred: the return value is not the answer


def test_deferred_replies_answer_asks_later() -> None:
    from focusflow.supervisor import ActorCrashed

    sim = Simulation(1)
    n = sim.add_node("n")
    b = n.spawn(Batcher)
    f1, f2 = n.ask(b, Req(1)), n.ask(b, Req(2))
    sim.run(for_ms=10)
    assert not f1.done() and not f2.done()
    assert sim.run_until_complete(n.ask(b, Req(3))) == Resp(3, "6")
    assert (f1.result(), f2.result()) == (Resp(1, "6"), Resp(2, "6"))
    with pytest.raises(ActorCrashed) as err:
        sim.run_until_complete(n.ask(b, Req(-1)))
    assert err.value.error_type == "ValueError"
    assert n.is_alive(b)  # failing an ask is not a crash


def test_addresses_nested_in_messages_arrive_as_usable_refs() -> None:
    import numpy as np

    from focusflow.supervisor import ActorRef as Ref
    from focusflow.wire import Address
    from tests.wire.msgs import Everything, Holder, Point

    class Keeper(Actor):
        def __init__(self) -> None:
            self.owner: Any = None

        async def receive(self, msg: Any) -> Any:
            if isinstance(msg, Holder):
                self.owner = msg.inner.owner
                return None
            assert isinstance(self.owner, Ref), type(self.owner)
            return await self.owner.ask(Req(5, "via nested ref"))

    sim = Simulation(1)
    a = sim.add_node("a")
    b = sim.add_node("b")
    b.spawn(Echo, name="echo")
    keeper = a.spawn(Keeper)
    everything = Everything(True, 1, 2, 0.5, "n", b"", "red", Point(1, 2), None, (), (),
                            (), Address("b", "/user/echo"), np.zeros(0))
    a.tell(keeper, Holder(everything))
    sim.run()
    assert sim.run_until_complete(a.ask(keeper, Req(0))) == Resp(5, "via nested ref")
