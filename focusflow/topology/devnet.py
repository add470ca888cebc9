"""The local devnet: N validators as separate processes on loopback, and a workload.

``Devnet`` lays out one home per validator (keys, certificates, a shared genesis, each
config listing the others as pinned peers), starts ``python -m focusflow node`` for each,
and talks to them only through their HTTP API (the client API and /status) — as an
operator and a client would. ``Workload`` makes signed cyberlinks: each transaction comes
from a fresh neuron (nonce 0, so ordering across validators never causes nonce gaps) and
links particles drawn from a Zipf-like pool, so a few particles gather most links.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import numpy as np

from focusflow.actors.mempool.budget import QUEUE_DELAY_MS_DEFAULT
from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx
from focusflow.net import NodeIdentity
from focusflow.node import client
from focusflow.node.config import init_home, peer_toml, write_genesis
from focusflow.node.validator import CommitteeEntry
from focusflow.topology.verdict import (
    AGREE,
    DISAGREE,
    UNMEASURED,
    Verdict,
    compare,
    durable_views,
    get_retrying,
    live_views,
)

VALIDATORS_MAX = 32
READY_TIMEOUT_S = 60.0
LINKS_PER_TX_DEFAULT = 40


def free_ports(count: int) -> list[int]:
    """Ports the OS reports free right now on loopback (best effort)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class DevnetNode:
    """One validator process of the devnet."""

    name: str
    home: Path
    p2p_port: int
    http_port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    host: str = "127.0.0.1"
    prefix: tuple[str, ...] = ()  # e.g. ("ip", "netns", "exec", "ns0") for namespaces

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://{self.host}:{self.http_port}"


