"""Trace files replay exactly; tampering and divergence are detected; the CLI reports."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from focusflow.chaos.campaign import run_seed, save_failure
from focusflow.chaos.faults import fault_from_dict
from focusflow.chaos.plan import FaultPlan
from focusflow.chaos.replay import diff_traces, replay_trace
from focusflow.chaos.trace import TraceError
from focusflow.cli import main

PLAN = FaultPlan(duration_ms=1_200, options={"bug": "quorum_off_by_one"})
SPLIT = fault_from_dict({"kind": "partition", "at_ms": 300, "groups": [["n0", "n1"]],
                         "heal_after_ms": 700})
SPLIT_LATER = fault_from_dict({"kind": "partition", "at_ms": 320, "groups": [["n0", "n1"]],
                               "heal_after_ms": 700})


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("traces")
    paths = {}
    for name, fault in (("a", SPLIT), ("b", SPLIT_LATER)):
        plan = PLAN.with_faults([fault])
        result, run = run_seed(2, plan)
        assert not result["ok"], "this schedule is expected to break the buggy quorum"
        paths[name] = save_failure(2, plan, result, run.schedule, out / f"{name}.trace.gz")
    return paths


def test_replay_reproduces_record_for_record(traces: dict[str, Path]) -> None:
    report = replay_trace(traces["a"])
    assert report["reproduced"] and report["finished"] and report["first_mismatch"] is None
    assert report["records_compared"] > 100


def test_replay_stops_at_a_step_and_inspects(traces: dict[str, Path]) -> None:
    report = replay_trace(traces["a"], until_step=250, inspect="n2:/user/sup/replica")
    assert report["stopped_at_step"] == 250 and report["reproduced"]
    assert report["inspect"]["alive"] and "height" in report["inspect"]["core"]
    listing = replay_trace(traces["a"], until_step=5, inspect="n2")["inspect"]
    assert "/user/sup/replica" in listing["actors"]


def test_a_tampered_trace_does_not_reproduce(traces: dict[str, Path], tmp_path: Path) -> None:
    with gzip.open(traces["a"], "rt") as fh:
        doc = json.load(fh)
    doc["records"][123][3] = "0" * 16
    bad = tmp_path / "bad.trace.gz"
    with gzip.open(bad, "wt") as fh:
        json.dump(doc, fh)
    report = replay_trace(bad)
    assert not report["reproduced"] and report["first_mismatch"] == 123


def test_diff_reports_the_first_divergence(traces: dict[str, Path]) -> None:
    same = diff_traces(traces["a"], traces["a"])
    assert same["first_divergence"] is None
    diff = diff_traces(traces["a"], traces["b"])
    i = diff["first_divergence"]
    assert i is not None and diff["a_records"][-1]["index"] == i
    # the runs agree until t = 300 ms, when trace a's partition joins the ready steps
    # (which changes the seeded scheduler's pick among them)
    assert diff["t_ms"] == pytest.approx(300)
    assert diff["a_records"][:-1] == diff["b_records"][:-1]
    assert diff["a_records"][-1] != diff["b_records"][-1]


def test_cli_replay_and_diff(traces: dict[str, Path], capsys: pytest.CaptureFixture[str]
                             ) -> None:
    assert main(["replay", str(traces["a"]), "--until-violation"]) == 0
    out = capsys.readouterr().out
    assert "reproduced exactly" in out and "quorum.agreement" in out
    assert main(["replay", "--diff", str(traces["a"]), str(traces["b"])]) == 1
    assert "first divergence at record" in capsys.readouterr().out
    assert main(["replay", "--diff", str(traces["a"]), str(traces["a"])]) == 0


def test_cli_replay_rejects_non_traces(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"not gzip")
    assert main(["replay", str(junk)]) == 2
    with pytest.raises(TraceError):
        replay_trace(junk)


def test_cli_chaos_json_summary_and_exit_status(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["chaos", "--seeds", "1-3", "--jobs", "1", "--json", "--faults", "2",
                 "--duration-ms", "600", "--out", str(tmp_path)])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["runs"] == 3 and summary["failures"] == 0
    assert summary["faults_injected"] >= 3
    assert [r["seed"] for r in summary["results"]] == [1, 2, 3]
    assert {"ok", "violations", "trace_hash", "schedule"} <= set(summary["results"][0])
    plan = tmp_path / "split.toml"
    plan.write_text('duration_ms = 1200\n[options]\nbug = "quorum_off_by_one"\n[[faults]]\n'
                    'kind = "partition"\nat_ms = 300\ngroups = [["n0", "n1"]]\n'
                    'heal_after_ms = 700\n')
    code = main(["chaos", "--seeds", "2", "--jobs", "1", "--plan", str(plan), "--no-shrink",
                 "--out", str(tmp_path / "fail")])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL" in out and "focusflow replay" in out
    assert list((tmp_path / "fail").glob("seed-2.trace.gz"))


def test_until_past_the_end_replays_the_whole_run(traces: dict[str, Path]) -> None:
    report = replay_trace(traces["a"], until_step=10**9)
    assert report["finished"] and report["reproduced"] and report["violations"]
