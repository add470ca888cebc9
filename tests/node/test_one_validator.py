"""Issue 15, "one validator": a simulated validator node is the tree ``focusflow node`` runs.

The live node is started in-process as ``focusflow node`` starts it (``run_node``), and
its supervisor tree read back from ``/actors`` (what an operator sees); the simulated
network (``focusflow sim --scenario network``, the chaos world) is run for a second and
each honest validator node's tree read from the simulator. Same paths, same classes.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from focusflow.node.config import load_settings
from focusflow.node.logs import configure_logging
from focusflow.node.validator import Validator
from focusflow.sim import Simulation
from focusflow.sim.scenarios import discover
from focusflow.topology.node_tree import NodeSupervisor
from tests.node.test_http import get_from_started_node, two_validator_home

pytestmark = pytest.mark.anyio


async def _live_tree(tmp_path: Path) -> list[tuple[str, str]]:
    settings = load_settings(two_validator_home(tmp_path))
    configure_logging(fmt="json", stream=io.StringIO())
    actors = await get_from_started_node(settings, "/actors")
    return [(a["path"], a["class"]) for a in actors]


async def test_a_simulated_validator_node_spawns_the_classes_focusflow_node_spawns(tmp_path: Path) -> None:
    live = await _live_tree(tmp_path)
    sim = Simulation(1)
    discover()["network"].build(sim, {"validators": 4, "byzantine": 1, "seed": 1})
    sim.run(until_ns=1_000_000_000)
    for name in ("v0", "v1", "v2"):  # the honest ones (v3 is the Byzantine validator)
        node = sim.node(name)
        tree = {path: type(cell.actor) for path, cell in sorted(node._cells.items())}
        assert [(p, cls.__name__) for p, cls in tree.items()] == live
        assert tree == {"/user/node": NodeSupervisor, "/user/node/validator": Validator}
    assert live == [("/user/node", "NodeSupervisor"), ("/user/node/validator", "Validator")]
