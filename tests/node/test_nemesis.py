"""Jepsen-style nemeses on a live 4-validator devnet (issue 16): each nemesis, within
tolerance (f = 1 at any time), is followed by a heal, after which no committed block may be
lost or changed (every node's digests before vs after, and a killed node's durable block
log read while it is down) and the finalized height must grow past the tip within 10 s.

Each case runs on a fresh devnet under a light transaction load
(``focusflow.topology.nemesis``); the partition runs the devnet in network namespaces
(root and ``ip netns``, as in CI; skipped otherwise). A longer randomized run of the same
nemeses on one devnet is ``benchmarks/nemesis.py --seed S --count N``.

The full restart of all four validators was issue 16's finding 1 ("a restart of all
validators never makes another block"): its safety and its progress must pass, whoever
had signed the last unlogged block (the mixed case needs adoption: ``node/catchup.py``;
its deterministic test is ``test_sim_validator_storage.py``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from focusflow.topology.devnet import Devnet
from focusflow.topology.nemesis import Load, Nemesis, Outcome
from focusflow.topology.netns import Fabric
from tests.support import netns_fabric

pytestmark = pytest.mark.timeout(150)
N = 4


def run_nemesis(root: Path, name: str, *, fabric: Fabric | None = None,
                seed: int = 16) -> Outcome:
    """A fresh devnet (in ``fabric`` when given), ``name`` once under load, then stop."""
    return run_nemeses(root, [(name, None)], fabric=fabric, seed=seed)[0]


def run_nemeses(root: Path, plan: list[tuple[str, list[int] | None]], *,
                fabric: Fabric | None = None, seed: int = 16) -> list[Outcome]:
    """A fresh devnet (in ``fabric`` when given), each (nemesis, victims) of ``plan`` in
    turn under load, then stop."""
    net = Devnet(root, validators=N, leader_timeout_ms=500,
                 hosts=[fabric.host(i) for i in range(N)] if fabric else None,
                 prefixes=[fabric.prefix(i) for i in range(N)] if fabric else None)
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        nemesis = Nemesis(net, rng=random.Random(seed), fabric=fabric, settle_s=40.0)
        with Load(net, seed=seed):
            return [nemesis.run(name, victims) for name, victims in plan]
    finally:
        for i in net.alive():
            net.resume(i)  # harmless when running; a paused node would not stop
        net.stop()


@pytest.mark.parametrize("name", ["kill9", "pause"])
def test_nemesis_within_tolerance_loses_nothing_and_progresses(tmp_path: Path, name: str) -> None:
    out = run_nemesis(tmp_path, name)
    assert out.ok, out.describe()
    assert out.progress_s is not None and out.progress_s <= 10.0
    assert out.heights_checked > out.tip_before > 0  # the chain grew past the pre-fault tip


@pytest.fixture(scope="module")
def restart_while_down(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One run of restart_while_down shared by its three tests (one devnet, not three)."""
    return run_nemesis(tmp_path_factory.mktemp("restart_while_down"), "restart_while_down")


def test_restart_while_another_is_down_loses_no_committed_block(
        restart_while_down: Outcome) -> None:
    assert not restart_while_down.safety, restart_while_down.describe()
    assert restart_while_down.tip_before > 0


def test_restart_while_another_is_down_progresses_once_both_are_back(
        restart_while_down: Outcome) -> None:
    out = restart_while_down
    assert out.progress_s is not None and out.settle_s is not None, out.describe()
    assert out.heights_checked > out.tip_before, out.describe()


def test_restart_while_another_is_down_progresses_with_one_down(
        restart_while_down: Outcome) -> None:
    """Issue 16 finding 1, second half (failed about 2 runs in 5 before the fix): B
    restarted with its guard one block ahead of its log; it offers its durable share of
    that block, the two others finalize it, B syncs it and rejoins, all while A is down.
    And once back in consensus, B neither freezes the round it signed in before the crash
    (it restarts the DAG above it) nor splits the slots' votes (it rebuilds the leader
    schedule from its log): the simulator's ``test_sim_validator_storage.py`` cases."""
    assert restart_while_down.progress_one_down_s is not None, restart_while_down.describe()


@pytest.fixture(scope="module")
def kill9_twice(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    """SIGKILL + restart of node1, then again once it is back in consensus."""
    return run_nemeses(tmp_path_factory.mktemp("kill9_twice"), [("kill9", [1]), ("kill9", [1])])


def test_kill9_twice_loses_no_committed_block(kill9_twice: list[Outcome]) -> None:
    for out in kill9_twice:
        assert not out.safety, out.describe()
    assert kill9_twice[0].ok, kill9_twice[0].describe()


def test_kill9_twice_restarts_again(kill9_twice: list[Outcome]) -> None:
    assert kill9_twice[1].ok, kill9_twice[1].describe()


@pytest.fixture
def namespaces() -> Iterator[Fabric]:
    with netns_fabric(N) as fab:
        yield fab


def test_partition_of_one_validator_loses_nothing_and_progresses(tmp_path: Path,
                                                                 namespaces: Fabric) -> None:
    out = run_nemesis(tmp_path, "partition", fabric=namespaces)
    assert out.ok, out.describe()
    assert out.heights_checked > out.tip_before > 0


@pytest.fixture(scope="module")
def full_restart(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One full restart shared by its safety and its liveness test (one devnet, not two)."""
    return run_nemesis(tmp_path_factory.mktemp("full_restart"), "full_restart")


def test_full_restart_loses_no_committed_block(full_restart: Outcome) -> None:
    assert not full_restart.safety, full_restart.describe()
    assert full_restart.tip_at_heal >= full_restart.tip_before > 0


def test_full_restart_makes_progress_within_10s(full_restart: Outcome) -> None:
    """Issue 16 finding 1 (8 of 8 trials stalled before the fix): the restarted validators
    finalize the block they had signed from their durable shares — those that never signed
    it adopt it when more than a third of the stake did (``node/catchup.py``) — rejoin,
    and restart the DAG above every round they signed (docs/consensus.md)."""
    assert not full_restart.liveness, full_restart.describe()
