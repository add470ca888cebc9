"""The Runtime's database service: SQLite transactions whose durability the Runtime owns.

Why a Runtime service (ARCHITECTURE rule 7): a node's block log, state and double-sign
guard must survive ``kill -9`` live, and the simulator must be able to crash exactly the
same code. So actor code never opens SQLite itself; it asks ``ctx.database(name)`` and
gets a :class:`Database`: reads (``rows``) and one atomic, durable ``commit`` of many
statements. Both runtimes run the same SQL on the same class; only where the committed
bytes live differs:

* **file** (live, a node with a data directory): ``<dir>/<name>.sqlite`` in WAL mode with
  ``synchronous=FULL``: a commit is on disk when it returns (SQLite fsyncs the WAL).
* **image** (the simulator, or a live node without a data directory): an in-memory
  SQLite whose serialized image is written to the node's ``Storage`` under
  ``db/<name>`` and synced at every commit. A simulated crash loses exactly what was
  not committed; the image carries a length and a BLAKE3 digest, so a torn or altered
  image is refused at reopen with :class:`DatabaseError` rather than read.

Threads: ``commit`` may run in a ``ctx.run_blocking`` job (a worker thread live, inline
in the simulator). A file database then commits on a connection of its own for that
thread (the actor's connection keeps serving reads, which see only committed rows);
commits are serialised by a lock, so their order is the order they were called in.

This module, ``_live.py`` (``FileStorage``) and ``focusflow.sim`` are the only places
that touch ``sqlite3`` or ``os.fsync`` (``# runtime-ok`` marks them; a test enforces it).
"""

from __future__ import annotations

import sqlite3  # runtime-ok: the Runtime's own database implementation
import struct
import threading  # runtime-ok: serialises commits from run_blocking worker threads
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import blake3

from focusflow.supervisor._runtime import Storage

#: What a failed statement raises (``sqlite3.Error``): actor code catches this name.
SqlError = sqlite3.Error

#: One statement of a transaction: SQL and the rows it runs on (``[()]`` = once).
Statement = tuple[str, Sequence[Sequence[Any]]]

DATABASE_NAME_BYTES_MAX = 64
CACHE_KIB_DEFAULT = 256 * 1024  # a page cache bound, not an allocation (hot state trees)
BUSY_TIMEOUT_MS = 10_000
IMAGE_KEY_PREFIX = "db/"
_IMAGE_MAGIC = b"FFDBIMG1"
_IMAGE_HEADER = struct.Struct("<8sQ32s")


class DatabaseError(Exception):
    """A database cannot be used: a bad name, a torn or corrupt image, or a failed sync."""


def check_database_name(name: str) -> str:
    """``name`` when it is a plain file stem (letters, digits, ``_`` and ``-``).

    Raises:
        DatabaseError: anything else (it becomes a file name live and a storage key in
            the simulator, so it must mean the same in both).
    """
    ok = 0 < len(name) <= DATABASE_NAME_BYTES_MAX and all(
        c.isascii() and (c.isalnum() or c in "_-") for c in name)
    if not ok:
        raise DatabaseError(f"invalid database name {name!r}: 1-{DATABASE_NAME_BYTES_MAX} "
                            "ASCII letters, digits, '_' or '-'")
    return name


