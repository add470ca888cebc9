"""The live transport: actors on different nodes talk over mutual-TLS TCP streams.

One connection per pair of nodes, dialled by the node whose name sorts first (so two
nodes never race two connections); the other side accepts. Each connection carries the
runtime's Cap'n Proto envelopes, framed with ``focusflow.wire.encode_frame`` (4-byte
length prefix, ``frame_bytes_max``), exactly the bytes the simulator carries. A
zero-length frame is a keep-alive ping.

What the transport guarantees, and why:

* **Authentication.** TLS 1.3 with both certificates required and pinned to the peers'
  Ed25519 keys (``_tls``); an unlisted peer fails the handshake. Every inbound envelope
  must name the authenticated peer as its sender node and us as its receiver: a forged
  one is dropped and counted (the connection survives; a desynchronised stream — an
  oversized length prefix — is closed).
* **Backpressure.** The runtime's ``send_remote`` cannot block, so each peer has a
  bounded send queue (``send_queue_frames_max``/``send_queue_bytes_max``); a slow peer
  (TCP window full) fills it and further frames are dropped and counted, never buffered
  without bound. Reading is paced by the writer of the other side the same way.
* **Failure detection.** Both ends send a keep-alive every ``ping_interval_ms``; a peer
  silent for ``dead_after_ms`` is declared dead and the connection closed. The dialler
  reconnects with exponential backoff (``backoff_ms_base`` doubling to ``backoff_ms_max``,
  with jitter from the runtime RNG).
* **Death watch across nodes.** The transport sees the ``Watch``/``Unwatch``/``Down``
  system envelopes that cross it; when a connection drops it hands every local watcher a
  ``Down(reason="noconnection")`` for each remote actor it watched there (Erlang's
  semantics), so supervisors see remote actors die through the same death watch.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.abc
import structlog
from anyio.streams.tls import TLSAttribute, TLSStream

from focusflow.net._accept import AcceptStats, serve_connections
from focusflow.net._tls import NodeIdentity, PeerAuthError, pin_peer, tls_context
from focusflow.wire import (
    FRAME_BYTES_MAX_DEFAULT,
    KIND_SYSTEM,
    Address,
    Envelope,
    FrameDecoder,
    WireError,
    decode_envelope,
    decode_message,
    encode_envelope,
    encode_frame,
    encode_message,
)
from focusflow.wire.system import Down, Unwatch, Watch

_WATCH_ID = encode_message(Watch(Address("", "")))[0]
_UNWATCH_ID = encode_message(Unwatch(Address("", "")))[0]
_DOWN_ID = encode_message(Down(Address("", ""), ""))[0]
_KEEPALIVE = encode_frame(b"")
WRITE_BATCH_BYTES_MAX = 256 * 1024
READ_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Limits and timings of the transport (the ``[transport]`` table of node.toml)."""

    frame_bytes_max: int = FRAME_BYTES_MAX_DEFAULT
    send_queue_frames_max: int = 8192
    send_queue_bytes_max: int = 64 * 1024 * 1024
    ping_interval_ms: int = 500
    dead_after_ms: int = 3_000
    handshake_timeout_ms: int = 5_000
    backoff_ms_base: int = 100
    backoff_ms_max: int = 5_000
    watches_max: int = 65_536
    #: Connections open at once on the p2p port (handshaking or not); more are closed.
    connections_max: int = 256

    def __post_init__(self) -> None:
        assert 0 < self.ping_interval_ms < self.dead_after_ms, "pings must come before death"
        assert 0 < self.backoff_ms_base <= self.backoff_ms_max
        assert self.send_queue_frames_max > 0 and self.send_queue_bytes_max > 0
        assert self.connections_max > 0


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """A peer this node may talk to: its name, address, pinned key and certificate."""

    name: str
    host: str
    port: int
    public_key: bytes
    cert_pem: bytes
    #: "full" or "light" for a peer outside the genesis committee (what it may send us,
    #: see ``node_policy``); a committee member is a validator whatever this says.
    role: str = "full"


@dataclass
class PeerStats:
    """Counters of one peer link (exported on /status and /metrics)."""

    connected: bool = False
    connects: int = 0
    disconnects: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    dropped_queue_full: int = 0
    forged: int = 0
    oversized: int = 0
    last_error: str = ""


