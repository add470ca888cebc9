"""The actor runtime under the simulator: ask/tell, timeouts, supervision, watch,
mailbox overflow, dead letters, registry, stash, timers, malformed frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from focusflow.sim import Simulation
from focusflow.supervisor import (
    ESCALATION_REASON,
    Actor,
    ActorCrashed,
    ActorNotFound,
    ActorRef,
    AskTimeout,
    ChildSpec,
    MailboxFull,
    Node,
    Supervisor,
    SupervisorFlags,
    start_child,
    supervisor_spec,
    terminate_child,
    tree_from_toml,
    which_children,
)
from tests.supervisor.actors import (
    EVENTS,
    Echo,
    Forwarder,
    Recorder,
    Slow,
    Stasher,
    Ticker,
    Watcher,
)
from tests.wire.msgs import Req, Resp


@pytest.fixture(autouse=True)
def _clear_events() -> Iterator[None]:
    EVENTS.clear()
    yield
    EVENTS.clear()


def world(seed: int = 1, nodes: int = 1) -> tuple[Simulation, list[Node]]:
    sim = Simulation(seed)
    return sim, [sim.add_node(f"n{i}") for i in range(1, nodes + 1)]


def ask(sim: Simulation, node: Node, ref: ActorRef, msg: Any, timeout_ms: int = 5_000) -> Any:
    return sim.run_until_complete(node.ask(ref, msg, timeout_ms=timeout_ms))


def test_ask_returns_the_receivers_answer_locally_and_across_nodes() -> None:
    sim, (n1, n2) = world(nodes=2)
    echo = n1.spawn(Echo, name="echo")
    assert ask(sim, n1, echo, Req(5, "hi")) == Resp(5, "hi")
    remote = n2.ref("n1", "/user/echo")
    assert ask(sim, n2, remote, Req(6, "there")) == Resp(6, "there")
    fwd = n2.spawn(Forwarder, remote)
    assert ask(sim, n2, fwd, Req(7, "via")) == Resp(7, "via")
    assert sim.virtual_seconds > 0  # the network took (virtual) time


def test_ask_times_out_and_a_late_answer_is_dropped() -> None:
    sim, (n1,) = world()
    slow = n1.spawn(Slow, 500.0)
    with pytest.raises(AskTimeout):
        ask(sim, n1, slow, Req(1), timeout_ms=100)
    assert 0.1 <= sim.virtual_seconds < 0.2
    assert n1.stats["ask_timeouts"] == 1
    sim.run()  # the late answer arrives and finds nobody waiting
    assert sim.virtual_seconds >= 0.5
    assert ask(sim, n1, slow, Req(2)) == Resp(2, "")


def test_ask_to_a_missing_actor_fails_fast() -> None:
    sim, (n1, n2) = world(nodes=2)
    with pytest.raises(ActorNotFound):
        ask(sim, n1, n1.ref("n1", "/user/nobody"), Req(1))
    with pytest.raises(ActorNotFound):
        ask(sim, n2, n2.ref("n1", "/user/nobody"), Req(1))
    assert any(d.reason == "noproc" for d in n1.dead_letters())


def test_a_crash_fails_the_ask_and_the_supervisor_restarts_the_child() -> None:
    sim, (n1,) = world()
    n1.spawn(Supervisor, SupervisorFlags(intensity=5), [ChildSpec("r", Recorder, ("r",))],
             name="sup")
    sim.run()
    ref = n1.ref("n1", "/user/sup/r")
    first = ask(sim, n1, ref, Req(0)).n
    with pytest.raises(ActorCrashed):
        ask(sim, n1, ref, Req(-1))
    sim.run()
    second = ask(sim, n1, ref, Req(0)).n
    assert second != first  # a new incarnation behind the same ref
    assert EVENTS == [("start", "r"), ("stop", "r"), ("start", "r")]


def _sup_with_three(strategy: str, restart: str = "permanent") -> tuple[Simulation, Node]:
    sim, (n1,) = world()
    specs = [ChildSpec(c, Recorder, (c,), restart=restart) for c in "abc"]  # type: ignore[arg-type]
    n1.spawn(Supervisor, SupervisorFlags(strategy=strategy, intensity=10), specs, name="sup")  # type: ignore[arg-type]
    sim.run()
    return sim, n1


def _incarnations(sim: Simulation, n1: Node) -> dict[str, int]:
    return {c: n1.incarnation(n1.ref("n1", f"/user/sup/{c}")) for c in "abc"}


@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [("one_for_one", {"b"}), ("one_for_all", {"a", "b", "c"}), ("rest_for_one", {"b", "c"})],
)
def test_strategies_restart_the_documented_children(strategy: str, restarted: set[str]) -> None:
    sim, n1 = _sup_with_three(strategy)
    before = _incarnations(sim, n1)
    EVENTS.clear()
    with pytest.raises(ActorCrashed):
        ask(sim, n1, n1.ref("n1", "/user/sup/b"), Req(-1))
    sim.run()
    after = _incarnations(sim, n1)
    assert {c for c in "abc" if after[c] != before[c]} == restarted
    assert all(after[c] for c in "abc")
    # stopped in reverse start order, restarted in start order
    stops = [n for e, n in EVENTS if e == "stop"]
    starts = [n for e, n in EVENTS if e == "start"]
    assert stops[0] == "b"  # the crashed child's on_stop ran first
    assert stops[1:] == sorted(restarted - {"b"}, reverse=True)
    assert starts == sorted(restarted)


@pytest.mark.parametrize(
    ("restart", "how", "restarted"),
    [("permanent", -4, True), ("transient", -4, False), ("transient", -1, True),
     ("temporary", -1, False)],
)
def test_restart_types(restart: str, how: int, restarted: bool) -> None:
    sim, n1 = _sup_with_three("one_for_one", restart)
    ref = n1.ref("n1", "/user/sup/a")
    n1.tell(ref, Req(how))
    sim.run()
    assert n1.is_alive(ref) is restarted
    children = sim.run_until_complete(which_children(n1.ref("n1", "/user/sup")))
    ids = [cid for cid, _ in children]
    assert ("a" in ids) is (restart != "temporary")


def test_exceeding_intensity_escalates_to_the_parent() -> None:
    sim, (n1,) = world()
    inner = supervisor_spec("inner", [ChildSpec("w", Recorder, ("w",))],
                            flags=SupervisorFlags(intensity=1, period_ms=5_000))
    n1.spawn(Supervisor, SupervisorFlags(intensity=5), [inner], name="top")
    sim.run()
    inner_ref = n1.ref("n1", "/user/top/inner")
    w = n1.ref("n1", "/user/top/inner/w")
    inner_uid = n1.incarnation(inner_ref)
    n1.tell(w, Req(-1))
    sim.run()
    assert n1.incarnation(inner_ref) == inner_uid  # one restart is within budget
    n1.tell(w, Req(-1))
    sim.run()
    # the second crash within 5 s exceeds intensity 1: inner gives up, top restarts it
    assert n1.incarnation(inner_ref) not in (0, inner_uid)
    assert n1.is_alive(w)
    assert ESCALATION_REASON.startswith("shutdown")


def test_top_supervisor_dies_when_its_budget_is_spent() -> None:
    sim, (n1,) = world()
    sup = n1.spawn(Supervisor, SupervisorFlags(intensity=0), [ChildSpec("w", Recorder, ("w",))])
    sim.run()
    n1.tell(n1.ref("n1", sup.path + "/w"), Req(-1))
    sim.run()
    assert not n1.is_alive(sup)
    assert n1.actor_count() == 0


def test_backoff_delays_the_restart() -> None:
    sim, (n1,) = world()
    n1.spawn(Supervisor, SupervisorFlags(intensity=5, backoff_ms_base=200),
             [ChildSpec("w", Recorder, ("w",))], name="sup")
    sim.run()
    w = n1.ref("n1", "/user/sup/w")
    t0 = sim.now_ns()
    n1.tell(w, Req(-1))
    sim.run(until=lambda: ("stop", "w") in EVENTS)
    sim.run(for_ms=100)
    assert not n1.is_alive(w)
    sim.run()
    assert n1.is_alive(w)
    assert sim.now_ns() - t0 >= 200_000_000


def test_children_start_in_order_and_stop_in_reverse_with_a_kill_after_timeout() -> None:
    sim, (n1,) = world()
    specs = [ChildSpec("a", Recorder, ("a",)),
             ChildSpec("b", Recorder, ("b",), kwargs={"stop_delay_ms": 60_000}, shutdown_ms=500),
             ChildSpec("c", Recorder, ("c",))]
    sup = n1.spawn(Supervisor, SupervisorFlags(), specs)
    sim.run()
    assert EVENTS == [("start", "a"), ("start", "b"), ("start", "c")]
    t0 = sim.now_ns()
    reason = sim.run_until_complete(n1.stop(sup))
    assert reason == "shutdown"
    # b's on_stop never finished: killed after 500 ms, without its stop event
    assert EVENTS[3:] == [("stop", "c"), ("stop", "a")]
    assert 0.5 <= (sim.now_ns() - t0) / 1e9 < 1.0
    assert n1.actor_count() == 0


def test_a_child_that_fails_to_start_fails_the_supervisor_start() -> None:
    sim, (n1,) = world()
    sup = n1.spawn(Supervisor, SupervisorFlags(),
                   [ChildSpec("a", Recorder, ("a",)),
                    ChildSpec("b", Recorder, ("b",), kwargs={"fail_start": True}),
                    ChildSpec("c", Recorder, ("c",))])
    sim.run()
    assert not n1.is_alive(sup)
    assert ("start", "c") not in EVENTS and ("stop", "a") in EVENTS


def test_dynamic_children() -> None:
    sim, (n1,) = world()
    sup = n1.spawn(Supervisor, SupervisorFlags(intensity=3), [], name="pool")
    sim.run()
    ref = sim.run_until_complete(start_child(sup, ChildSpec("w1", Recorder, ("w1",))))
    assert ask(sim, n1, ref, Req(0)).text == "w1"
    with pytest.raises(ValueError):
        sim.run_until_complete(start_child(sup, ChildSpec("w1", Recorder, ("w1",))))
    n1.tell(ref, Req(-1))
    sim.run()
    assert n1.is_alive(ref)  # dynamic children are supervised like static ones
    sim.run_until_complete(terminate_child(sup, "w1"))
    assert not n1.is_alive(ref)
    assert sim.run_until_complete(which_children(sup)) == [("w1", None)]


def test_watch_delivers_down_also_for_an_already_dead_actor() -> None:
    sim, (n1, n2) = world(nodes=2)
    echo = n1.spawn(Echo, name="echo")
    local_w = n1.spawn(Watcher)
    remote_w = n2.spawn(Watcher)
    n1.tell(local_w, Req(0, "n1|/user/echo"))
    n2.tell(remote_w, Req(0, "n1|/user/echo"))
    sim.run()
    n1.tell(echo, Req(-3))  # stops normally
    sim.run()
    assert ask(sim, n1, local_w, Req(1)) == Resp(1, "normal")
    assert ask(sim, n2, remote_w, Req(1)) == Resp(1, "normal")
    # watching after the death: Down("noproc"), locally and remotely
    n1.tell(local_w, Req(0, "n1|/user/echo"))
    n2.tell(remote_w, Req(0, "n1|/user/gone"))
    sim.run()
    assert ask(sim, n1, local_w, Req(1)) == Resp(2, "normal;noproc")
    assert ask(sim, n2, remote_w, Req(1)) == Resp(2, "normal;noproc")


def test_crash_reason_reaches_watchers() -> None:
    sim, (n1,) = world()
    echo = n1.spawn(Echo)
    w = n1.spawn(Watcher)
    n1.tell(w, Req(0, f"n1|{echo.path}"))
    sim.run()
    n1.tell(echo, Req(-1))
    sim.run()
    assert ask(sim, n1, w, Req(1)).text.startswith("error:RuntimeError")


def test_local_senders_get_backpressure_when_the_mailbox_is_full() -> None:
    sim, (n1,) = world()
    slow = n1.spawn(Slow, 10.0, mailbox_depth_max=2)
    sim.run()
    for _ in range(3):  # one in the handler, two in the mailbox
        slow.tell_nowait(Req(1))
        sim.step()
    with pytest.raises(MailboxFull):
        slow.tell_nowait(Req(1))
    waiting = n1.tell(slow, Req(2))
    assert not waiting.done()
    sim.run(until=waiting.done)
    assert waiting.done() and n1.mailbox_depth(slow) == 2
    sim.run()
    assert ask(sim, n1, slow, Req(0)).n == 5  # nothing was lost


@pytest.mark.parametrize("policy", ["reject", "dead_letter"])
def test_remote_senders_are_rejected_or_dead_lettered(policy: str) -> None:
    sim, (n1, n2) = world(nodes=2)
    n1.spawn(Slow, 50.0, mailbox_depth_max=1, overflow=policy, name="slow")
    sim.run()
    remote = n2.ref("n1", "/user/slow")
    futures = [n2.ask(remote, Req(i), timeout_ms=1_000) for i in range(6)]
    sim.run()
    errors = [f.exception() for f in futures]
    ok = [e for e in errors if e is None]
    failed = [e for e in errors if e is not None]
    # all six arrive at once: one or two fit (mailbox of 1, maybe one in the handler)
    assert 1 <= len(ok) <= 2 and len(failed) >= 4
    expected = MailboxFull if policy == "reject" else AskTimeout
    assert all(isinstance(e, expected) for e in failed)
    assert n1.stats["rejected"] == len(failed)
    assert sum(d.reason == "mailbox_full" for d in n1.dead_letters()) == len(failed)


def test_registry_forgets_dead_actors() -> None:
    sim, (n1,) = world()
    echo = n1.spawn(Echo)
    n1.register("echo", echo)
    assert n1.whereis("echo") == echo
    with pytest.raises(ValueError):
        n1.register("echo", n1.spawn(Echo))
    n1.tell(echo, Req(-3))
    sim.run()
    assert n1.whereis("echo") is None
    n1.register("echo", n1.spawn(Echo))  # the name is free again
    sim.run()


def test_stash_defers_messages_and_unstash_keeps_their_order() -> None:
    sim, (n1,) = world()
    s = n1.spawn(Stasher)
    futures = [n1.ask(s, Req(i)) for i in (1, 2, 3)]
    sim.run(for_ms=10)
    assert not any(f.done() for f in futures)
    assert ask(sim, n1, s, Req(0, "open")) == Resp(0, "opened")
    sim.run()
    assert [f.result() for f in futures] == [Resp(1, "1"), Resp(2, "1,2"), Resp(3, "1,2,3")]


def test_repeating_timers_tick_in_virtual_time_and_cancel() -> None:
    sim, (n1,) = world()
    t = n1.spawn(Ticker)
    ask(sim, n1, t, Req(100, "start"))
    sim.run(for_ms=1_050)
    assert ask(sim, n1, t, Req(0, "?")).n == 10
    ask(sim, n1, t, Req(0, "cancel"))
    sim.run(for_ms=1_000)
    assert ask(sim, n1, t, Req(0, "?")).n == 10


def test_malformed_frames_are_rejected_and_the_receiver_survives() -> None:
    sim, (n1,) = world()
    echo = n1.spawn(Echo, name="echo")
    for junk in (b"", b"\x00" * 7, b"\xff" * 64, b"\x00\x00\x00\x00\x02\x00\x00\x00" + b"\x01" * 24):
        n1.receive_frame(junk)
    assert n1.stats["malformed"] == 4
    assert all(d.reason.startswith("malformed") for d in n1.dead_letters())
    assert ask(sim, n1, echo, Req(9)) == Resp(9, "")


def test_awaiting_a_foreign_awaitable_crashes_with_a_clear_error() -> None:
    import asyncio

    from focusflow.supervisor import Actor

    class Bad(Actor):
        async def receive(self, msg: Any) -> Any:
            await asyncio.sleep(0)
            return None

    sim, (n1,) = world()
    bad = n1.spawn(Bad)
    with pytest.raises(ActorCrashed, match="may only await"):
        ask(sim, n1, bad, Req(1))
    sim.run()
    assert not n1.is_alive(bad)


def test_supervisor_tree_from_toml() -> None:
    sim, (n1,) = world()
    spec = tree_from_toml("""
        [supervisor]
        id = "root"
        strategy = "rest_for_one"
        intensity = 2
        [[supervisor.children]]
        id = "a"
        start = "tests.supervisor.actors:Recorder"
        args = ["a"]
        [[supervisor.children]]
        id = "inner"
        strategy = "one_for_all"
        children = [ { id = "b", start = "tests.supervisor.actors:Recorder", args = ["b"], restart = "transient" } ]
    """)
    root = n1.spawn_spec(spec)
    sim.run()
    assert root.path == "/user/root"
    assert EVENTS == [("start", "a"), ("start", "b")]
    assert ask(sim, n1, n1.ref("n1", "/user/root/inner/b"), Req(0)).text == "b"
    with pytest.raises(ValueError):
        tree_from_toml("[supervisor]\nbogus = 1\n")


def test_spawn_with_a_name_registers_it_until_the_actor_dies() -> None:
    sim = Simulation(11)
    n1 = sim.add_node("n1")
    echo = n1.spawn(Echo, name="echo")
    assert n1.whereis("echo") == echo
    anonymous = n1.spawn(Echo)
    assert n1.whereis(anonymous.path.rsplit("/", 1)[1]) is None  # only names are registered
    with pytest.raises(ValueError, match="already"):
        n1.spawn(Echo, name="echo")
    n1.stop(echo)
    sim.run(for_ms=10)
    assert n1.whereis("echo") is None
    n1.register("taken", n1.spawn(Echo))
    with pytest.raises(ValueError, match="already registered"):
        n1.spawn(Echo, name="taken")  # a name registered to another live actor
    assert n1.whereis("taken") is not None and n1.paths().count("/user/taken") == 0


def test_incarnations_are_counted_per_actor_and_down_carries_them() -> None:
    sim = Simulation(12)
    n1 = sim.add_node("n1")
    sup = n1.spawn(Supervisor, SupervisorFlags(strategy="one_for_one", intensity=5),
                   [ChildSpec("a", Recorder, ("a",)), ChildSpec("b", Recorder, ("b",))],
                   name="sup")
    sim.run(for_ms=10)
    a, b = n1.ref("n1", "/user/sup/a"), n1.ref("n1", "/user/sup/b")
    assert (n1.incarnation(sup), n1.incarnation(a), n1.incarnation(b)) == (1, 1, 1)
    watcher = n1.spawn(Watcher)
    sim.run_until_complete(watcher.ask(Req(0, "n1|/user/sup/a")))
    for expected in (2, 3):
        n1.tell(a, Req(-1))  # crashes; the supervisor restarts it at the same path
        sim.run(for_ms=50)
        assert n1.incarnation(a) == expected and n1.incarnation(b) == 1
    assert sim.run_until_complete(a.ask(Req(5))) == Resp(3, "a")  # ctx.incarnation
    watching = n1.actor_of(watcher)
    assert isinstance(watching, Watcher)
    assert [d.incarnation for d in watching.downs] == [1]  # the watched incarnation ended
    assert n1.incarnation(n1.spawn(Echo)) == 1
    assert n1.incarnation(n1.ref("n1", "/user/nobody")) == 0


class _Saver(Actor):
    async def receive(self, msg: Any) -> Any:
        await self.ctx.storage.write(f"k/{msg.n}", msg.text.encode())
        if msg.n % 2 == 0:
            await self.ctx.storage.sync()
        return None


def test_a_simulated_nodes_disk_is_public_and_survives_a_crash() -> None:
    sim = Simulation(13)
    n1 = sim.add_node("n1")
    saver = n1.spawn(_Saver)
    sim.run_until_complete(saver.ask(Req(1, "unsynced")))
    sim.run_until_complete(saver.ask(Req(2, "synced")))  # the sync covers k/1 too
    sim.run_until_complete(saver.ask(Req(3, "lost")))
    disk = sim.disk("n1")
    assert disk.keys("k/") == ["k/1", "k/2", "k/3"]
    sim.crash_node("n1")
    assert sim.disk("n1") is disk and disk.keys("k/") == ["k/1", "k/2"]
    assert disk.read("k/2").result() == b"synced"
    with pytest.raises(KeyError, match="no node 'n9'"):
        sim.disk("n9")
