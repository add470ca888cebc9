"""The pytest integration: users' own deterministic simulation tests in a few lines."""

from __future__ import annotations

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
