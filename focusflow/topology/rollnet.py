"""The rollup network on the local devnet: every node of the rollups topology its own
OS process on loopback, and the driver that runs, breaks and measures it.

:class:`Rollnet` lays out one home per node of :func:`~focusflow.actors.rollup.topology.topology`
(``da``, ``watcher``, ``hub0..H-1``, ``rollup0..R-1``, ``relayer``, ``client``): its own
Ed25519 node key and TLS certificate, the certificates and keys of the peers it talks to
(pinned), and ``rollnet.json``; then starts ``python -m focusflow.topology.rollnet_node``
for each (see that module: the production ``Transport`` + ``ActorSystem`` stack). The
driver never joins the network: it signals processes (SIGUSR1/SIGUSR2 start and stop the
client's workload, SIGTERM stops a node in order, SIGKILL crashes it) and reads the
files they write in their homes (``status.json``, ``probe.jsonl``, ``final.rec`` and the
hubs' durable logs).

:func:`run_rollnet` is one measured run: links for ``duration_s``, then a drain until
every claim sent is merged at the top hub (or ``drain_s_max``), optional kill -9 /
restart faults, then an ordered stop and :func:`collect`, which joins the processes'
records into the figures of issue 11: ``global_sync_ms_p50``/``_p99`` (link arrival at
its sequencer → the top hub commits a root including it, link-weighted, one host-wide
monotonic clock), ``links_per_s`` (aggregated over rollups), ``claims_merged``,
``global_pi_consistent`` (the top hub's merged π vs a from-scratch π over every merged
bucket's links, re-executed from the DA grid's squares), and the delivery checks
(``no_gap``, ``no_double_delivery``: every hub's durable log holds each channel's
packets exactly once, in order, and as many as were sent).
"""

from __future__ import annotations

import json
import os
import random  # runtime-ok: the driver's seeded fault plan, outside actor code
import shutil
import signal
import struct
import subprocess
import sys
import time  # runtime-ok: the driver's clock (deadlines, phases), outside actor code
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import numpy as np

from focusflow.actors.hub.actor import EV_RECV, EV_RESUME, LOG_PREFIX
from focusflow.actors.ibc.messages import Packet, RecvPacket
from focusflow.actors.rollup.bucket import Bucket
from focusflow.actors.rollup.claims import Replayer
from focusflow.actors.rollup.graph import union_focus
from focusflow.actors.rollup.messages import HubEvent, HubState, SupplyRank
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.actors.rollup.topology import EPS, hub_of, pi_bound, topology
from focusflow.kernels import FocusParams
from focusflow.kernels._commit import dequantize
from focusflow.net import NodeIdentity
from focusflow.topology.devnet import free_ports
from focusflow.topology.rollnet_node import (
    CONFIG_NAME,
    DATA_DIR,
    FINAL_NAME,
    PROBE_NAME,
    STATUS_NAME,
    read_records,
)
from focusflow.wire import from_bytes

__all__ = ["Fault", "Rollnet", "RollnetNode", "check_delivery", "check_global_pi", "collect", "drive",
           "run_rollnet"]

ROLLUPS_MAX = 32
HUBS_MAX = 8
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
#: a sequencer's status counts for the drain only if written this long after the workload
#: stopped (links the client sent just before the stop have arrived and been counted)
SETTLE_GRACE_MS = 300
OPTIONS_DEFAULT: dict[str, Any] = {"rollup_links": 40, "rollup_settle_ms": 500.0,
                                   "rollup_merge_ms": 1_000.0, "rollup_window_ms": 1_000.0}

Progress = Callable[[dict[str, Any]], None]


@dataclass
class RollnetNode:
    """One node process of the rollup network."""

    name: str
    home: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def log_path(self) -> Path:
        """Its log (structlog JSON, stdout and stderr)."""
        return self.home / "node.log"


def peer_pairs(rollups: int, hubs: int) -> set[tuple[str, str]]:
    """Which nodes talk (either way; a reply travels back on the same link).

    client → sequencers; sequencers, hubs and the watcher → the DA grid; hubs ↔ the
    watcher (notices, fraud proofs); the relayer ↔ every sequencer and hub (it carries
    packets and acks; regional hubs reach the top hub only through it).
    """
    pairs: set[tuple[str, str]] = {("da", "watcher")}
    for i in range(rollups):
        r = f"rollup{i}"
        pairs |= {("client", r), ("da", r), ("relayer", r)}
    for j in range(hubs):
        h = f"hub{j}"
        pairs |= {("da", h), (h, "watcher"), (h, "relayer")}
    return {tuple(sorted(p)) for p in pairs}  # type: ignore[misc]


