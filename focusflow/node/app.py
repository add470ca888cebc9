"""One host's node: transport + actor system + supervisor tree + HTTP, until SIGTERM.

Stop order on SIGTERM/SIGINT (the reverse of start): the HTTP endpoints stop accepting,
the supervisor tree stops children in reverse start order (the validator closes its
databases in ``on_stop``), then the transport closes its connections. SIGKILL loses
nothing committed: blocks and state are durable when written (see ``node.chain``).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio  # runtime-ok: the process main (event loop, signals, HTTP server)
import structlog

from focusflow.actors.bft.core import BftConfig
from focusflow.actors.consensus.crypto import Ed25519Verifier
from focusflow.actors.consensus.node import NodeConfig
from focusflow.actors.consensus.types import Committee
from focusflow.actors.consensus.types import Validator as CommitteeMember
from focusflow.actors.mempool.budget import BudgetConfig
from focusflow.actors.mempool.core import DagConfig
from focusflow.net import Transport
from focusflow.node.chain import ChainError, verify_block_log
from focusflow.node.config import (
    ConfigError,
    Settings,
    load_settings,
    read_genesis,
    read_validator_seed,
)
from focusflow.node.explain import HISTORY_INTERVAL_S, History, StallRule
from focusflow.node.http import NodeApi, serve_http
from focusflow.node.messages import Query, QueryReply
from focusflow.node.validator import VALIDATOR_PATH, ValidatorSettings
from focusflow.supervisor import ActorSystem
from focusflow.topology.node_tree import NodeSupervisor, node_policy, node_tree

ASK_TIMEOUT_MS = 10_000
STALL_TICK_MS = 10
STALL_SAMPLES_MAX = 8192


class NodeFailed(Exception):
    """The node's top supervisor gave up (its children kept crashing: a full disk, a bad
    data dir, a bug): the process must exit non-zero so its process manager restarts it,
    rather than stay up with no validator behind a live HTTP port (issue 16, finding 6)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the node's supervisor tree stopped: {reason}")
        self.reason = reason


class LoopMonitor:
    """Event-loop stall: a task that sleeps ``STALL_TICK_MS`` and records how late it woke.

    Why: everything of a node (actors, transport, HTTP) shares one event loop; a blocking
    call anywhere (an fsync, a π solve) delays all of it. The lateness of a 10 ms ticker is
    the loop's stall as any task sees it (/status ``loop``, /metrics ``loop_stall_seconds``).
    """

    def __init__(self) -> None:
        self.samples: list[float] = []  # lateness per tick, ms (recent ones)
        self.max_ms = 0.0
        self.total_ms = 0.0  # since the start: the summary's _sum
        self.ticks = 0
        self.over_50ms = 0

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Tick until cancelled."""
        task_status.started()
        period = STALL_TICK_MS / 1e3
        while True:
            t0 = anyio.current_time()
            await anyio.sleep(period)
            late = max(0.0, (anyio.current_time() - t0 - period) * 1e3)
            self.ticks += 1
            self.max_ms = max(self.max_ms, late)
            self.total_ms += late
            self.over_50ms += late > 50.0
            self.samples.append(late)
            if len(self.samples) > STALL_SAMPLES_MAX:
                del self.samples[: len(self.samples) - STALL_SAMPLES_MAX // 2]

    def status(self) -> dict[str, Any]:
        """Stall figures since the node started (max) and over the recent ticks."""
        recent = sorted(self.samples)

        def q(p: float) -> float | None:
            return recent[min(len(recent) - 1, int(p * len(recent)))] if recent else None

        return {"tick_ms": STALL_TICK_MS, "ticks": self.ticks, "stall_ms_max": self.max_ms,
                "stall_ms_total": self.total_ms,
                "stall_ms_p50": q(0.5), "stall_ms_p99": q(0.99), "stalls_over_50ms": self.over_50ms}
PAGE_PATH = Path(__file__).with_name("page.html")


def validator_settings(s: Settings) -> ValidatorSettings:
    """The validator actor's settings from a node config and its genesis."""
    chain_id, committee = read_genesis(s.genesis)
    if chain_id != s.chain_id:
        raise ConfigError(f"node.chain_id: expected the genesis chain id {chain_id!r}, "
                          f"found {s.chain_id!r}")
    seed = read_validator_seed(s.validator_key) if s.role == "validator" else None
    consensus = NodeConfig(bft=BftConfig(leader_timeout_ms=s.leader_timeout_ms),
                           dag=DagConfig(budget=BudgetConfig(queue_delay_ms=s.queue_delay_ms)))
    return ValidatorSettings(node_name=s.name, role=s.role, chain_id=chain_id,
                             last_signed_key=s.last_signed.name, committee=committee, validator_seed=seed, consensus=consensus,
                             sync_interval_ms=s.sync_interval_ms, commit_pi=s.commit_pi,
                             offload_io=s.offload_io, focus_backend=s.focus_backend,
                             stall=StallRule(s.block_interval_ms, s.stall_after_intervals))


