"""The stall, explained under the simulator: the node's validator tree (the production
actors) on four simulated nodes, two crashed; the survivors' ``consensus`` answer says
stalled, with the virtual age of the last block and of the crashed peers' last messages.
One implementation, two runtimes: ``tests/node/test_stall.py`` is the same over sockets."""

from __future__ import annotations

import json
from typing import Any

from focusflow.actors.chain.scenario import add_validator_node
from focusflow.actors.consensus.crypto import Signer
from focusflow.node.explain import StallRule
from focusflow.node.messages import Query, QueryReply
from focusflow.node.validator import (
    VALIDATOR_PATH,
    CommitteeEntry,
    ValidatorSettings,
)
from focusflow.sim import LinkConfig, Simulation

NAMES = ("v0", "v1", "v2", "v3")
RULE = StallRule(block_interval_ms=200, after_intervals=5)


def _world(seed: int) -> Simulation:
    seeds = [bytes([0x60 + i]) * 32 for i in range(len(NAMES))]
    committee = tuple(CommitteeEntry(n, Signer(s).public_key, 1) for n, s in zip(NAMES, seeds, strict=True))
    sim = Simulation(seed, link=LinkConfig(latency_ms=20.0))
    for name, seed_ in zip(NAMES, seeds, strict=True):
        settings = ValidatorSettings(node_name=name, role="validator", chain_id="sim-stall",
                                     committee=committee, validator_seed=seed_,
                                     sync_interval_ms=100, stall=RULE)
        add_validator_node(sim, settings)
    return sim


def _consensus(sim: Simulation, name: str) -> dict[str, Any]:
    node = sim.node(name)
    reply = sim.run_until_complete(node.ask(node.ref(name, VALIDATOR_PATH), Query("consensus")))
    assert isinstance(reply, QueryReply)
    return json.loads(reply.json)  # type: ignore[no-any-return]


def test_two_crashed_of_four_the_survivors_explain_the_stall() -> None:
    sim = _world(3)
    sim.run(for_ms=2_000)
    moving = _consensus(sim, "v0")
    assert not moving["stall"]["stalled"] and moving["last_commit"]["height"] >= 3, moving
    assert moving["consensus"]["leader"] is not None and moving["validator"] == 0

    sim.crash_node("v2")
    sim.crash_node("v3")
    sim.run(for_ms=3_000)
    for name in ("v0", "v1"):
        c = _consensus(sim, name)
        assert c["stall"]["stalled"], c["stall"]
        assert c["last_commit"]["age_ms"] > RULE.after_ms
        assert c["stall"]["reason"].startswith("no block for ")
        ages = {p["name"]: p["last_message_age_ms"] for p in c["peers"]}
        assert ages["v2"] >= 2_900 and ages["v3"] >= 2_900  # silent since the crash
        other = "v1" if name == "v0" else "v0"
        assert ages[other] < 1_000  # the other survivor still talks (resends, sync)
        core = c["consensus"]
        assert not core["certificates"]["complete"]
        assert {"v2", "v3"} & set(core["certificates"]["missing"])
    # the answer is deterministic: the same seed explains the same stall the same way
    again = _world(3)
    again.run(for_ms=2_000)
    again.crash_node("v2")
    again.crash_node("v3")
    again.run(for_ms=3_000)
    assert _consensus(again, "v1") == _consensus(sim, "v1")
