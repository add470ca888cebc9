"""A node whose supervisor tree gives up exits non-zero (issue 16, finding 6): a real
``focusflow node`` process, its data dir made unusable under it, its validator restarted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from focusflow.cli.node import EXIT_NODE_FAILED
from focusflow.node.config import init_home


def test_the_process_exits_non_zero_when_its_top_supervisor_gives_up(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home, name="solo", p2p_listen="127.0.0.1:0", http_listen="127.0.0.1:0")
    config = home / "config" / "node.toml"
    text = config.read_text()
    assert "actors_write = false" in text
    config.write_text(text.replace("actors_write = false", "actors_write = true"))
    log_path = tmp_path / "node.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "focusflow", "node", "--home", str(home),
                                 "--log-format", "json"], stdout=log, stderr=subprocess.STDOUT,
                                env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        port = 0
        while not port:
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
            for line in log_path.read_text().splitlines():
                if '"node_started"' in line:
                    port = json.loads(line)["http_port"]
            time.sleep(0.1)
        data = home / "data"
        data.rename(home / "data.moved")
        data.write_text("not a directory: every start of the validator fails now")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/actors/user/node/validator/restart", method="POST")
        urllib.request.urlopen(req, timeout=10).read()
        rc = proc.wait(timeout=60)  # before the fix: still up, /ready 503 forever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = log_path.read_text()
    assert rc == EXIT_NODE_FAILED, out[-3000:]
    assert '"node_failed"' in out and "supervisor tree stopped" in out
