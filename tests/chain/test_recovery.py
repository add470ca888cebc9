"""Recovery after a partition (issue 19 item 3): the definition, and a short partition run."""

from __future__ import annotations

import pytest

from focusflow.actors.chain.recovery import SUSTAIN_MS, partition_groups, recovery
from focusflow.sim.scenarios import default_scenario, run_scenario

MS = 1_000_000
NAMES4 = ("v0", "v1", "v2", "v3")


def test_partition_specs() -> None:
    assert partition_groups("2|2", NAMES4) == [["v0", "v1"], ["v2", "v3"]]
    assert partition_groups("1|3", NAMES4) == [["v0"], ["v1", "v2", "v3"]]
    ten = tuple(f"v{i}" for i in range(10))
    assert partition_groups("minority", ten) == [list(ten[:7]), ["v7", "v8", "v9"]]
    for bad in ("2|1", "4", "x|y", "0|4", "2|2|0"):
        with pytest.raises(ValueError):
            partition_groups(bad, NAMES4)


def _run(latency_ms: dict[int, float | None], *, every_ms: int = 50) -> dict[bytes, tuple[int, int | None]]:
    """One tx per instant (ms → latency, None: never final) as (submitted, final) ns."""
    return {t.to_bytes(8, "big"): (t * MS, None if lat is None else t * MS + int(lat * MS))
            for t, lat in latency_ms.items()}


def _recovery(txs: dict[bytes, tuple[int, int | None]], **kw: int) -> dict[str, float | None]:
    return recovery({d: s for d, (s, _) in txs.items()},
                    {d: f for d, (_, f) in txs.items() if f is not None}, **kw)


def test_recovery_is_the_first_instant_after_the_heal_from_which_finality_stays_normal() -> None:
    normal, slow = 400.0, 5_000.0
    lat: dict[int, float | None] = {t: normal for t in range(0, 2_000, 50)}      # before the fault
    lat |= {t: None for t in range(2_000, 5_000, 50)}                            # during: stuck
    lat |= {t: slow for t in range(5_000, 5_700, 50)}                            # after the heal
    lat |= {5_700: normal, 5_750: slow}                                          # one lucky block
    lat |= {t: normal for t in range(5_800, 9_000, 50)}                          # recovered
    r = _recovery(_run(lat), fault_ns=2_000 * MS, heal_ns=5_000 * MS, end_ns=10_000 * MS)
    assert r == {"finality_ms_p50_pre": 400.0, "normal_ms_max": 600.0, "recovery_ms": 800.0,
                 "recovery_ms_by_side": [800.0], "finality_ms_p50_post": 400.0}


def test_every_side_of_the_partition_must_recover() -> None:
    """A cut-off minority whose clients still wait is not hidden by the majority's median."""
    submitted: dict[bytes, int] = {}
    final: dict[bytes, int] = {}
    side: dict[bytes, int] = {}
    for t in range(0, 9_000, 50):  # per instant: two txs to the majority, one to the minority
        for k, (s, lat) in enumerate([(0, 400), (0, 400), (1, 400 if t < 2_000 or t >= 7_000 else 3_000)]):
            d = bytes([k]) + t.to_bytes(8, "big")
            submitted[d], final[d], side[d] = t * MS, (t + lat) * MS, s
    window = {"fault_ns": 2_000 * MS, "heal_ns": 5_000 * MS, "end_ns": 10_000 * MS}
    assert recovery(submitted, final, **window)["recovery_ms"] == 0.0, "the majority's median"
    r = recovery(submitted, final, side_of=side, **window)
    assert r["recovery_ms_by_side"] == [0.0, 2_000.0] and r["recovery_ms"] == 2_000.0
    # a side whose clients sent nothing after the heal (they still wait) has not recovered
    quiet = {d: t for d, t in submitted.items() if side[d] == 0 or t < 5_000 * MS}
    r = recovery(quiet, final, side_of=side, **window)
    assert r["recovery_ms_by_side"] == [0.0, None] and r["recovery_ms"] is None


def test_recovery_is_zero_when_the_heal_costs_nothing_and_none_when_the_run_cannot_tell() -> None:
    lat: dict[int, float | None] = {t: 400.0 for t in range(0, 9_000, 50)}
    r = _recovery(_run(lat), fault_ns=2_000 * MS, heal_ns=5_000 * MS, end_ns=10_000 * MS)
    assert r["recovery_ms"] == 0.0
    short = 5_000 + int(SUSTAIN_MS) // 2  # the run ends before a sustained window was judged
    r = _recovery(_run(lat), fault_ns=2_000 * MS, heal_ns=5_000 * MS, end_ns=short * MS)
    assert r["recovery_ms"] is None and r["finality_ms_p50_pre"] == 400.0


def test_a_short_partition_at_n4_recovers_within_two_seconds() -> None:
    """The CLI path of ``focusflow sim --partition 2|2`` on a 3 s cut (BENCHMARKS.md has 20 s)."""
    options = {"validators": 4, "latency": 50.0, "tx_rate": 100.0, "seed": 2, "partition": "2|2",
               "partition_at_ms": 2_000.0, "partition_for_ms": 3_000.0}
    assert default_scenario(options) == "network"
    s = run_scenario("network", 2, duration_ms=9_000, options=options)
    assert s["ok"], (s["violations"], s["chain"]["problems"])
    assert s["partition"]["groups"] == [["v0", "v1"], ["v2", "v3"]]
    assert s["network"]["partitioned"] > 0, "the cut dropped frames"
    assert s["finality_ms_p50_pre"] is not None and s["finality_ms_p50_pre"] > 0
    assert s["recovery_ms"] is not None and 0 <= s["recovery_ms"] <= 2_000
    assert len(s["recovery_ms_by_side"]) == 2
    assert s["finality_ms_p50_post"] is not None
    assert s["finality_ms_p50_post"] <= s["normal_ms_max"]
