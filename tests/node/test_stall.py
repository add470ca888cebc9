"""A stalled chain explains itself (issue 20): four validators in-process, two stopped;
the other two's ``/ready`` turns 503, ``/status`` and ``focusflow status`` say STALLED
with the age of the last block, ``/v1/consensus`` and ``status --consensus`` name the
two validators whose votes are missing, and the web page shows the stall in red.

The stall rule is shortened in the homes' ``node.toml`` (300 ms × 4) so the test takes
seconds; the rule itself is ``node.explain.StallRule``.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from focusflow.cli import main
from focusflow.node import client
from tests.node.live import committee_homes, live_nodes
from tests.node.test_web_page import body_rows, render
from tests.support import require_tool

pytestmark = pytest.mark.timeout(120)

NAMES = ["node0", "node1", "node2", "node3"]
STOPPED = {"node2", "node3"}
SURVIVORS = {"node0", "node1"}
INTERVAL_MS, AFTER = 300, 4  # stalled after 1.2 s without a block


def wait(what: str, ok: Any, *, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = ok()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two of four validators stopped after blocks were made: the survivors' URLs and
    what they said before the stop."""
    configs = committee_homes(tmp_path_factory.mktemp("stall"), NAMES)
    for c in configs:
        text = c.read_text().replace("block_interval_ms = 1000", f"block_interval_ms = {INTERVAL_MS}")
        c.write_text(text.replace("stall_after_intervals = 10", f"stall_after_intervals = {AFTER}"))
    with live_nodes(configs[:2]) as urls:
        with live_nodes(configs[2:]):
            wait("blocks made", lambda: client.get(urls[0], "/status")["validator"]["finalized_height"] >= 3)
            wait("ready while moving", lambda: client.is_ready(urls[0]))
            before = {"status": client.get(urls[0], "/status"),
                      "consensus": client.get(urls[0], "/v1/consensus"),
                      "metrics": client.get(urls[0], "/metrics")}
        # node2 and node3 stopped (in order): no quorum is left
        yield {"urls": urls, "before": before}


def test_status_ready_and_consensus_report_the_stall(stalled: dict[str, Any]) -> None:
    url = stalled["urls"][0]
    before = stalled["before"]
    assert before["status"]["stall"]["stalled"] is False
    assert "focusflow_chain_stalled 0\n" in before["metrics"]
    assert before["status"]["stall"]["after_ms"] == INTERVAL_MS * AFTER
    moving = before["consensus"]
    assert moving["consensus"]["round"] > 0 and moving["validator"] == 0
    assert {p["name"] for p in moving["peers"]} == {"node1", "node2", "node3"}
    assert all(p["last_message_age_ms"] is not None for p in moving["peers"])

    # 503 at once for the peers lost, and once no block came for the rule's time, for that
    # (until the survivors notice the stop, /ready still answers 200 with a plain-text body)
    ready = wait("/ready 503 stalled",
                 lambda: isinstance(r := client.get(url, "/ready"), dict) and "stalled" in r["body"] and r)
    assert ready["http_status"] == 503 and "1 peers connected, need 2; chain stalled: no block for" \
        in ready["body"], ready
    st = client.get(url, "/status")["stall"]
    assert st["stalled"] and st["last_block_age_ms"] > INTERVAL_MS * AFTER
    assert st["last_block_height"] == client.get(url, "/status")["validator"]["finalized_height"]

    c = client.get(url, "/v1/consensus")
    assert c["stall"]["stalled"] and c["last_commit"]["age_ms"] > INTERVAL_MS * AFTER
    core = c["consensus"]
    # the next round needs 3 certificates of this one; only node0 and node1 can still make
    # theirs, and only with a vote of a stopped validator (those that came before the stop
    # count): so the round's tally is short and names a stopped validator — or, when the
    # stopped two were a round ahead at the stop (their certificates of it are here), it
    # names the survivors, whose own certificates of it need a stopped validator's vote
    assert not core["certificates"]["complete"]
    missing = set(core["certificates"]["missing"])
    votes = core["header_votes"]
    assert missing & STOPPED or missing <= SURVIVORS, (core["certificates"], votes)
    assert votes["complete"] or set(votes["missing"]) & STOPPED, votes
    ages = {p["name"]: p["last_message_age_ms"] for p in c["peers"]}
    assert ages["node2"] > INTERVAL_MS and ages["node3"] > INTERVAL_MS  # silent since the stop
    assert ages["node1"] < ages["node2"]  # node1 is still up (and still talking)

    metrics = client.get(url, "/metrics")
    assert "focusflow_chain_stalled 1\n" in metrics and "focusflow_last_block_age_seconds " in metrics

    rc, text = cli(["status", "--url", url])
    assert rc == 0 and "chain: STALLED: no block for" in text, text
    rc, text = cli(["status", "--url", url, "--consensus"])
    assert rc == 0 and "STALLED" in text and "round certificates" in text, text
    line = next(ln for ln in text.splitlines() if "round certificates" in ln)
    assert line.split("missing")[1].split()[0] == ",".join(core["certificates"]["missing"]), line
    rc, text = cli(["status", "--url", url, "--consensus", "--json"])
    assert rc == 0 and json.loads(text)["stall"]["stalled"] is True


def test_web_page_shows_the_stall_in_red(stalled: dict[str, Any], tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    url = stalled["urls"][1]
    wait("stalled", lambda: client.get(url, "/status")["stall"]["stalled"])
    page = anyio.run(render, chromium, url, tmp_path / "profile")
    assert page.texts["stall"].startswith("chain STALLED: no block for"), page.texts["stall"]
    assert page.classes["stall"] == "stalled"  # white on red (the page's style)
    certs = next(r for r in body_rows(page, "votes") if "certificates" in r[0])
    missing = set(certs[2].split(","))
    assert missing & STOPPED or missing <= SURVIVORS, certs  # as in the JSON test above