class Devnet:
    """N validator processes on loopback (see module docstring)."""

    def __init__(self, root: Path, *, validators: int = 4, chain_id: str = "focusflow-devnet",
                 leader_timeout_ms: int = 1000, backend: str = "asyncio",
                 hosts: list[str] | None = None,
                 prefixes: list[tuple[str, ...]] | None = None, commit_pi: bool = True,
                 offload_io: bool = False, key_salt: bytes = b"", base_port: int = 0,
                 queue_delay_ms: int = QUEUE_DELAY_MS_DEFAULT,
                 record_dir: Path | None = None) -> None:
        assert 2 <= validators <= VALIDATORS_MAX, "the consensus core needs 2..32 validators"
        self.root = root
        self.chain_id = chain_id
        self.backend = backend
        self.backends = [backend] * validators  # per node: processes may mix backends
        #: per node: where each validator solves the exact π (a fleet may mix them: the
        #: committed π is defined in integers, so every backend signs the same root)
        self.focus_backends = ["cpu"] * validators
        self.leader_timeout_ms = leader_timeout_ms
        self.commit_pi = commit_pi  # false only to measure what committing π costs
        self.offload_io = offload_io  # true: SQLite commits in a worker thread (node option)
        self.queue_delay_ms = queue_delay_ms  # the mempool's latency budget; 0: none
        # every node records its inputs here (``focusflow node --record``): node1.rec.gz
        # for its first start, node1.2.rec.gz for the second, ...
        self.record_dir = record_dir
        self.starts: dict[int, int] = {}
        # keys derive from the chain id (a devnet is reproducible); a testnet adds a secret
        # salt so that its keys cannot be recomputed by anyone who knows the chain id
        self.key_salt = key_salt
        # base_port 0: ports the OS reports free now; else node i listens on base + 2i
        # (p2p) and base + 2i + 1 (HTTP), stable across runs for an operator's firewall
        ports = free_ports(2 * validators) if base_port == 0 else list(
            range(base_port, base_port + 2 * validators))
        hosts = hosts or ["127.0.0.1"] * validators
        prefixes = prefixes or [()] * validators
        assert len(hosts) == len(prefixes) == validators
        self.nodes = [DevnetNode(f"node{i}", root / f"node{i}", ports[2 * i], ports[2 * i + 1],
                                 host=hosts[i], prefix=prefixes[i]) for i in range(validators)]

    def setup(self) -> None:
        """Write every home: keys, certificates, genesis, configs with pinned peers."""
        committee: list[CommitteeEntry] = []
        idents: list[NodeIdentity] = []
        vseeds: list[bytes] = []
        for i, n in enumerate(self.nodes):
            seed = self._seed("node", i)
            vseed = self._seed("validator", i)
            idents.append(NodeIdentity.create(n.home / "config", n.name, seed))
            vseeds.append(vseed)
            from focusflow.actors.consensus.crypto import Signer

            committee.append(CommitteeEntry(n.name, Signer(vseed).public_key, 1))
        for i, n in enumerate(self.nodes):
            peers = ""
            for j, m in enumerate(self.nodes):
                if j == i:
                    continue
                cert = n.home / "config" / "peers" / f"{m.name}.pem"
                cert.parent.mkdir(parents=True, exist_ok=True)
                cert.write_bytes(idents[j].cert_path.read_bytes())
                peers += peer_toml(m.name, f"{m.host}:{m.p2p_port}", idents[j].public_key,
                                   f"config/peers/{m.name}.pem")
            seed = self._seed("node", i)
            init_home(n.home, name=n.name, chain_id=self.chain_id, role="validator",
                      p2p_listen=f"{n.host}:{n.p2p_port}",
                      http_listen=f"{n.host}:{n.http_port}", overwrite=True, node_seed=seed,
                      validator_seed=vseeds[i], write_genesis_file=False, peers_toml=peers,
                      leader_timeout_ms=self.leader_timeout_ms, commit_pi=self.commit_pi,
                      offload_io=self.offload_io, queue_delay_ms=self.queue_delay_ms,
                      focus_backend=self.focus_backends[i])
            write_genesis(n.home / "config" / "genesis.json", self.chain_id, committee)

    def _seed(self, what: str, i: int) -> bytes:
        return blake3.blake3(self.key_salt + f"devnet {what} key {self.chain_id} {i}".encode()
                             ).digest()

    # ------------------------------------------------------------------ processes
    def start(self, i: int) -> None:
        """Start validator ``i`` (its log goes to <home>/node.log)."""
        n = self.nodes[i]
        assert n.proc is None or n.proc.poll() is not None, f"{n.name} is running"
        n.log_path = n.home / "node.log"
        log = n.log_path.open("ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.starts[i] = self.starts.get(i, 0) + 1
        record: list[str] = []
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            k = self.starts[i]
            record = ["--record", str(self.record_dir / (
                f"{n.name}.rec.gz" if k == 1 else f"{n.name}.{k}.rec.gz"))]
        n.proc = subprocess.Popen(
            [*n.prefix, sys.executable, "-m", "focusflow.node", "--home", str(n.home),
             "--backend", self.backends[i], "--log-format", "json", *record],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()

    def start_all(self) -> None:
        """Start every validator."""
        for i in range(len(self.nodes)):
            self.start(i)

    def kill(self, i: int) -> None:
        """SIGKILL validator ``i`` (a crash: nothing runs on the way down)."""
        n = self.nodes[i]
        assert n.proc is not None
        n.proc.send_signal(signal.SIGKILL)
        n.proc.wait()

    def pause(self, i: int) -> None:
        """SIGSTOP validator ``i`` (a process frozen mid-step: its sockets stay open)."""
        n = self.nodes[i]
        assert n.proc is not None and n.proc.poll() is None, f"{n.name} is not running"
        n.proc.send_signal(signal.SIGSTOP)

    def resume(self, i: int) -> None:
        """SIGCONT validator ``i`` after :meth:`pause`."""
        n = self.nodes[i]
        assert n.proc is not None
        n.proc.send_signal(signal.SIGCONT)

    def terminate(self, i: int, *, timeout_s: float = 15.0) -> int | None:
        """SIGTERM validator ``i`` and wait for its ordered stop; its exit code."""
        n = self.nodes[i]
        if n.proc is None or n.proc.poll() is not None:
            return None if n.proc is None else n.proc.returncode
        n.proc.send_signal(signal.SIGTERM)
        try:
            return n.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            n.proc.kill()
            return n.proc.wait()

    def stop(self) -> None:
        """SIGTERM every running validator."""
        for i in range(len(self.nodes)):
            self.terminate(i)

    def wait_ready(self, indices: list[int] | None = None, *,
                   timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until every listed validator answers /ready.

        Raises:
            TimeoutError: one did not in time (its log path is in the message).
        """
        deadline = time.monotonic() + timeout_s
        for i in indices if indices is not None else range(len(self.nodes)):
            n = self.nodes[i]
            while not client.is_ready(n.url):
                if n.proc is not None and n.proc.poll() is not None:
                    tail = n.log_path.read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"{n.name} exited ({n.proc.returncode}); {n.log_path}:\n{tail}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n.name} not ready; see {n.log_path}")
                time.sleep(0.1)

    def status(self, i: int, *, attempts: int = 5) -> dict[str, Any]:
        """The validator's /status (retried while the validator actor is too busy to answer
        the node's internal ask, which /status reports as an error entry).

        Raises:
            NodeUnavailable: the node does not answer, or never with a validator view.
        """
        for _ in range(attempts - 1):
            data: dict[str, Any] = client.get(self.nodes[i].url, "/status")
            if "error" not in data.get("validator", {"error": ""}):
                return data
            time.sleep(0.5)
        data = client.get(self.nodes[i].url, "/status")
        if "error" in data.get("validator", {"error": ""}):
            raise client.NodeUnavailable(f"{self.nodes[i].name}: {data.get('validator')}")
        return data

    def alive(self) -> list[int]:
        """Indices of validators whose process runs."""
        return [i for i, n in enumerate(self.nodes) if n.proc is not None and n.proc.poll() is None]


class Workload:
    """Deterministic signed cyberlinks (see module docstring)."""

    def __init__(self, *, chain_id: str, seed: int = 1, particles: int = 2000,
                 links_per_tx: int = LINKS_PER_TX_DEFAULT) -> None:
        assert 1 <= links_per_tx <= 50, "a tx must fit TX_BYTES_MAX (4 KiB, focusflow.limits)"
        self.chain_id = chain_id
        self.links_per_tx = links_per_tx
        self.rng = np.random.default_rng(seed)
        self.particles = [cid_of(f"particle {seed} {i}".encode()) for i in range(particles)]
        weights = 1.0 / np.arange(1, particles + 1) ** 1.1
        self.p = weights / weights.sum()
        self.seed = seed
        self.made = 0

    def txs(self, count: int) -> tuple[list[bytes], list[int]]:
        """``count`` signed link transactions and their focus tags."""
        txs, tags = [], []
        for _ in range(count):
            neuron = Neuron.from_seed(blake3.blake3(
                f"devnet neuron {self.seed} {self.made}".encode()).digest())
            self.made += 1
            pairs: set[tuple[int, int]] = set()
            while len(pairs) < self.links_per_tx:
                draw = self.rng.choice(len(self.particles), size=(2 * self.links_per_tx, 2), p=self.p)
                for a, b in draw.tolist():
                    if a != b and len(pairs) < self.links_per_tx:
                        pairs.add((a, b))
            links = [(self.particles[a], self.particles[b]) for a, b in sorted(pairs)]
            txs.append(make_tx(neuron, chain_id=self.chain_id, nonce=0, kind=TxKind.LINK,
                               links=links))
            tags.append(int(self.rng.pareto(1.5) * 1000) % (1 << 32))
        return txs, tags


@dataclass
class RunReport:
    """What a devnet run measured (``summary()`` is the ``--json`` object)."""

    validators: int
    duration_s: float
    rate_txs: int = 0
    links_per_tx: int = 0
    submitted_txs: int = 0
    accepted_txs: int = 0
    rejected_txs: int = 0  # refused in a node's answer to the submission
    unanswered_txs: int = 0  # submitted to a node that did not answer
    node_rejects: int = 0  # every Reject the nodes counted: at submission or shed later
    node_shed: int = 0  # accepted by a node, then shed by its mempool (lowest focus first)
    overloaded_txs: int = 0  # refused as overloaded/shed at submission (503, Retry-After)
    held_back_txs: int = 0  # offered while every node's Retry-After ran: not sent
    heights: list[int] = field(default_factory=list)
    links: list[int] = field(default_factory=list)
    finality_ms: list[float] = field(default_factory=list)
    finality_nodes: int = 0  # nodes whose samples are in ``finality_ms``
    agreement: Verdict | None = None
    pi_agreement: Verdict | None = None
    unmeasured: dict[str, str] = field(default_factory=dict)  # node -> why its figures are missing
    pi: list[dict[str, Any]] = field(default_factory=list)  # each validator's status()["pi"]
    statuses: list[dict[str, Any]] = field(default_factory=list)  # each answering node's /status
    elapsed_s: float = 0.0
    top: list[dict[str, Any]] = field(default_factory=list)

    def verdict(self) -> str:
        """``agree``, ``disagree`` or ``unmeasured`` over block digests and π roots."""
        states = [v.status if v is not None else UNMEASURED
                  for v in (self.agreement, self.pi_agreement)]
        return DISAGREE if DISAGREE in states else UNMEASURED if UNMEASURED in states else AGREE

    def summary(self) -> dict[str, Any]:
        """The JSON summary: validators, finalized_height, links_committed, finality_ms_p50,
        agreement, and more."""
        f = np.array(self.finality_ms) if self.finality_ms else None
        links = min(self.links) if self.links else 0
        pi_ms = [p["ms_p50"] for p in self.pi if p.get("ms_p50") is not None]
        blocks, pis = self.agreement, self.pi_agreement
        unmeasured = dict(self.unmeasured)
        for v in (blocks, pis):
            unmeasured.update(v.unmeasured if v is not None else {})
        window = self.duration_s or 1e-9
        return {
            "validators": self.validators,
            "finalized_height": min(self.heights) if self.heights else 0,
            "links_committed": links,
            "links_per_second": round(links / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "offered_links_per_second": float(self.rate_txs * self.links_per_tx),
            "submitted_links_per_second": round(self.submitted_txs * self.links_per_tx
                                                / window, 1),
            "committed_links_per_second": round(links / self.elapsed_s, 1) if self.elapsed_s
            else 0.0,
            "finality_ms_p50": round(float(np.percentile(f, 50)), 1) if f is not None else None,
            "finality_ms_p99": round(float(np.percentile(f, 99)), 1) if f is not None else None,
            "finality_samples": len(self.finality_ms),
            "finality_nodes": self.finality_nodes,
            "agreement": self.verdict() == AGREE,
            "agreement_verdict": self.verdict(),
            "agreement_heights_checked": blocks.heights_checked if blocks else 0,
            "divergence": blocks.to_json() if blocks and blocks.status == DISAGREE else None,
            "pi_root_agreement": pis is not None and pis.agree,
            "pi_root_verdict": pis.status if pis else UNMEASURED,
            "pi_divergence": pis.to_json() if pis and pis.status == DISAGREE else None,
            "pi_root": pis.last if pis else "",
            "unmeasured_nodes": unmeasured,
            "pi_particles": max((int(p.get("particles", 0)) for p in self.pi), default=0),
            "pi_ms_p50": round(float(np.median(pi_ms)), 2) if pi_ms else None,
            "pi_ms_max": max((float(p["ms_max"]) for p in self.pi if p.get("ms_max") is not None),
                             default=None),
            "pi_ms_total": [round(float(p.get("ms_total", 0.0)), 1) for p in self.pi],
            "offered_txs": int(self.rate_txs * self.duration_s),
            "submitted_txs": self.submitted_txs,
            "accepted_txs": self.accepted_txs,
            "rejected_txs": self.rejected_txs + self.unanswered_txs,
            "refused_txs": self.rejected_txs,
            "unanswered_txs": self.unanswered_txs,
            "overloaded_txs": self.overloaded_txs,
            "held_back_txs": self.held_back_txs,
            "shed_txs": self.node_shed,
            "node_rejects": self.node_rejects,
            "heights": self.heights,
            "duration_s": self.duration_s,
            "top_particles": self.top,
        }


def check_agreement(net: Devnet, indices: list[int]) -> Verdict:
    """Live verdict: do the listed (running) validators hold the same block digest at every
    height up to the lowest tip among them (HTTP, paged, each page retried)."""
    views, failures = live_views({net.nodes[i].name: net.nodes[i].url for i in indices}, "blocks")
    return compare("block digest", views, failures)


def check_pi_agreement(net: Devnet, indices: list[int]) -> Verdict:
    """Live verdict on the π roots, like :func:`check_agreement`."""
    views, failures = live_views({net.nodes[i].name: net.nodes[i].url for i in indices},
                                 "pi_roots")
    return compare("π root", views, failures)


def check_durable_agreement(net: Devnet, indices: list[int]) -> tuple[Verdict, Verdict]:
    """(block digests, π roots) verdicts from what each listed validator made durable:
    its home's SQLite files, read once its process stopped (issue 21: a slow or failed
    HTTP answer under load is not evidence of a fork)."""
    running = [net.nodes[i].name for i in set(indices) & set(net.alive())]
    assert not running, f"stop {running} before reading their homes"
    digests, pi_roots, failures = durable_views({net.nodes[i].name: net.nodes[i].home
                                                 for i in indices})
    return (compare("block digest", digests, failures), compare("π root", pi_roots, failures))


def run_workload(net: Devnet, *, duration_s: float, rate_txs: int, workload: Workload,
                 progress: Any = None, drain_s_max: float = 10.0, stop: bool = True) -> RunReport:
    """Feed ``rate_txs`` signed link txs per second for ``duration_s`` (round robin over the
    running validators), wait for the chain to settle and measure; with ``stop`` (the
    default) then stop the validators and judge agreement from their homes, else judge it
    live over HTTP."""
    report = RunReport(validators=len(net.nodes), duration_s=duration_s, rate_txs=rate_txs,
                       links_per_tx=workload.links_per_tx)
    tick_s = 0.1
    per_tick = max(1, int(rate_txs * tick_s))
    pool_txs, pool_tags = workload.txs(per_tick * 20)
    start = time.monotonic()
    next_tick, next_print, turn = start, start + 1.0, 0
    backoff_until: dict[int, float] = {}  # node -> when its Retry-After ends (503 overloaded)
    last_links, last_change = 0, start
    while time.monotonic() - start < duration_s:
        if len(pool_txs) < per_tick:
            more = workload.txs(per_tick * 10)
            pool_txs += more[0]
            pool_tags += more[1]
        txs, tags = pool_txs[:per_tick], pool_tags[:per_tick]
        del pool_txs[:per_tick], pool_tags[:per_tick]
        _offer(net, txs, tags, turn, backoff_until, report)
        turn += 1
        now = time.monotonic()
        if now >= next_print:
            next_print += 1.0
            links = _progress(net, progress, now - start)
            if links != last_links:
                last_links, last_change = links, now
        next_tick += tick_s
        time.sleep(max(0.0, next_tick - time.monotonic()))
    # drain: wait until committed links stop growing
    drain_end = time.monotonic() + drain_s_max
    while time.monotonic() < drain_end:
        time.sleep(0.5)
        links = _progress(net, progress, time.monotonic() - start)
        if links != last_links:
            last_links, last_change = links, time.monotonic()
        elif time.monotonic() - last_change > 2.0:
            break
    report.elapsed_s = max(1e-9, last_change - start)
    alive = net.alive()
    _measure_live(net, alive, report)
    if stop:
        net.stop()
        report.agreement, report.pi_agreement = check_durable_agreement(net, alive)
    else:
        report.agreement = check_agreement(net, alive)
        report.pi_agreement = check_pi_agreement(net, alive)
    return report


def _offer(net: Devnet, txs: list[bytes], tags: list[int], turn: int,
           backoff_until: dict[int, float], report: RunReport) -> None:
    """Submit one tick's txs to the next node (round robin) whose ``Retry-After`` is not
    running; a node that answers 503 (took none: overloaded) is backed off for its
    ``Retry-After`` and the same txs go to the next node, as a client with several
    endpoints would. Every attempt counts as submitted; no node to try: held back."""
    now = time.monotonic()
    alive = net.alive()
    tried = False
    for k in range(len(alive)):
        i = alive[(turn + k) % len(alive)]
        if backoff_until.get(i, 0.0) > now:
            continue
        tried = True
        try:
            r = client.submit(net.nodes[i].url, txs, tags, timeout_s=5.0)
        except client.NodeUnavailable:
            report.unanswered_txs += len(txs)
            report.submitted_txs += len(txs)
            return
        report.submitted_txs += len(txs)
        report.accepted_txs += int(r.get("accepted", 0))
        report.rejected_txs += int(r.get("rejected", 0))
        if str(r.get("reason", "")).startswith(("overloaded", "shed")):
            report.overloaded_txs += int(r.get("rejected", 0))
        if r.get("http_status") != 503:
            return
        backoff_until[i] = now + float(r.get("retry_after_s", 1))
    if not tried:
        report.held_back_txs += len(txs)


def _measure_live(net: Devnet, alive: list[int], report: RunReport) -> None:
    """Each running node's figures (height, links, shed, finality samples, π); a node that
    does not answer is listed as unmeasured, its figures left out."""
    for i in alive:
        n = net.nodes[i]
        try:
            st = net.status(i)
            samples = get_retrying(n.url, "/v1/finality")
        except client.NodeUnavailable as exc:
            report.unmeasured[n.name] = f"figures: {exc}"
            continue
        v = st["validator"]
        report.statuses.append(st)
        report.heights.append(int(v["finalized_height"]))
        report.links.append(int(v["links_committed"]))
        report.node_rejects += int(v["counters"]["rejected"])
        report.node_shed += int(v["counters"].get("shed", 0))
        report.finality_ms += [float(x) for x in samples]
        report.finality_nodes += bool(samples)
        report.pi.append(dict(v.get("pi", {})))
    for i in alive:
        with contextlib.suppress(client.NodeUnavailable):
            report.top = get_retrying(net.nodes[i].url, "/v1/top?arg=5")
            break


def _progress(net: Devnet, progress: Any, t_s: float) -> int:
    rows = []
    for i in net.alive():
        try:
            rows.append(net.status(i)["validator"])
        except client.NodeUnavailable:
            continue
    links = max((int(r.get("links_committed", 0)) for r in rows), default=0)
    if progress is not None and rows:
        p50 = [r["finality_ms_p50"] for r in rows if r.get("finality_ms_p50") is not None]
        top: list[dict[str, Any]] = []
        if int(t_s) % 5 == 0 and links:  # the committed π: no solve, but keep the log short
            with contextlib.suppress(client.NodeUnavailable):
                top = client.get(net.nodes[net.alive()[0]].url, "/v1/top?arg=3")
        progress({"t_s": round(t_s, 1), "heights": [r["finalized_height"] for r in rows],
                  "links_committed": links,
                  "links_per_second": round(links / t_s, 1) if t_s > 0 else 0.0,
                  "finality_ms_p50": round(float(np.median(p50)), 1) if p50 else None,
                  "top": top})
    return links
