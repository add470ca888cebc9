"""The simulated world: virtual time, network faults, disk durability, node crashes,
invariant and step hooks."""

from __future__ import annotations

from typing import Any

import pytest

from focusflow.sim import InvariantViolation, LinkConfig, Simulation
from focusflow.supervisor import Actor, AskTimeout, Node
from tests.supervisor.actors import Echo
from tests.wire.msgs import Req, Resp


def _two(seed: int = 1, **link: Any) -> tuple[Simulation, Node, Node]:
    sim = Simulation(seed, link=LinkConfig(**link))
    n1, n2 = sim.add_node("a"), sim.add_node("b")
    n1.spawn(Echo, name="echo")
    return sim, n1, n2


def _ask(sim: Simulation, node: Node, msg: Any, timeout_ms: int = 1_000) -> Any:
    return sim.run_until_complete(node.ask(node.ref("a", "/user/echo"), msg,
                                           timeout_ms=timeout_ms))


def test_latency_is_virtual_time_and_costs_no_wall_time() -> None:
    sim, _, n2 = _two(latency_ms=250.0)
    assert _ask(sim, n2, Req(1)) == Resp(1, "")
    assert sim.virtual_seconds == pytest.approx(0.5)  # there and back
    assert sim.wall_seconds < 5


def test_jitter_stays_within_bounds_and_links_stay_fifo() -> None:
    sim, _n1, n2 = _two(latency_ms=10.0, jitter_ms=5.0)
    futures = [n2.ask(n2.ref("a", "/user/echo"), Req(i)) for i in range(50)]
    sim.run()
    assert [f.result().n for f in futures] == list(range(50))
    assert 0.005 * 2 <= sim.virtual_seconds <= 0.015 * 2 + 0.001


def test_loss_drops_messages_and_asks_time_out() -> None:
    sim, _, n2 = _two(loss=1.0)
    with pytest.raises(AskTimeout):
        _ask(sim, n2, Req(1), timeout_ms=100)
    assert sim.network.stats["lost"] == 1


def test_duplication_delivers_twice() -> None:
    sim, n1, n2 = _two(duplicate=1.0)
    n2.tell(n2.ref("a", "/user/echo"), Req(1))
    sim.run()
    assert n1.stats["delivered"] == 2 and sim.network.stats["duplicated"] == 1


def test_reordering_lets_messages_overtake() -> None:
    sim = Simulation(3, link=LinkConfig(latency_ms=10.0, jitter_ms=9.0, reorder=1.0))
    got: list[int] = []

    class Collect(Actor):
        async def receive(self, msg: Any) -> Any:
            got.append(msg.n)

    a = sim.add_node("a")
    b = sim.add_node("b")
    a.spawn(Collect, name="c")
    for i in range(30):
        b.tell(b.ref("a", "/user/c"), Req(i))
    sim.run()
    assert sorted(got) == list(range(30)) and got != list(range(30))


def test_partition_and_heal() -> None:
    sim, _, n2 = _two()
    sim.network.partition(["a"], ["b"])
    assert not sim.network.reachable("a", "b")
    with pytest.raises(AskTimeout):
        _ask(sim, n2, Req(1), timeout_ms=100)
    sim.network.heal()
    assert _ask(sim, n2, Req(2)) == Resp(2, "")
    assert sim.network.stats["partitioned"] == 1


def test_per_link_configuration_is_directional_when_asked() -> None:
    sim, _, n2 = _two(latency_ms=1.0)
    sim.network.set_link("b", "a", latency_ms=100.0, symmetric=False)
    _ask(sim, n2, Req(1))
    assert sim.virtual_seconds == pytest.approx(0.101)


class Writer(Actor):
    """Writes Req.n under key Req.text; syncs when Req.n is negative."""

    async def receive(self, msg: Any) -> Any:
        if msg.n < 0:
            await self.ctx.storage.sync()
        else:
            await self.ctx.storage.write(msg.text, str(msg.n).encode())
        return Resp(len(self.ctx.storage.keys()), "")


def test_a_node_crash_loses_unsynced_writes_and_restart_boots_again() -> None:
    sim = Simulation(1)
    boots: list[int] = []

    def boot(node: Node) -> None:
        boots.append(1)
        node.spawn(Writer, name="w")

    a = sim.add_node("a", boot=boot)
    w = a.ref("a", "/user/w")
    sim.run_until_complete(a.ask(w, Req(1, "k1")))
    sim.run_until_complete(a.ask(w, Req(-1)))  # sync
    sim.run_until_complete(a.ask(w, Req(2, "k2")))  # not synced
    disk = a.runtime.storage()
    assert disk.keys() == ["k1", "k2"]
    sim.crash_node("a")
    assert not sim.is_up("a")
    with pytest.raises(KeyError):
        sim.node("a")
    a2 = sim.restart_node("a")
    assert a2 is not a and len(boots) == 2
    assert a2.runtime.storage().keys() == ["k1"]
    assert sim.run_until_complete(a2.ask(a2.ref("a", "/user/w"), Req(3, "k3"))).n == 2


def test_frames_to_a_crashed_node_are_dropped() -> None:
    sim, _n1, n2 = _two()
    sim.crash_node("a")
    n2.tell(n2.ref("a", "/user/echo"), Req(1))
    sim.run()
    assert sim.network.stats["to_dead_node"] == 1


