"""Two live nodes over mutual TLS on loopback: tell/ask, refusals, death watch."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.tls import TLSStream

from focusflow.net import NodeIdentity, PeerSpec, Transport, TransportConfig, tls_context
from focusflow.supervisor import Actor, ActorSystem, Down
from focusflow.wire import (
    KIND_TELL,
    Envelope,
    encode_envelope,
    encode_frame,
    encode_message,
)
from focusflow.wire.system import Blob

pytestmark = pytest.mark.anyio
FAST = TransportConfig(ping_interval_ms=100, dead_after_ms=600, backoff_ms_base=50,
                       backoff_ms_max=200, handshake_timeout_ms=2000,
                       frame_bytes_max=64 * 1024)


def identity(tmp: Path, name: str, byte: int) -> NodeIdentity:
    return NodeIdentity.create(tmp / name, name, bytes([byte]) * 32)


def spec(ident: NodeIdentity, port: int = 0) -> PeerSpec:
    return PeerSpec(ident.name, "127.0.0.1", port, ident.public_key, ident.cert_path.read_bytes())


class Echo(Actor):
    """Answers asks with the same bytes; answers tells by telling the sender back."""

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Blob):
            if self.ctx.sender is not None and msg.data.startswith(b"tell:"):
                await self.ctx.sender.tell(Blob(b"echo:" + msg.data))
                return None
            return Blob(b"re:" + msg.data)
        return None


class Collector(Actor):
    def __init__(self) -> None:
        self.got: list[Any] = []

    async def receive(self, msg: Any) -> Any:
        self.got.append(msg)
        return None


class Watcher(Actor):
    def __init__(self, target: Any) -> None:
        self.target = target
        self.downs: list[Down] = []

    async def on_start(self) -> None:
        self.ctx.watch(self.target)

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Down):
            self.downs.append(msg)
        return None


async def wait_for(cond: Any, timeout_s: float = 5.0) -> None:
    with anyio.fail_after(timeout_s):
        while not cond():
            await anyio.sleep(0.02)


class Pair:
    """Node 'a' dials node 'b'; both run in this event loop."""

    def __init__(self, tmp: Path) -> None:
        self.ia, self.ib = identity(tmp, "a", 1), identity(tmp, "b", 2)


@asynccontextmanager
async def live_node(ident: NodeIdentity, peers: list[PeerSpec],
                    config: TransportConfig = FAST) -> AsyncIterator[tuple[ActorSystem, Transport]]:
    """An ActorSystem with its transport serving; both stop on leaving the block."""
    transport = Transport(ident, peers, config=config, seed=1)
    async with ActorSystem(ident.name, transport=transport.send) as system:
        transport.attach(system.node.receive_frame, system.node.peer_down)
        async with anyio.create_task_group() as tg:
            await tg.start(transport.serve)
            yield system, transport
            tg.cancel_scope.cancel()


async def test_tell_and_ask_cross_tls_between_two_nodes(tmp_path: Path) -> None:
    p = Pair(tmp_path)
    async with live_node(p.ib, [spec(p.ia)]) as (sys_b, tb), \
            live_node(p.ia, [spec(p.ib, tb.listen_port)]) as (sys_a, ta):
        sys_b.spawn(Echo, name="echo")
        collector = sys_a.spawn(Collector, name="collector")
        remote = sys_a.node.ref("b", "/user/echo")
        assert await sys_a.ask(remote, Blob(b"hello"), timeout_ms=5000) == Blob(b"re:hello")
        # a tell from a's collector reaches b, whose answer (a tell) comes back to it
        type_id, data = encode_message(Blob(b"tell:ping"))
        env = Envelope(KIND_TELL, 0, "a", collector.path, "b", "/user/echo", type_id, data)
        sys_a.runtime.send_remote("b", encode_envelope(env))
        actor = sys_a.node._cells[collector.path].actor
        await wait_for(lambda: Blob(b"echo:tell:ping") in actor.got)
        assert ta.connected_peers() == ["b"] and tb.connected_peers() == ["a"]
        assert ta.peer_stats()["b"].frames_sent >= 2


async def test_unknown_peer_is_refused_at_handshake(tmp_path: Path) -> None:
    p = Pair(tmp_path)
    mallory = identity(tmp_path / "mallory", "a", 9)  # claims the name "a" with another key
    async with live_node(p.ib, [spec(p.ia)]) as (sys_b, tb):
        ctx = tls_context(mallory, [p.ib.cert_path.read_bytes()], server=False)
        stream = await anyio.connect_tcp("127.0.0.1", tb.listen_port)
        with pytest.raises((ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream, OSError)):
            tls = await TLSStream.wrap(stream, hostname="b", ssl_context=ctx,
                                       standard_compatible=False)
            # TLS 1.3: the server's verdict on our certificate arrives with the first read
            with anyio.fail_after(3):
                await tls.send(encode_frame(b""))
                await tls.receive()
        await wait_for(lambda: tb.refused_handshakes >= 1)
        assert tb.connected_peers() == []
        # the node still serves its real peer afterwards
        sys_b.spawn(Echo, name="echo")
        async with live_node(p.ia, [spec(p.ib, tb.listen_port)]) as (sys_a, _ta):
            assert await sys_a.ask(sys_a.node.ref("b", "/user/echo"), Blob(b"ok")) == Blob(b"re:ok")


async def test_forged_and_oversized_frames_are_refused_and_the_node_survives(tmp_path: Path) -> None:
    p = Pair(tmp_path)
    async with live_node(p.ib, [spec(p.ia)]) as (sys_b, tb), \
            live_node(p.ia, [spec(p.ib, tb.listen_port)]) as (sys_a, ta):
        sys_b.spawn(Echo, name="echo")
        echo = sys_a.node.ref("b", "/user/echo")
        assert await sys_a.ask(echo, Blob(b"1")) == Blob(b"re:1")
        # forged: an envelope claiming to come from node "c" over a's authenticated link
        type_id, data = encode_message(Blob(b"forged"))
        forged = Envelope(KIND_TELL, 0, "c", "/user/x", "b", "/user/echo", type_id, data)
        ta.send("b", encode_envelope(forged))
        ta._peers["b"].queue.append(b"\x00" * 24)  # bytes that are no envelope at all
        ta._peers["b"].queued_bytes += 28
        await wait_for(lambda: tb.peer_stats()["a"].forged >= 2)
        assert await sys_a.ask(echo, Blob(b"2")) == Blob(b"re:2")
        # oversized: a length prefix above frame_bytes_max closes the stream; a redials
        connects = tb.peer_stats()["a"].connects
        await ta._peers["b"].conn.send(b"\xff\xff\xff\x7f" + b"\x00" * 16)
        await wait_for(lambda: tb.peer_stats()["a"].oversized >= 1)
        await wait_for(lambda: tb.peer_stats()["a"].connects > connects)
        assert await sys_a.ask(echo, Blob(b"3"), timeout_ms=5000) == Blob(b"re:3")
        assert sys_b.node.is_alive(sys_b.node.ref("b", "/user/echo"))


async def test_remote_death_is_seen_through_death_watch_on_disconnect(tmp_path: Path) -> None:
    p = Pair(tmp_path)
    async with live_node(p.ib, [spec(p.ia)]) as (sys_b, tb), \
            live_node(p.ia, [spec(p.ib, tb.listen_port)]) as (sys_a, ta):
        sys_b.spawn(Echo, name="echo")
        echo = sys_a.node.ref("b", "/user/echo")
        assert await sys_a.ask(echo, Blob(b"1")) == Blob(b"re:1")
        watcher = sys_a.spawn(Watcher, echo, name="watcher")
        w = sys_a.node._cells[watcher.path].actor
        await wait_for(lambda: len(ta._peers["b"].watches) == 1)
        # node b dies without a word: no Down is ever sent by b itself
        sys_b.node.kill_all()
        tb._tg.cancel_scope.cancel()  # type: ignore[union-attr]
        await wait_for(lambda: len(w.downs) == 1)
        assert w.downs[0].reason == "noconnection"
        assert w.downs[0].actor == sys_a.node.ref("b", "/user/echo")


async def test_dead_peer_is_detected_and_redialled_with_backoff(tmp_path: Path) -> None:
    p = Pair(tmp_path)
    async with live_node(p.ib, [spec(p.ia)]) as (sys_b, tb), \
            live_node(p.ia, [spec(p.ib, tb.listen_port)]) as (_sys_a, ta):
        port = tb.listen_port
        await wait_for(lambda: ta.connected_peers() == ["b"])
        tb._tg.cancel_scope.cancel()  # type: ignore[union-attr]
        await wait_for(lambda: ta.connected_peers() == [])
        # b's transport comes back on the same port: a redials it
        tb2 = Transport(p.ib, [spec(p.ia)], listen_port=port, config=FAST)
        tb2.attach(sys_b.node.receive_frame)
        async with anyio.create_task_group() as tg:
            await tg.start(tb2.serve)
            await wait_for(lambda: ta.connected_peers() == ["b"])
            assert ta.peer_stats()["b"].connects == 2
            tg.cancel_scope.cancel()


async def test_a_slow_peer_gets_a_bounded_queue_then_is_declared_dead(tmp_path: Path) -> None:
    """Peer b completes the handshake, then never reads nor sends: a's send queue stays
    within its bounds (the excess is dropped and counted, a's loop stays responsive), and
    b's silence gets it declared dead after dead_after_ms."""
    p = Pair(tmp_path)
    config = TransportConfig(ping_interval_ms=100, dead_after_ms=1500, backoff_ms_base=50,
                             backoff_ms_max=200, send_queue_frames_max=64,
                             send_queue_bytes_max=1 << 20)
    ctx = tls_context(p.ib, [p.ia.cert_path.read_bytes()], server=True)
    held: list[Any] = []

    async def mute_peer(stream: Any) -> None:
        tls = await TLSStream.wrap(stream, server_side=True, ssl_context=ctx,
                                   standard_compatible=False)
        held.append(tls)
        await anyio.sleep(30)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_address)[1]
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, mute_peer)
        async with live_node(p.ia, [spec(p.ib, port)], config) as (sys_a, ta):
            await wait_for(lambda: ta.connected_peers() == ["b"])
            sys_a.spawn(Echo, name="echo")
            type_id, data = encode_message(Blob(b"x" * 60_000))
            frame = encode_envelope(Envelope(KIND_TELL, 0, "a", "", "b", "/user/echo", type_id, data))
            for _ in range(400):  # 24 MB: more than the socket buffers and the queue
                ta.send("b", frame)
                await anyio.sleep(0)
            stats = ta.peer_stats()["b"]
            assert stats.dropped_queue_full > 0
            assert ta._peers["b"].queued_bytes <= config.send_queue_bytes_max
            local = sys_a.node.ref("a", "/user/echo")
            assert await sys_a.ask(local, Blob(b"still here")) == Blob(b"re:still here")
            await wait_for(lambda: ta.peer_stats()["b"].disconnects >= 1, timeout_s=6)
            assert ta.peer_stats()["b"].last_error == "silent for 1500 ms"
        tg.cancel_scope.cancel()


class _ClosedByPeer:
    """A TLS stream whose peer already sent close_notify: anyio raises EndOfStream on send."""

    def __init__(self) -> None:
        self.sends = 0

    async def send(self, item: bytes) -> None:
        self.sends += 1
        raise anyio.EndOfStream


async def test_a_write_after_the_peer_closed_is_a_disconnect_not_a_node_failure(
        tmp_path: Path) -> None:
    # Regression: the writer let EndOfStream escape, which tore down the whole serve task
    # group and made a node exit 1 on SIGTERM while a peer was closing (netns test).
    from focusflow.net._transport import _Peer

    ident = identity(tmp_path, "a", 1)
    transport = Transport(ident, [], config=FAST, seed=1)
    peer = _Peer(spec(identity(tmp_path, "b", 2)))
    peer.queue.append(b"x" * 16)
    peer.queued_bytes = 16 + 4  # the transport counts the 4-byte length prefix
    stream = _ClosedByPeer()
    with anyio.fail_after(2), anyio.CancelScope() as scope:
        await transport._writer(peer, stream, scope)  # type: ignore[arg-type]
    assert stream.sends == 1
    assert scope.cancel_called  # the connection's other half is told to stop
    assert peer.stats.last_error  # recorded as the reason for the disconnect
