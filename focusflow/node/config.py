"""Node configuration: the home folder, ``config/node.toml``, key files, genesis.

Layout (CometBFT's conventions; ``--home`` or ``FOCUSFLOW_HOME``, default ``~/.focusflow``)::

    <home>/config/node.toml           the commented configuration (one table per subsystem)
    <home>/config/node_key.pem        node identity: Ed25519 key (TLS certificate key)
    <home>/config/node_cert.pem       self-signed certificate of the node key (give to peers)
    <home>/config/validator_key.json  validator signing key (Ed25519 seed)
    <home>/config/genesis.json        chain id and the validator committee
    <home>/data/                      state.sqlite, blocks.sqlite, last_signed_state.json

Every config error names the key, what was expected and what was found
(``ConfigError``). Secrets never appear in errors or logs: only public keys do.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from focusflow.actors.consensus.crypto import Signer
from focusflow.actors.mempool.budget import QUEUE_DELAY_MS_DEFAULT
from focusflow.kernels import BACKENDS as FOCUS_BACKENDS
from focusflow.net import (
    NodeIdentity,
    PeerSpec,
    TransportConfig,
    check_node_name,
    public_key_of_seed,
)
from focusflow.node.validator import CommitteeEntry

CONFIG_VERSION = 1
ROLES = ("validator", "full", "light")
#: What a peer outside the genesis committee may be (``[[p2p.peers]] role``).
PEER_ROLES = ("full", "light")
LOG_FORMATS = ("auto", "console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
HOME_ENV = "FOCUSFLOW_HOME"


class ConfigError(Exception):
    """The configuration is wrong; the message names key, expected and found value."""


def default_home() -> Path:
    """``$FOCUSFLOW_HOME`` or ``~/.focusflow``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".focusflow")


def _bad(key: str, expected: str, found: Any) -> ConfigError:
    return ConfigError(f"{key}: expected {expected}, found {found!r}")


def _address(key: str, value: Any) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise _bad(key, "a 'host:port' string", value)
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise _bad(key, "a 'host:port' string with port 0..65535", value)
    return host, int(port)