class Rollnet:
    """The rollup network as local processes (see the module docstring).

    Raises:
        ValueError: rollups or hubs out of range (the caller's fault).
    """

    def __init__(self, root: Path, options: Mapping[str, Any], *, backend: str = "asyncio",
                 host: str = "127.0.0.1", seed: int = 7, status_ms: int = 250) -> None:
        self.options: dict[str, Any] = OPTIONS_DEFAULT | {
            k: v for k, v in options.items() if v is not None}
        self.rollups = int(self.options.setdefault("rollups", 4))
        self.hubs = int(self.options.setdefault("hubs", 1))
        if not 1 <= self.rollups <= ROLLUPS_MAX or not 1 <= self.hubs <= HUBS_MAX:
            raise ValueError(f"rollups must be 1..{ROLLUPS_MAX} and hubs 1..{HUBS_MAX}, "
                             f"not {self.rollups} and {self.hubs}")
        json.dumps(self.options)  # every option must travel in rollnet.json (TypeError)
        self.root, self.backend, self.host = root, backend, host
        self.seed, self.status_ms = seed, status_ms
        names = list(topology(self.options, None))
        ports = free_ports(len(names))
        self.nodes = {n: RollnetNode(n, root / n, p) for n, p in zip(names, ports, strict=True)}
        self.pairs = peer_pairs(self.rollups, self.hubs)
        assert all(a in self.nodes and b in self.nodes for a, b in self.pairs)
        self.workload_on_ns: int | None = None
        #: (node, pid) -> CPU seconds the process had used when the workload started
        self.cpu_at_start: dict[tuple[str, int], float] = {}
        self.workload_off_ns: int | None = None

    # ------------------------------------------------------------------ layout
    def setup(self) -> None:
        """Write every home: node key and certificate, peers' certificates, rollnet.json.

        A home used before is reset: its hub log, probe, status and final records go
        (a hub would otherwise replay the last run's log, and the figures mix runs).
        """
        for n in self.nodes.values():
            shutil.rmtree(n.home / DATA_DIR, ignore_errors=True)
            for name in (PROBE_NAME, STATUS_NAME, FINAL_NAME):
                (n.home / name).unlink(missing_ok=True)
        idents: dict[str, NodeIdentity] = {}
        for i, (name, n) in enumerate(self.nodes.items()):
            seed = blake3.blake3(f"rollnet node key {self.seed} {i} {name}".encode()).digest()
            idents[name] = NodeIdentity.create(n.home / "config", name, seed)
        for i, (name, n) in enumerate(self.nodes.items()):
            peers = []
            for other in sorted(self.peers_of(name)):
                m = self.nodes[other]
                cert = n.home / "config" / "peers" / f"{other}.pem"
                cert.parent.mkdir(parents=True, exist_ok=True)
                cert.write_bytes(idents[other].cert_path.read_bytes())
                peers.append({"name": other, "host": self.host, "port": m.port,
                              "public_key": idents[other].public_key.hex(),
                              "cert": str(cert.relative_to(n.home))})
            cfg = {"name": name, "host": self.host, "port": n.port, "peers": peers,
                   "options": self.options, "seed": self.seed * 1000 + i,
                   "status_ms": self.status_ms}
            (n.home / CONFIG_NAME).write_text(json.dumps(cfg, indent=1))

    def peers_of(self, name: str) -> set[str]:
        """The nodes ``name`` has a pinned link with."""
        return {b if a == name else a for a, b in self.pairs if name in (a, b)}

    # ------------------------------------------------------------------ processes
    def start(self, name: str) -> None:
        """Start (or restart) node ``name``; its output goes to ``<home>/node.log``."""
        n = self.nodes[name]
        assert n.proc is None or n.proc.poll() is not None, f"{name} is running"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with n.log_path.open("ab") as log:
            n.proc = subprocess.Popen(
                [sys.executable, "-m", "focusflow.topology.rollnet_node", "--home", str(n.home),
                 "--backend", self.backend], stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        n.starts += 1

    def start_all(self) -> None:
        """Start every node (data and hubs first, the client last)."""
        for name in self.nodes:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL node ``name`` (a crash: nothing runs on the way down)."""
        n = self.nodes[name]
        assert n.proc is not None and n.proc.poll() is None, f"{name} is not running"
        n.proc.send_signal(signal.SIGKILL)
        n.proc.wait()
        n.kills += 1

    def terminate(self, names: Sequence[str], *, timeout_s: float = STOP_TIMEOUT_S
                  ) -> dict[str, int | None]:
        """SIGTERM the listed nodes (in that order), wait for their ordered stops."""
        for name in names:
            p = self.nodes[name].proc
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + timeout_s
        for name in names:
            p = self.nodes[name].proc
            if p is None:
                codes[name] = None
                continue
            try:
                codes[name] = p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                codes[name] = p.wait()
        return codes

    def stop_order(self) -> list[str]:
        """Workload first, then relaying, sequencers, regional hubs, the top hub, DA."""
        rank = {"client": 0, "relayer": 1, "watcher": 5, "da": 6}
        return sorted(self.nodes, key=lambda n: (
            rank.get(n, 2 if n.startswith("rollup") else 4 if n == "hub0" else 3), n))

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every running node; their exit codes."""
        return self.terminate(self.stop_order())

    def alive(self) -> list[str]:
        """Names of nodes whose process runs."""
        return [n for n, x in self.nodes.items() if x.proc is not None and x.proc.poll() is None]

    def workload(self, on: bool) -> None:
        """Start (SIGUSR1) or stop (SIGUSR2) the client's links on every bucket."""
        p = self.nodes["client"].proc
        assert p is not None and p.poll() is None, "the client is not running"
        p.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)
        if on:
            self.workload_on_ns = time.monotonic_ns()
            self.cpu_at_start = self.cpu()
        else:
            self.workload_off_ns = time.monotonic_ns()

    # ------------------------------------------------------------------ observing
    def status(self, name: str) -> dict[str, Any] | None:
        """The node's last ``status.json`` (None before its first)."""
        try:
            data: dict[str, Any] = json.loads((self.nodes[name].home / STATUS_NAME).read_text())
        except (OSError, ValueError):
            return None
        return data

    def actor(self, name: str, child: str) -> dict[str, Any] | None:
        """The summary of child ``child`` of node ``name`` from its status."""
        st = self.status(name)
        got = None if st is None else st["actors"].get(child)
        return got if isinstance(got, dict) else None

    def cpu(self) -> dict[tuple[str, int], float]:
        """CPU seconds each node process reports having used (from its status)."""
        out = {}
        for name in self.nodes:
            st = self.status(name)
            if st is not None:
                out[(name, int(st["pid"]))] = float(st.get("cpu_s", 0.0))
        return out

    def cpu_s_since_start(self) -> float:
        """CPU seconds the node processes spent since the workload started (a process
        restarted since counts from its own start, imports included; what a kill -9'd
        incarnation spent after the start is not counted)."""
        now = self.cpu()
        return sum(c - self.cpu_at_start.get(key, 0.0) for key, c in now.items())

    def wait_ready(self, *, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until every node runs its tree and has a link to each of its peers.

        Raises:
            RuntimeError: a node exited (with the tail of its log).
            TimeoutError: not ready in time (which nodes are missing peers).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            missing = []
            for name, n in self.nodes.items():
                if n.proc is not None and n.proc.poll() is not None:
                    tail = n.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited ({n.proc.returncode}):\n{tail}")
                st = self.status(name)
                if st is None or set(st["peers_connected"]) != self.peers_of(name) or (
                        st.get("pid") != (n.proc.pid if n.proc else None)):
                    missing.append(name)
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready: {missing}")
            time.sleep(0.1)

    def drained(self) -> tuple[bool, str]:
        """Whether every claim a sequencer made is acknowledged and merged at the top hub."""
        off = self.workload_off_ns
        if off is None:
            return False, "workload still on"
        top = self.actor("hub0", "hub")
        if top is None:
            return False, "no top hub status"
        liar = int(self.options.get("rollup_liar", -1))
        for i in range(self.rollups):
            st = self.status(f"rollup{i}")
            s = None if st is None else st["actors"].get("seq")
            if st is None or s is None or st["t_ns"] < off + SETTLE_GRACE_MS * 1_000_000:
                return False, f"rollup{i}: no fresh status"
            if i == liar:
                continue
            if s["pending"] or s["unclaimed_batches"] or s["next_ack"] != s["next_send"]:
                return False, f"rollup{i}: links or claims in flight"
            if top["snapshot"].get(s["bucket"], 0) != s["period"]:
                return False, f"rollup{i}: period {s['period']} not merged yet"
        return True, "drained"


# ---------------------------------------------------------------------- a run

@dataclass
class Fault:
    """kill -9 ``node`` at ``at_s`` after the workload starts; restart it ``down_s`` later."""

    node: str
    at_s: float
    down_s: float = 1.0
    done: int = 0  # 0 = pending, 1 = killed, 2 = restarted


@dataclass
class RunInfo:
    """Timings of a run, for :func:`collect`."""

    active_s: float = 0.0
    drain_s: float = 0.0
    drained: bool = False
    drain_reason: str = ""
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)


