"""A live devnet node's recording replays exactly (issue 15 item 5): ``focusflow devnet
--record DIR`` makes every node process record its inputs (``focusflow node --record``);
``focusflow replay`` re-runs one node's recording inside the ``Simulation`` (a fed node,
FIFO scheduler) — the same steps, every recorded input consumed at its step, every clock and storage read
matched, the same frames sent — with its real validator tree, door and databases."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from focusflow.chaos.record_replay import replay_recording
from focusflow.node.validator import VALIDATOR_PATH
from focusflow.topology.devnet import Devnet, Workload
from tests.node.test_devnet_e2e import feed


def test_every_node_of_a_recorded_devnet_replays_exactly(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    net = Devnet(tmp_path / "homes", validators=4, leader_timeout_ms=500, record_dir=record)
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        assert feed(net, Workload(chain_id=net.chain_id, seed=5, links_per_tx=10), 2.0) > 0
        live = net.status(2)["validator"]
    finally:
        net.stop()
    assert live["finalized_height"] > 0
    for i in range(4):
        path = record / f"node{i}.rec.gz"
        report = replay_recording(path, inspect=f"node{i}:{VALIDATOR_PATH}")
        assert report["reproduced"], (i, {k: report[k] for k in (
            "error", "first_output_difference", "inputs_left", "clock_reads_left",
            "outputs_hash_equal", "stopped_at_step", "recorded_steps")})
        assert report["unsupported"] == [] and report["outputs"] == report["recorded_outputs"] > 0
        assert report["inspect"]["class"] == "Validator"  # the production validator ran
        assert report["runtime"] == "focusflow.sim.Simulation"
    # the replayed validator ends where the live one was (at least as far as asked above)
    state = replay_recording(record / "node2.rec.gz", inspect=f"node2:{VALIDATOR_PATH}")
    assert state["inspect"]["state"]["mode"] == "'consensus'"

    # a recording that was tampered with does not reproduce, and says where
    with gzip.open(record / "node1.rec.gz", "rt") as fh:
        doc = json.load(fh)
    frames = [k for k, e in enumerate(doc["events"]) if e[0] == "F"]
    lost = doc["events"].pop(frames[len(frames) // 2])  # a peer's frame never arrived
    bad = tmp_path / "bad.rec.gz"
    with gzip.open(bad, "wt") as fh:
        json.dump(doc, fh)
    report = replay_recording(bad)
    assert not report["reproduced"]
    # everything up to the step where the frame came in replays the same
    assert report["first_mismatch"] > lost[1], report
