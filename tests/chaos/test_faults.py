"""Every fault kind does what it says to a simulated world, and undoes it when timed."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from focusflow.chaos import points
from focusflow.chaos.campaign import build_run, execute, run_seed
from focusflow.chaos.faults import (
    ClockSkew,
    Corrupt,
    CrashNode,
    Delay,
    DiskFull,
    Drop,
    Duplicate,
    FsyncFail,
    Gpu,
    Heal,
    Isolate,
    KillActor,
    Partition,
    Reorder,
    fault_from_dict,
    fault_kinds,
)
from focusflow.chaos.plan import FaultPlan
from focusflow.chaos.quorum import REPLICA_PATH
from focusflow.chaos.world import ChaosWorld
from focusflow.sim import Simulation

QUORUM = FaultPlan(duration_ms=600)


def _world(seed: int = 1) -> ChaosWorld:
    run = build_run(seed, QUORUM, faults=[])
    return run.world


def test_crash_node_loses_unsynced_writes_and_restarts_later() -> None:
    world = _world()
    sim = world.sim
    disk = sim.disk("n2")
    disk.write("durable", b"1")
    disk.sync()
    disk.write("volatile", b"2")
    world.inject(CrashNode(node="n2", restart_after_ms=50))
    assert not sim.is_up("n2")
    assert disk.read("volatile").result() is None and disk.read("durable").result() == b"1"
    sim.run(for_ms=60)
    assert sim.is_up("n2") and sim.statistics()["nodes"]["n2"]["generation"] == 2
    world.inject(CrashNode(node="n2"))
    world.inject(CrashNode(node="n2"))  # already down: skipped, not counted
    assert world.faults_injected == 2 and world.skipped[0]["skipped"] == "node already down"


def test_kill_actor_is_restarted_by_its_supervisor() -> None:
    world = _world()
    sim = world.sim
    sim.run(for_ms=10)
    node = sim.node("n1")
    ref = node.ref("n1", REPLICA_PATH)
    before = node.incarnation(ref)
    world.inject(KillActor(node="n1", path=REPLICA_PATH))
    sim.run(for_ms=10)
    assert node.is_alive(ref) and node.incarnation(ref) not in (0, before)


def test_partition_isolate_and_heal() -> None:
    world = _world()
    net = world.sim.network
    world.inject(Partition(groups=(("n0", "n1"),), heal_after_ms=100))
    assert not net.reachable("n0", "n2") and net.reachable("n2", "n3")
    world.sim.run(for_ms=101)
    assert net.reachable("n0", "n2")
    world.inject(Isolate(node="n3"))
    assert not net.reachable("n3", "n0") and net.reachable("n0", "n1")
    world.inject(Heal())
    assert net.reachable("n3", "n0")


@pytest.mark.parametrize("fault,field,value", [
    (Drop(p=1.0, for_ms=100), "loss", 1.0),
    (Duplicate(p=0.5, for_ms=100), "duplicate", 0.5),
    (Reorder(p=0.3, for_ms=100), "reorder", 0.3),
    (Delay(latency_ms=250.0, for_ms=100), "latency_ms", 250.0),
])
def test_message_faults_change_links_then_revert(fault: Any, field: str, value: float) -> None:
    world = _world()
    net = world.sim.network
    before = getattr(net.default, field)
    world.inject(fault)
    assert getattr(net.link("n0", "n1"), field) == value
    world.sim.run(for_ms=101)
    assert getattr(net.link("n0", "n1"), field) == before


def test_drop_on_one_link_loses_only_that_links_messages() -> None:
    world = _world()
    sim = world.sim
    world.inject(Drop(p=1.0, src="n0", dst="n1"))
    assert sim.network.link("n0", "n1").loss == 1.0 and sim.network.link("n1", "n0").loss == 0
    sim.run(for_ms=300)
    assert sim.network.stats["lost"] > 0


def test_corrupt_frames_are_rejected_as_malformed_not_crashing_nodes() -> None:
    world = _world()
    sim = world.sim
    world.inject(Corrupt(p=1.0, src="n0", for_ms=300))
    sim.run(for_ms=400)
    nodes = sim.statistics()["nodes"]
    assert sum(n["malformed"] for n in nodes.values()) > 0
    assert all(n["alive"] for n in nodes.values())
    assert sim.network.tamper is None  # removed after for_ms


def test_clock_skew_moves_a_node_clock_forward_only() -> None:
    world = _world()
    sim = world.sim
    world.inject(ClockSkew(node="n1", skew_ms=250.0))
    assert sim.node("n1").runtime.now_ns() - sim.now_ns() == 250_000_000
    assert sim.node("n0").runtime.now_ns() == sim.now_ns()
    with pytest.raises(AssertionError):
        sim.set_clock_skew("n1", 10.0)  # a monotonic clock never goes back


def test_disk_full_and_failed_fsync_then_recovery() -> None:
    world = _world()
    disk = world.sim.disk("n0")
    world.inject(DiskFull(node="n0", for_ms=50))
    with pytest.raises(OSError) as info:
        disk.write("k", b"v")
    assert info.value.errno == errno.ENOSPC
    world.inject(FsyncFail(node="n0", for_ms=50))
    world.sim.run(for_ms=60)
    disk.write("k", b"v")
    world.inject(FsyncFail(node="n0"))
    exc = disk.sync().exception()
    assert isinstance(exc, OSError) and exc.errno == errno.EIO
    disk.crash(world.rng)
    assert disk.read("k").result() is None  # the failed fsync did not make it durable


def test_gpu_fault_makes_accelerated_code_fall_back_to_cpu() -> None:
    world = _world()
    assert points.accelerated(lambda: "gpu", lambda: "cpu") == "gpu"  # no run active
    previous = points.activate(world.points)
    try:
        world.inject(Gpu(mode="fail", for_ms=10))
        assert points.device_mode() == "fail"
        assert points.accelerated(lambda: "gpu", lambda: "cpu") == "cpu"
        assert world.points.device_fallbacks == 1
        world.sim.run(for_ms=11)
        assert points.accelerated(lambda: "gpu", lambda: "cpu") == "gpu"
        assert points.device_delay_ms() == 0.0
        world.inject(Gpu(mode="slow", slow_ms=40.0, for_ms=10))
        assert points.device_delay_ms() == 40.0  # an actor sleeps this long per call
        assert points.accelerated(lambda: "gpu", lambda: "cpu") == "gpu"
        world.sim.run(for_ms=11)
        assert points.device_delay_ms() == 0.0
    finally:
        points.activate(previous)
    assert points.device_delay_ms() == 0.0


@pytest.mark.parametrize("behaviour", ["quorum.equivocate", "quorum.double_vote",
                                       "quorum.withhold"])
def test_correct_quorum_tolerates_one_byzantine_replica(behaviour: str) -> None:
    """f = 1: one Byzantine replica, even under a partition, cannot break agreement."""
    for seed in (1, 2, 3):
        faults = [fault_from_dict({"kind": "byzantine", "at_ms": 0.0, "node": "n3",
                                   "behaviour": behaviour}),
                  fault_from_dict({"kind": "partition", "at_ms": 300.0,
                                   "groups": [["n0", "n3"]], "heal_after_ms": 500.0})]
        result, _ = run_seed(seed, FaultPlan(duration_ms=1_500).with_faults(faults))
        assert result["ok"], (behaviour, seed, result["violations"])
        assert result["faults_injected"] == 2


def test_equivocation_breaks_the_buggy_quorum() -> None:
    """The planted bug is reachable by a Byzantine leader alone, without any partition."""
    faults = [fault_from_dict({"kind": "byzantine", "at_ms": 0.0, "node": "n3",
                               "behaviour": "quorum.equivocate"})]
    plan = FaultPlan(duration_ms=1_500, options={"bug": "quorum_off_by_one"})
    bad = [s for s in range(1, 6) if not run_seed(s, plan.with_faults(faults))[0]["ok"]]
    assert bad


def test_every_kind_round_trips_through_its_dict_form() -> None:
    world = _world()
    import random

    rng = random.Random(5)
    for name, cls in fault_kinds().items():
        try:
            fault = cls.random(rng, world, 100.0)
        except NotImplementedError:
            continue
        assert fault.kind == name
        assert fault_from_dict(fault.to_dict()) == fault


def test_unknown_kinds_and_fields_are_the_plan_authors_fault() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fault_from_dict({"kind": "meteor"})
    with pytest.raises(ValueError, match="no field"):
        fault_from_dict({"kind": "heal", "node": "n0"})


def test_fault_injections_are_part_of_the_trace() -> None:
    run_a = build_run(3, QUORUM, faults=[Partition(at_ms=100.0, groups=(("n0",),))])
    run_b = build_run(3, QUORUM, faults=[Partition(at_ms=100.0, groups=(("n1",),))])
    for run in (run_a, run_b):
        execute(run)
    assert run_a.sim.trace_hash() != run_b.sim.trace_hash()
    assert isinstance(run_a.sim, Simulation)


def test_gpu_fault_sends_a_real_focus_solve_to_the_cpu_path() -> None:
    """The accelerator hook around the kernels: an injected GPU failure (or a missing
    GPU backend) falls back to the CPU solver, whose π matches the float64 reference."""
    import numpy as np

    from focusflow.kernels import GraphStore, focus, reference_focus, weights_from_edges

    rng = np.random.default_rng(3)
    src, dst = rng.integers(0, 50, 400), rng.integers(0, 50, 400)
    store = GraphStore.from_edges(src, dst, n=50)
    used: list[str] = []

    def gpu() -> np.ndarray:
        used.append("gpu")
        return focus(store, backend="cuda").pi

    def cpu() -> np.ndarray:
        used.append("cpu")
        return focus(store, backend="cpu").pi

    world = _world()
    previous = points.activate(world.points)
    try:
        world.inject(Gpu(mode="fail"))
        pi = points.accelerated(gpu, cpu)
    finally:
        points.activate(previous)
    assert used == ["cpu"]  # the injected failure skipped the device path entirely
    want = reference_focus(50, weights_from_edges(src, dst, np.ones(400)))
    assert np.abs(pi - want).sum() < 1e-4