def crash_plan(net: Rollnet, *, every_s: float, duration_s: float, seed: int = 1,
               down_s: float = 1.0) -> list[Fault]:
    """kill -9 a random node (never the client: it holds the workload switch) every
    ``every_s`` seconds of the workload, each restarted ``down_s`` later (at most half
    the period, so a node is up again before the next kill). Seeded: same plan per seed.
    """
    assert every_s > 0 and duration_s >= 0
    rng = random.Random(seed)  # runtime-ok: the driver's fault plan, outside actor code
    names = sorted(n for n in net.nodes if n != "client")
    down = min(down_s, every_s / 2)
    count = int(duration_s / every_s)
    assert count <= 10_000, "crash plan too long"
    return [Fault(rng.choice(names), every_s * (k + 1), down) for k in range(count)]


def run_rollnet(root: Path, options: Mapping[str, Any], *, duration_s: float,
                drain_s_max: float = 20.0, faults: Sequence[Fault] = (),
                crash_every_s: float = 0.0, backend: str = "asyncio",
                progress: Progress | None = None) -> dict[str, Any]:
    """Lay out a :class:`Rollnet` under ``root`` and :func:`drive` it; the summary.

    ``crash_every_s`` > 0 adds :func:`crash_plan` (kill -9 of a random node every so
    many seconds of the workload, restarted after at most 1 s) to ``faults``.

    Raises:
        RuntimeError, TimeoutError: the network did not come up (see ``wait_ready``).
    """
    net = Rollnet(root, options, backend=backend)
    net.setup()
    plan = list(faults)
    if crash_every_s > 0:
        plan += crash_plan(net, every_s=crash_every_s, duration_s=duration_s, seed=net.seed)
    return drive(net, duration_s=duration_s, drain_s_max=drain_s_max, faults=plan,
                 progress=progress)


