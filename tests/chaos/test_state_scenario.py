"""The state actor under chaos: acknowledged blocks survive crashes, kills, failed fsyncs."""

from __future__ import annotations

import pytest

from focusflow.chaos.campaign import run_campaign, run_seed
from focusflow.chaos.faults import fault_from_dict
from focusflow.chaos.plan import FaultPlan
from focusflow.supervisor import Database
from focusflow.supervisor._database import image_key

KINDS = ("crash_node", "kill_actor", "fsync_fail", "disk_full", "partition")
CRASHES = [fault_from_dict({"kind": "crash_node", "at_ms": t, "node": "s0",
                            "restart_after_ms": 30.0}) for t in (150.0, 400.0, 650.0)]


def test_acknowledged_blocks_survive_generated_faults(tmp_path: object) -> None:
    plan = FaultPlan(scenario="state", duration_ms=1_000, generate_count=5,
                     generate_kinds=KINDS)
    summary = run_campaign(range(1, 5), plan, jobs=1, out_dir=str(tmp_path), progress=False)
    assert summary["failures"] == 0, [r["violations"] for r in summary["results"]]
    assert summary["faults_injected"] >= 10
    assert all(r["scenario"]["blocks_acknowledged"] > 0 for r in summary["results"])


def test_the_invariant_catches_an_ack_before_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant a durability bug (a commit returns before its image is synced): crashes
    lose acknowledged blocks, and the invariant says so."""

    def write_without_sync(self: Database) -> None:
        self._storage.write(image_key(self.name), self.image())  # type: ignore[union-attr]

    plan = FaultPlan(scenario="state", duration_ms=1_000).with_faults(CRASHES)
    good, _ = run_seed(1, plan)
    assert good["ok"], good["violations"]
    monkeypatch.setattr(Database, "_sync_image", write_without_sync)
    bad, _ = run_seed(1, plan)
    names = {v["invariant"] for v in bad["violations"]}
    assert "state.acknowledged_blocks_durable" in names, bad["violations"]


def test_an_invalid_signature_flood_changes_nothing() -> None:
    flood = fault_from_dict({"kind": "byzantine", "at_ms": 0.0, "node": "c0",
                             "behaviour": "state.invalid_signature_flood",
                             "params": {"count": 24}})
    plan = FaultPlan(scenario="state", duration_ms=600)
    result, _ = run_seed(2, plan.with_faults([flood, *CRASHES[:1]]))
    assert result["ok"], result["violations"]
    assert result["faults_injected"] == 2 and result["scenario"]["blocks_acknowledged"] > 5
    assert result["scenario"]["txs_rejected"] >= 24 * 5  # the forged txs did arrive
    quiet, _ = run_seed(2, plan.with_faults(CRASHES[:1]))
    assert quiet["scenario"]["txs_rejected"] == 0