def check_block_log(vsettings: ValidatorSettings, data_dir: str | Path, log: Any) -> int:
    """Verify the block log before anything serves it (``chain.verify_block_log``: the
    whole hash chain, the signatures of the tip's last blocks); return its height.

    Raises:
        ChainError: the log is corrupt or edited; logged (``block_log_corrupt``) with the
            block and the reason, and the node does not start.
    """
    committee = Committee(tuple(CommitteeMember(i, e.public_key, e.stake)
                                for i, e in enumerate(vsettings.committee)))
    path = Path(data_dir) / "blocks.sqlite"
    try:
        return verify_block_log(path, committee, Ed25519Verifier())
    except ChainError as exc:
        log.error("block_log_corrupt", path=str(path), error=str(exc))
        raise


class RunningNode:
    """Handles the HTTP layer uses to look at a running node (read-only)."""

    def __init__(self, settings: Settings, system: ActorSystem, transport: Transport,
                 vsettings: ValidatorSettings, loop: LoopMonitor | None = None) -> None:
        self.settings = settings
        self.loop = loop or LoopMonitor()
        self.system = system
        self.transport = transport
        self.vsettings = vsettings
        self.validator = system.node.ref(settings.name, VALIDATOR_PATH)
        self.root = system.node.ref(settings.name, "/user/node")
        self.history = History()

    async def sample_history(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Every ``HISTORY_INTERVAL_S``: height, links and finality into ``history`` (the web
        page's charts), until cancelled. A validator restarting just leaves a gap."""
        task_status.started()
        while True:
            try:
                v = await self.validator_status()
                self.history.add(anyio.current_time(), int(v["finalized_height"]),
                                 int(v["links_committed"]), v.get("finality_ms_p50"))
            except Exception as exc:  # restarting, overloaded: try again next time
                structlog.get_logger("focusflow.node").debug("history_sample_skipped",
                                                             error=repr(exc))
            await anyio.sleep(HISTORY_INTERVAL_S)

    async def ask(self, msg: Any) -> Any:
        return await self.system.ask(self.validator, msg, timeout_ms=ASK_TIMEOUT_MS)

    async def validator_status(self, kind: str = "status") -> dict[str, Any]:
        """The validator's answer to a query without argument (``status``, ``consensus``)."""
        reply = await self.ask(Query(kind, ""))
        assert isinstance(reply, QueryReply)
        data: dict[str, Any] = json.loads(reply.json)
        return data

    def actors(self) -> list[dict[str, Any]]:
        """Every live actor: path, class, incarnation, mailbox depth, restarts, last death."""
        node = self.system.node
        deaths: dict[str, tuple[int, str]] = {}
        cell = node._cells.get(self.root.path)
        if cell is not None and isinstance(cell.actor, NodeSupervisor):
            deaths = cell.actor.deaths
        out: list[dict[str, Any]] = []

        def walk(refs: list[Any], depth: int) -> None:
            for ref in refs:
                c = node._cells.get(ref.path)
                restarts, cause = deaths.get(ref.path, (0, ""))
                out.append({"path": ref.path, "depth": depth,
                            "class": type(c.actor).__name__ if c is not None else "?",
                            "alive": node.is_alive(ref), "incarnation": node.incarnation(ref),
                            "mailbox_depth": node.mailbox_depth(ref),
                            "mailbox_depth_max": c.mailbox_depth_max if c is not None else 0,
                            "restarts": restarts, "last_death": cause})
                walk(node.children_of(ref), depth + 1)

        walk(node.children_of(None), 0)
        return out

    async def status(self) -> dict[str, Any]:
        try:
            v = await self.validator_status()
        except Exception as exc:
            v = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            stall = (await self.validator_status("consensus"))["stall"]
        except Exception as exc:
            stall = {"error": f"{type(exc).__name__}: {exc}"}
        peers = {n: vars(s) | {} for n, s in self.transport.peer_stats().items()}
        return {"node": self.settings.name, "role": self.settings.role,
                "chain_id": self.vsettings.chain_id,
                "p2p": f"{self.transport.listen_host}:{self.transport.listen_port}",
                "validator": v, "stall": stall, "peers": peers, "peers_connected": self.transport.connected_peers(),
                "handshakes_refused": self.transport.refused_handshakes,
                "p2p_accept": vars(self.transport.accept_stats) | {},
                "remote_refused": {f"{peer}:{reason}": n for (peer, reason), n
                                   in sorted(self.system.node.gate.refusals.items())},
                "runtime": dict(self.system.node.stats), "actors": self.actors(),
                "loop": self.loop.status()}

    async def ready(self) -> tuple[bool, str]:
        """Ready: the validator runs, enough peers for a quorum are connected, and the
        chain is not stalled (``node.explain.StallRule``); else every reason why not."""
        if not self.system.node.is_alive(self.validator):
            return False, "validator actor not running"
        connected = len(self.transport.connected_peers())
        n = len(self.vsettings.committee)
        need = min(len(self.settings.peers), (2 * n) // 3)  # others needed for a quorum
        try:
            stall = (await self.validator_status("consensus"))["stall"]
        except Exception as exc:  # busy or restarting: not ready, and say why
            return False, f"validator not answering: {type(exc).__name__}: {exc}"
        problems = [f"{connected} peers connected, need {need}"] if connected < need else []
        if stall["stalled"]:
            problems.append(f"chain stalled: {stall['reason']}")
        if problems:
            return False, "; ".join(problems)
        return True, f"ready ({connected} peers, {stall['reason']})"

    async def restart(self, path: str) -> str:
        """Stop the actor at ``path``; its supervisor restarts it (permanent children).

        Only reachable when ``[http] actors_write = true``. Restarting the validator makes
        it a follower (double-sign guard): this is an operator's tool, not a routine.
        """
        return await self.system.stop(self.system.node.ref(self.settings.name, path))

    async def metrics(self) -> str:
        return render_metrics(await self.status())


def render_metrics(st: dict[str, Any]) -> str:
    """Prometheus text format; every series exists from the start (zero until counted).

    Durations are in seconds, the base unit (``promtool check metrics``, tested); a
    summary's ``_sum`` and ``_count`` run since the start, its quantiles are recent.
    """
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP focusflow_{name} {help_}")
        lines.append(f"# TYPE focusflow_{name} {kind}")
        for labels, value in samples:
            lines.append(f"focusflow_{name}{labels} {value}")

    v = st["validator"] if "error" not in st["validator"] else {}
    c = v.get("counters", {})
    metric("finalized_height", "gauge", "Height of the last finalized block.",
           [("", v.get("finalized_height", 0))])
    metric("state_height", "gauge", "Height the state has executed.", [("", v.get("state_height", 0))])
    metric("links_committed_total", "counter", "Cyberlinks in finalized blocks.",
           [("", v.get("links_committed", 0))])
    metric("consensus_round", "gauge", "Current DAG round.", [("", v.get("round", 0))])
    stall = st.get("stall", {})
    metric("chain_stalled", "gauge", "1 while no block came for the stall rule's time.",
           [("", 1 if stall.get("stalled") else 0)])
    metric("last_block_age_seconds", "gauge", "Time since this node saw its last block.",
           [("", (stall.get("last_block_age_ms") or 0) / 1000)])
    for key in ("submitted", "admitted", "rejected", "forwarded", "misbehaviours", "commits",
                "synced_blocks", "sync_refused", "unsendable", "rejoins"):
        metric(f"validator_{key}_total", "counter", f"Validator counter {key}.", [("", c.get(key, 0))])
    metric("finality_seconds", "summary", "Submit-to-finality latency of txs admitted here.",
           [('{quantile="0.5"}', _seconds(v.get("finality_ms_p50"))),
            ('{quantile="0.99"}', _seconds(v.get("finality_ms_p99"))),
            ("_sum", _seconds(v.get("finality_ms_total"))), ("_count", v.get("finality_count", 0))])
    pi = v.get("pi", {})
    metric("pi_height", "gauge", "Height of the last block whose π was committed.",
           [("", pi.get("height", 0))])
    metric("pi_particles", "gauge", "Particles in the committed π.", [("", pi.get("particles", 0))])
    metric("pi_seconds", "summary", "π time per block that changed the graph (on the event loop).",
           [('{quantile="0.5"}', _seconds(pi.get("ms_p50"))),
            ('{quantile="0.99"}', _seconds(pi.get("ms_p99"))),
            ("_sum", _seconds(pi.get("ms_total"))), ("_count", pi.get("count", 0))])
    loop = st.get("loop", {})
    metric("loop_stall_seconds", "summary", "Lateness of a 10 ms ticker task (event-loop stall).",
           [('{quantile="0.5"}', _seconds(loop.get("stall_ms_p50"))),
            ('{quantile="0.99"}', _seconds(loop.get("stall_ms_p99"))),
            ('{quantile="1"}', _seconds(loop.get("stall_ms_max"))),
            ("_sum", _seconds(loop.get("stall_ms_total"))), ("_count", loop.get("ticks", 0))])
    metric("peers_connected", "gauge", "Peers with a live TLS connection.",
           [("", len(st["peers_connected"]))])
    metric("transport_handshakes_refused_total", "counter", "TLS handshakes refused.",
           [("", st["handshakes_refused"])])
    acc = st.get("p2p_accept", {})
    for key in ("accepted", "refused_over_limit", "accept_errors", "handler_errors"):
        metric(f"p2p_{key}_total", "counter", f"p2p listener counter {key}.",
               [("", acc.get(key, 0))])
    metric("p2p_connections_active", "gauge", "Open connections on the p2p port.",
           [("", acc.get("active", 0))])
    for key in ("frames_sent", "frames_received", "bytes_sent", "bytes_received",
                "dropped_queue_full", "forged", "oversized", "connects", "disconnects"):
        metric(f"transport_{key}_total", "counter", f"Per-peer transport counter {key}.",
               [(f'{{peer="{p}"}}', s[key]) for p, s in sorted(st["peers"].items())])
    for key, value in sorted(st["runtime"].items()):
        metric(f"runtime_{key}_total", "counter", f"Actor runtime counter {key}.", [("", value)])
    metric("actor_mailbox_depth", "gauge", "Messages waiting per actor.",
           [(f'{{path="{a["path"]}"}}', a["mailbox_depth"]) for a in st["actors"]])
    metric("actor_restarts_total", "counter", "Abnormal exits per actor path.",
           [(f'{{path="{a["path"]}"}}', a["restarts"]) for a in st["actors"]])
    return "\n".join(lines) + "\n"


def _seconds(ms: float | None) -> float:
    """Milliseconds as kept in /status → seconds for /metrics (None: nothing yet, 0)."""
    return (ms or 0.0) / 1e3


def boot_recorded(node: Any, *, home: str) -> None:
    """Start a node's actors from its home's configuration: what ``run_node`` does, as a
    boot function of ``focusflow.chaos.record`` (``--record``), so that ``focusflow replay``
    starts the same tree with the same settings and door from the same files."""
    settings = load_settings(Path(home) / "config" / "node.toml")
    vsettings = validator_settings(settings)
    node.set_remote_policy(node_policy(vsettings.committee, settings.peers))
    node.spawn_spec(node_tree(vsettings))


async def run_node(settings: Settings, *, stop: anyio.Event | None = None,
                   on_started: Callable[[int, int], None] | None = None,
                   record: Path | None = None) -> None:
    """Run the node until SIGTERM/SIGINT (or ``stop`` is set), then stop in order.

    ``on_started(p2p_port, http_port)`` is called once both listen (ports may be 0 in the
    config: the OS picks). ``record``: write every input the node consumes to this file
    at the stop (``focusflow.chaos.record``; ``focusflow replay`` reproduces the run).

    Raises:
        NodeFailed: the supervisor tree stopped by itself (its root gave up); the node
            was stopped in order first.
    """
    log = structlog.get_logger("focusflow.node").bind(node=settings.name)
    vsettings = validator_settings(settings)
    check_block_log(vsettings, settings.data_dir, log)
    transport = Transport(settings.identity, list(settings.peers),
                          listen_host=settings.p2p_listen[0], listen_port=settings.p2p_listen[1],
                          config=settings.transport)
    async with ActorSystem(settings.name, storage_dir=settings.data_dir,
                           transport=transport.send) as system:
        recorder = None
        if record is None:
            system.node.set_remote_policy(node_policy(vsettings.committee, settings.peers))
            root = system.spawn_spec(node_tree(vsettings))
        else:  # the same start, by the recorder (imported only when recording)
            from focusflow.chaos.record import InputRecorder

            recorder = InputRecorder(system, boot="focusflow.node.app:boot_recorded",
                                     boot_args={"home": str(settings.home)})
            recorder.start()
            root = system.node.ref(settings.name, "/user/node")
        transport.attach(system.node.receive_frame, system.node.peer_down)
        async with anyio.create_task_group() as net_tg:
            await net_tg.start(transport.serve)
            loop = LoopMonitor()
            await net_tg.start(loop.run)
            await system.wait_started(root)
            node = RunningNode(settings, system, transport, vsettings, loop)
            await net_tg.start(node.sample_history)
            api = NodeApi(ask=node.ask, status=node.status, metrics=node.metrics,
                          actors=node.actors, ready=node.ready, page=PAGE_PATH.read_text(),
                          history=node.history.series,
                          restart=node.restart if settings.actors_write else None)
            async with anyio.create_task_group() as http_tg:
                port = await http_tg.start(serve_http, settings.http_listen[0],
                                           settings.http_listen[1], api)
                log.info("node_started", p2p_port=transport.listen_port, http_port=port,
                         peers=len(settings.peers), role=settings.role)
                if on_started is not None:
                    on_started(transport.listen_port, port)
                failed = await _wait_for_stop_or_root_death(stop, system, root)
                if failed is not None:
                    log.error("node_failed", reason=failed)
                log.info("node_stopping", step="http")
                http_tg.cancel_scope.cancel()
            if recorder is not None and record is not None:  # before the stop's own steps
                recorder.save(record)
                log.info("recording_saved", path=str(record), steps=recorder.steps,
                         unsupported=sorted(set(recorder.unsupported)))
            log.info("node_stopping", step="actors")
            await system.shutdown()
            log.info("node_stopping", step="transport")
            net_tg.cancel_scope.cancel()
    log.info("node_stopped")
    if failed is not None:
        raise NodeFailed(failed)


async def _wait_for_stop_or_root_death(stop: anyio.Event | None, system: ActorSystem,
                                       root: Any) -> str | None:
    """Wait for a stop request (None) or for the tree's root to terminate (its reason)."""
    failed: list[str] = []
    async with anyio.create_task_group() as race:

        async def root_died() -> None:
            failed.append(await system.wait_stopped(root))
            race.cancel_scope.cancel()

        async def asked_to_stop() -> None:
            await _wait_for_stop(stop)
            race.cancel_scope.cancel()

        race.start_soon(root_died)
        race.start_soon(asked_to_stop)
    return failed[0] if failed else None


async def _wait_for_stop(stop: anyio.Event | None) -> None:
    if stop is not None:
        await stop.wait()
        return
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            return