def drive(net: Rollnet, *, duration_s: float, drain_s_max: float = 20.0,
          faults: Sequence[Fault] = (), progress: Progress | None = None) -> dict[str, Any]:
    """Start every node, feed links for ``duration_s`` (running ``faults``), drain until
    every claim is merged (at most ``drain_s_max``), stop in order, :func:`collect`.

    Raises:
        RuntimeError, TimeoutError: the network did not come up (see ``wait_ready``).
    """
    info = RunInfo()
    pending = [Fault(f.node, f.at_s, f.down_s) for f in faults]
    net.start_all()
    try:
        net.wait_ready()
        if progress:
            progress({"phase": "ready", "processes": len(net.nodes)})
        net.workload(True)
        t0 = time.monotonic()
        _loop(net, t0, duration_s, pending, info, progress, until_drained=False)
        net.workload(False)
        info.active_s = time.monotonic() - t0
        t1 = time.monotonic()
        _loop(net, t0, duration_s + drain_s_max, pending, info, progress, until_drained=True)
        info.drain_s = time.monotonic() - t1
        info.drained, info.drain_reason = net.drained()
    finally:
        info.exit_codes = net.stop()
    return collect(net, info)


def _loop(net: Rollnet, t0: float, end_s: float, faults: list[Fault], info: RunInfo,
          progress: Progress | None, *, until_drained: bool) -> None:
    next_print = time.monotonic() + 1.0
    while (now := time.monotonic()) - t0 < end_s:
        for f in faults:
            if f.done == 0 and now - t0 >= f.at_s:
                net.kill(f.node)
                f.done = 1
                info.faults.append(f"kill -9 {f.node} at {now - t0:.1f} s")
            elif f.done == 1 and now - t0 >= f.at_s + f.down_s:
                net.start(f.node)
                f.done = 2
                info.faults.append(f"restart {f.node} at {now - t0:.1f} s")
        if until_drained and all(f.done != 1 for f in faults) and net.drained()[0]:
            return
        if progress and now >= next_print:
            next_print += 1.0
            progress(_progress(net, now - t0))
        time.sleep(0.05)


