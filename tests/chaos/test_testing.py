"""The pytest integration: users' own deterministic simulation tests in a few lines."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from focusflow.sim import Simulation
from focusflow.supervisor import Actor, ChildSpec, Node, Supervisor, SupervisorFlags
from focusflow.testing import sim_test
from tests.wire.msgs import Req


class Counter(Actor):
    """Counts ticks; the test's invariant watches it."""

    def __init__(self, seen: list[int]) -> None:
        self.seen = seen

    async def on_start(self) -> None:
        self.ctx.start_timer("t", 10.0 + self.ctx.random.random(), Req(0, "t"), repeat=True)

    async def receive(self, msg: Any) -> Any:
        self.seen.append(len(self.seen))
        return None


def _boot(seen: list[int]) -> Any:
    def boot(node: Node) -> None:
        node.spawn(Supervisor, SupervisorFlags(), [ChildSpec("c", Counter, (seen,))],
                   name="sup")
    return boot


@sim_test(seeds=range(3), faults=("crash_node", "partition"), fault_count=2, duration_ms=500)
def test_user_style_simulation_test(sim: Simulation) -> None:
    seen: list[int] = []
    for name in ("a", "b"):
        sim.add_node(name, boot=_boot(seen))
    sim.add_invariant("counts_grow", lambda: seen == list(range(len(seen))))


def test_a_violation_fails_with_the_seed_and_rerun_command() -> None:
    def broken(sim: Simulation) -> None:
        seen: list[int] = []
        sim.add_node("a", boot=_boot(seen))
        sim.add_invariant("never_three", lambda: len(seen) < 3)

    wrapped = sim_test(seeds=[11], duration_ms=200)(broken)
    with pytest.raises(AssertionError, match=r"(?s)seed 11: invariant 'never_three'.*"
                                             r"FOCUSFLOW_SEEDS=11"):
        wrapped(sim_seed=11)


def test_the_pytest_plugin_parametrizes_by_sim_seeds(tmp_path: Path) -> None:
    test = tmp_path / "test_user.py"
    test.write_text(textwrap.dedent("""
        def test_seeded(chaos_sim):
            chaos_sim.add_node("a")
            chaos_sim.run(for_ms=10)
            assert chaos_sim.seed in (4, 5, 6)
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p",
                          "focusflow.chaos.pytest_plugin", "--sim-seeds", "4-6", str(test),
                          "-p", "no:cacheprovider"], capture_output=True, text=True,
                         timeout=120, check=False, cwd=tmp_path)
    assert "3 passed" in out.stdout, out.stdout + out.stderr


def test_the_printed_rerun_command_runs_exactly_that_seed(tmp_path: Path) -> None:
    """The hint a failing seed prints is a command current pytest accepts and that reruns
    that one case (``-k 'seed=5'`` is rejected by pytest 8)."""
    test = tmp_path / "test_user.py"
    test.write_text(textwrap.dedent("""
        from focusflow.testing import sim_test
        from tests.chaos.test_testing import _boot

        @sim_test(seeds=[3, 5], duration_ms=200)
        def test_breaks_on_five(sim):
            seen = []
            sim.add_node("a", boot=_boot(seen))
            sim.add_invariant("never_three", lambda: sim.seed != 5 or len(seen) < 3)
    """))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    env.pop("FOCUSFLOW_SEEDS", None)

    def pytest_run(*args: str, extra: dict[str, str] | None = None) -> str:
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-p", "no:randomly", "-p", "no:xdist", *args],
                             capture_output=True, text=True, timeout=120, check=False,
                             cwd=tmp_path, env={**env, **(extra or {})})
        return out.stdout + out.stderr

    first = pytest_run("test_user.py")
    assert "1 failed, 1 passed" in first, first
    hint = re.search(r"rerun exactly this seed: FOCUSFLOW_SEEDS=(\d+) pytest (\S+)", first)
    assert hint, first
    assert hint.group(1) == "5"
    (node,) = shlex.split(hint.group(2))
    assert node == "test_user.py::test_breaks_on_five[seed=5]"
    again = pytest_run(node, extra={"FOCUSFLOW_SEEDS": hint.group(1)})
    assert "1 failed" in again and "passed" not in again, again
    assert "seed 5: invariant 'never_three'" in again
