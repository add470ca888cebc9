"""The "network" scenario: consensus validators executing real blocks under the simulator."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from focusflow.actors.chain import scenario as network
from focusflow.actors.chain.executor import GENESIS_PARENT, BlockExecutor
from focusflow.actors.chain.workload import LinkWorkload, WorkloadConfig
from focusflow.sim.scenarios import default_scenario, run_scenario

INVARIANTS = ("agreement", "validity", "state_roots_agree", "pi_verified", "data_available",
              "supply_conserved")


def _options(**kw: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"validators": 4, "byzantine": 0, "latency": 50.0, "tx_rate": 100.0}
    opts.update(kw)
    return opts


def test_validators_option_selects_the_network_and_consensus_stays_reachable() -> None:
    assert default_scenario(_options()) == "network"
    assert default_scenario({"validators": None}) not in ("network", "consensus")
    toy = run_scenario("consensus", 1, duration_ms=1200, options=_options(seed=1))
    assert toy["scenario"] == "consensus" and "chain" not in toy and toy["ok"]


@pytest.mark.parametrize(("validators", "byzantine", "seed"), [(4, 0, 1), (4, 1, 2), (7, 1, 3), (7, 2, 4)])
def test_network_finalizes_real_blocks_with_every_invariant(validators: int, byzantine: int, seed: int) -> None:
    s = run_scenario("network", seed, duration_ms=2000,
                     options=_options(validators=validators, byzantine=byzantine, seed=seed))
    assert s["ok"], (s["violations"], s["chain"]["problems"])
    assert set(INVARIANTS) <= set(s["invariants"]) and all(s["invariants"][k] for k in INVARIANTS)
    chain = s["chain"]
    assert s["finalized_height"] >= 2 and chain["links_applied"] > 0
    assert chain["roots_compared"] >= s["finalized_height"], "honest roots were cross-checked"
    assert chain["da_blocks_sampled"] >= s["finalized_height"]
    assert chain["da_samples_verified"] >= 16 * s["finalized_height"]
    assert chain["particles"] > 0 and chain["gas_h"] > 0
    # the light node sampled over the simulated network, and decided every settled block
    assert chain["da_light_settled_blocks"] >= 1
    assert chain["da_light_settled_decided"] == chain["da_light_settled_blocks"]
    assert chain["da_light_available"] == chain["da_light_verdicts"] >= chain["da_light_settled_blocks"]
    for key in ("finality_ms_p50", "finality_ms_p99", "links_per_second", "links_committed",
                "txs_per_second", "txs_committed"):
        assert s[key] is not None and s[key] > 0
    assert s["links_committed"] == chain["links_applied"] >= chain["txs_applied"] > 0, "1..4 links per tx"


def test_crash_restart_is_refused_explicitly() -> None:
    with pytest.raises(ValueError, match="crash-restart"):
        run_scenario("network", 1, duration_ms=100, options=_options(crash_restart=True))


def test_same_seed_same_trace_and_roots_whatever_the_hash_seed() -> None:
    """Two processes with different PYTHONHASHSEEDs: same trace, same state and π roots."""
    cmd = [sys.executable, "-m", "focusflow", "sim", "--validators", "4", "--byzantine", "1",
           "--tx-rate", "100", "--duration-ms", "1200", "--seed", "5", "--json"]
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=True)
        runs.append(json.loads(out.stdout))
    a, b = runs
    assert a["scenario"] == "network" and a["ok"]
    assert a["trace_hash"] == b["trace_hash"] and a["chain"] == b["chain"]
    assert a["chain"]["state_root"] is not None


def test_a_validator_with_a_different_genesis_breaks_state_roots_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted bug: one honest validator's state differs; the invariant must catch it."""
    made = []

    class Skewed(BlockExecutor):
        def __init__(self, *, genesis_balances: Mapping[bytes, int], **kw: Any) -> None:
            made.append(self)
            if len(made) == 2:
                first = min(genesis_balances)
                genesis_balances = {**genesis_balances, first: genesis_balances[first] + 1}
            super().__init__(genesis_balances=genesis_balances, **kw)

    monkeypatch.setattr(network, "BlockExecutor", Skewed)
    s = run_scenario("network", 6, duration_ms=1500, options=_options(seed=6))
    assert not s["ok"] and not s["invariants"]["state_roots_agree"]
    assert any(p.startswith("state_roots_agree") for p in s["chain"]["problems"])


def test_share_servers_that_withhold_make_the_light_node_report_unavailable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every validator's share server refuses every cell: the light sampler must notice."""
    from focusflow.actors.da.pinning import ShareStore

    class Withholding(ShareStore):
        def sample(self, height: int, row: int, col: int) -> None:
            return None

    monkeypatch.setattr(network, "ShareStore", Withholding)
    s = run_scenario("network", 8, duration_ms=2000, options=_options(seed=8))
    assert s["invariants"]["state_roots_agree"] and s["invariants"]["agreement"]
    assert not s["invariants"]["data_available"]
    assert s["chain"]["da_light_verdicts"] >= 1 and s["chain"]["da_light_available"] == 0
    assert any(p.startswith("data_available: light node") for p in s["chain"]["problems"])


def test_a_withholding_byzantine_minority_does_not_make_available_blocks_unavailable() -> None:
    """f = 3 consecutive share servers refuse every cell: the light node asks the others."""
    s = run_scenario("network", 4, duration_ms=2000,
                     options=_options(validators=10, byzantine=3, seed=4, da_withhold=True))
    assert s["ok"], s["chain"]["problems"]
    chain = s["chain"]
    assert chain["da_light_verdicts"] == chain["da_light_available"] >= 1
    assert chain["da_light_settled_decided"] == chain["da_light_settled_blocks"] >= 1


def _state_with_one_block() -> network.NetworkState:
    wl = LinkWorkload(WorkloadConfig(neurons=8, invalid_share=0.0), seed=7)
    exs = [BlockExecutor(genesis_balances=wl.genesis_balances()) for _ in range(2)]
    txs = [s.payload for s in wl.make(8, 0, random.Random(7))]
    for ex in exs:
        ex.execute(GENESIS_PARENT, txs)
        ex.da_root_of(txs)
    return network.NetworkState({0, 1}, exs, wl, random.Random(7))


def test_pi_and_supply_checks_flag_a_bad_outcome() -> None:
    state = _state_with_one_block()
    good = state.executors[0].outcome(1)
    assert good is not None
    state.executed(0, good)
    state.executed(1, good)
    assert state.pi_verified and state.supply_conserved and state.state_roots_agree
    state.executed(1, dataclasses.replace(good, pi_verified=False))
    assert not state.pi_verified
    state.executed(1, dataclasses.replace(good, supply_ok=False))
    assert not state.supply_conserved


def test_sampling_a_block_nobody_can_serve_is_unavailable() -> None:
    state = _state_with_one_block()
    o = state.executors[0].outcome(1)
    assert o is not None
    state._sample(1, o.data_root, o.width, 0)
    assert state.data_available and state.sampled[1].available
    for ex in state.executors:
        ex.squares_kept.clear()  # every holder lost the square
    state._sample(2, o.data_root, o.width, 0)
    assert not state.data_available and not state.sampled[2].available
    bogus = _state_with_one_block()
    bogus._sample(1, bytes(32), o.width, 0)  # a header root the square does not match
    assert not bogus.data_available
