"""One node of the multi-process rollup network: ``python -m focusflow.topology.rollnet_node``.

A node process reads ``<home>/rollnet.json`` (written by :class:`~focusflow.topology.rollnet.Rollnet`),
builds the production stack exactly as ``focusflow/node/app.py::run_node`` does —
``Transport`` (mutual TLS 1.3 pinned to each peer's Ed25519 key, Cap'n Proto frames on
every hop) feeding an ``ActorSystem(name, transport=transport.send)`` — and spawns one
one_for_one supervisor with this node's children from the rollups topology
(:func:`focusflow.actors.rollup.topology.topology`), the same trees the simulator and the
one-process live runner build. Hubs keep their durable event log in ``<home>/data``
(``FileStorage``: fsync before acting), so a kill -9'd hub replays it on restart; so do
sequencers (their batch and claim log) and the DA grid (its squares); a restarted watcher
asks the hubs for the claims it must judge.

Measurement (a ``RollupProbe`` cannot cross processes): :class:`RecordingProbe` appends
each probe event — a sequencer's claim with the arrival times of the links it covers, the
top hub's commits — as one JSON line to ``<home>/probe.jsonl`` when it happens, so a
kill -9 loses no sample that was reported. Times are the live runtime's clock,
``time.monotonic_ns`` (CLOCK_MONOTONIC: one clock for every process of a host, and it
keeps running across a process restart), so the driver can subtract an arrival recorded
by a sequencer process from a commit recorded by the hub process.

Files the process writes in its home (the driver reads them; nothing here is protocol):

* ``status.json`` every ``status_ms`` (atomic replace): peers connected, transport
  counters, and a summary of each local actor (sequencer period and channel counters,
  hub height and snapshot, ...); the driver waits on these for readiness and the drain.
* ``final.rec`` at an ordered stop: the top hub's accepted claims and merged π, the DA
  grid's squares (what the driver re-executes for ``global_pi_consistent``).

Signals: SIGTERM/SIGINT stop in order (final files, then the supervisor tree in reverse
start order, then the transport); on the client node SIGUSR1 starts the link workload on
every bucket and SIGUSR2 stops it (the driver's only control, as ``run_live`` tells the
client ``ClientControl``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import sys
import time  # runtime-ok: status stamps of the process main, outside actor code
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import anyio
import structlog

from focusflow.actors.hub.actor import HubActor
from focusflow.actors.ibc.relayer import RelayerActor
from focusflow.actors.rollup.actor import ChallengerActor, DaGridActor, LinkClient, SequencerActor
from focusflow.actors.rollup.messages import ClientControl
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.actors.rollup.topology import SUP, topology
from focusflow.net import NodeIdentity, PeerSpec, Transport, TransportConfig
from focusflow.supervisor import ActorSystem, Supervisor, SupervisorFlags
from focusflow.wire import to_bytes

__all__ = [
    "CONFIG_NAME",
    "DATA_DIR",
    "FINAL_NAME",
    "PROBE_NAME",
    "STATUS_NAME",
    "NodeConfig",
    "RecordingProbe",
    "read_records",
    "write_records",
]

CONFIG_NAME = "rollnet.json"
STATUS_NAME = "status.json"
PROBE_NAME = "probe.jsonl"
FINAL_NAME = "final.rec"
DATA_DIR = "data"
STATUS_MS_DEFAULT = 250
record_bytes_max = 64 * 1024 * 1024
records_max = 1 << 20
#: the transport's dial backoff tops out here: a restarted peer is reached within ~1 s
BACKOFF_MS_MAX = 1_000


@dataclass(frozen=True)
class NodeConfig:
    """What ``rollnet.json`` holds for one node."""

    name: str
    host: str
    port: int
    peers: tuple[PeerSpec, ...]
    options: dict[str, Any]
    seed: int
    status_ms: int = STATUS_MS_DEFAULT

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        """Read ``<home>/rollnet.json`` (peer certificates are read from their paths).

        Raises:
            OSError, ValueError, KeyError: the file is missing or malformed (operator's fault).
        """
        raw = json.loads((home / CONFIG_NAME).read_text())
        peers = tuple(PeerSpec(p["name"], p["host"], int(p["port"]), bytes.fromhex(p["public_key"]),
                               (home / p["cert"]).read_bytes()) for p in raw["peers"])
        assert all(p.name != raw["name"] for p in peers), "a node is not its own peer"
        return cls(raw["name"], raw["host"], int(raw["port"]), peers, dict(raw["options"]),
                   int(raw["seed"]), int(raw.get("status_ms", STATUS_MS_DEFAULT)))


# ---------------------------------------------------------------------- records file

def write_records(path: Path, records: Iterable[tuple[str, bytes]]) -> int:
    """Write (tag, bytes) records to ``path`` atomically; returns how many.

    Format: per record a u16 tag length, the ASCII tag, a u32 data length, the data
    (little-endian). Written to a temporary name and renamed, so a reader never sees half.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    with tmp.open("wb") as fh:
        for tag, data in records:
            t = tag.encode()
            assert 0 < len(t) < 256 and len(data) <= record_bytes_max, "record out of limits"
            fh.write(struct.pack("<H", len(t)) + t + struct.pack("<I", len(data)))
            fh.write(data)
            count += 1
            assert count <= records_max, "too many records"
    tmp.replace(path)
    return count


def read_records(path: Path) -> Iterator[tuple[str, bytes]]:
    """The (tag, bytes) records of a file written by :func:`write_records`.

    Raises:
        ValueError: the file is truncated or a length is out of limits.
    """
    data = path.read_bytes()
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError(f"{path}: truncated tag length at {at}")
        (tn,) = struct.unpack_from("<H", data, at)
        tag = data[at + 2:at + 2 + tn].decode()
        at += 2 + tn
        if at + 4 > len(data):
            raise ValueError(f"{path}: truncated data length at {at}")
        (dn,) = struct.unpack_from("<I", data, at)
        if dn > record_bytes_max or at + 4 + dn > len(data):
            raise ValueError(f"{path}: record {tag!r} of {dn} bytes runs past the end")
        yield tag, data[at + 4:at + 4 + dn]
        at += 4 + dn


# ---------------------------------------------------------------------- probe

class RecordingProbe(RollupProbe):
    """A ``RollupProbe`` that also appends each event to a JSON-lines file, at once.

    Why at once and not at stop: a node may be kill -9'd; a line written (and flushed to
    the kernel) before the kill survives it. Two events are recorded: ``claim`` (a
    sequencer emitted a claim: bucket, period, [(arrival_ns, links)]) and ``commit`` (the
    top hub committed a snapshot: merged (bucket, period) pairs, the commit time).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._fh: TextIO | None = path.open("a", encoding="utf-8")

    def _line(self, obj: dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self._fh.flush()

    def claim_sent(self, bucket: bytes, period: int, arrivals: list[tuple[int, int]]) -> None:
        super().claim_sent(bucket, period, arrivals)
        self._line({"ev": "claim", "bucket": bucket.hex(), "period": period,
                    "arrivals": [[int(t), int(n)] for t, n in arrivals]})

    def committed(self, merged: tuple[tuple[bytes, int], ...], now_ns: int) -> None:
        super().committed(merged, now_ns)
        self._line({"ev": "commit", "now_ns": int(now_ns),
                    "merged": [[b.hex(), int(p)] for b, p in merged]})

    def close(self) -> None:
        """Close the file (later events are kept in memory only)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ---------------------------------------------------------------------- views

class NodeView:
    """Read-only access to this process's actors for the status and final files."""

    def __init__(self, cfg: NodeConfig, system: ActorSystem, transport: Transport) -> None:
        self.cfg, self.system, self.transport = cfg, system, transport
        self.ids = [spec.id for spec in topology(cfg.options, None)[cfg.name]]

    def actors(self) -> list[tuple[str, Any]]:
        """(child id, actor object) of the live children."""
        node = self.system.node
        out = []
        for cid in self.ids:
            actor = node.actor_of(node.ref(self.cfg.name, f"{SUP}/{cid}"))
            if actor is not None:
                out.append((cid, actor))
        return out

    def status(self) -> dict[str, Any]:
        """The ``status.json`` object."""
        stats = self.transport.peer_stats()
        out: dict[str, Any] = {
            "name": self.cfg.name, "pid": os.getpid(), "t_ns": time.monotonic_ns(),
            "cpu_s": time.process_time(),
            "peers": len(self.cfg.peers), "peers_connected": self.transport.connected_peers(),
            "unknown_destination": self.transport.unknown_destination,
            "dropped_queue_full": sum(s.dropped_queue_full for s in stats.values()),
            "forged": sum(s.forged for s in stats.values()),
            "frames_sent": sum(s.frames_sent for s in stats.values()),
            "actors": {}}
        for cid, a in self.actors():
            out["actors"][cid] = summary(a)
        return out

    def final_records(self) -> Iterator[tuple[str, bytes]]:
        """What the driver re-executes: a hub's accepted claims and π, the DA squares."""
        for _, a in self.actors():
            if isinstance(a, HubActor):
                core = a.core
                yield "hub_state", to_bytes(a.state())
                yield "hub_meta", json.dumps({
                    "name": a.name, "top": core.redistribute, "height": core.height,
                    "order": [b.hex() for b in core.order],
                    "snapshot": {b.hex(): p for b, p in core.snapshot.items()},
                    "retired": sorted(b.hex() for b in core.retired)}).encode()
                for b in sorted(core.accepted):
                    for claim in core.accepted[b].history:
                        yield "claim", to_bytes(claim)
            elif isinstance(a, DaGridActor):
                for root, (shares, k) in sorted(a.squares.items()):
                    yield "square", root + struct.pack("<I", k) + shares


def summary(a: Any) -> dict[str, Any]:
    """A JSON summary of one actor's state (counters only; no protocol data)."""
    if isinstance(a, SequencerActor):
        ch = a.ibc.status("hub", 0)
        return {"kind": "sequencer", "bucket": a.core.bucket.key.hex(), "period": a.core.period,
                "pending": a.core.pending, "unclaimed_batches": len(a.core.roots),
                "links_ordered": a.core.links_ordered, "next_send": ch.next_send,
                "next_ack": ch.next_ack, "replayed": a.replayed, "batches": a.core.seq}
    if isinstance(a, HubActor):
        core = a.core
        return {"kind": "hub", "top": core.redistribute, "height": core.height,
                "snapshot": {b.hex(): p for b, p in core.snapshot.items()},
                "accepted": {b.hex(): acc.period for b, acc in core.accepted.items()},
                "pending": sum(len(q) for q in core.pending.values()),
                "refused": a.refused, "log_next": a.log_next,
                "channels": {name: [ch.next_send, ch.next_recv, ch.next_ack]
                             for name, ch in sorted(a.ibc.channels.items())},
                "slashed": sorted(k.hex() for k in core.slashed)}
    if isinstance(a, RelayerActor):
        return {"kind": "relayer", "relayed": a.relayed}
    if isinstance(a, DaGridActor):
        return {"kind": "da", "squares": len(a.squares), "refused": a.refused}
    if isinstance(a, ChallengerActor):
        return {"kind": "watcher", "proofs_sent": a.proofs_sent, "resyncs": a.resyncs}
    if isinstance(a, LinkClient):
        return {"kind": "client", "active": sorted(a.active)}
    return {"kind": type(a).__name__}


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """Write ``obj`` to ``path`` atomically (temporary file, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


# ---------------------------------------------------------------------- the process

async def run(home: Path, *, stop: anyio.Event | None = None) -> None:
    """Run this home's node until SIGTERM/SIGINT (or ``stop``), then stop in order."""
    cfg = NodeConfig.load(home)
    log = structlog.get_logger("focusflow.rollnet").bind(node=cfg.name)
    identity = NodeIdentity(cfg.name, home / "config" / "node_key.pem",
                            home / "config" / "node_cert.pem")
    transport = Transport(identity, list(cfg.peers), listen_host=cfg.host, listen_port=cfg.port,
                          config=TransportConfig(backoff_ms_max=BACKOFF_MS_MAX))
    probe = RecordingProbe(home / PROBE_NAME)
    children = topology(cfg.options, probe)[cfg.name]
    async with ActorSystem(cfg.name, transport=transport.send, seed=cfg.seed,
                           storage_dir=home / DATA_DIR) as system:
        transport.attach(system.node.receive_frame)
        async with anyio.create_task_group() as net_tg:
            await net_tg.start(transport.serve)
            root = system.spawn(Supervisor, SupervisorFlags(intensity=5, period_ms=1_000),
                                children, name="sup")
            await system.wait_started(root)
            view = NodeView(cfg, system, transport)
            log.info("rollnet_node_started", port=transport.listen_port,
                     children=view.ids, peers=len(cfg.peers))
            async with anyio.create_task_group() as tg:
                tg.start_soon(_status_loop, view, home)
                await _control(view, stop)
                tg.cancel_scope.cancel()
            log.info("rollnet_node_stopping", step="final")
            n = write_records(home / FINAL_NAME, view.final_records())
            write_json(home / STATUS_NAME, view.status() | {"final": True})
            log.info("rollnet_node_stopping", step="actors", records=n)
            await system.shutdown()
            log.info("rollnet_node_stopping", step="transport")
            net_tg.cancel_scope.cancel()
    probe.close()
    log.info("rollnet_node_stopped")


async def _status_loop(view: NodeView, home: Path) -> None:
    while True:
        write_json(home / STATUS_NAME, view.status())
        await anyio.sleep(view.cfg.status_ms / 1000)


async def _client(view: NodeView, on: bool) -> None:
    """Start or stop the workload on every bucket (the client node only)."""
    ref = view.system.node.ref(view.cfg.name, f"{SUP}/client")
    rollups = int(view.cfg.options.get("rollups") or 0)
    for i in range(rollups):
        await view.system.tell(ref, ClientControl(f"bucket-{i}", on))


async def _control(view: NodeView, stop: anyio.Event | None) -> None:
    if stop is not None:
        await stop.wait()
        return
    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
    with anyio.open_signal_receiver(*sigs) as signals:
        async for sig in signals:
            if sig in (signal.SIGUSR1, signal.SIGUSR2):
                if "client" in view.ids:
                    await _client(view, sig == signal.SIGUSR1)
                continue
            return


def main(argv: list[str] | None = None) -> int:
    """Entry point of a node process."""
    from focusflow.node.logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m focusflow.topology.rollnet_node")
    parser.add_argument("--home", required=True, help="this node's home (rollnet.json inside)")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    configure_logging(level=args.log_level, fmt="json", stream=sys.stdout)
    anyio.run(run, Path(args.home), backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
