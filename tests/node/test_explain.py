"""``node.explain`` without a runtime: the stall rule, the progress watch, the consensus
answer's names, the bounded history."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusflow.actors.consensus.harness import Harness, Scenario
from focusflow.node.app import validator_settings
from focusflow.node.config import ConfigError, init_home, load_settings
from focusflow.node.explain import (
    PEERS_TRACKED_MAX,
    History,
    ProgressWatch,
    StallRule,
    consensus_answer,
)
from focusflow.node.query import KINDS, parse_query

MS = 1_000_000


def test_stall_rule_is_n_intervals_without_a_block() -> None:
    rule = StallRule(block_interval_ms=200, after_intervals=5)
    assert rule.after_ms == 1000
    ok = rule.verdict(7, 1000.0)
    assert not ok["stalled"] and ok["reason"] == "block 7 1.0 s ago"
    bad = rule.verdict(7, 1000.5)
    assert bad["stalled"] and bad["last_block_height"] == 7 and bad["last_block_age_ms"] == 1000.5
    assert bad["reason"] == "no block for 1.0 s after block 7 (over 5 × 200 ms)"
    assert StallRule().verdict(0, 10_001)["reason"].startswith("no block for 10.0 s after genesis")


def test_progress_watch_stamps_a_height_when_first_seen_and_peers_when_heard() -> None:
    w = ProgressWatch()
    w.observe(3, None, "me", 10 * MS)
    w.observe(3, "me", "me", 50 * MS)  # our own messages are not a peer's
    w.observe(3, "b", "me", 60 * MS)
    assert w.age_ms(110 * MS) == 100.0 and w.heard_ns == {"b": 60 * MS}
    w.observe(4, "b", "me", 200 * MS)
    assert w.age_ms(200 * MS) == 0.0 and w.heard_ns["b"] == 200 * MS
    for i in range(PEERS_TRACKED_MAX + 10):
        w.observe(4, f"p{i}", "me", 300 * MS)
    assert len(w.heard_ns) == PEERS_TRACKED_MAX  # bounded: later strangers are not kept
    w.observe(4, "b", "me", 400 * MS)  # a peer already tracked is still updated
    assert w.heard_ns["b"] == 400 * MS and f"p{PEERS_TRACKED_MAX + 9}" not in w.heard_ns


def test_consensus_answer_names_validators_and_peers() -> None:
    h = Harness(Scenario(validators=4, duration_ms=3000, seed=6,
                         crashes=((2, 800, 10_000), (3, 800, 10_000))))
    h.run()
    names = ["n0", "n1", "n2", "n3"]
    w = ProgressWatch()
    w.observe(h.nodes[0].finalized_height, "n1", "n0", 0)
    w.observe(h.nodes[0].finalized_height, "full9", "n0", 1 * MS)
    out = consensus_answer(node="n0", mode="consensus", why="", view=h.nodes[0].view(),
                           names=names, peers=["n1", "n2", "n3"], height=h.nodes[0].finalized_height,
                           watch=w, rule=StallRule(100, 10), now_ns=2500 * MS)
    assert out["validator"] == 0 and out["mode_reason"].startswith("signing")
    core = out["consensus"]
    assert set(core["certificates"]["missing"]) >= {"n2", "n3"}
    assert core["leader"]["validator"] in names and core["leader"]["slot"] == core["round"]
    assert out["stall"]["stalled"] and out["last_commit"]["age_ms"] == 2500.0
    peers = {p["name"]: p for p in out["peers"]}
    assert list(peers) == ["n1", "n2", "n3", "full9"]  # committee first, then others heard
    assert peers["n1"]["last_message_age_ms"] == 2500.0 and peers["n2"]["last_message_age_ms"] is None
    assert peers["full9"]["validator"] is False and peers["n3"]["validator"] is True
    follower = consensus_answer(node="x", mode="follower", why="not in the genesis", view=None,
                                names=names, peers=names, height=0, watch=ProgressWatch(),
                                rule=StallRule(), now_ns=0)
    assert follower["consensus"] is None and follower["validator"] is None


def test_history_is_bounded_and_derives_links_per_second() -> None:
    hist = History(samples_max=3)
    for t, links in ((0.0, 0), (1.0, 10), (2.0, 40), (4.0, 40)):
        hist.add(t, int(t), links, 5.0 if t else None)
    s = hist.series()
    assert s["t"] == [-3.0, -2.0, 0.0] and s["height"] == [1, 2, 4]
    assert s["links_per_s"] == [None, 30.0, 0.0] and s["finality_ms_p50"] == [5.0, 5.0, 5.0]
    assert History().series()["t"] == []


def test_consensus_is_a_query_kind_without_argument() -> None:
    assert "consensus" in KINDS and parse_query("consensus", "").kind == "consensus"


def test_the_stall_rule_is_read_from_node_toml(tmp_path: Path) -> None:
    init_home(tmp_path, name="alpha")
    path = tmp_path / "config" / "node.toml"
    s = load_settings(path)
    assert (s.block_interval_ms, s.stall_after_intervals) == (1000, 10)  # the documented defaults
    assert validator_settings(s).stall == StallRule(1000, 10)
    text = path.read_text()
    path.write_text(text.replace("block_interval_ms = 1000", "block_interval_ms = 250")
                    .replace("stall_after_intervals = 10", "stall_after_intervals = 3"))
    assert validator_settings(load_settings(path)).stall.after_ms == 750
    path.write_text(text.replace("stall_after_intervals = 10", "stall_after_intervals = 0"))
    with pytest.raises(ConfigError, match=r"consensus\.stall_after_intervals"):
        load_settings(path)
