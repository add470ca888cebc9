"""Campaigns that never hang: a worker that dies is reported and the campaign goes on,
the RSS cap kills a ballooning worker, Ctrl-C prints what was found so far, evidence is
never overwritten, an unknown scenario is a one-line usage error."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from focusflow.chaos.campaign import Limits, run_campaign
from focusflow.chaos.plan import FaultPlan
from focusflow.chaos.quorum import build as build_quorum
from focusflow.chaos.trace import reserve
from focusflow.chaos.workers import Limits as WorkerLimits
from focusflow.chaos.workers import rss_mb, run_tasks
from focusflow.cli import main
from focusflow.sim import Simulation
from focusflow.sim.scenarios import register_scenario

DOOMED_SEED = 2
SPLIT_PLAN = ('duration_ms = 1200\n[options]\nbug = "quorum_off_by_one"\n[[faults]]\n'
              'kind = "partition"\nat_ms = 300\ngroups = [["n0", "n1"]]\nheal_after_ms = 700\n')


@register_scenario("test_sigkill", help="test only: the quorum demo; the worker running "
                   f"seed {DOOMED_SEED} SIGKILLs itself (as the OOM killer would)",
                   duration_ms=600.0)
def _sigkill_build(sim: Simulation, options: Mapping[str, Any]) -> None:
    if sim.seed == DOOMED_SEED:
        os.kill(os.getpid(), signal.SIGKILL)
    build_quorum(sim, options)


@register_scenario("test_balloon", help="test only: seed 1 holds memory past any cap",
                   duration_ms=600.0)
def _balloon_build(sim: Simulation, options: Mapping[str, Any]) -> None:
    if sim.seed == 1:
        held = [b"\x01" * (2**20) for _ in range(int(options["mb"]))]
        time.sleep(30)  # outside the simulator: only the watcher can stop this
        del held
    build_quorum(sim, options)


def test_a_worker_killed_mid_campaign_is_reported_and_the_campaign_finishes(
        tmp_path: Path) -> None:
    plan = FaultPlan(scenario="test_sigkill", generate_count=2)
    summary = run_campaign(range(1, 5), plan, jobs=2, out_dir=tmp_path, progress=False)
    assert summary["runs"] == 4 and not summary["interrupted"]
    by_seed = {r["seed"]: r for r in summary["results"]}
    dead = by_seed[DOOMED_SEED]
    assert not dead["ok"]
    (violation,) = dead["violations"]
    assert violation["invariant"] == "run.worker_died"
    assert violation["detail"] == (f"worker died: signal 9 (SIGKILL) while running seed "
                                   f"{DOOMED_SEED}")
    assert all(by_seed[s]["ok"] for s in (1, 3, 4)), summary["results"]
    assert summary["failures"] == 1 and summary["max_worker_rss_mb"] > 0


def test_the_rss_cap_kills_a_ballooning_worker_and_says_so(tmp_path: Path) -> None:
    cap = rss_mb(os.getpid()) + 150
    plan = FaultPlan(scenario="test_balloon", options={"mb": int(cap) + 200})
    summary = run_campaign([1, 2], plan, jobs=2, out_dir=tmp_path, progress=False,
                           limits=Limits(max_rss_mb=cap, seed_timeout_s=60))
    one, two = summary["results"]
    assert two["ok"]
    detail = one["violations"][0]["detail"]
    assert one["violations"][0]["invariant"] == "run.worker_died"
    assert "over the" in detail and f"{cap:.0f} MiB cap while running seed 1" in detail
    assert one["wall_seconds"] < 20  # killed, not waited for


def test_a_task_that_raises_or_overruns_is_reported(tmp_path: Path) -> None:
    outcomes = dict(run_tasks(_task, ["ok", "raise", "sleep"], jobs=3,
                              limits=WorkerLimits(timeout_s=1.0)))
    assert outcomes[0].value == "done ok" and outcomes[0].died is None
    assert outcomes[1].died is not None and outcomes[1].died.startswith("raised ValueError")
    assert outcomes[2].died == "killed: ran past the 1 s limit"


def _task(what: str) -> str:
    if what == "raise":
        raise ValueError("planted")
    if what == "sleep":
        time.sleep(60)
    return f"done {what}"


def test_ctrl_c_prints_what_was_found_and_exits_130(tmp_path: Path) -> None:
    plan = tmp_path / "split.toml"
    plan.write_text(SPLIT_PLAN)
    out = tmp_path / "traces"
    proc = subprocess.Popen([sys.executable, "-m", "focusflow", "chaos", "--seeds", "1-500",
                             "--jobs", "1", "--plan", str(plan), "--no-shrink",
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not any(p.stat().st_size for p in out.glob("seed-*.trace.gz")):
            assert time.monotonic() < deadline and proc.poll() is None, "no failure found"
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "INTERRUPTED after" in stdout and "of 500 seeds" in stdout
    assert "FAIL" in stdout and f"focusflow replay {out}/seed-" in stdout
    assert "Traceback" not in stderr


def test_rerunning_never_overwrites_evidence(tmp_path: Path) -> None:
    first = reserve(tmp_path / "seed-9.min.trace.gz", ".min.toml")
    second = reserve(tmp_path / "seed-9.min.trace.gz", ".min.toml")
    (tmp_path / "seed-9-3.min.toml").write_text("taken")
    third = reserve(tmp_path / "seed-9.min.trace.gz", ".min.toml")
    assert [first.name, second.name, third.name] == [
        "seed-9.min.trace.gz", "seed-9-2.min.trace.gz", "seed-9-4.min.trace.gz"]
    assert (tmp_path / "seed-9-3.min.toml").read_text() == "taken"
    assert not (tmp_path / "seed-9-3.min.trace.gz").exists()


def test_a_rerun_of_a_failing_seed_writes_new_files(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "split.toml"
    plan.write_text(SPLIT_PLAN)
    args = ["chaos", "--seeds", "2", "--jobs", "1", "--plan", str(plan), "--json",
            "--out", str(tmp_path / "out"), "--shrink-budget-s", "60"]
    assert main(args) == 1
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 1
    second = json.loads(capsys.readouterr().out)
    (a,), (b,) = first["shrunk"], second["shrunk"]
    assert a["verified"] and b["verified"] and a["still_fails"]
    paths = {first["traces"][0], second["traces"][0], a["trace"], a["plan"], b["trace"],
             b["plan"]}
    assert len(paths) == 6 and all(Path(p).stat().st_size for p in paths)


def test_an_unknown_scenario_is_a_one_line_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chaos", "--scenario", "nosuch", "--seeds", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("focusflow chaos: unknown scenario 'nosuch'; known: ")
    assert "quorum" in line


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_the_progress_line_is_redrawn_on_a_terminal_and_throttled_elsewhere() -> None:
    from focusflow.chaos.progress import ProgressLine

    for tty in (True, False):
        stream = _Stream(tty)
        line = ProgressLine(20, stream=stream)
        for _ in range(50):
            line.done += 1
            line.failures = 2
            line.update(force=True)
        line.close()
        text = stream.getvalue()
        if tty:
            assert text.count("\r") > 50 and "chaos: seeds 50/20, 2 failing" in text
        else:  # one line now, the next only after PLAIN_EVERY_S
            assert text.count("\n") == 1 and text.startswith("chaos: seeds 1/20, 2 failing")


def test_a_run_stopped_by_its_budget_after_a_violation_is_saved_and_replays(
        tmp_path: Path) -> None:
    from focusflow.chaos.campaign import Budget, _work, run_seed
    from focusflow.chaos.plan import load_plan
    from focusflow.chaos.replay import replay_trace

    (tmp_path / "split.toml").write_text(SPLIT_PLAN)
    plan = load_plan(tmp_path / "split.toml")
    full, _ = run_seed(2, plan)
    step = full["violations"][0]["step"]
    cut = (step + full["events"]) // 2
    result = _work((2, plan.to_dict(), str(tmp_path), Budget(events_max=cut)))
    assert [v["invariant"] for v in result["violations"]] == ["quorum.agreement",
                                                               "run.budget"]
    assert result["trace"] and result["events"] == cut
    report = replay_trace(result["trace"])  # stops where the run was stopped
    assert report["reproduced"] and report["stopped_at_step"] == cut
