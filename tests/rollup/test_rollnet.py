"""The rollup network as separate OS processes on loopback (``focusflow.topology.rollnet``).

Each test starts every node of the rollups topology as its own process (mutual TLS,
Cap'n Proto frames), feeds links for a few seconds while kill -9'ing and restarting a
process, drains, stops every node with SIGTERM and checks the joined figures. After
that, each test breaks the records the checks read (a hub log entry repeated, the
merged π changed), to show the checks catch what they claim to catch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from focusflow.actors.hub.actor import LOG_PREFIX
from focusflow.actors.rollup.messages import HubState
from focusflow.topology.rollnet import (
    Fault,
    Rollnet,
    check_delivery,
    check_global_pi,
    crash_plan,
    drive,
)
from focusflow.topology.rollnet_node import DATA_DIR, FINAL_NAME, read_records, write_records
from focusflow.wire import from_bytes, to_bytes

pytestmark = pytest.mark.timeout(180)


def _settled(s: dict[str, Any], *, processes: int, liar: bool = False) -> None:
    """What every run must show: figures present and finite, nothing lost, stopped cleanly
    (with a liar, its claims from the first lie on are sent but never merged)."""
    assert s["processes"] == processes
    assert all(code == 0 for code in s["exit_codes"].values()), s["exit_codes"]
    assert s["unknown_destination"] == 0 and s["dropped_queue_full"] == 0
    assert s["links_ordered"] > 0 and math.isfinite(s["links_per_s"]) and s["links_per_s"] > 0
    assert s["latency_samples"] > 0
    assert 0 < s["global_sync_ms_p50"] <= s["global_sync_ms_p99"] < 60_000
    assert s["all_claims_merged"], s["drain"]
    assert (s["claims_merged"] < s["claims_sent"]) if liar else (
        s["claims_merged"] == s["claims_sent"] > 0)
    assert s["global_pi_consistent"], (s["pi_error"], s["pi_bound"], s["pi_check"])
    assert s["pi_error"] <= s["pi_bound"]
    assert s["no_gap"] and s["no_double_delivery"], s["delivery_problems"]


def _repeat_a_receipt(home: Path) -> None:
    """Append a copy of the hub's first logged packet receipt as a later log entry."""
    from focusflow.actors.hub.actor import EV_RECV
    from focusflow.actors.rollup.messages import HubEvent

    logs = sorted((home / DATA_DIR).glob(f"{LOG_PREFIX}*"))
    first = next(p for p in logs if from_bytes(HubEvent, p.read_bytes()).kind == EV_RECV)
    (home / DATA_DIR / f"{LOG_PREFIX}{len(logs):012d}").write_bytes(first.read_bytes())


