"""The must-show: a planted off-by-one in a vote rule is found, shrunk and replayed.

The quorum demo protocol (``focusflow.chaos.quorum``) with ``bug = quorum_off_by_one``
decides with 2f votes instead of 2f + 1. A campaign over a few seeds with generated
partitions, drops and node crashes must find an agreement violation, shrink the failing
schedule to a single partition, and the saved trace must replay exactly, in a fresh
process with another hash seed. The same seeds and schedules pass without the bug.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from focusflow.chaos.campaign import run_campaign, run_seed
from focusflow.chaos.faults import fault_from_dict
from focusflow.chaos.plan import FaultPlan, load_plan

BUGGY = FaultPlan(duration_ms=2_000, generate_count=4,
                  generate_kinds=("partition", "drop", "crash_node"),
                  options={"bug": "quorum_off_by_one"})
FIXED = FaultPlan(duration_ms=2_000, generate_count=4,
                  generate_kinds=("partition", "drop", "crash_node"), options={"bug": "none"})
SEEDS = range(1, 17)


def _cli(*args: str, hash_seed: str = "123") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    return subprocess.run([sys.executable, "-m", "focusflow", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_campaign_finds_shrinks_and_replays_the_planted_quorum_bug(tmp_path: Path) -> None:
    summary = run_campaign(SEEDS, BUGGY, jobs=2, out_dir=tmp_path, shrink_max=1,
                           progress=False)
    failing = [r for r in summary["results"] if not r["ok"]]
    assert failing, "the campaign did not find the planted bug"
    assert summary["failures"] == len(failing) and summary["faults_injected"] > 0
    first = failing[0]
    assert first["violations"][0]["invariant"] == "quorum.agreement"
    assert Path(first["trace"]).exists()

    # shrunk: one partition is enough, and it still fails
    (shrunk,) = summary["shrunk"]
    assert shrunk["seed"] == first["seed"] and shrunk["still_fails"]
    assert shrunk["faults_before"] >= 2 and shrunk["faults_after"] == 1
    assert shrunk["schedule"][0]["kind"] == "partition"
    minimal = [fault_from_dict(f) for f in shrunk["schedule"]]
    assert load_plan(shrunk["plan"]).faults == tuple(minimal)  # the TOML it wrote

    # replayed exactly, in a fresh process with another hash seed, to the violation
    out = _cli("replay", shrunk["trace"], "--until-violation", "--json",
               "--inspect", "n0:/user/sup/replica")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["reproduced"] and report["first_mismatch"] is None
    assert report["violations"][0]["invariant"] == "quorum.agreement"
    assert report["stopped_at_step"] == report["recorded_violations"][0]["step"]
    assert report["inspect"]["core"]["quorum"] == "2"  # the planted rule, visible

    # without the bug, the minimal schedule (and the whole campaign) passes
    fixed, _ = run_seed(first["seed"], FIXED.with_faults(minimal))
    assert fixed["ok"], fixed["violations"]
    clean = run_campaign(SEEDS, FIXED, jobs=2, out_dir=tmp_path / "fixed", progress=False)
    assert clean["failures"] == 0


def test_a_failing_seed_is_deterministic_across_processes(tmp_path: Path) -> None:
    faults = [fault_from_dict({"kind": "partition", "at_ms": 500, "groups": [["n0", "n1"]],
                               "heal_after_ms": 800})]
    here, _ = run_seed(1, BUGGY.with_faults(faults))
    assert not here["ok"]
    plan = tmp_path / "p.toml"
    plan.write_text('duration_ms = 2000\n[options]\nbug = "quorum_off_by_one"\n'
                    '[[faults]]\nkind = "partition"\nat_ms = 500\ngroups = [["n0", "n1"]]\n'
                    'heal_after_ms = 800\n')
    for hash_seed in ("1", "999"):
        out = _cli("chaos", "--seeds", "1", "--plan", str(plan), "--json", "--jobs", "1",
                   "--no-shrink", "--out", str(tmp_path / hash_seed), hash_seed=hash_seed)
        assert out.returncode == 1, out.stderr
        (result,) = json.loads(out.stdout)["results"]
        assert result["trace_hash"] == here["trace_hash"]