def test_invariants_are_checked_after_every_step_and_can_stop_the_run() -> None:
    sim, n1, n2 = _two()
    seen: list[int] = []
    sim.add_invariant("counts", lambda: seen.append(sim.events) is None)
    sim.add_invariant("few_deliveries", lambda: n1.stats["delivered"] < 3)
    for i in range(5):
        n2.tell(n2.ref("a", "/user/echo"), Req(i))
    sim.run()
    assert seen == list(range(1, sim.events + 1))
    assert sim.invariant_results == {"counts": True, "few_deliveries": False}
    assert sim.violations[0][0] == "few_deliveries"

    sim2, m1, m2 = _two()
    sim2.stop_on_violation = True
    sim2.add_invariant("never", lambda: m1.stats["delivered"] == 0)
    m2.tell(m2.ref("a", "/user/echo"), Req(1))
    with pytest.raises(InvariantViolation, match="seed 1"):
        sim2.run()


def test_step_hooks_and_scheduled_faults_run_in_virtual_time() -> None:
    sim, _n1, _n2 = _two()
    steps: list[int] = []
    sim.add_step_hook(lambda s: steps.append(s.events))
    sim.call_later(500, lambda: sim.network.isolate("a"))
    sim.run(for_ms=400)
    assert sim.network.reachable("a", "b")
    sim.run(for_ms=200)
    assert not sim.network.reachable("a", "b")
    assert steps == list(range(1, sim.events + 1))
    assert sim.virtual_seconds == pytest.approx(0.6)


def test_the_seed_picks_the_interleaving() -> None:
    def order(seed: int) -> list[str]:
        sim = Simulation(seed)
        log: list[str] = []

        class Tag(Actor):
            def __init__(self, tag: str) -> None:
                self.tag = tag

            async def receive(self, msg: Any) -> Any:
                log.append(self.tag)

        node = sim.add_node("n")
        refs = [node.spawn(Tag, t) for t in "abcdef"]
        sim.run()
        for ref in refs:
            node.tell(ref, Req(0))
        sim.run()
        return log

    orders = {tuple(order(seed)) for seed in range(8)}
    assert len(orders) > 3
    assert order(5) == order(5)


def _watch_setup(node_down_ms: float | None = 1_000.0) -> tuple[Simulation, Node, Node, Any]:
    from tests.supervisor.actors import Watcher

    sim = Simulation(1, node_down_ms=node_down_ms)
    a, b = sim.add_node("a"), sim.add_node("b")
    a.spawn(Echo, name="echo")
    w = b.spawn(Watcher, name="w")
    sim.run_until_complete(b.ask(w, Req(0, "a|/user/echo")))
    sim.run(for_ms=10)
    return sim, a, b, w


def test_watchers_on_other_nodes_learn_of_a_crash_after_node_down_ms() -> None:
    sim, _a, b, w = _watch_setup()
    sim.crash_node("a")
    sim.run(for_ms=900)
    assert sim.run_until_complete(b.ask(w, Req(1))).n == 0
    sim.run(for_ms=200)
    assert sim.run_until_complete(b.ask(w, Req(1))) == Resp(1, "noconnection")


def test_without_node_down_detection_nobody_is_told() -> None:
    sim, _a, b, w = _watch_setup(node_down_ms=None)
    sim.crash_node("a")
    sim.run(for_ms=5_000)
    assert sim.run_until_complete(b.ask(w, Req(1))).n == 0


def test_a_partition_longer_than_node_down_ms_fires_down_a_short_one_does_not() -> None:
    sim, a, b, w = _watch_setup()
    sim.network.partition(["a"], ["b"])
    sim.run(for_ms=500)
    sim.network.heal()
    sim.run(for_ms=1_000)
    assert sim.run_until_complete(b.ask(w, Req(1))).n == 0  # healed in time: watch kept
    a.tell(a.ref("a", "/user/echo"), Req(-3))  # the watched actor stops normally
    sim.run(for_ms=100)
    assert sim.run_until_complete(b.ask(w, Req(1))) == Resp(1, "normal")

    sim, a, b, w = _watch_setup()
    sim.network.partition(["a"], ["b"])
    sim.run(for_ms=1_100)
    sim.network.heal()
    assert sim.run_until_complete(b.ask(w, Req(1))) == Resp(1, "noconnection")
    a.tell(a.ref("a", "/user/echo"), Req(-3))
    sim.run(for_ms=100)
    assert sim.run_until_complete(b.ask(w, Req(1))).n == 1  # the watch was consumed


def test_blocking_work_runs_inline_in_the_simulator() -> None:
    from tests.supervisor.test_live_runtime import Hasher

    sim = Simulation(1)
    n = sim.add_node("n")
    answer = sim.run_until_complete(n.ask(n.spawn(Hasher), Req(0, "xy")))
    assert answer.n == 2000 and sim.virtual_seconds == 0


def test_a_watch_consumed_by_a_partition_frees_its_place_in_the_peers_table() -> None:
    """The watched node's door counts remote watches per peer (bounded): one dropped by
    node-down detection must leave that count too, or partitions fill it up."""
    sim, a, b, w = _watch_setup()
    assert a.gate.watches == {"b": {("/user/echo", w.path)}}
    sim.network.partition(["a"], ["b"])
    sim.run(for_ms=1_100)
    sim.network.heal()
    assert sim.run_until_complete(b.ask(w, Req(1))) == Resp(1, "noconnection")
    assert a.gate.watches == {} and not a._cells["/user/echo"].watchers


def test_the_fifo_scheduler_runs_steps_in_the_order_they_became_runnable() -> None:
    def order(scheduler: str) -> list[int]:
        sim = Simulation(3, scheduler=scheduler)
        seen: list[int] = []
        for i in range(20):
            sim.call_at(0, lambda i=i: seen.append(i))
        sim.run()
        return seen

    assert order("fifo") == list(range(20))  # the live runtime's order
    assert sorted(order("seeded")) == list(range(20)) != order("seeded")
    with pytest.raises(ValueError, match="scheduler"):
        Simulation(3, scheduler="lifo")
