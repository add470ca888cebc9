"""A validator whose data folder was wiped (``rm -rf data``: the double-sign guard goes
with it) must not sign again at rounds it may have signed (issue 16, finding 10). It used
to start as a fresh validator at round 1 and sign rounds it had signed before.

Four validators in this process; a signs for a while, stops, loses its data, restarts:
it follows, and rejoins only with a watermark above the network's certified round, so
every round it signs after the wipe is above every round it signed before."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from focusflow.node import client
from tests.node.live import committee_homes, live_nodes

pytestmark = pytest.mark.timeout(150)


def wait_for(what: str, timeout_s: float, cond) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_validator_that_lost_its_guard_follows_then_signs_only_above_the_network(
        tmp_path: Path) -> None:
    configs = committee_homes(tmp_path, ["a", "b", "c", "d"])
    guard = tmp_path / "a" / "data" / "last_signed_state.json"
    assert json.loads(guard.read_text()) == {"round": 0, "height": 0}  # init: nothing signed
    with live_nodes(configs[1:]) as others:
        with live_nodes(configs[:1]) as (a,):
            wait_for("a to sign a few rounds", 60,
                     lambda: client.get(a, "/status")["validator"]["last_signed"]["round"] >= 6)
        before = json.loads(guard.read_text())["round"]
        shutil.rmtree(tmp_path / "a" / "data")  # the operator's rm -rf data
        with live_nodes(configs[:1]) as (a,):
            v = client.get(a, "/status")["validator"]
            assert v["mode"] == "follower" and "guard missing" in v["mode_reason"], v
            wait_for("a to rejoin", 90, lambda: client.get(a, "/status")["validator"]["mode"]
                     == "consensus")
            after = client.get(a, "/status")["validator"]["last_signed"]["round"]
            assert after > before, (before, after)  # nothing at or below what it signed
            height = client.get(others[0], "/status")["validator"]["finalized_height"]
            wait_for("the chain to go on", 30, lambda: client.get(
                others[0], "/status")["validator"]["finalized_height"] > height + 2)
