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

The SQLite handle is the Runtime's (``focusflow.supervisor.Database``: an actor opens it
with ``ctx.database(name)``), so the same code runs on a WAL file live and, in the
simulator, on an in-memory database whose committed image is synced to the node's disk
at each commit (:meth:`SqliteStore.open_simulated` builds one outside an actor). A
simulated crash keeps exactly the committed blocks; a failed sync (``OSError``) kills
the store and the node reopens from the last durable image.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
from focusflow.supervisor import (
    Database,
    DatabaseError,
    MemoryStorage,
    SqlError,
    Statement,
    Storage,
    open_file_database,
    open_image_database,
)

APPLICATION_ID = 0x46465354  # "FFST"
SCHEMA_VERSION = 2
_MAGIC = b"focusflow-state"
SNAPSHOT_MAGIC = b"FFSNAP01"
value_bytes_max = 16 * 1024 * 1024
links_query_max = 10_000
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


_GET_MANY_CHUNK = 500  # key paths per SELECT (well under SQLite's variable limit)

def _path_blob(path: int) -> bytes:
    return path.to_bytes((path.bit_length() + 7) // 8, "big")


class SqliteStore:
    """One node's state database on a Runtime :class:`~focusflow.supervisor.Database`.

    Build with :meth:`on` (an actor: ``SqliteStore.on(ctx.database("state"), ...)``),
    :meth:`open` (a file, for tools and tests), :meth:`open_simulated` (an image on a
    ``Storage``) or :meth:`import_snapshot`; never directly.
    """

    def __init__(self, db: Database, label: str) -> None:
        self.db = db
        self.label = label
        row = db.row("SELECT magic, chain_id, height, root, tree_height FROM head")
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
    def on(cls, db: Database, *, chain_id: str) -> SqliteStore:
        """The state store in ``db`` for chain ``chain_id`` (created if ``db`` is empty).

        Raises:
            StoreError: another application's database, an unknown schema version, a
                failed integrity check, or another chain's state.
        """
        label = str(db.path) if db.path is not None else f"state image {db.name!r}"
        try:
            if _is_empty(db):
                db.commit(_create_statements(chain_id))
            else:
                _check_header(db, label)
            store = cls(db, label)
        except (SqlError, DatabaseError) as exc:
            raise StoreError(f"{label}: not a SQLite database or corrupt ({exc})") from exc
        if store.chain_id != chain_id:
            raise StoreError(f"{label}: holds chain {store.chain_id!r}, not {chain_id!r}")
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, chain_id: str) -> SqliteStore:
        """Open or create the state database file at ``path`` (tools, tests; an actor
        uses :meth:`on` with ``ctx.database``).

        Raises:
            StoreError: see :meth:`on`; also a file that is not a SQLite database.
        """
        try:
            db = open_file_database(Path(path))
        except DatabaseError as exc:
            raise StoreError(f"{path}: not a SQLite database or corrupt ({exc})") from exc
        try:
            return cls.on(db, chain_id=chain_id)
        except BaseException:
            db.close()
            raise

    @classmethod
    def open_simulated(cls, storage: Storage | None = None, *, chain_id: str,
                       name: str = "state") -> SqliteStore:
        """The same store on an image database in ``storage`` (a ``SimDisk``; default:
        memory): each commit syncs the image, a crash keeps exactly the committed blocks.

        Raises:
            StoreError: the stored image is torn or corrupt, or see :meth:`on`.
        """
        try:
            db = open_image_database(storage if storage is not None else MemoryStorage(), name)
        except DatabaseError as exc:
            raise StoreError(str(exc)) from exc
        return cls.on(db, chain_id=chain_id)

    def close(self) -> None:
        self.db.close()
        self._dead = True

    # ------------------------------------------------------------------ reading

    def get(self, keypath: bytes) -> bytes | None:
        row = self.db.row("SELECT value FROM leaf WHERE key = ?", (keypath,))
        return None if row is None else bytes(row[0])

    def get_many(self, keypaths: Sequence[bytes]) -> list[bytes | None]:
        """:meth:`get` of each key path, in order, with one query per chunk of keys.

        Why: the columnar executor asks for every link of a block at once; one SELECT per
        link was most of its reads' cost on a file database.
        """
        found: dict[bytes, bytes] = {}
        for i in range(0, len(keypaths), _GET_MANY_CHUNK):
            chunk = keypaths[i : i + _GET_MANY_CHUNK]
            marks = ",".join("?" * len(chunk))
            for k, v in self.db.rows(f"SELECT key, value FROM leaf WHERE key IN ({marks})", chunk):
                found[bytes(k)] = bytes(v)
        return [found.get(k) for k in keypaths]

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """(key, value) of every committed key path under ``prefix``, in key order
        (the economics' holders and its focus reward entries at a restart)."""
        assert prefix and prefix[-1] < 0xFF
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        return [(bytes(k), bytes(v)) for k, v in self.db.rows(
            "SELECT key, value FROM leaf WHERE key >= ? AND key < ? ORDER BY key", (prefix, end))]

    def load_tree(self) -> SparseMerkleTree:
        """The tree nodes in memory, checked against the committed root."""
        nodes = {
            int.from_bytes(p, "big"): bytes(e)
            for p, e in self.db.rows("SELECT path, entry FROM node")
        }
        tree = SparseMerkleTree(nodes)
        changes: dict[bytes, bytes | None] = {
            tree_key(bytes(k)): value_hash(bytes(v))
            for k, v in self.db.rows(
                "SELECT key, value FROM leaf WHERE height > ?", (self.tree_height,)
            )
        }
        for (k,) in self.db.rows(
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
        return {h: bytes(r) for h, r in self.db.rows("SELECT height, root FROM block")}

    def leaves(self) -> Iterator[tuple[bytes, bytes]]:
        for k, v in self.db.rows("SELECT key, value FROM leaf ORDER BY key"):
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
        rows = self.db.rows(
            f"SELECT neuron, src, dst FROM link_index WHERE {col} = ? LIMIT ?",
            (cid, links_query_max),
        )
        return [(bytes(n), bytes(s), bytes(d)) for n, s, d in rows]

    # ------------------------------------------------------------------ writing

    def commit_block(self, result: BlockResult) -> None:
        """Make every write of ``result`` durable in one transaction.

        Raises:
            StoreError: the block does not extend the committed head (a local bug).
            OSError: the storage could not make it durable (a failed fsync, a full disk);
                the store is dead, reopen it from what is durable.
        """
        self.check_extends(result)
        plan = self.plan_commit(result)
        self._execute(plan)
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
        try:
            self.db.commit(plan.statements)
        except OSError:
            self._dead = True
            raise

    def check_extends(self, result: BlockResult) -> None:
        """Raise StoreError unless ``result`` extends the committed head."""
        if self._dead:
            raise StoreError(f"{self.label}: store is closed or crashed")
        if result.height != self.height + 1 or result.parent_root != self.root:
            raise StoreError(f"block {result.height} does not extend head {self.height}")

    def note_committed(self, result: BlockResult, plan: CommitPlan) -> None:
        """Advance the head once ``plan`` is committed (here, or by a ``run_blocking`` job
        that called ``db.commit(plan.statements)``)."""
        assert result.height == self.height + 1
        self.height, self.root = result.height, result.root
        if plan.checkpoint:
            self._pending = {}
            self.tree_height = result.height
        else:
            self._pending.update(result.overlay)

    # ------------------------------------------------------------------ snapshots

    def export_snapshot(self, *, height: int | None = None) -> bytes:
        """Every (key path, value) of the committed head, checksummed (the caller writes
        the bytes where it wants them: actor code does no file I/O).

        Raises:
            StoreError: ``height`` is not the committed head (history is not retained).
        """
        if height is not None and height != self.height:
            raise StoreError(f"snapshot at {height}: only the head {self.height} is kept")
        cid = self.chain_id.encode()
        count = self.db.row("SELECT COUNT(*) FROM leaf")[0]
        parts = [SNAPSHOT_MAGIC + struct.pack("<H", len(cid)) + cid,
                 struct.pack("<qQ", self.height, count) + self.root]
        parts += [struct.pack("<HI", len(k), len(v)) + k + v for k, v in self.leaves()]
        body = b"".join(parts)
        return body + blake3.blake3(body).digest()

    @classmethod
    def import_snapshot(
        cls,
        snapshot: bytes,
        db: Database,
        *,
        chain_id: str,
        trusted_root: bytes | None = None,
    ) -> SqliteStore:
        """A new store in the empty database ``db`` from a snapshot, verified against
        the root.

        The root is recomputed from the values (never taken from the file on trust) and
        must equal the snapshot's header root and, when given, ``trusted_root`` (e.g. from
        a block header the node already trusts).

        Raises:
            StoreError: checksum, format, chain, or root mismatch; ``db`` is not empty.
        """
        if not _is_empty(db):
            raise StoreError(f"database {db.name!r} is not empty; import needs a fresh one")
        height, root, leaves = _read_snapshot(snapshot, chain_id)
        computed, nodes = build_nodes((tree_key(k), value_hash(v)) for k, v in leaves)
        if computed != root:
            raise StoreError("snapshot values do not hash to its header root")
        if trusted_root is not None and computed != trusted_root:
            raise StoreError("snapshot root differs from the trusted root")
        db.commit([
            *_create_statements(chain_id),
            ("INSERT INTO leaf VALUES (?, ?, ?)", [(k, v, height) for k, v in leaves]),
            ("INSERT INTO node VALUES (?, ?)", [(_path_blob(p), e) for p, e in nodes.items()]),
            ("INSERT INTO link_index VALUES (?, ?, ?)",
             [_index_row(k) for k, _ in leaves if k.startswith(K.LINK)]),
            ("INSERT INTO block VALUES (?, ?, 0, 0)", [(height, root)]),
            ("UPDATE head SET height = ?, root = ?, tree_height = ?", [(height, root, height)]),
        ])
        return cls(db, str(db.path) if db.path is not None else db.name)


@dataclass(frozen=True, slots=True)
class CommitPlan:
    """The statements of one transaction and whether it writes the tree nodes."""

    statements: list[Statement]
    checkpoint: bool


def block_statements(
    result: BlockResult, nodes: Overlay | None
) -> list[Statement]:
    """Every SQL write of a block as (statement, rows), for one transaction.

    Leaves carry the block height and deletions leave a ``gone`` row, so tree nodes can be
    written only at checkpoints (``nodes`` = all node changes since the last one) and the
    blocks after it replayed on load. Shared by the store and the node's deferred commits
    (``node.chain``). Rows are sorted: each B-tree is walked once, in order.
    """
    w, h = result.writes, result.height
    n_ok = sum(r.ok for r in result.receipts)
    links = [k for k in w if k.startswith(K.LINK)]
    upserts = sorted((k, v, h) for k, v in w.items() if v is not None)
    deleted = sorted(k for k, v in w.items() if v is None)
    stmts: list[Statement] = [
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


def _node_statements(nodes: Overlay) -> list[Statement]:
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


def _is_empty(db: Database) -> bool:
    """A new database: no tables and no application id."""
    tables = db.row("SELECT COUNT(*) FROM sqlite_master")[0]
    return tables == 0 and db.row("PRAGMA application_id")[0] == 0


def _create_statements(chain_id: str) -> list[Statement]:
    """The schema, the empty head and the file's marks, for one transaction."""
    stmts: list[Statement] = [(stmt, [()]) for stmt in _SCHEMA.strip().split(";") if stmt.strip()]
    return [
        *stmts,
        ("INSERT INTO head VALUES (0, ?, ?, -1, ?, -1)", [(_MAGIC, chain_id, EMPTY)]),
        (f"PRAGMA application_id = {APPLICATION_ID}", [()]),
        (f"PRAGMA user_version = {SCHEMA_VERSION}", [()]),
    ]


def _check_header(db: Database, label: str) -> None:
    try:
        app_id = db.row("PRAGMA application_id")[0]
        version = db.row("PRAGMA user_version")[0]
    except SqlError as exc:
        raise StoreError(f"{label}: not a SQLite database or corrupt ({exc})") from exc
    if app_id != APPLICATION_ID:
        raise StoreError(
            f"{label}: foreign database (application_id {app_id:#x}, expected {APPLICATION_ID:#x})"
        )
    if version != SCHEMA_VERSION:
        raise StoreError(f"{label}: schema version {version}, this build reads {SCHEMA_VERSION}")
    try:
        check = [r[0] for r in db.rows("PRAGMA quick_check")]
    except SqlError as exc:
        raise StoreError(f"{label}: corrupt database ({exc})") from exc
    if check != ["ok"]:
        detail = "; ".join(check[:3]).replace("\n", "; ")
        raise StoreError(f"{label}: corrupt database: {detail[:300]}")


def _read_snapshot(data: bytes, chain_id: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
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
