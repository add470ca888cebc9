"""The "consensus" scenario under the runtime's simulator (``focusflow sim --validators``)."""

from __future__ import annotations

from focusflow.sim.scenarios import default_scenario, discover, run_scenario


def _options(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"validators": 4, "byzantine": 1, "latency": 50.0, "tx_rate": 100.0, "seed": 3}
    base.update(kw)
    return base


def test_consensus_scenario_claims_validators_runs_but_is_never_the_plain_default() -> None:
    scenario = discover()["consensus"]
    assert scenario.select is not None and scenario.select(_options())
    assert not scenario.select({"validators": None})
    assert default_scenario({"validators": None}) != "consensus"


def test_consensus_scenario_finalizes_with_a_byzantine_validator() -> None:
    s = run_scenario("consensus", 3, duration_ms=4000, options=_options())
    assert s["ok"] and s["invariants"] == {"agreement": True, "validity": True}
    assert s["finalized_height"] >= 3 and s["links_committed"] > 0
    assert s["finality_ms_p50"] is not None and s["finality_ms_p50"] <= s["finality_ms_p99"]
    for key in ("links_per_second", "commits_fast", "commits_fallback"):
        assert key in s


def test_consensus_scenario_is_deterministic() -> None:
    a = run_scenario("consensus", 5, duration_ms=1500, options=_options(seed=5))
    b = run_scenario("consensus", 5, duration_ms=1500, options=_options(seed=5))
    assert a["trace_hash"] == b["trace_hash"] and a["links_committed"] == b["links_committed"]


def test_a_restarted_validator_resumes_above_its_watermark_and_finalizes_again() -> None:
    """v0 crashes at 1 s (memory lost) and restarts: it must not sign twice for a round
    (it resumes above its persisted watermark), agreement and validity hold, and it
    finalizes blocks again."""
    s = run_scenario("consensus", 3, duration_ms=5000, options=_options(crash_restart=True))
    assert s["ok"] and s["invariants"] == {"agreement": True, "validity": True}
    assert s["nodes"]["v0"]["generation"] == 2
    assert s["finalized_height"] >= 3  # the lowest honest height, v0's included