def _progress(net: Rollnet, t_s: float) -> dict[str, Any]:
    links = 0
    for i in range(net.rollups):
        s = net.actor(f"rollup{i}", "seq")
        links += int(s["links_ordered"]) if s else 0
    top = net.actor("hub0", "hub") or {}
    return {"phase": "run", "t_s": round(t_s, 1), "links_ordered": links,
            "links_per_s": round(links / t_s, 1) if t_s > 0 else 0.0,
            "top_height": top.get("height", 0),
            "claims_merged": sum(top.get("snapshot", {}).values()),
            "alive": len(net.alive()), "processes": len(net.nodes)}


# ---------------------------------------------------------------------- joining the records

def _probe_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by kill -9 mid-write: that one sample is lost
    return out


def latency(net: Rollnet) -> RollupProbe:
    """Join the sequencers' claim records with the top hub's commits (one host clock)."""
    probe = RollupProbe()
    for i in range(net.rollups):
        for ev in _probe_lines(net.nodes[f"rollup{i}"].home / PROBE_NAME):
            if ev.get("ev") == "claim":
                probe.claim_sent(bytes.fromhex(ev["bucket"]), int(ev["period"]),
                                 [(int(t), int(n)) for t, n in ev["arrivals"]])
    for ev in _probe_lines(net.nodes["hub0"].home / PROBE_NAME):
        if ev.get("ev") == "commit":
            probe.committed(tuple((bytes.fromhex(b), int(p)) for b, p in ev["merged"]),
                            int(ev["now_ns"]))
    return probe


def hub_log(home: Path) -> tuple[dict[str, list[int]], int]:
    """A hub's durable log: packet sequences received per channel (in log order), and
    how many restarts (resume events) it records."""
    data = home / DATA_DIR
    seqs: dict[str, list[int]] = {}
    resumes = 0
    if not data.exists():
        return seqs, 0
    for path in sorted(data.glob(f"{LOG_PREFIX}*")):
        ev = from_bytes(HubEvent, path.read_bytes())
        if ev.kind == EV_RECV:
            packet = from_bytes(Packet, from_bytes(RecvPacket, ev.a).packet)
            seqs.setdefault(packet.dest_channel, []).append(packet.sequence)
        elif ev.kind == EV_RESUME:
            resumes += 1
    return seqs, resumes


def check_delivery(net: Rollnet) -> tuple[bool, bool, list[str]]:
    """(no_gap, no_double_delivery, problems) over every hub's channels.

    A hub logs a received packet before acknowledging it, and replays the log on
    restart, so its log is the ground truth of what it received: each channel must show
    1, 2, ..., n once each, and n must be what the sending end sent.
    """
    sent: dict[tuple[str, str], int] = {}  # (receiving hub, its channel) -> packets sent
    for i in range(net.rollups):
        s = net.actor(f"rollup{i}", "seq")
        if s is not None:
            sent[(hub_of(i, net.hubs), f"rollup{i}")] = int(s["next_send"]) - 1
    for j in range(1, net.hubs):
        h = net.actor(f"hub{j}", "hub")
        if h is not None and "up" in h["channels"]:
            sent[("hub0", f"hub{j}")] = int(h["channels"]["up"][0]) - 1
    gap_free, once, problems = True, True, []
    for j in range(net.hubs):
        seqs, _ = hub_log(net.nodes[f"hub{j}"].home)
        for (hub, chan), n in sorted(sent.items()):
            if hub != f"hub{j}":
                continue
            got = seqs.get(chan, [])
            if len(set(got)) != len(got):
                once = False
                problems.append(f"hub{j}/{chan}: repeated sequences {got}")
            if sorted(set(got)) != list(range(1, len(set(got)) + 1)) or got != sorted(got):
                gap_free = False
                problems.append(f"hub{j}/{chan}: out of order or gap {got}")
            if len(set(got)) != n:
                gap_free = False
                problems.append(f"hub{j}/{chan}: {len(set(got))} received of {n} sent")
    return gap_free, once, problems


