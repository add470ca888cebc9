"""Durable embedded store: SQLite, one transaction per block, refuses foreign files.

Layout (one file): ``head`` (chain id, height, root, tree height; one row), ``leaf`` (key
path -> value, height that wrote it), ``gone`` (keys deleted since the tree checkpoint),
``node`` (tree node path -> entry, current at ``tree_height``), ``link_index`` (from, to,
neuron: answers "links of a particle" without a scan) and ``block`` (height -> root).
``PRAGMA application_id`` and ``user_version`` mark the file as ours; opening anything
else, or a file that fails ``quick_check``, raises :class:`StoreError` with the reason.

Durability: WAL journal with ``synchronous=FULL`` (every commit fsyncs the WAL before it
returns), and every write of a block in a single ``BEGIN IMMEDIATE ... COMMIT``. After a
crash SQLite rolls back to the last commit, so the root after restart is the last
committed root, and a half-written block never exists. Tree nodes are written only at
checkpoints (every ``tree_checkpoint_blocks``); the blocks after the checkpoint are
replayed from the leaves on load and must reproduce the committed root.

Simulation: :meth:`SqliteStore.open_simulated` runs the same code on an in-memory database
whose durable image lives in an :class:`ImageDisk` (or, in the actor, the runtime's
storage hook). After each commit the image is synced; a fault may crash the node before
that sync (the block is lost, never acknowledged) and it reopens from the last durable
image.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from focusflow.actors.state import keys as K
from focusflow.actors.state.core import BlockResult, StateCore
from focusflow.actors.state.ids import is_cid
from focusflow.actors.state.smt import (
    EMPTY,
    LEAF_ENTRY_LEN,
    Overlay,
    SparseMerkleTree,
    build_nodes,
    compute_root,
    tree_key,
    value_hash,
)

APPLICATION_ID = 0x46465354  # "FFST"
SCHEMA_VERSION = 2
_MAGIC = b"focusflow-state"
SNAPSHOT_MAGIC = b"FFSNAP01"
value_bytes_max = 16 * 1024 * 1024
links_query_max = 10_000
cache_kib_default = 256 * 1024  # SQLite page cache: the node table is hot on every block
tree_checkpoint_blocks_default = 32  # write tree nodes every N blocks (1 = every block)
tree_pending_max = 2_000_000  # ...or as soon as this many node changes are pending

_SCHEMA = """
CREATE TABLE head (id INTEGER PRIMARY KEY CHECK (id = 0), magic BLOB NOT NULL,
                   chain_id TEXT NOT NULL, height INTEGER NOT NULL, root BLOB NOT NULL,
                   tree_height INTEGER NOT NULL);
CREATE TABLE leaf (key BLOB PRIMARY KEY, value BLOB NOT NULL, height INTEGER NOT NULL)
                   WITHOUT ROWID;