def _perturb_pi(home: Path) -> None:
    """Move 1e-6 of π mass from one particle to another in the top hub's final record."""
    path = home / FINAL_NAME
    out = []
    for tag, data in read_records(path):
        if tag == "hub_state":
            st = from_bytes(HubState, data)
            pi = st.pi.copy()
            step = np.uint64(2**60 // 1_000_000)
            pi[0] += step
            pi[-1] -= step
            data = to_bytes(HubState(st.height, st.root, st.periods, st.credits, pi,
                                     st.buckets, st.slashed, st.pool))
        out.append((tag, data))
    write_records(path, out)


def test_one_hub_net_survives_kill_9_of_a_sequencer_the_hub_and_the_da_grid(
        tmp_path: Path) -> None:
    # rollup0 is kill -9'd mid-run (its batch and claim log replayed on restart), then the
    # hub (its event log), then the DA grid (its synced squares)
    net = Rollnet(tmp_path, {"rollups": 2, "hubs": 1, "rollup_links": 20})
    net.setup()
    s = drive(net, duration_s=4.0, drain_s_max=25.0,
              faults=[Fault("rollup0", 1.0, 1.0), Fault("hub0", 1.5, 1.0),
                      Fault("da", 2.8, 0.8)])
    _settled(s, processes=7)
    assert s["hub_restarts"] == 1 and s["process_restarts"] == 3
    assert s["hubs"] == 1 and s["rollups"] == 2
    seq = net.actor("rollup0", "seq")
    assert seq is not None and seq["replayed"] > 0  # it resumed from its log, not from 0
    # the restarted sequencer kept its numbering: the hub holds every claim it sent, once,
    # in order (no_gap / no_double_delivery above), and every one of them was merged
    top = net.actor("hub0", "hub")
    assert top is not None and top["snapshot"][seq["bucket"]] == seq["period"] > 1
    json.dumps(s)  # the CLI prints it as one JSON object

    _repeat_a_receipt(net.nodes["hub0"].home)
    _, once, problems = check_delivery(net)
    assert not once and problems
    _perturb_pi(net.nodes["hub0"].home)
    consistent, err, bound, _ = check_global_pi(net)
    assert not consistent and err > bound


def test_regional_hubs_net_survives_kill_9_and_slashes_a_liar(tmp_path: Path) -> None:
    # rollup 1 lies from its 2nd claim, relayers drop, duplicate, reorder and delay, and
    # the relayer, the watcher and the regional hub are kill -9'd and restarted mid-run:
    # the watcher process still proves the fraud to the regional hub process, which slashes
    net = Rollnet(tmp_path, {"rollups": 3, "hubs": 2, "rollup_links": 20, "rollup_liar": 1,
                             "relayer_faults": True})
    net.setup()
    s = drive(net, duration_s=4.0, drain_s_max=25.0,
              faults=[Fault("relayer", 1.2, 0.8), Fault("watcher", 1.6, 0.8),
                      Fault("hub1", 2.2, 1.0)])
    _settled(s, processes=9, liar=True)
    assert s["hub_restarts"] == 1 and s["process_restarts"] == 3
    watcher = net.actor("watcher", "watcher")
    assert watcher is not None and watcher["resyncs"] >= 1  # it asked the hub after restart
    assert s["slashed"] == 1 and s["packets_refused"] > 0
    top, region = net.actor("hub0", "hub"), net.actor("hub1", "hub")
    assert top is not None and region is not None
    periods = {}
    for i in range(3):
        seq = net.actor(f"rollup{i}", "seq")
        assert seq is not None
        periods[i] = (seq["bucket"], seq["period"])
    liar_bucket, liar_sent = periods[1]
    assert liar_sent > 1 and top["accepted"][liar_bucket] == 1  # frozen at its honest claim
    for i in (0, 2):
        bucket, sent = periods[i]
        assert top["accepted"][bucket] == top["snapshot"][bucket] == sent
    # the regional hub forwarded every claim it accepted over its own ordered channel
    assert region["channels"]["up"][0] - 1 == s["claims_merged"]

    # a packet logged twice on the regional hub's channel from a sequencer is caught
    _repeat_a_receipt(net.nodes["hub1"].home)
    gap_free, once, _ = check_delivery(net)
    assert not once and not gap_free


def test_final_records_round_trip_and_a_cut_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FINAL_NAME
    records = [("hub_meta", b"{}"), ("square", bytes(range(256)) * 3), ("claim", b"")]
    assert write_records(path, records) == 3
    assert list(read_records(path)) == records
    raw = path.read_bytes()
    path.write_bytes(raw[:-5])  # a damaged file (writes go through a rename: never half)
    with pytest.raises(ValueError, match=r"runs past the end|truncated"):
        list(read_records(path))


def test_crash_plan_is_seeded_spares_the_client_and_restarts_before_the_next_kill(
        tmp_path: Path) -> None:
    net = Rollnet(tmp_path, {"rollups": 3, "hubs": 2})
    plan = crash_plan(net, every_s=2.0, duration_s=20.0, seed=3)
    assert plan == crash_plan(net, every_s=2.0, duration_s=20.0, seed=3)
    assert plan != crash_plan(net, every_s=2.0, duration_s=20.0, seed=4)
    assert [f.at_s for f in plan] == [2.0 * k for k in range(1, 11)]
    assert all(f.node in net.nodes and f.node != "client" for f in plan)
    assert all(f.down_s <= 1.0 for f in plan)
    assert all(f.down_s <= 0.25 for f in crash_plan(net, every_s=0.5, duration_s=2.0))


def test_devnet_rollup_fault_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from focusflow.cli import main

    assert main(["devnet", "--rollups", "2", "--rollup-liar", "2"]) == 2
    assert "--rollup-liar must be 0..1" in capsys.readouterr().err
    assert main(["devnet", "--rollups", "2", "--crash-every", "0"]) == 2
    assert "--crash-every must be > 0" in capsys.readouterr().err
