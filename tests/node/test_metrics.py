"""A node's /metrics passes ``promtool check metrics`` (Prometheus' own linter: base units,
counter suffixes, complete summaries), and its summaries are cumulative."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from focusflow.node.app import render_metrics
from focusflow.node.config import load_settings
from tests.node.test_http import get_from_started_node, two_validator_home
from tests.support import require_tool


def _promtool(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.anyio
async def test_a_nodes_metrics_pass_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    assert promtool
    settings = load_settings(two_validator_home(tmp_path))
    # after a few loop-stall ticks
    metrics = await get_from_started_node(settings, "/metrics", settle_s=0.1)
    assert isinstance(metrics, str) and "focusflow_loop_stall_seconds_count" in metrics
    result = _promtool(metrics)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def _status(**over: Any) -> dict[str, Any]:
    """A status dict as a running node reports it, with every series populated."""
    base: dict[str, Any] = {
        "validator": {"finalized_height": 7, "state_height": 7, "links_committed": 3,
                      "round": 12, "counters": {"submitted": 4},
                      "finality_ms_p50": 120.0, "finality_ms_p99": 300.0,
                      "finality_count": 9, "finality_ms_total": 1500.0,
                      "pi": {"height": 7, "particles": 5, "ms_p50": 2.0, "ms_p99": 4.0,
                             "ms_total": 30.0, "samples": 12, "count": 12}},
        "loop": {"ticks": 100, "stall_ms_p50": 0.5, "stall_ms_p99": 3.0, "stall_ms_max": 9.0,
                 "stall_ms_total": 80.0},
        "peers_connected": ["b"], "handshakes_refused": 0,
        "peers": {"b": dict.fromkeys(("frames_sent", "frames_received", "bytes_sent",
                                      "bytes_received", "dropped_queue_full", "forged",
                                      "oversized", "connects", "disconnects"), 1)},
        "runtime": {"delivered": 10, "crashes": 0},
        "actors": [{"path": "/user/node", "mailbox_depth": 0, "restarts": 1}],
    }
    base.update(over)
    return base


def test_populated_metrics_pass_promtool_and_use_base_units() -> None:
    text = render_metrics(_status())
    result = _promtool(text)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    lines = text.splitlines()
    assert 'focusflow_finality_seconds{quantile="0.5"} 0.12' in lines
    assert "focusflow_finality_seconds_sum 1.5" in lines
    assert "focusflow_finality_seconds_count 9" in lines
    assert "focusflow_pi_seconds_sum 0.03" in lines
    assert "focusflow_loop_stall_seconds_sum 0.08" in lines
    assert "focusflow_loop_stall_seconds_count 100" in lines
    assert not [line for line in lines if "_ms" in line.split(" ")[0 if line[0] != "#" else 2]]