CREATE INDEX leaf_by_height ON leaf (height);
CREATE TABLE gone (key BLOB PRIMARY KEY, height INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE node (path BLOB PRIMARY KEY, entry BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE link_index (src BLOB NOT NULL, dst BLOB NOT NULL, neuron BLOB NOT NULL,
                         PRIMARY KEY (src, dst, neuron)) WITHOUT ROWID;
CREATE INDEX link_by_dst ON link_index (dst);
CREATE TABLE block (height INTEGER PRIMARY KEY, root BLOB NOT NULL,
                    n_tx INTEGER NOT NULL, n_ok INTEGER NOT NULL);
"""


class StoreError(Exception):
    """The database cannot be used: foreign, corrupt, wrong chain, or a broken snapshot."""


class SimulatedCrash(Exception):
    """Raised by a :class:`ImageDisk` fault: the node died before the image was synced."""


@dataclass
class ImageDisk:
    """Durable bytes of a simulated node's database; what survives a simulated crash.

    ``fail_next_sync`` (set by a fault plan, or ``should_crash`` called per sync) makes the
    next sync drop the write and raise :class:`SimulatedCrash`.
    """

    durable: bytes | None = None
    fail_next_sync: bool = False
    should_crash: Callable[[], bool] | None = None
    syncs: int = 0
    dropped: int = 0
    history: list[int] = field(default_factory=list)

    def sync(self, image: bytes, height: int) -> None:
        if self.fail_next_sync or (self.should_crash is not None and self.should_crash()):
            self.fail_next_sync = False
            self.dropped += 1
            raise SimulatedCrash(f"crash before block {height} was durable")
        self.durable = image
        self.syncs += 1
        self.history.append(height)


def _path_blob(path: int) -> bytes:
    return path.to_bytes((path.bit_length() + 7) // 8, "big")


class SqliteStore:
    """One node's state database. Build with :meth:`open`, :meth:`open_simulated` or
    :meth:`import_snapshot`; never directly."""

    def __init__(self, conn: sqlite3.Connection, label: str, disk: ImageDisk | None) -> None:
        self._conn = conn
        self.label = label
        self._disk = disk
        row = conn.execute("SELECT magic, chain_id, height, root, tree_height FROM head").fetchone()
        if row is None or bytes(row[0]) != _MAGIC:
            raise StoreError(f"{label}: state header missing or wrong magic")
        self.chain_id: str = row[1]
        self.height: int = int(row[2])
        self.root: bytes = bytes(row[3])
        #: Height at which the ``node`` table is current; later blocks are replayed from
        #: the leaves (``leaf.height`` and ``gone``) when the tree is loaded.
        self.tree_height: int = int(row[4])
        self.tree_checkpoint_blocks = tree_checkpoint_blocks_default
        self._pending: Overlay = {}  # node changes since tree_height (in memory only)
        self._dead = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, chain_id: str) -> SqliteStore:
        """Open or create the state database at ``path`` for chain ``chain_id``.

        Raises:
            StoreError: not a SQLite file, another application's database, an unknown
                schema version, a failed integrity check, or another chain's state.
        """
        label = str(path)
        fresh = not Path(path).exists() or Path(path).stat().st_size == 0
        conn = sqlite3.connect(label, isolation_level=None, check_same_thread=False)
        try:
            if fresh:
                _create(conn, chain_id)
            else:
                _check_header(conn, label)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size = -{cache_kib_default}")
            store = cls(conn, label, None)
        except BaseException:
            conn.close()
            raise
        if store.chain_id != chain_id:
            conn.close()
            raise StoreError(f"{label}: holds chain {store.chain_id!r}, not {chain_id!r}")
        return store

    @classmethod
    def open_image(cls, image: bytes | None, *, chain_id: str) -> SqliteStore:
        """The same store on an in-memory database restored from ``image`` (None: new).

        Used where durability goes through the runtime's storage hook (the simulator):
        after each commit the caller persists :meth:`image` and syncs it.
        """
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if image is None:
            _create(conn, chain_id)
        else:
            try:
                conn.deserialize(image)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"state image is not a SQLite database ({exc})") from exc
            _check_header(conn, "state image")
        store = cls(conn, "state image", None)
        if store.chain_id != chain_id:
            raise StoreError(f"state image holds chain {store.chain_id!r}, not {chain_id!r}")
        return store

    @classmethod
    def open_simulated(cls, disk: ImageDisk, *, chain_id: str) -> SqliteStore:
        """:meth:`open_image` from ``disk.durable``, syncing to ``disk`` after each commit."""
        store = cls.open_image(disk.durable, chain_id=chain_id)
        store._disk = disk
        return store

    def image(self) -> bytes:
        """The whole database as bytes (in-memory stores; what a simulated disk keeps)."""
        return bytes(self._conn.serialize())

    def close(self) -> None:
        self._conn.close()
        self._dead = True

    # ------------------------------------------------------------------ reading

    def get(self, keypath: bytes) -> bytes | None:
        row = self._conn.execute("SELECT value FROM leaf WHERE key = ?", (keypath,)).fetchone()
        return None if row is None else bytes(row[0])

    def load_tree(self) -> SparseMerkleTree:
        """The tree nodes in memory, checked against the committed root."""
        nodes = {
            int.from_bytes(p, "big"): bytes(e)
            for p, e in self._conn.execute("SELECT path, entry FROM node")
        }
        tree = SparseMerkleTree(nodes)
        changes: dict[bytes, bytes | None] = {
            tree_key(bytes(k)): value_hash(bytes(v))
            for k, v in self._conn.execute(
                "SELECT key, value FROM leaf WHERE height > ?", (self.tree_height,)
            )
        }
        for (k,) in self._conn.execute(
            "SELECT key FROM gone WHERE height > ?", (self.tree_height,)
        ):
            changes[tree_key(bytes(k))] = None
        root, overlay = tree.update(changes)
        if root != self.root:
            raise StoreError(f"{self.label}: tree nodes disagree with the committed root")
        tree.apply(overlay)
        self._pending = overlay
        return tree

    def block_roots(self) -> dict[int, bytes]:
        return {h: bytes(r) for h, r in self._conn.execute("SELECT height, root FROM block")}

    def leaves(self) -> Iterator[tuple[bytes, bytes]]:
        for k, v in self._conn.execute("SELECT key, value FROM leaf ORDER BY key"):
            yield bytes(k), bytes(v)

    def verify_full(self) -> bool:
        """Recompute the root from every stored value (O(n)); True when it matches."""
        return compute_root((tree_key(k), value_hash(v)) for k, v in self.leaves()) == self.root

    def verify_tree(self, tree: SparseMerkleTree) -> bool:
        """True when the node map is exactly the tree of its own leaf records and its root
        is the committed root (O(n); catches altered or missing inner nodes)."""
        leaves = [(e[32:64], e[64:96]) for e in tree.nodes.values() if len(e) == LEAF_ENTRY_LEN]
        root, nodes = build_nodes(leaves)
        return root == self.root and nodes == dict(tree.nodes)

    def links_of(self, cid: bytes, *, outgoing: bool = True) -> list[tuple[bytes, bytes, bytes]]:
        """(neuron, from, to) of links leaving (or entering) a particle, at most
        ``links_query_max``."""
        assert is_cid(cid)
        col = "src" if outgoing else "dst"
        rows = self._conn.execute(
            f"SELECT neuron, src, dst FROM link_index WHERE {col} = ? LIMIT ?",
            (cid, links_query_max),
        )
        return [(bytes(n), bytes(s), bytes(d)) for n, s, d in rows]

    # ------------------------------------------------------------------ writing

    def commit_block(self, result: BlockResult) -> None:
        """Make every write of ``result`` durable in one transaction.

        Raises:
            StoreError: the block does not extend the committed head (a local bug).
            SimulatedCrash: the simulated disk crashed before the sync; the store is dead.
        """
        self.check_extends(result)
        plan = self.plan_commit(result)
        self._execute(plan)
        if self._disk is not None:
            try:
                self._disk.sync(self.image(), result.height)
            except SimulatedCrash:
                self._dead = True
                raise
        self.note_committed(result, plan)

    def plan_commit(self, result: BlockResult, *, checkpoint: bool | None = None) -> CommitPlan:
        """The SQL of one block (see :func:`block_statements`), plus the tree nodes when
        this block is a checkpoint (every ``tree_checkpoint_blocks`` or when too many node
        changes are pending)."""
        if checkpoint is None:
            checkpoint = (
                result.height - self.tree_height >= self.tree_checkpoint_blocks
                or len(self._pending) + len(result.overlay) >= tree_pending_max
            )
        nodes: Overlay | None = None
        if checkpoint:
            nodes = dict(self._pending)
            nodes.update(result.overlay)
        return CommitPlan(block_statements(result, nodes), nodes is not None)

    def checkpoint(self) -> int:
        """Write every pending tree node now (clean shutdown); returns how many."""
        if not self._pending:
            return 0
        n = len(self._pending)
        stmts = _node_statements(self._pending)
        stmts.append(("DELETE FROM gone", [()]))
        stmts.append(("UPDATE head SET tree_height = ?", [(self.height,)]))
        self._execute(CommitPlan(stmts, True))
        self._pending = {}
        self.tree_height = self.height
        return n

    def _execute(self, plan: CommitPlan) -> None:
        run_transaction(self._conn, plan.statements)

    def check_extends(self, result: BlockResult) -> None:
        """Raise StoreError unless ``result`` extends the committed head."""
        if self._dead:
            raise StoreError(f"{self.label}: store is closed or crashed")
        if result.height != self.height + 1 or result.parent_root != self.root:
            raise StoreError(f"block {result.height} does not extend head {self.height}")

    def note_committed(self, result: BlockResult, plan: CommitPlan) -> None:
        """Advance the head once ``plan`` is committed (here or on an aiosqlite connection)."""
        assert result.height == self.height + 1
        self.height, self.root = result.height, result.root
        if plan.checkpoint:
            self._pending = {}
            self.tree_height = result.height
        else:
            self._pending.update(result.overlay)

    # ------------------------------------------------------------------ snapshots

    def export_snapshot(self, out: str | os.PathLike[str], *, height: int | None = None) -> int:
        """Write every (key path, value) of the committed head to ``out``; return its height.

        Raises:
            StoreError: ``height`` is not the committed head (history is not retained).
        """
        if height is not None and height != self.height:
            raise StoreError(f"snapshot at {height}: only the head {self.height} is kept")
        hasher = blake3.blake3()
        with open(out, "wb") as f:

            def put(chunk: bytes) -> None:
                hasher.update(chunk)
                f.write(chunk)

            cid = self.chain_id.encode()
            count = self._conn.execute("SELECT COUNT(*) FROM leaf").fetchone()[0]
            put(SNAPSHOT_MAGIC + struct.pack("<H", len(cid)) + cid)
            put(struct.pack("<qQ", self.height, count) + self.root)
            for k, v in self.leaves():
                put(struct.pack("<HI", len(k), len(v)) + k + v)
            f.write(hasher.digest())
            f.flush()
            os.fsync(f.fileno())
        return self.height

    @classmethod
    def import_snapshot(
        cls,
        snapshot: str | os.PathLike[str],
        db_path: str | os.PathLike[str],
        *,
        chain_id: str,
        trusted_root: bytes | None = None,
    ) -> SqliteStore:
        """Create a new store at ``db_path`` from a snapshot, verified against the root.

        The root is recomputed from the values (never taken from the file on trust) and
        must equal the snapshot's header root and, when given, ``trusted_root`` (e.g. from
        a block header the node already trusts).

        Raises:
            StoreError: checksum, format, chain, or root mismatch; ``db_path`` exists.
        """
        if Path(db_path).exists():
            raise StoreError(f"{db_path} exists; import needs a fresh path")
        height, root, leaves = _read_snapshot(Path(snapshot), chain_id)
        computed, nodes = build_nodes((tree_key(k), value_hash(v)) for k, v in leaves)
        if computed != root:
            raise StoreError("snapshot values do not hash to its header root")
        if trusted_root is not None and computed != trusted_root:
            raise StoreError("snapshot root differs from the trusted root")
        conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        try:
            _create(conn, chain_id)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size = -{cache_kib_default}")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO leaf VALUES (?, ?, ?)", ((k, v, height) for k, v in leaves)
            )
            conn.executemany(
                "INSERT INTO node VALUES (?, ?)", ((_path_blob(p), e) for p, e in nodes.items())
            )
            conn.executemany(
                "INSERT INTO link_index VALUES (?, ?, ?)",
                (_index_row(k) for k, _ in leaves if k.startswith(K.LINK)),
            )
            conn.execute("INSERT INTO block VALUES (?, ?, 0, 0)", (height, root))
            conn.execute(
                "UPDATE head SET height = ?, root = ?, tree_height = ?", (height, root, height)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return cls(conn, str(db_path), None)


@dataclass(frozen=True, slots=True)
class CommitPlan:
    """The statements of one transaction and whether it writes the tree nodes."""

    statements: list[tuple[str, list[tuple[object, ...]]]]
    checkpoint: bool


def run_transaction(conn: sqlite3.Connection,
                    statements: list[tuple[str, list[tuple[object, ...]]]]) -> None:
    """Run ``statements`` as one immediate transaction: all of them, or (on any error,
    the error re-raised) none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in statements:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException as exc:
        # SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR): a second
        # ROLLBACK would raise "cannot rollback - no transaction is active" and hide the cause.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise storage_error(exc, conn) from exc
        raise


_CAUSES = {
    "SQLITE_FULL": "disk full (ENOSPC) or the database reached its size limit",
    "SQLITE_IOERR": "I/O error from the disk",
    "SQLITE_CORRUPT": "the database file is corrupt",
    "SQLITE_NOTADB": "not a database file",
    "SQLITE_READONLY": "the database or its folder is read-only",
    "SQLITE_CANTOPEN": "cannot open the database file",
    "SQLITE_BUSY": "another process holds the database",
    "SQLITE_LOCKED": "the database is locked",
}


def storage_error(exc: sqlite3.Error, conn: sqlite3.Connection | None = None,
                  path: str | Path | None = None) -> StoreError:
    """A ``StoreError`` that names the cause and the file of a failed SQLite call (an
    operator reading "disk full: …/state.sqlite" knows what to do; issue 16, finding 11)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    cause = _CAUSES.get(name) or _CAUSES.get("_".join(name.split("_")[:2]))  # IOERR_WRITE
    if cause is None and "disk is full" in str(exc):
        cause = _CAUSES["SQLITE_FULL"]
    if path is None and conn is not None:
        with contextlib.suppress(sqlite3.Error):
            path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"),
                        None)
    return StoreError(f"{path or 'database'}: {cause or 'storage error'} ({name or type(exc).__name__}: {exc})")


def block_statements(
    result: BlockResult, nodes: Overlay | None
) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every SQL write of a block as (statement, rows), for one transaction.

    Leaves carry the block height and deletions leave a ``gone`` row, so tree nodes can be
    written only at checkpoints (``nodes`` = all node changes since the last one) and the
    blocks after it replayed on load. Shared by the sync store and the live shell's
    aiosqlite connection. Rows are sorted: each B-tree is walked once, in order.
    """
    w, h = result.writes, result.height
    n_ok = sum(r.ok for r in result.receipts)
    links = [k for k in w if k.startswith(K.LINK)]
    upserts = sorted((k, v, h) for k, v in w.items() if v is not None)
    deleted = sorted(k for k, v in w.items() if v is None)
    stmts: list[tuple[str, list[tuple[object, ...]]]] = [
        ("DELETE FROM leaf WHERE key = ?", [(k,) for k in deleted]),
        ("INSERT OR REPLACE INTO leaf (key, value, height) VALUES (?, ?, ?)", list(upserts)),
        ("DELETE FROM gone WHERE key = ?", [(k,) for k, _, _ in upserts]),
        ("INSERT OR REPLACE INTO gone (key, height) VALUES (?, ?)", [(k, h) for k in deleted]),
        (
            "DELETE FROM link_index WHERE src = ? AND dst = ? AND neuron = ?",
            sorted(_index_row(k) for k in links if w[k] is None),
        ),
        (
            "INSERT OR IGNORE INTO link_index VALUES (?, ?, ?)",
            sorted(_index_row(k) for k in links if w[k] is not None),
        ),
        (
            "INSERT INTO block (height, root, n_tx, n_ok) VALUES (?, ?, ?, ?)",
            [(h, result.root, len(result.receipts), n_ok)],
        ),
        ("UPDATE head SET height = ?, root = ?", [(h, result.root)]),
    ]
    if nodes is not None:
        stmts += _node_statements(nodes)
        stmts.append(("DELETE FROM gone", [()]))
        stmts.append(("UPDATE head SET tree_height = ?", [(h,)]))
    return stmts


def _node_statements(nodes: Overlay) -> list[tuple[str, list[tuple[object, ...]]]]:
    return [
        (
            "DELETE FROM node WHERE path = ?",
            sorted((_path_blob(p),) for p, e in nodes.items() if e is None),
        ),
        (
            "INSERT OR REPLACE INTO node (path, entry) VALUES (?, ?)",
            sorted((_path_blob(p), e) for p, e in nodes.items() if e is not None),
        ),
    ]


def _index_row(link_keypath: bytes) -> tuple[bytes, bytes, bytes]:
    neuron, src, dst = K.parse_link_key(link_keypath)
    return src, dst, neuron


def _create(conn: sqlite3.Connection, chain_id: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for stmt in _SCHEMA.strip().split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("INSERT INTO head VALUES (0, ?, ?, -1, ?, -1)", (_MAGIC, chain_id, EMPTY))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute("COMMIT")


def _check_header(conn: sqlite3.Connection, label: str) -> None:
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{label}: not a SQLite database or corrupt ({exc})") from exc
    if app_id != APPLICATION_ID:
        raise StoreError(
            f"{label}: foreign database (application_id {app_id:#x}, expected {APPLICATION_ID:#x})"
        )
    if version != SCHEMA_VERSION:
        raise StoreError(f"{label}: schema version {version}, this build reads {SCHEMA_VERSION}")
    try:
        check = [r[0] for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{label}: corrupt database ({exc})") from exc
    if check != ["ok"]:
        detail = "; ".join(check[:3]).replace("\n", "; ")
        raise StoreError(f"{label}: corrupt database: {detail[:300]}")


def _read_snapshot(path: Path, chain_id: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    data = path.read_bytes()
    if len(data) < len(SNAPSHOT_MAGIC) + 2 + 16 + 32 + 32:
        raise StoreError("snapshot truncated")
    body, digest = data[:-32], data[-32:]
    if blake3.blake3(body).digest() != digest:
        raise StoreError("snapshot checksum mismatch (truncated or altered file)")
    if not body.startswith(SNAPSHOT_MAGIC):
        raise StoreError("not a focusflow state snapshot")
    off = len(SNAPSHOT_MAGIC)
    (n,) = struct.unpack_from("<H", body, off)
    snap_chain = body[off + 2 : off + 2 + n].decode()
    if snap_chain != chain_id:
        raise StoreError(f"snapshot of chain {snap_chain!r}, not {chain_id!r}")
    off += 2 + n
    height, count = struct.unpack_from("<qQ", body, off)
    root = body[off + 16 : off + 48]
    off += 48
    leaves: list[tuple[bytes, bytes]] = []
    for _ in range(count):
        klen, vlen = struct.unpack_from("<HI", body, off)
        if klen > K.keypath_bytes_max or vlen > value_bytes_max:
            raise StoreError("snapshot record exceeds size limits")
        off += 6
        leaves.append((body[off : off + klen], body[off + klen : off + klen + vlen]))
        off += klen + vlen
    if off != len(body):
        raise StoreError("snapshot has trailing bytes")
    return height, root, leaves


def open_state(
    path: str | os.PathLike[str],
    *,
    chain_id: str,
    verify: bool = False,
    tree_checkpoint_blocks: int = tree_checkpoint_blocks_default,
    **core_options: int,
) -> tuple[SqliteStore, StateCore]:
    """Open a store and a core positioned on its committed head.

    With ``verify`` the root is recomputed from every stored value and the node map is
    rebuilt and compared (O(n)): silent corruption that passes SQLite's page checks is
    refused with StoreError.
    """
    store = SqliteStore.open(path, chain_id=chain_id)
    assert tree_checkpoint_blocks >= 1
    store.tree_checkpoint_blocks = tree_checkpoint_blocks
    tree = store.load_tree()
    if verify:
        if not store.verify_full():
            store.close()
            raise StoreError(f"{path}: stored values do not hash to the committed root")
        if not store.verify_tree(tree):
            store.close()
            raise StoreError(f"{path}: tree nodes are not the tree of the stored leaves")
    core = StateCore(
        chain_id=chain_id, reader=store, tree=tree, height=store.height, **core_options,
    )  # fmt: skip
    return store, core


def commit(store: SqliteStore, core: StateCore, result: BlockResult) -> None:
    """Durable first, then memory: the one order that survives a crash in between."""
    store.commit_block(result)
    core.block_committed(result)
