"""The transport under hostile conditions (issue 16): clocks that disagree with the
certificates' dates (finding 13), and running out of file descriptors (finding 5)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from focusflow.net import NodeIdentity, private_key_pem
from focusflow.wire.system import Blob
from tests.net.test_transport import Echo, Pair, Watcher, live_node, spec, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def dated_identity(tmp: Path, name: str, byte: int, not_before: datetime.datetime,
                   not_after: datetime.datetime) -> NodeIdentity:
    """A node identity whose self-signed certificate is valid only between two dates (as
    one made by a node whose clock was far off, or long ago)."""
    seed = bytes([byte]) * 32
    key = Ed25519PrivateKey.from_private_bytes(seed)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(byte)
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, None))
    folder = tmp / name
    folder.mkdir()
    (folder / "node_key.pem").write_bytes(private_key_pem(seed))
    (folder / "node_cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return NodeIdentity(name, folder / "node_key.pem", folder / "node_cert.pem")


async def test_pinned_peers_talk_whatever_their_certificates_dates(tmp_path: Path) -> None:
    utc = datetime.UTC
    # a's certificate is not yet valid (as a 2019 clock sees a 2020 one); b's has expired
    ia = dated_identity(tmp_path, "a", 1, datetime.datetime(2100, 1, 1, tzinfo=utc),
                        datetime.datetime(2200, 1, 1, tzinfo=utc))
    ib = dated_identity(tmp_path, "b", 2, datetime.datetime(2000, 1, 1, tzinfo=utc),
                        datetime.datetime(2001, 1, 1, tzinfo=utc))
    async with live_node(ib, [spec(ia)]) as (sys_b, tb), \
            live_node(ia, [spec(ib, tb.listen_port)]) as (sys_a, ta):
        sys_b.spawn(Echo, name="echo")
        remote = sys_a.node.ref("b", "/user/echo")
        assert await sys_a.ask(remote, Blob(b"hi"), timeout_ms=5000) == Blob(b"re:hi")
        assert ta.refused_handshakes == tb.refused_handshakes == 0


async def test_a_peers_watches_are_freed_when_its_connection_drops(tmp_path: Path) -> None:
    p = Pair(tmp_path)
    async with live_node(p.ib, [spec(p.ia)]) as (sys_b, tb), \
            live_node(p.ia, [spec(p.ib, tb.listen_port)]) as (sys_a, ta):
        sys_b.spawn(Echo, name="echo")
        echo = sys_a.node.ref("b", "/user/echo")
        assert await sys_a.ask(echo, Blob(b"1"), timeout_ms=5000) == Blob(b"re:1")
        watcher = sys_a.spawn(Watcher, echo, name="watcher")
        await wait_for(lambda: sys_b.node.gate.watches == {"a": {("/user/echo", watcher.path)}})
        ta._tg.cancel_scope.cancel()  # type: ignore[union-attr]  # a's link goes away
        await wait_for(lambda: sys_b.node.gate.watches == {})
        assert not sys_b.node._cells["/user/echo"].watchers


SERVER = r'''
import json, resource, sys
from pathlib import Path

import anyio
import structlog

from focusflow.net import NodeIdentity, Transport, TransportConfig

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


async def main() -> None:
    ident = NodeIdentity.create(Path(sys.argv[1]), "srv", b"\x01" * 32)
    transport = Transport(ident, [], config=TransportConfig(
        handshake_timeout_ms=60_000, connections_max=int(sys.argv[3])))
    async with anyio.create_task_group() as tg:
        port = await tg.start(transport.serve)
        print(port, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)  # the flood is on
        await anyio.to_thread.run_sync(sys.stdin.readline)  # the flood is gone, one more came
        await anyio.sleep(0.3)
        print(json.dumps(vars(transport.accept_stats)), flush=True)
        tg.cancel_scope.cancel()


anyio.run(main)
'''


def flood_a_listener(tmp_path: Path, *, fd_limit: int, connections_max: int,
                     idle: int) -> dict[str, int]:
    """Run a transport in a process limited to ``fd_limit`` descriptors, hold ``idle``
    connections to it open (no TLS handshake), drop them, connect once more; return its
    accept counters (the process must have survived to print them)."""
    import json
    import socket
    import subprocess
    import sys
    import time

    script = tmp_path / "server.py"
    script.write_text(SERVER)
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "id"), str(fd_limit),
                             str(connections_max)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = int(proc.stdout.readline())
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle)]
        time.sleep(1.0)  # the server meets a full fd table (or its bound) meanwhile
        proc.stdin.write("flood\n")
        proc.stdin.flush()
        for s in held:
            s.close()
        time.sleep(0.5)
        late = socket.create_connection(("127.0.0.1", port))
        time.sleep(0.3)
        proc.stdin.write("done\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        late.close()
        log.flush()
        assert line, f"the node died: {(tmp_path / 'server.log').read_text()[-2000:]}"
        stats: dict[str, int] = json.loads(line)
        return stats
    finally:
        proc.kill()
        proc.wait()
        log.close()


def test_a_listener_out_of_file_descriptors_backs_off_and_keeps_serving(tmp_path: Path) -> None:
    stats = flood_a_listener(tmp_path, fd_limit=64, connections_max=10_000, idle=120)
    assert stats["accept_errors"] >= 1  # EMFILE was met ...
    assert stats["accepted"] >= 40 + 1  # ... and survived: the late connection was taken


def test_connections_beyond_the_bound_are_closed_at_once(tmp_path: Path) -> None:
    stats = flood_a_listener(tmp_path, fd_limit=1024, connections_max=20, idle=60)
    assert stats["refused_over_limit"] >= 40 - 1 and stats["accept_errors"] == 0
    assert stats["accepted"] >= 21
