"""A node in-process: /alive, /ready, /status, /metrics, /actors, client API, ordered stop."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from focusflow.actors.consensus.crypto import Signer
from focusflow.cli import main
from focusflow.node import client
from focusflow.node.app import run_node
from focusflow.node.config import init_home, load_settings, peer_toml, write_genesis
from focusflow.node.focus import EMPTY_ROOT
from focusflow.node.logs import configure_logging
from focusflow.node.validator import CommitteeEntry

pytestmark = pytest.mark.anyio


def two_validator_home(tmp: Path) -> Path:
    """Node a of a 2-validator genesis whose peer b is listed but never started."""
    vseeds = [bytes([7]) * 32, bytes([8]) * 32]
    b = init_home(tmp / "b", name="b", validator_seed=vseeds[1])
    peers = tmp / "a" / "config" / "peers"
    peers.mkdir(parents=True)
    (peers / "b.pem").write_bytes((tmp / "b" / "config" / "node_cert.pem").read_bytes())
    init_home(tmp / "a", name="a", validator_seed=vseeds[0], p2p_listen="127.0.0.1:0",
              http_listen="127.0.0.1:0", node_seed=bytes([5]) * 32,
              peers_toml=peer_toml("b", "127.0.0.1:9", b.node_public_key, "config/peers/b.pem"))
    committee = [CommitteeEntry("a", Signer(vseeds[0]).public_key, 1),
                 CommitteeEntry("b", Signer(vseeds[1]).public_key, 1)]
    write_genesis(tmp / "a" / "config" / "genesis.json", "focusflow-local", committee)
    return tmp / "a" / "config" / "node.toml"


async def http_get(url: str, path: str) -> Any:
    return await anyio.to_thread.run_sync(lambda: client.get(url, path))


async def test_node_serves_status_metrics_actors_and_stops_in_order(tmp_path: Path) -> None:
    settings = load_settings(two_validator_home(tmp_path))
    logs = io.StringIO()
    configure_logging(fmt="json", stream=logs)
    stop = anyio.Event()
    ports: list[int] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_node(settings, stop=stop,
                                           on_started=lambda p, h: ports.extend((p, h))))
            with anyio.fail_after(10):
                while not ports:
                    await anyio.sleep(0.02)
            url = f"http://127.0.0.1:{ports[1]}"
            assert (await http_get(url, "/alive")).strip() == "alive"
            ready = await http_get(url, "/ready")
            assert ready["http_status"] == 503 and "need 1" in ready["body"]  # b is down
            st = await http_get(url, "/status")
            assert st["node"] == "a" and st["validator"]["mode"] == "consensus"
            assert st["peers"]["b"]["connected"] is False
            pi = st["validator"]["pi"]  # genesis: the empty graph's commitment, not zeros
            assert pi["height"] == 0 and pi["root"] == EMPTY_ROOT.hex() and pi["committed"]
            assert await http_get(url, "/v1/pi_roots?arg=0:0") == [[0, EMPTY_ROOT.hex()]]
            paths = [a["path"] for a in st["actors"]]
            assert paths == ["/user/node", "/user/node/validator"]
            metrics = await http_get(url, "/metrics")
            for series in ("focusflow_finalized_height 0", "focusflow_links_committed_total 0",
                           'focusflow_transport_forged_total{peer="b"} 0',
                           "focusflow_runtime_crashes_total 0", "focusflow_pi_height 0",
                           'focusflow_actor_restarts_total{path="/user/node/validator"} 0'):
                assert series in metrics, series
            one = await http_get(url, "/actors/user/node/validator")
            assert one["class"] == "Validator" and one["restarts"] == 0
            bad = await http_get(url, "/v1/nosuchquery")
            assert "error" in bad
            st2 = await http_get(url, "/status")
            assert st2["validator"]["mode"] == "consensus"  # a bad query crashed nothing
            assert (await anyio.to_thread.run_sync(
                lambda: client.submit(url, [b"\x00" * 16], [1])))["accepted"] == 0
            page = await http_get(url, "/")  # the live page polls these endpoints
            assert all(x in page for x in ("Supervisor tree", "/status", "/v1/blocks", "/v1/top"))
            denied = await anyio.to_thread.run_sync(
                lambda: client.post_json(url, "/actors/user/node/validator/restart"))
            assert "read-only" in denied["error"]  # actors_write is off by default
            # the operator's commands: data on stdout, JSON on request
            out = io.StringIO()
            for argv in (["status", "--url", url, "--output", "json"],
                         ["actors", "list", "--url", url, "--output", "json"],
                         ["query", "blocks", "--url", url, "--output", "json"]):
                with contextlib.redirect_stdout(out):
                    assert await anyio.to_thread.run_sync(main, argv) == 0
            lines = out.getvalue().splitlines()
            assert json.loads(lines[0])["node"] == "a"
            assert [a["path"] for a in json.loads(lines[1])][-1] == "/user/node/validator"
            assert json.loads(lines[2]) == []
            stop.set()
    finally:
        structlog.reset_defaults()
    text = logs.getvalue()
    steps = [s for s in ("\"step\": \"http\"", "\"step\": \"actors\"", "\"step\": \"transport\"")
             if s in text]
    assert len(steps) == 3 and text.index(steps[0]) < text.index(steps[1]) < text.index(steps[2])
    assert "node_stopped" in text
    secret = (bytes([7]) * 32).hex()
    assert secret not in text and (bytes([5]) * 32).hex() not in text


async def get_from_started_node(settings: Any, path: str, *, settle_s: float = 0.0) -> Any:
    """Start ``run_node(settings)`` in this event loop, GET ``path`` from its HTTP port
    once it listens (after ``settle_s``), stop it, and return the decoded answer."""
    stop = anyio.Event()
    ports: list[int] = []
    answer: Any = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: run_node(settings, stop=stop,
                                       on_started=lambda p, h: ports.extend((p, h))))
        with anyio.fail_after(10):
            while not ports:
                await anyio.sleep(0.02)
        await anyio.sleep(settle_s)
        answer = await http_get(f"http://127.0.0.1:{ports[1]}", path)
        stop.set()
    return answer
