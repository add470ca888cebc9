"""Live nodes in this process, for tests: each ``run_node`` on one event loop in a
background thread, so that synchronous tests (hypothesis among them) talk to them over
HTTP while they run. Faster than processes (``tests/node/test_devnet_e2e.py``) and the
same code: transport, actors, HTTP."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio

from focusflow.actors.consensus.crypto import Signer
from focusflow.net import public_key_of_seed
from focusflow.node.app import run_node
from focusflow.node.config import Settings, init_home, load_settings, peer_toml, write_genesis
from focusflow.node.validator import CommitteeEntry

CHAIN = "focusflow-local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def committee_homes(tmp: Path, names: list[str], *, leader_timeout_ms: int = 300) -> list[Path]:
    """Homes of a validator committee that peer with each other on loopback; the config
    paths (start any subset: the others are listed peers that stay down)."""
    seeds = {n: bytes([7 + i]) * 32 for i, n in enumerate(names)}
    node_seeds = {n: bytes([50 + i]) * 32 for i, n in enumerate(names)}
    ports = {n: free_port() for n in names}
    for n in names:
        peers = "".join(peer_toml(m, f"127.0.0.1:{ports[m]}", public_key_of_seed(node_seeds[m]),
                                  f"config/peers/{m}.pem") for m in names if m != n)
        init_home(tmp / n, name=n, validator_seed=seeds[n], p2p_listen=f"127.0.0.1:{ports[n]}",
                  http_listen="127.0.0.1:0", node_seed=node_seeds[n], peers_toml=peers,
                  leader_timeout_ms=leader_timeout_ms)
    committee = [CommitteeEntry(n, Signer(seeds[n]).public_key, 1) for n in names]
    for n in names:
        (tmp / n / "config" / "peers").mkdir()
        for m in names:
            if m != n:
                (tmp / n / "config" / "peers" / f"{m}.pem").write_bytes(
                    (tmp / m / "config" / "node_cert.pem").read_bytes())
        write_genesis(tmp / n / "config" / "genesis.json", CHAIN, committee)
    return [tmp / n / "config" / "node.toml" for n in names]


@contextlib.contextmanager
def live_nodes(configs: list[Path], *, start_timeout_s: float = 20.0) -> Iterator[list[str]]:
    """Run a node per config until the block ends; yields their HTTP base URLs."""
    settings: list[Settings] = [load_settings(c) for c in configs]
    urls: list[str] = ["" for _ in settings]
    started = threading.Event()
    done = threading.Event()
    failed: list[BaseException] = []

    async def main() -> None:
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            for i, s in enumerate(settings):
                def note(_p2p: int, http: int, i: int = i) -> None:
                    urls[i] = f"http://127.0.0.1:{http}"
                    if all(urls):
                        started.set()
                tg.start_soon(lambda s=s, note=note: run_node(s, stop=stop, on_started=note))
            await anyio.to_thread.run_sync(done.wait)
            stop.set()

    def thread() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:  # reported to the test
            failed.append(exc)
            started.set()

    t = threading.Thread(target=thread, daemon=True)
    t.start()
    try:
        assert started.wait(start_timeout_s), "nodes did not start"
        assert not failed, failed
        yield urls
    finally:
        done.set()
        t.join(30)
        assert not failed, failed