class _Table:
    """Typed reads from one TOML table that name the full key in errors."""

    def __init__(self, data: dict[str, Any], name: str) -> None:
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise _bad(name, "a table", raw)
        self.raw = raw
        self.name = name
        self.used: set[str] = set()

    def get(self, key: str, kind: type, default: Any = None, *, choices: tuple[Any, ...] = (),
            minimum: int | None = None) -> Any:
        self.used.add(key)
        full = f"{self.name}.{key}"
        if key not in self.raw:
            if default is None:
                raise _bad(full, f"a {kind.__name__} (required)", "nothing")
            return default
        value = self.raw[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad(full, "an integer", value)
        if kind is not int and not isinstance(value, kind):
            raise _bad(full, f"a {kind.__name__}", value)
        if choices and value not in choices:
            raise _bad(full, "one of " + ", ".join(map(repr, choices)), value)
        if minimum is not None and value < minimum:
            raise _bad(full, f"an integer >= {minimum}", value)
        return value

    def done(self) -> None:
        extra = sorted(set(self.raw) - self.used)
        if extra:
            raise _bad(f"{self.name}.{extra[0]}", "no such key (misspelt?)", self.raw[extra[0]])


@dataclass(frozen=True)
class Settings:
    """A loaded, validated node configuration (paths absolute)."""

    home: Path
    name: str
    role: str
    chain_id: str
    data_dir: Path
    p2p_listen: tuple[str, int]
    peers: tuple[PeerSpec, ...]
    http_listen: tuple[str, int]
    actors_write: bool
    node_key: Path
    node_cert: Path
    validator_key: Path
    last_signed: Path
    genesis: Path
    transport: TransportConfig
    leader_timeout_ms: int
    sync_interval_ms: int
    log_level: str
    log_format: str
    log_modules: dict[str, str] = field(default_factory=dict)
    commit_pi: bool = True
    offload_io: bool = False
    focus_backend: str = "cpu"  # node-local: where the exact π is solved (same root on all)
    block_interval_ms: int = 1000  # expected time between blocks (the stall rule)
    stall_after_intervals: int = 10  # stalled: no block for this many intervals
    queue_delay_ms: int = QUEUE_DELAY_MS_DEFAULT  # the mempool's latency budget (mempool.budget); 0: none

    @property
    def identity(self) -> NodeIdentity:
        """The node identity (name, key and certificate files)."""
        return NodeIdentity(self.name, self.node_key, self.node_cert)


def load_settings(path: Path) -> Settings:
    """Read and validate ``node.toml``.

    Raises:
        ConfigError: unreadable, unknown version, a key missing, of the wrong type or out
            of range, an unknown key, or a referenced file missing.
    """
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    version = data.get("version")
    if version != CONFIG_VERSION:
        raise _bad("version", str(CONFIG_VERSION), version)
    known = {"version", "node", "keys", "p2p", "http", "consensus", "transport", "log", "store"}
    for key in data:
        if key not in known:
            raise _bad(key, "one of the tables " + ", ".join(sorted(known - {"version"})), data[key])
    home = path.resolve().parent.parent

    def rel(p: str) -> Path:
        return (home / p).resolve()

    node = _Table(data, "node")
    name = node.get("name", str)
    try:
        check_node_name(name)
    except ValueError as exc:
        raise _bad("node.name", "1..64 characters of [A-Za-z0-9._-]", name) from exc
    role = node.get("role", str, "validator", choices=ROLES)
    chain_id = node.get("chain_id", str)
    node.done()
    keys = _Table(data, "keys")
    paths = {k: rel(keys.get(k, str, d)) for k, d in (
        ("node_key", "config/node_key.pem"), ("node_cert", "config/node_cert.pem"),
        ("validator_key", "config/validator_key.json"), ("genesis", "config/genesis.json"),
        ("last_signed_state", "data/last_signed_state.json"))}
    keys.done()
    for k in ("node_key", "node_cert", "genesis"):
        if not paths[k].exists():
            raise _bad(f"keys.{k}", "an existing file", str(paths[k]))
    store = _Table(data, "store")
    data_dir = rel(store.get("data_dir", str, "data"))
    store.done()
    if paths["last_signed_state"].parent != data_dir:  # it is a key of the node's storage
        raise _bad("keys.last_signed_state", f"a file directly in store.data_dir ({data_dir})",
                   str(paths["last_signed_state"]))
    p2p = _Table(data, "p2p")
    p2p_listen = _address("p2p.listen", p2p.get("listen", str))
    peers = tuple(_peer(i, p, home) for i, p in enumerate(p2p.get("peers", list, [])))
    p2p.done()
    http = _Table(data, "http")
    http_listen = _address("http.listen", http.get("listen", str))
    actors_write = http.get("actors_write", bool, False)
    http.done()
    cons = _Table(data, "consensus")
    leader_timeout_ms = cons.get("leader_timeout_ms", int, 1000, minimum=1)
    sync_interval_ms = cons.get("sync_interval_ms", int, 300, minimum=10)
    commit_pi = cons.get("commit_pi", bool, True)
    offload_io = cons.get("offload_io", bool, False)
    focus_backend = cons.get("focus_backend", str, "cpu", choices=FOCUS_BACKENDS)
    block_interval_ms = cons.get("block_interval_ms", int, 1000, minimum=1)
    stall_after_intervals = cons.get("stall_after_intervals", int, 10, minimum=1)
    queue_delay_ms = cons.get("queue_delay_ms", int, QUEUE_DELAY_MS_DEFAULT, minimum=0)
    cons.done()
    tr = _Table(data, "transport")
    d = TransportConfig()
    tcfg = {k: tr.get(k, int, getattr(d, k), minimum=1) for k in (
        "frame_bytes_max", "send_queue_frames_max", "send_queue_bytes_max", "ping_interval_ms",
        "dead_after_ms", "handshake_timeout_ms", "backoff_ms_base", "backoff_ms_max",
        "connections_max")}
    tr.done()
    if tcfg["ping_interval_ms"] >= tcfg["dead_after_ms"]:
        raise _bad("transport.ping_interval_ms", f"< transport.dead_after_ms "
                   f"({tcfg['dead_after_ms']})", tcfg["ping_interval_ms"])
    log = _Table(data, "log")
    level = log.get("level", str, "info", choices=LOG_LEVELS)
    fmt = log.get("format", str, "auto", choices=LOG_FORMATS)
    modules = log.get("modules", dict, {})
    for mod, lvl in modules.items():
        if lvl not in LOG_LEVELS:
            raise _bad(f"log.modules.{mod}", "one of " + ", ".join(LOG_LEVELS), lvl)
    log.done()
    return Settings(
        home=home, name=name, role=role, chain_id=chain_id, data_dir=data_dir,
        p2p_listen=p2p_listen, peers=peers, http_listen=http_listen, actors_write=actors_write,
        node_key=paths["node_key"], node_cert=paths["node_cert"],
        validator_key=paths["validator_key"], last_signed=paths["last_signed_state"],
        genesis=paths["genesis"], transport=TransportConfig(**tcfg),
        leader_timeout_ms=leader_timeout_ms, sync_interval_ms=sync_interval_ms,
        log_level=level, log_format=fmt, log_modules=dict(modules), commit_pi=commit_pi,
        offload_io=offload_io, focus_backend=focus_backend, block_interval_ms=block_interval_ms,
        stall_after_intervals=stall_after_intervals, queue_delay_ms=queue_delay_ms,
    )  # fmt: skip


def _peer(i: int, raw: Any, home: Path) -> PeerSpec:
    key = f"p2p.peers[{i}]"
    if not isinstance(raw, dict):
        raise _bad(key, "a table with name, address, public_key, cert", raw)
    for k in ("name", "address", "public_key", "cert"):
        if not isinstance(raw.get(k), str):
            raise _bad(f"{key}.{k}", "a string", raw.get(k))
    extra = sorted(set(raw) - {"name", "address", "public_key", "cert", "role"})
    if extra:
        raise _bad(f"{key}.{extra[0]}", "no such key (misspelt?)", raw[extra[0]])
    host, port = _address(f"{key}.address", raw["address"])
    try:
        pub = bytes.fromhex(raw["public_key"])
    except ValueError:
        pub = b""
    if len(pub) != 32:
        raise _bad(f"{key}.public_key", "64 hex digits (an Ed25519 node key)", raw["public_key"])
    cert = (home / raw["cert"]).resolve()
    if not cert.exists():
        raise _bad(f"{key}.cert", "an existing certificate file", str(cert))
    from focusflow.net import certificate_public_key

    if certificate_public_key(cert.read_bytes()) != pub:
        raise _bad(f"{key}.cert", f"a certificate of key {raw['public_key'][:16]}…", str(cert))
    role = raw.get("role", "full")
    if role not in PEER_ROLES:
        raise _bad(f"{key}.role", " or ".join(PEER_ROLES) + " (validators come from the genesis)",
                   role)
    return PeerSpec(raw["name"], host, port, pub, cert.read_bytes(), role)


# ------------------------------------------------------------------------ one process a home
LOCK_FILE = "node.lock"


class HomeLock:
    """An exclusive ``flock`` on ``<data_dir>/node.lock``, held while a node runs.

    Why: two processes on one home would both append to its block log and sign with its
    validator key (a double sign). The kernel drops the lock when the process dies, even
    by SIGKILL, so a crash never leaves a stale lock behind. The file holds the owner's pid
    for the error message.
    """

    def __init__(self, settings: Settings) -> None:
        import fcntl

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = settings.data_dir / LOCK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # runtime-ok: the process main's home lock, before any Runtime exists
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            owner = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise ConfigError(f"home {settings.home} is in use by another focusflow node "
                              f"(pid {owner}, lock {self.path}); stop it first") from exc
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Drop the lock (closing the file releases it)."""
        os.close(self._fd)

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_listen_free(settings: Settings, config: Path) -> None:
    """Fail early, naming the config key, when a listen address cannot be bound.

    Raises:
        ConfigError: ``p2p.listen`` or ``http.listen`` is in use (or not bindable here).
    """
    import socket  # runtime-ok: the process main probes its listen ports before starting

    for key, (host, port) in (("p2p.listen", settings.p2p_listen),
                              ("http.listen", settings.http_listen)):
        if port == 0:
            continue
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            with socket.socket(infos[0][0], socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
                s.bind(infos[0][4])
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ConfigError(f"{key} = \"{host}:{port}\" in {config}: {why.lower()} "
                              f"(another node running? pick a free port there)") from exc


# ------------------------------------------------------------------------ keys & genesis
def read_validator_seed(path: Path) -> bytes | None:
    """The validator's Ed25519 seed, or None when this node has no validator key.

    Raises:
        ConfigError: the file exists but is not a validator key file.
    """
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        seed = bytes.fromhex(data["seed"])
        assert len(seed) == 32
        if Signer(seed).public_key.hex() != data["public_key"]:
            raise ValueError("public key does not match the seed")
    except (ValueError, KeyError, AssertionError, TypeError) as exc:
        raise ConfigError(f"{path}: not a validator key file ({type(exc).__name__})") from exc
    return seed


def write_validator_key(path: Path, seed: bytes) -> bytes:
    """Write the validator key file (mode 0600); return the public key."""
    pub = Signer(seed).public_key
    path.write_text(json.dumps({"type": "ed25519", "public_key": pub.hex(), "seed": seed.hex()},
                               indent=2) + "\n")
    path.chmod(0o600)
    return pub


def read_genesis(path: Path) -> tuple[str, tuple[CommitteeEntry, ...]]:
    """(chain id, committee) from ``genesis.json``.

    Raises:
        ConfigError: malformed genesis (names the offending key).
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from exc
    vals = data.get("validators")
    if not isinstance(vals, list) or not vals:
        raise _bad("genesis.validators", "a non-empty list", vals)
    out = []
    for i, v in enumerate(vals):
        try:
            pub = bytes.fromhex(v["public_key"])
            assert len(pub) == 32 and int(v["stake"]) > 0 and isinstance(v["node"], str)
        except (KeyError, ValueError, AssertionError, TypeError) as exc:
            raise _bad(f"genesis.validators[{i}]", "{node, public_key (64 hex), stake > 0}",
                       v) from exc
        out.append(CommitteeEntry(v["node"], pub, int(v["stake"])))
    chain = data.get("chain_id")
    if not isinstance(chain, str) or not chain:
        raise _bad("genesis.chain_id", "a non-empty string", chain)
    return chain, tuple(out)


def write_genesis(path: Path, chain_id: str, committee: list[CommitteeEntry]) -> None:
    """Write ``genesis.json``."""
    path.write_text(json.dumps({"chain_id": chain_id, "validators": [
        {"node": e.node, "public_key": e.public_key.hex(), "stake": e.stake} for e in committee]},
        indent=2) + "\n")


# ------------------------------------------------------------------------ init
@dataclass(frozen=True)
class InitResult:
    """What ``init_home`` wrote."""

    home: Path
    config: Path
    node_public_key: bytes
    validator_public_key: bytes


def init_home(home: Path, *, name: str, chain_id: str = "focusflow-local", role: str = "validator",
              p2p_listen: str = "127.0.0.1:26656", http_listen: str = "127.0.0.1:26660",
              overwrite: bool = False, node_seed: bytes | None = None,
              validator_seed: bytes | None = None, write_genesis_file: bool = True,
              peers_toml: str = "", leader_timeout_ms: int = 1000,
              commit_pi: bool = True, offload_io: bool = False,
              queue_delay_ms: int = QUEUE_DELAY_MS_DEFAULT,
              focus_backend: str = "cpu") -> InitResult:
    """Create ``home`` with a commented config, keys, and a one-validator genesis.

    Raises:
        ConfigError: the config or a key file exists and ``overwrite`` is False, or an
            argument is invalid.
    """
    try:
        check_node_name(name)
    except ValueError as exc:
        raise _bad("node.name", "1..64 characters of [A-Za-z0-9._-]", name) from exc
    if role not in ROLES:
        raise _bad("node.role", "one of " + ", ".join(ROLES), role)
    _address("p2p.listen", p2p_listen)
    _address("http.listen", http_listen)
    cfg_dir, data_dir = home / "config", home / "data"
    targets = [cfg_dir / n for n in ("node.toml", "node_key.pem", "node_cert.pem",
                                     "validator_key.json")]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ConfigError(f"refusing to overwrite {existing[0]} (pass --overwrite)")
    cfg_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    node_seed = node_seed or secrets.token_bytes(32)
    NodeIdentity.create(cfg_dir, name, node_seed)
    vpub = b""
    if role == "validator":
        validator_seed = validator_seed or secrets.token_bytes(32)
        vpub = write_validator_key(cfg_dir / "validator_key.json", validator_seed)
        if write_genesis_file:
            write_genesis(cfg_dir / "genesis.json", chain_id, [CommitteeEntry(name, vpub, 1)])
    guard = data_dir / "last_signed_state.json"
    if role == "validator" and not any(data_dir.iterdir()):
        # A new home has signed nothing: say so. Without this file a validator cannot
        # tell a new home from wiped data and follows until it can bound its rounds.
        guard.write_text('{"round": 0, "height": 0}')
    config = cfg_dir / "node.toml"
    config.write_text(render_config(name=name, role=role, chain_id=chain_id,
                                    p2p_listen=p2p_listen, http_listen=http_listen,
                                    peers_toml=peers_toml, leader_timeout_ms=leader_timeout_ms,
                                    commit_pi=commit_pi, offload_io=offload_io,
                                    queue_delay_ms=queue_delay_ms,
                                    focus_backend=focus_backend))
    return InitResult(home, config, public_key_of_seed(node_seed), vpub)


def peer_toml(name: str, address: str, public_key: bytes, cert: str) -> str:
    """One ``[[p2p.peers]]`` entry."""
    return (f'\n[[p2p.peers]]\nname = "{name}"\naddress = "{address}"\n'
            f'public_key = "{public_key.hex()}"\ncert = "{cert}"\n')


def render_config(*, name: str, role: str, chain_id: str, p2p_listen: str, http_listen: str,
                  peers_toml: str = "", leader_timeout_ms: int = 1000,
                  commit_pi: bool = True, offload_io: bool = False,
                  queue_delay_ms: int = QUEUE_DELAY_MS_DEFAULT, focus_backend: str = "cpu") -> str:
    """The fully commented ``node.toml``."""
    t = TransportConfig()
    return f'''# focusflow node configuration.
# Paths are relative to the home folder (the parent of this config/ folder).
# Every key is documented; a misspelt or unknown key is an error, never ignored.

# Format version of this file; a node refuses a version it does not know.
version = {CONFIG_VERSION}

[node]
# This node's name: part of every actor address (name:/user/...) and of its certificate.
name = "{name}"
# "validator" (runs consensus when its validator key is in the genesis), "full" (follows
# the chain by block sync and serves queries) or "light" (same as full for now).
role = "{role}"
# Chain identifier; transactions signed for another chain are refused.
chain_id = "{chain_id}"

[keys]
# Node identity: Ed25519 key (PKCS#8 PEM) used as the TLS key; never share it.
node_key = "config/node_key.pem"
# Self-signed certificate of the node key: give it (and the public key) to your peers.
node_cert = "config/node_cert.pem"
# Validator signing key (Ed25519 seed, JSON); only validators have one.
validator_key = "config/validator_key.json"
# Chain id and validator committee (node name, validator public key, stake).
genesis = "config/genesis.json"
# Double-sign guard: highest round/height this validator signed (written before signing).
last_signed_state = "data/last_signed_state.json"

[store]
# State database (state.sqlite) and finalized block log (blocks.sqlite) live here.
data_dir = "data"

[p2p]
# Address the authenticated transport (mutual TLS 1.3) listens on.
listen = "{p2p_listen}"
# Peers: only these may connect (pinned by key). Each: name, address, public_key (hex of
# the peer's node key) and cert (path of the peer's node_cert.pem); a peer outside the
# genesis committee may add role = "full" (default) or "light": what it may send here
# (docs/operations.md, the door for remote messages). Add one table per peer:
# [[p2p.peers]]
# name = "node1"
# address = "127.0.0.1:26756"
# public_key = "…64 hex digits…"
# cert = "config/peers/node1.pem"
{peers_toml}
[http]
# Operator endpoints (/status, /ready, /alive, /metrics, /actors, the web page) and the
# client API (/v1/...). Keep it on loopback or behind a proxy.
listen = "{http_listen}"
# Allow actor control through the HTTP API (actors are read-only when false).
actors_write = false

[consensus]
# How long a validator waits for the slot leader's certificate before voting to skip.
leader_timeout_ms = {leader_timeout_ms}
# How often a follower asks a peer for the blocks after its tip.
sync_interval_ms = 300
# Commit π (the focus vector) in every block header. A chain rule: every validator of a
# chain must use the same value. false (headers carry 32 zero bytes) is for measuring cost.
commit_pi = {"true" if commit_pi else "false"}
# Where this node solves the exact π each block: "cpu", "webgpu", "cuda" or "auto" (CUDA,
# else a hardware WebGPU adapter, else the CPU). Node-local: π is defined in integers, so
# every backend commits the same root; a device that fails falls back to the CPU (logged).
focus_backend = "{focus_backend}"
# Run the validator's SQLite commits (with fsync) in a worker thread so the event loop
# keeps serving consensus, clients and /status meanwhile. Node-local (not a chain rule);
# false puts them back on the event loop (for measuring).
offload_io = {"true" if offload_io else "false"}
# The stall rule (node-local): the chain is "stalled" when no block came for
# stall_after_intervals x block_interval_ms; /status and the web page show it in red and
# /ready answers 503 meanwhile (docs/operations.md, "A node that explains itself").
block_interval_ms = 1000
stall_after_intervals = 10
# Latency budget of the mempool: bytes admitted and not yet ordered stay under this
# validator's measured ordered rate x this delay; over it the lowest focus is shed and
# clients get 503 + Retry-After (docs/operations.md, "Limits"). 0: no budget. Node-local.
queue_delay_ms = {queue_delay_ms}

[transport]
# Largest frame accepted from a peer, in bytes; a larger length prefix closes the stream.
frame_bytes_max = {t.frame_bytes_max}
# Per-peer send queue bounds; when a slow peer fills them, further frames are dropped.
send_queue_frames_max = {t.send_queue_frames_max}
send_queue_bytes_max = {t.send_queue_bytes_max}
# Keep-alive period and the silence after which a peer is declared dead.
ping_interval_ms = {t.ping_interval_ms}
dead_after_ms = {t.dead_after_ms}
# TLS handshake deadline.
handshake_timeout_ms = {t.handshake_timeout_ms}
# Reconnect backoff: starts at base, doubles up to max (with jitter).
backoff_ms_base = {t.backoff_ms_base}
backoff_ms_max = {t.backoff_ms_max}
# Connections open at once on the p2p port (unauthenticated ones included); more are
# closed at once, so idle connections cannot take every file descriptor.
connections_max = {t.connections_max}

[log]
# debug | info | warning | error
level = "info"
# auto (coloured console on a terminal, JSON otherwise) | console | json
format = "auto"
# Per-module levels, e.g. {{ "focusflow.net" = "debug" }}
modules = {{}}
'''