def check_global_pi(net: Rollnet) -> tuple[bool, float, float, str]:
    """(consistent, |merged − scratch|₁, bound, why) for the top hub's last snapshot.

    Re-executes every merged claim of every bucket from the DA grid's squares
    (``Replayer``: the squares are checked against the claims' data roots) and solves
    the disjoint union of the buckets' graphs from scratch (ε = 1e-13).
    """
    hub_rec = net.nodes["hub0"].home / FINAL_NAME
    da_rec = net.nodes["da"].home / FINAL_NAME
    if not hub_rec.exists() or not da_rec.exists():
        return False, float("nan"), float("nan"), "final records missing (not stopped in order)"
    claims: dict[bytes, list[SupplyRank]] = {}
    meta: dict[str, Any] = {}
    state: HubState | None = None
    for tag, data in read_records(hub_rec):
        if tag == "claim":
            c = from_bytes(SupplyRank, data)
            claims.setdefault(c.bucket, []).append(c)
        elif tag == "hub_meta":
            meta = json.loads(data)
        elif tag == "hub_state":
            state = from_bytes(HubState, data)
    squares: dict[bytes, tuple[bytes, int]] = {}
    for tag, data in read_records(da_rec):
        if tag == "square":
            (k,) = struct.unpack_from("<I", data, 32)
            squares[data[:32]] = (data[36:], k)
    if state is None or not meta.get("height"):
        return False, float("nan"), float("nan"), "the top hub never committed"
    params = FocusParams(eps=EPS)
    graphs = []
    for bh in meta["order"]:
        b = bytes.fromhex(bh)
        upto = int(meta["snapshot"][bh])
        rep = Replayer(b, Bucket(b).namespace, params)
        for claim in claims.get(b, [])[:upto]:
            finding = rep.check(claim, squares.get)
            if finding.fraud or rep.period != claim.period:
                return False, float("nan"), float("nan"), f"{bh[:16]}/{claim.period}: {finding}"
        if rep.period != upto:
            return False, float("nan"), float("nan"), f"{bh[:16]}: replayed {rep.period} of {upto}"
        graphs.append(rep.graph)
    ref = union_focus(graphs, FocusParams(eps=1e-13))
    got = dequantize(state.pi)
    bound = pi_bound(len(ref))
    err = float(np.abs(got - ref).sum()) if len(got) == len(ref) else float("inf")
    return err <= bound, err, bound, f"n={len(ref)}, got {len(got)}"


def collect(net: Rollnet, info: RunInfo) -> dict[str, Any]:
    """Join every process's records into the run's summary (see the module docstring)."""
    probe = latency(net)
    links = 0
    claims_sent = 0
    for i in range(net.rollups):
        s = net.actor(f"rollup{i}", "seq")
        if s is not None:
            links += int(s["links_ordered"])
            claims_sent += int(s["period"])
    top = net.actor("hub0", "hub") or {}
    merged = sum(int(p) for p in top.get("accepted", {}).values())
    all_merged, _ = net.drained()  # again, on the statuses written at the ordered stop
    consistent, err, bound, why = check_global_pi(net)
    gap_free, once, problems = check_delivery(net)
    restarts = sum(hub_log(net.nodes[f"hub{j}"].home)[1] for j in range(net.hubs))
    statuses = [net.status(n) or {} for n in net.nodes]
    p50, p99 = probe.percentile_ms(50), probe.percentile_ms(99)
    return {
        "rollups": net.rollups, "hubs": net.hubs, "processes": len(net.nodes),
        "global_sync_ms_p50": round(p50, 1) if p50 == p50 else None,
        "global_sync_ms_p99": round(p99, 1) if p99 == p99 else None,
        "latency_samples": len(probe.latency_ms),
        "links_ordered": links,
        "links_per_s": round(links / info.active_s, 1) if info.active_s else 0.0,
        "active_s": round(info.active_s, 2), "drain_s": round(info.drain_s, 2),
        "claims_sent": claims_sent, "claims_merged": merged,
        "global_height": int(top.get("height", 0)),
        "all_claims_merged": all_merged, "drain": info.drain_reason,
        "global_pi_consistent": consistent, "pi_error": err, "pi_bound": bound,
        "pi_check": why,
        "no_gap": gap_free, "no_double_delivery": once, "delivery_problems": problems[:5],
        "slashed": len({k for j in range(net.hubs)
                        for k in (net.actor(f"hub{j}", "hub") or {}).get("slashed", [])}),
        "hub_restarts": restarts,
        "process_restarts": sum(n.starts - 1 for n in net.nodes.values()),
        "faults": info.faults,
        "packets_refused": sum(int(st.get("actors", {}).get("hub", {}).get("refused", 0))
                               for st in statuses),
        "unknown_destination": sum(int(st.get("unknown_destination", 0)) for st in statuses),
        "dropped_queue_full": sum(int(st.get("dropped_queue_full", 0)) for st in statuses),
        "cpu_s": round(net.cpu_s_since_start(), 2),
        "exit_codes": info.exit_codes,
        "root": str(net.root),
    }