@dataclass
class _Peer:
    spec: PeerSpec
    queue: deque[bytes] = field(default_factory=deque)
    queued_bytes: int = 0
    stats: PeerStats = field(default_factory=PeerStats)
    wake: anyio.Event | None = None
    conn: Any = None  # the live TLS stream, if any
    generation: int = 0
    # (watcher node, watcher path, remote actor path) of watches that crossed to this peer
    watches: set[tuple[str, str, str]] = field(default_factory=set)


class Transport:
    """Carries envelopes between this node and its listed peers (see module docstring).

    Build it, pass ``transport.send`` as the ``ActorSystem``'s transport, then
    ``transport.attach(system.node.receive_frame)`` and run ``serve`` in a task group.
    """

    def __init__(self, identity: NodeIdentity, peers: list[PeerSpec], *,
                 listen_host: str = "127.0.0.1", listen_port: int = 0,
                 config: TransportConfig | None = None, seed: int | None = None) -> None:
        import random

        self.identity = identity
        self.name = identity.name
        self.config = config or TransportConfig()
        assert all(p.name != self.name for p in peers), "a node is not its own peer"
        self._peers = {p.name: _Peer(p) for p in peers}
        self._by_key = {p.public_key: p.name for p in peers}
        # With no peers only our own certificate is trusted: nobody can connect.
        trusted = [p.cert_pem for p in peers] or [identity.cert_path.read_bytes()]
        self._server_ctx = tls_context(identity, trusted, server=True)
        self._client_ctx = tls_context(identity, trusted, server=False)
        self.listen_host = listen_host
        self.listen_port = listen_port
        self._deliver: Callable[[bytes], None] | None = None
        self._on_peer_down: Callable[[str], None] | None = None
        self._random = random.Random(seed)
        self._log = structlog.get_logger("focusflow.net").bind(node=self.name)
        self.refused_handshakes = 0
        self.unknown_destination = 0
        self.accept_stats = AcceptStats()
        self._tg: anyio.abc.TaskGroup | None = None

    # ---------------------------------------------------------------- wiring
    def attach(self, deliver: Callable[[bytes], None],
               on_peer_down: Callable[[str], None] | None = None) -> None:
        """Where inbound envelopes go (``system.node.receive_frame``), and whom to tell
        that a peer's connection dropped (``system.node.peer_down``: frees its watches)."""
        self._deliver = deliver
        self._on_peer_down = on_peer_down

    def peer_stats(self) -> dict[str, PeerStats]:
        """Per-peer counters, by peer name."""
        return {name: p.stats for name, p in self._peers.items()}

    def connected_peers(self) -> list[str]:
        """Names of peers with a live connection now."""
        return sorted(n for n, p in self._peers.items() if p.conn is not None)

    # ---------------------------------------------------------------- sending (sync)
    def send(self, node: str, frame: bytes) -> None:
        """The runtime's ``send_remote``: queue ``frame`` for ``node`` (never blocks)."""
        peer = self._peers.get(node)
        if peer is None:
            self.unknown_destination += 1
            self._log.warning("send_to_unlisted_node", peer=node)
            return
        env = decode_envelope(frame)  # our own node encoded it: cannot be malformed
        if env.kind == KIND_SYSTEM and env.payload_type in (_WATCH_ID, _UNWATCH_ID):
            self._track_outbound_watch(peer, env)
            if peer.conn is None and env.payload_type == _WATCH_ID:
                # Erlang's rule: watching across a link that is down answers at once.
                self._down_one(peer.spec.name, env.sender_node, env.sender_path,
                               env.receiver_path, "noconnection")
                peer.watches.discard((env.sender_node, env.sender_path, env.receiver_path))
                return
        size = len(frame) + 4
        cfg = self.config
        if (len(peer.queue) >= cfg.send_queue_frames_max
                or peer.queued_bytes + size > cfg.send_queue_bytes_max):
            peer.stats.dropped_queue_full += 1
            return
        peer.queue.append(frame)
        peer.queued_bytes += size
        if peer.wake is not None:
            peer.wake.set()

    def _track_outbound_watch(self, peer: _Peer, env: Envelope) -> None:
        msg = decode_message(env.payload_type, env.payload)
        key = (msg.watcher.node, msg.watcher.path, env.receiver_path)
        if env.payload_type == _WATCH_ID:
            if len(peer.watches) < self.config.watches_max:
                peer.watches.add(key)
        else:
            peer.watches.discard(key)

    def _down_one(self, peer: str, watcher_node: str, watcher_path: str, path: str,
                  reason: str) -> None:
        if self._deliver is None or watcher_node != self.name:
            return
        type_id, data = encode_message(Down(Address(peer, path), reason, 0))
        env = Envelope(KIND_SYSTEM, 0, peer, path, self.name, watcher_path, type_id, data)
        self._deliver(encode_envelope(env))

    def _peer_down(self, peer: _Peer) -> None:
        """A connection dropped: every remote actor watched over it is Down to us."""
        for watcher_node, watcher_path, path in sorted(peer.watches):
            self._down_one(peer.spec.name, watcher_node, watcher_path, path, "noconnection")
        peer.watches.clear()
        if self._on_peer_down is not None:
            self._on_peer_down(peer.spec.name)

    # ---------------------------------------------------------------- running
    async def serve(self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
                    ) -> None:
        """Listen, dial the peers we dial, and run until cancelled. Reports the port."""
        listener = await anyio.create_tcp_listener(local_host=self.listen_host,
                                                   local_port=self.listen_port)
        async with listener, anyio.create_task_group() as tg:
            self._tg = tg
            sock = listener.extra(anyio.abc.SocketAttribute.local_address)
            self.listen_port = int(sock[1])
            tg.start_soon(partial(serve_connections, listener, self._accept,
                                  connections_max=self.config.connections_max,
                                  stats=self.accept_stats, name="p2p", log=self._log))
            for name, peer in self._peers.items():
                if self.name < name:
                    tg.start_soon(self._dial_loop, peer)
            self._log.info("transport_listening", host=self.listen_host, port=self.listen_port)
            task_status.started(self.listen_port)

    async def _accept(self, stream: anyio.abc.SocketStream) -> None:
        try:
            with anyio.fail_after(self.config.handshake_timeout_ms / 1000):
                tls = await TLSStream.wrap(stream, server_side=True, ssl_context=self._server_ctx,
                                           standard_compatible=False)
                name = pin_peer(tls.extra(TLSAttribute.ssl_object), self._by_key)
        except (ssl.SSLError, PeerAuthError, OSError, TimeoutError,
                anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            self.refused_handshakes += 1
            self._log.warning("handshake_refused", side="server", error=_short(exc))
            await stream.aclose()
            return
        peer = self._peers[name]
        if self.name < name:
            # We dial this peer; an inbound connection from it is out of protocol.
            self.refused_handshakes += 1
            await tls.aclose()
            return
        await self._run_connection(peer, tls)

    async def _dial_loop(self, peer: _Peer) -> None:
        failures = 0
        cfg = self.config
        while True:
            try:
                with anyio.fail_after(cfg.handshake_timeout_ms / 1000):
                    stream = await anyio.connect_tcp(peer.spec.host, peer.spec.port)
                    tls = await TLSStream.wrap(stream, server_side=False, hostname=peer.spec.name,
                                               ssl_context=self._client_ctx,
                                               standard_compatible=False)
                    name = pin_peer(tls.extra(TLSAttribute.ssl_object),
                                    {peer.spec.public_key: peer.spec.name})
                    assert name == peer.spec.name
            except (ssl.SSLError, PeerAuthError, OSError, TimeoutError,
                    anyio.BrokenResourceError, anyio.EndOfStream) as exc:
                failures += 1
                peer.stats.last_error = _short(exc)
                if isinstance(exc, ssl.SSLError | PeerAuthError):
                    self.refused_handshakes += 1
                    self._log.warning("handshake_refused", side="client", peer=peer.spec.name,
                                      error=_short(exc))
                delay = min(cfg.backoff_ms_max, cfg.backoff_ms_base * 2 ** min(failures - 1, 20))
                await anyio.sleep(delay * (0.5 + self._random.random() / 2) / 1000)
                continue
            received = peer.stats.bytes_received
            await self._run_connection(peer, tls)
            # A connection that never carried a byte back (e.g. the peer refused our
            # certificate after the TLS 1.3 handshake) counts as a failure: keep backing off.
            failures = failures + 1 if peer.stats.bytes_received == received else 0
            delay = min(cfg.backoff_ms_max, cfg.backoff_ms_base * 2 ** min(failures, 20))
            await anyio.sleep(delay * (0.5 + self._random.random() / 2) / 1000)

    async def _run_connection(self, peer: _Peer, tls: TLSStream) -> None:
        """Pump one authenticated connection until it fails; then the peer is down."""
        if peer.conn is not None:  # a newer connection replaces a stale one (peer restarted)
            stale, peer.conn = peer.conn, None
            await _close_quietly(stale)
            peer.stats.disconnects += 1
            self._peer_down(peer)
        peer.generation += 1
        peer.conn = tls
        peer.stats.connected = True
        peer.stats.connects += 1
        peer.stats.last_error = ""
        self._log.info("peer_connected", peer=peer.spec.name)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._reader, peer, tls, tg.cancel_scope)
                tg.start_soon(self._writer, peer, tls, tg.cancel_scope)
        finally:
            await _close_quietly(tls)
            if peer.conn is tls:
                peer.conn = None
                peer.stats.connected = False
                peer.stats.disconnects += 1
                self._log.info("peer_disconnected", peer=peer.spec.name,
                               error=peer.stats.last_error)
                self._peer_down(peer)

    async def _reader(self, peer: _Peer, tls: TLSStream, scope: anyio.CancelScope) -> None:
        decoder = FrameDecoder(frame_bytes_max=self.config.frame_bytes_max)
        dead_after_s = self.config.dead_after_ms / 1000
        try:
            while True:
                with anyio.fail_after(dead_after_s):
                    data = await tls.receive(READ_CHUNK_BYTES)
                peer.stats.bytes_received += len(data)
                for frame in decoder.feed(data):
                    if frame:
                        self._inbound(peer, frame)
        except WireError as exc:
            peer.stats.oversized += 1
            peer.stats.last_error = f"stream refused: {exc}"
            self._log.warning("frame_refused", peer=peer.spec.name, error=str(exc))
        except TimeoutError:
            peer.stats.last_error = f"silent for {self.config.dead_after_ms} ms"
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
                ssl.SSLError, OSError) as exc:
            peer.stats.last_error = _short(exc)
        scope.cancel()

    def _inbound(self, peer: _Peer, frame: bytes) -> None:
        try:
            env = decode_envelope(frame)
        except WireError as exc:
            peer.stats.forged += 1
            self._log.warning("frame_refused", peer=peer.spec.name, error=str(exc))
            return
        if env.sender_node != peer.spec.name or env.receiver_node != self.name:
            peer.stats.forged += 1
            self._log.warning("frame_refused", peer=peer.spec.name,
                              error=f"envelope {env.sender_node}->{env.receiver_node} on the "
                                    f"link {peer.spec.name}->{self.name}")
            return
        peer.stats.frames_received += 1
        if env.kind == KIND_SYSTEM and env.payload_type == _DOWN_ID:
            try:
                down = decode_message(env.payload_type, env.payload)
                peer.watches.discard((self.name, env.receiver_path, down.actor.path))
            except WireError:
                pass  # the node counts it as malformed
        assert self._deliver is not None, "attach() before serve()"
        self._deliver(frame)

    async def _writer(self, peer: _Peer, tls: TLSStream, scope: anyio.CancelScope) -> None:
        ping_s = self.config.ping_interval_ms / 1000
        try:
            while True:
                if not peer.queue:
                    wake = peer.wake = anyio.Event()
                    with anyio.move_on_after(ping_s) as waited:
                        await wake.wait()
                    if waited.cancelled_caught and not peer.queue:
                        await tls.send(_KEEPALIVE)
                        continue
                chunks: list[bytes] = []
                size = 0
                while peer.queue and size < WRITE_BATCH_BYTES_MAX:
                    frame = peer.queue.popleft()
                    chunks.append(encode_frame(frame, frame_bytes_max=self.config.frame_bytes_max))
                    size += len(frame) + 4
                peer.queued_bytes -= size
                assert peer.queued_bytes >= 0
                await tls.send(b"".join(chunks))
                peer.stats.frames_sent += len(chunks)
                peer.stats.bytes_sent += size
        except WireError as exc:
            peer.stats.last_error = f"oversized outbound frame: {exc}"
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
                ssl.SSLError, OSError) as exc:
            # anyio's TLS stream raises EndOfStream on *send* once the peer has sent its
            # close_notify: that is a disconnect like any other, never a node failure.
            peer.stats.last_error = _short(exc)
        scope.cancel()


async def _close_quietly(stream: Any) -> None:
    # closing a broken stream may fail any way; shielded so a cancelled task still closes
    with anyio.CancelScope(shield=True), anyio.move_on_after(1), contextlib.suppress(Exception):
        await stream.aclose()


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]


def monotonic_ms() -> float:
    """Wall time for transport bookkeeping (not actor code)."""
    return time.monotonic() * 1000
