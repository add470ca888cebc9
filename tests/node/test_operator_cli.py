"""Operator commands (issue 20 item 2): ``focusflow testnet`` homes make blocks when run as
four ``focusflow node`` processes; a home in use, a busy port, a missing home and a thing
not found each end in one clear line and a non-zero exit."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from focusflow.actors.state.ids import cid_of, cid_to_base58, cid_to_text
from focusflow.cli import main
from focusflow.node import client


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse, or a command's one-line error
            code = exc.code if isinstance(exc.code, int) else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
    return code, out.getvalue(), err.getvalue()


def _node(home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "focusflow.node", "--home", str(home),
                             "--log-format", "json"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_testnet_homes_make_blocks_and_errors_are_one_line(tmp_path: Path) -> None:
    code, out, _ = _cli("testnet", "--validators", "4", "--out", str(tmp_path / "net"),
                        "--base-port", "0", "--json")
    assert code == 0
    nodes = json.loads(out)["nodes"]
    genesis = {(Path(n["home"]) / "config" / "genesis.json").read_text() for n in nodes}
    assert len(genesis) == 1  # one genesis, four homes
    assert _cli("testnet", "--validators", "4", "--out", str(tmp_path / "net"))[0] == 1
    procs = [_node(Path(n["home"])) for n in nodes]
    try:
        deadline = time.monotonic() + 60
        while True:
            heights = []
            for n in nodes:
                with contextlib.suppress(client.NodeUnavailable):
                    heights.append(client.get(n["http"], "/status")["validator"]
                                   ["finalized_height"])
            if len(heights) == 4 and min(heights) >= 2:
                break
            assert time.monotonic() < deadline, f"no blocks: heights {heights}"
            assert all(p.poll() is None for p in procs), [p.poll() for p in procs]
            time.sleep(0.3)
        # a second process on a home in use refuses to start, in one line
        second = _node(Path(nodes[0]["home"]))
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1 and "is in use by another focusflow node" in lines[0], lines
        # a busy port names its key in node.toml
        other = tmp_path / "other"
        assert _cli("init", "--home", str(other), "--p2p-listen", nodes[1]["p2p"],
                    "--http-listen", "127.0.0.1:0")[0] == 0
        code, _, err = _cli("node", "--home", str(other))
        assert code == 2 and err.count("\n") == 1
        assert "p2p.listen" in err and "node.toml" in err and "in use" in err, err
        # not found exits non-zero; status text has no "None"
        code, out, err = _cli("query", "block", "99999", "--url", nodes[0]["http"])
        assert code == 4 and out == "" and "not found" in err
        code, out, _ = _cli("status", "--url", nodes[0]["http"])
        assert code == 0 and "None" not in out
        code, out, _ = _cli("query", "block", "1", "--url", nodes[0]["http"], "--json")
        assert code == 0 and json.loads(out)["height"] == 1
        raw = cid_of(b"a particle nobody linked")  # every accepted form of its id
        text = cid_to_text(raw)
        for form in (text, "B" + text[1:].upper(), cid_to_base58(raw), raw.hex()):
            code, out, err = _cli("query", "links", form, "--url", nodes[0]["http"], "--json")
            assert (code, out.strip()) == (0, "[]"), (form, err)
        for form in (text, "B" + text[1:].upper(), cid_to_base58(raw)):  # HTTP too
            assert client.get(nodes[0]["http"], f"/v1/links?arg={form}") == []
        bad = client.get(nodes[0]["http"], f"/v1/links?arg={text[:-1]}7")  # pad bits set
        assert "pad bits" in bad["error"]
        code, _, err = _cli("query", "links", text + "=", "--url", nodes[0]["http"])
        assert code != 0 and "padding" in err  # non-canonical text refused
        top = client.get(nodes[0]["http"], "/v1/top?arg=1")  # the display form is b… text
        assert all(t["cid"].startswith("b") for t in top)
    finally:
        for p in procs:
            p.terminate()
        codes = [p.wait(timeout=30) for p in procs]
    assert codes == [0] * 4, codes


def test_missing_home_hints_init(tmp_path: Path) -> None:
    code, _, err = _cli("node", "--home", str(tmp_path / "nowhere"))
    assert code == 2 and err.count("\n") == 1
    assert "no node home at" in err and "focusflow init --home" in err