def run_transaction(conn: sqlite3.Connection, statements: Iterable[Statement]) -> None:
    """Run ``statements`` as one immediate transaction: all of them, or (on any error,
    the error re-raised) none. The one transaction helper of the code base."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in statements:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class Database:
    """One SQLite database of a node, obtained from ``Runtime.database(name)``.

    Build with :func:`open_file_database` or :func:`open_image_database` (the runtimes
    do); actor code only reads (:meth:`rows`) and commits (:meth:`commit`).
    """

    def __init__(self, conn: sqlite3.Connection, name: str, *, path: Path | None = None,
                 storage: Storage | None = None) -> None:
        assert (path is None) != (storage is None), "a file or an image, not both"
        self._conn = conn
        self.name = name
        self.path = path
        self._storage = storage
        self._owner = threading.get_ident()
        self._writer: sqlite3.Connection | None = None  # a worker thread's (file only)
        self._lock = threading.Lock()
        self._failed: str | None = None
        self._closed = False
        #: Transactions committed by this handle (tests, metrics).
        self.commits = 0

    # ------------------------------------------------------------------ reading
    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of one query (committed data; run it from the actor)."""
        self._check_open()
        return self._conn.execute(sql, tuple(args)).fetchall()

    def row(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first row of one query, or None."""
        self._check_open()
        return self._conn.execute(sql, tuple(args)).fetchone()

    # ------------------------------------------------------------------ writing
    def commit(self, statements: Iterable[Statement]) -> None:
        """Run ``statements`` as one transaction and make it durable before returning.

        All of them or none: on an error nothing is written and the error propagates.
        Blocking; call it from the actor or from a ``ctx.run_blocking`` job.

        Raises:
            sqlite3.Error: a statement failed (the transaction was rolled back).
            DatabaseError: the database is closed, or an earlier sync failed.
            OSError: the storage could not sync the image (the database is then failed:
                what it holds may not survive a crash, so it refuses further commits).
        """
        self._check_open()
        stmts = list(statements)
        with self._lock:
            if self._storage is None and threading.get_ident() != self._owner:
                if self._writer is None:
                    self._writer = _connect_file(self.path, writer=True)  # type: ignore[arg-type]
                run_transaction(self._writer, stmts)
            else:
                run_transaction(self._conn, stmts)
                if self._storage is not None:
                    self._sync_image()
            self.commits += 1

    def image(self) -> bytes:
        """The committed database as the bytes an image database stores (with its length
        and digest); what :func:`open_image_database` reads back."""
        self._check_open()
        image = bytes(self._conn.serialize())
        return _IMAGE_HEADER.pack(_IMAGE_MAGIC, len(image), blake3.blake3(image).digest()) + image

    def _sync_image(self) -> None:
        storage = self._storage
        assert storage is not None
        try:
            storage.write(image_key(self.name), self.image()).result()
            synced = storage.sync()
            assert synced.done(), "a storage sync completes at once"
            synced.result()
        except OSError as exc:
            self._failed = f"sync failed ({exc})"
            raise

    def close(self) -> None:
        """Close the connections (further use raises DatabaseError)."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._conn.close()
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseError(f"database {self.name!r} is closed")
        if self._failed is not None:
            raise DatabaseError(f"database {self.name!r} failed: {self._failed}; reopen it")


def image_key(name: str) -> str:
    """The storage key of an image database's committed image."""
    return IMAGE_KEY_PREFIX + name


def open_file_database(path: str | Path, *, name: str | None = None) -> Database:
    """A database in the SQLite file ``path`` (created if missing), WAL, fsync on commit.

    Raises:
        DatabaseError: the file is not a SQLite database.
    """
    path = Path(path)
    conn = _connect_file(path, writer=False)
    return Database(conn, name or path.stem, path=path)


def open_image_database(storage: Storage, name: str) -> Database:
    """A database whose committed image lives in ``storage`` under ``db/<name>``.

    Raises:
        DatabaseError: the stored image is torn, altered or not a SQLite database.
    """
    check_database_name(name)
    stored = storage.read(image_key(name))
    assert stored.done(), "a storage read completes at once"
    raw = stored.result()
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if raw is not None:
        try:
            conn.deserialize(_unwrap_image(name, raw))
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.DatabaseError, DatabaseError) as exc:
            conn.close()
            raise DatabaseError(f"database {name!r}: stored image refused ({exc})") from exc
    return Database(conn, name, storage=storage)


def _unwrap_image(name: str, raw: bytes) -> bytes:
    if len(raw) < _IMAGE_HEADER.size:
        raise DatabaseError(f"image of {name!r} truncated ({len(raw)} bytes)")
    magic, length, digest = _IMAGE_HEADER.unpack_from(raw)
    image = raw[_IMAGE_HEADER.size:]
    if magic != _IMAGE_MAGIC:
        raise DatabaseError(f"image of {name!r}: not a focusflow database image")
    if length != len(image) or blake3.blake3(image).digest() != digest:
        raise DatabaseError(f"image of {name!r} is torn or altered "
                            f"({len(image)} of {length} bytes, digest mismatch)")
    return image


def _connect_file(path: Path, *, writer: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not writer:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB_DEFAULT}")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(f"{path}: not a SQLite database or corrupt ({exc})") from exc
    return conn
