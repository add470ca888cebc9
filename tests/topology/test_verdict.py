"""The devnet's safety verdicts (issue 21): a difference is named, a failed read is not one.

The homes here are real block logs and state files in the node's schema (written with
``BlockLog`` and the focus tables), the HTTP nodes real sockets; no process is started.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from focusflow.cli.devnet import summary_lines
from focusflow.node.chain import _FOCUS_SCHEMA, BlockLog
from focusflow.node.messages import BlockRecord
from focusflow.supervisor import open_file_database
from focusflow.topology.devnet import (
    Devnet,
    RunReport,
    check_agreement,
    check_durable_agreement,
    free_ports,
)
from focusflow.topology.verdict import AGREE, DISAGREE, UNMEASURED, compare

HEIGHTS = 6


def _digest(h: int) -> bytes:
    return bytes([h]) * 32


def _write_home(home: Path, *, forge_at: int | None = None, forge_pi_at: int | None = None) -> None:
    data = home / "data"
    data.mkdir(parents=True)
    log = BlockLog(open_file_database(data / "blocks.sqlite"))
    for h in range(1, HEIGHTS + 1):
        d = b"\xee" * 32 if h == forge_at else _digest(h)
        log.append(BlockRecord(h, b"header", d, (), (0,), (b"s" * 64,)), 1)
    log.close()
    conn = sqlite3.connect(data / "state.sqlite")
    conn.executescript(_FOCUS_SCHEMA)
    for h in range(1, HEIGHTS + 1):
        root = b"\xaa" * 32 if h == forge_pi_at else bytes([100 + h]) * 32
        conn.execute("INSERT INTO focus_block VALUES (?, ?, 0, 0, 0, 0.0)", (h, root))
    conn.commit()
    conn.close()


def _report(net: Devnet, verdicts: Any) -> tuple[RunReport, dict[str, Any]]:
    report = RunReport(validators=len(net.nodes), duration_s=1.0, heights=[HEIGHTS] * 4,
                       links=[HEIGHTS] * 4, elapsed_s=1.0)
    report.agreement, report.pi_agreement = verdicts
    return report, report.summary()


def test_forged_digest_is_named_with_height_nodes_and_both_digests(tmp_path: Path) -> None:
    net = Devnet(tmp_path, validators=4)
    for i, n in enumerate(net.nodes):
        _write_home(n.home, forge_at=4 if i == 2 else None)
    report, summary = _report(net, check_durable_agreement(net, [0, 1, 2, 3]))
    assert summary["agreement"] is False and summary["agreement_verdict"] == DISAGREE
    div = summary["divergence"]
    assert div["first_height"] == 4
    assert div["values"]["node2"] == (b"\xee" * 32).hex()
    assert {div["values"][f"node{i}"] for i in (0, 1, 3)} == {_digest(4).hex()}
    assert summary["pi_root_verdict"] == AGREE and summary["unmeasured_nodes"] == {}
    text = "\n".join(summary_lines(summary, report))
    assert "DIFFER at height 4" in text and "node2 have " + "ee" * 32 in text
    assert "node0,node1,node3 have " + _digest(4).hex() in text


def test_forged_pi_root_and_unreadable_home(tmp_path: Path) -> None:
    net = Devnet(tmp_path, validators=4)
    for i, n in enumerate(net.nodes[:3]):
        _write_home(n.home, forge_pi_at=2 if i == 1 else None)
    blocks, pis = check_durable_agreement(net, [0, 1, 2, 3])  # node3's home is empty
    assert blocks.status == UNMEASURED and "node3" in blocks.unmeasured
    assert pis.status == DISAGREE and pis.first_height == 2 and pis.values["node1"] == "aa" * 32
    _, summary = _report(net, (blocks, pis))
    assert summary["agreement_verdict"] == DISAGREE  # a real difference outranks a gap
    assert "does not exist" in summary["unmeasured_nodes"]["node3"]


def test_a_hole_below_the_tip_is_a_difference() -> None:
    full = [(h, f"{h:064x}") for h in range(1, 5)]
    holed = [r for r in full if r[0] != 2]
    v = compare("block digest", {"a": full, "b": holed})
    assert v.status == DISAGREE and v.first_height == 2 and v.values["b"] == "(missing)"
    assert compare("block digest", {"a": full}).status == UNMEASURED  # nothing to compare


class _Node(BaseHTTPRequestHandler):
    """Serves /v1/blocks rows of a healthy chain, or fails as ``server.mode`` says."""

    def do_GET(self) -> None:
        mode = self.server.mode  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        if mode == "busy":
            body, status = json.dumps({"error": "ActorError: validator restarting"}), 503
        else:
            a, b = (int(x) for x in parse_qs(url.query)["arg"][0].split(":"))
            rows = [[h, _digest(h).hex()] for h in range(a, min(b, HEIGHTS) + 1)]
            body, status = json.dumps(rows), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_net(tmp_path: Path) -> Iterator[tuple[Devnet, list[ThreadingHTTPServer]]]:
    net = Devnet(tmp_path, validators=4)
    servers = []
    for n in net.nodes[:3]:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
        srv.mode = "ok"  # type: ignore[attr-defined]
        n.http_port = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    net.nodes[3].http_port = free_ports(1)[0]  # nobody listens there
    yield net, servers
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_failed_http_answers_are_unmeasured_not_disagreement(
        http_net: tuple[Devnet, list[ThreadingHTTPServer]]) -> None:
    net, servers = http_net
    assert check_agreement(net, [0, 1, 2]).status == AGREE
    servers[1].mode = "busy"  # type: ignore[attr-defined]  # answers 503 with an error body
    v = check_agreement(net, [0, 1, 2, 3])
    assert v.status == UNMEASURED and v.heights_checked == HEIGHTS
    assert set(v.unmeasured) == {"node1", "node3"}
    assert "validator restarting" in v.unmeasured["node1"]
    report, summary = _report(net, (v, v))
    assert summary["agreement"] is False and summary["agreement_verdict"] == UNMEASURED
    assert summary["divergence"] is None
    text = "\n".join(summary_lines(summary, report))
    assert "DIFFER" not in text and "unmeasured on 2 node(s)" in text
