"""The "network" scenario: production validator nodes executing real blocks under the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from focusflow.actors.chain import scenario as network
from focusflow.node.validator import VALIDATOR_PATH
from focusflow.sim import Simulation
from focusflow.sim.scenarios import default_scenario, discover, run_scenario

INVARIANTS = ("agreement", "validity", "state_roots_agree", "pi_verified")


def _options(**kw: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"validators": 4, "byzantine": 0, "latency": 50.0, "tx_rate": 100.0}
    opts.update(kw)
    return opts


def test_validators_option_selects_the_network_and_consensus_stays_reachable() -> None:
    assert default_scenario(_options()) == "network"
    assert default_scenario({"validators": None}) not in ("network", "consensus")
    toy = run_scenario("consensus", 1, duration_ms=1200, options=_options(seed=1))
    assert toy["scenario"] == "consensus" and "chain" not in toy and toy["ok"]


@pytest.mark.parametrize(("validators", "byzantine", "seed"), [(4, 0, 1), (4, 1, 2), (7, 2, 4)])
def test_network_finalizes_real_blocks_with_every_invariant(validators: int, byzantine: int, seed: int) -> None:
    s = run_scenario("network", seed, duration_ms=2000,
                     options=_options(validators=validators, byzantine=byzantine, seed=seed))
    assert s["ok"], (s["violations"], s["chain"]["problems"])
    assert set(INVARIANTS) <= set(s["invariants"]) and all(s["invariants"][k] for k in INVARIANTS)
    chain = s["chain"]
    assert s["finalized_height"] >= 2 and chain["links_applied"] > 0 and chain["particles"] > 0
    honest = validators - byzantine
    assert chain["roots_compared"] >= (honest - 1) * s["finalized_height"], "honest roots cross-checked"
    assert chain["da_blocks_sampled"] >= honest * s["finalized_height"], "sampled before signing"
    assert set(chain["modes"].values()) == {"consensus"}
    for key in ("finality_ms_p50", "finality_ms_p99", "links_per_second", "links_committed",
                "txs_per_second", "txs_committed"):
        assert s[key] is not None and s[key] > 0
    assert s["links_committed"] >= s["txs_committed"] > 0, "1..4 links per tx"
    econ = chain["economics"]  # the executor's economics, under the state roots compared
    assert econ["height"] >= chain["height"] and econ["supply_conserved"], econ["problems"]
    assert econ["cyb_supply"] < 2 * 10**15, "the fees' buyback burned CYB"


def test_crash_restart_option_restarts_v0_which_follows_and_signs_again() -> None:
    s = run_scenario("network", 1, duration_ms=4000, options=_options(crash_restart=True, seed=1))
    assert s["ok"], (s["violations"], s["chain"]["problems"])
    chain = s["chain"]
    assert chain["rejoins"] == 1 and chain["synced_blocks"] > 0
    assert chain["modes"]["v0"] == "consensus"


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


def _short_run() -> tuple[Simulation, network.NetworkState]:
    sim = Simulation(6)
    discover()["network"].build(sim, _options(seed=6))
    sim.run(until_ns=1_500_000_000)
    state: network.NetworkState = sim.scenario_state  # type: ignore[attr-defined]
    assert state.observe() and state.seen[1] >= 2
    return sim, state


def test_the_checker_names_the_validator_whose_roots_or_block_differ() -> None:
    sim, state = _short_run()
    v1 = state.validator(1)
    assert v1 is not None and v1.blocks is not None
    rec = v1.blocks.record(1)
    assert rec is not None
    state._block(1, v1, 1, rec.digest, rec.header, rec.txs, (bytes(32), bytes(32)), sim.now_ns())
    assert not state.state_roots_agree and not state.pi_verified
    assert state.detail("state_roots_agree") == (
        f"state_roots_agree: v1 (Validator {VALIDATOR_PATH}) height 1: state/π roots differ")
    state._block(1, v1, 2, bytes(32), rec.header, (), (bytes(32), bytes(32)), sim.now_ns())
    assert not state.agreement and "v1 (Validator" in state.detail("agreement")
    assert not sim.check_invariants()
    assert any(v[0] == "agreement" and "v1 (Validator" in v[3] for v in sim.violations)


def test_a_finalized_tx_nobody_submitted_breaks_validity() -> None:
    sim, state = _short_run()
    v0 = state.validator(0)
    assert v0 is not None and v0.blocks is not None
    rec = v0.blocks.record(1)
    assert rec is not None and rec.txs
    state.submitted.clear()
    state._block(0, v0, 1, rec.digest, rec.header, rec.txs, state.roots[1], sim.now_ns())
    assert not state.validity and "never submitted" in state.detail("validity")


@pytest.mark.webgpu
def test_a_mixed_fleet_webgpu_and_cpu_agrees_on_every_pi_root_and_keeps_the_cpu_chain() -> None:
    """Issue 17: v0 and v2 solve the exact π on WebGPU (Mesa llvmpipe here), v1 and v3 on
    the CPU. The scenario cross-checks every honest validator's state and π roots at
    every height (``state_roots_agree``); the same seed on an all-CPU fleet gives the
    same chain, root for root: the backend is invisible to the simulation."""
    from focusflow.kernels import BackendUnavailable, backend_for

    try:
        backend_for("webgpu")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    chains = {}
    for backends in ("webgpu,cpu", "cpu"):
        sim = Simulation(7)
        discover()["network"].build(sim, _options(seed=7, focus_backends=backends))
        sim.run(until_ns=2_500_000_000)
        state: network.NetworkState = sim.scenario_state  # type: ignore[attr-defined]
        assert state.observe() and not state.problems, state.problems
        assert state.roots_compared >= 3 * 3, "every honest root compared"
        solved = {}
        for i in range(4):
            v = state.validator(i)
            assert v is not None and v.ledger is not None
            solved[i] = v.ledger.focus.solver_backend
        top = min(state.seen.values())
        assert top >= 3 and state.validator(0).ledger.focus.links > 0  # type: ignore[union-attr]
        chains[backends] = [state.roots[h] for h in range(1, top + 1)]
        if backends == "webgpu,cpu":
            assert solved == {0: "webgpu", 1: "cpu", 2: "webgpu", 3: "cpu"}, solved
    n = min(len(c) for c in chains.values())
    assert chains["webgpu,cpu"][:n] == chains["cpu"][:n]
