"""The Runtime's database service (``ctx.database``): one actor, both runtimes.

What must hold: a commit is all-or-nothing; what a commit returned from survives a
crash (the simulator's ``crash_node``, a live restart) and nothing uncommitted does; a
torn or altered image is refused at reopen, never read.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from focusflow.sim import SimDisk, Simulation
from focusflow.supervisor import (
    Actor,
    ActorCrashed,
    ActorSystem,
    Database,
    DatabaseError,
    Node,
    open_file_database,
    open_image_database,
)
from tests.wire.msgs import Req, Resp

ADD_IN_THREAD = -6
ADD_CONFLICTING = -5


class Rows(Actor):
    """Req(n >= 0): commit n new rows; Req(-5): a batch whose last row conflicts;
    Req(-6, "n"): commit n rows from a ``run_blocking`` job. Answers Resp(rows, error)."""

    def __init__(self) -> None:
        self.db: Database | None = None

    async def on_start(self) -> None:
        self.db = self.ctx.database("rows")
        self.db.commit([("CREATE TABLE IF NOT EXISTS r (k INTEGER PRIMARY KEY, v TEXT)", [()])])

    def _count(self) -> int:
        assert self.db is not None
        return int(self.db.row("SELECT COUNT(*) FROM r")[0])

    def _batch(self, n: int) -> list[tuple[str, list[tuple[Any, ...]]]]:
        first = self._count()
        return [("INSERT INTO r VALUES (?, ?)", [(first + i, f"v{first + i}") for i in range(n)])]

    async def receive(self, msg: Any) -> Any:
        db = self.db
        assert db is not None and isinstance(msg, Req)
        error = ""
        if msg.n >= 0:
            db.commit(self._batch(msg.n))
        elif msg.n == ADD_CONFLICTING:
            stmts = [*self._batch(3), ("INSERT INTO r VALUES (?, ?)", [(0, "dup")])]
            try:
                db.commit(stmts)
            except sqlite3.IntegrityError as exc:
                error = str(exc)
        elif msg.n == ADD_IN_THREAD:
            await self.ctx.run_blocking(db.commit, self._batch(int(msg.text)))
        return Resp(self._count(), error)

    async def on_stop(self) -> None:
        if self.db is not None:
            self.db.close()


def _boot(node: Node) -> None:
    node.spawn(Rows, name="rows")


def _ask(sim: Simulation, msg: Req) -> Resp:
    node = sim.node("n1")
    return sim.run_until_complete(node.ask(node.ref("n1", "/user/rows"), msg))


def test_sim_commit_is_atomic_and_survives_a_crash() -> None:
    sim = Simulation(7)
    sim.add_node("n1", boot=_boot)
    assert _ask(sim, Req(5)) == Resp(5, "")
    answer = _ask(sim, Req(ADD_CONFLICTING))
    assert answer.n == 5 and "UNIQUE" in answer.text  # none of the batch's 3 rows
    assert _ask(sim, Req(ADD_IN_THREAD, "2")) == Resp(7, "")  # inline job, same code
    sim.crash_node("n1")
    sim.restart_node("n1")
    assert _ask(sim, Req(0)) == Resp(7, "")


def test_sim_crash_loses_a_commit_whose_sync_failed_and_keeps_the_earlier_ones() -> None:
    sim = Simulation(3)
    sim.add_node("n1", boot=_boot)
    assert _ask(sim, Req(4)).n == 4
    disk = sim.disk("n1")
    disk.fsync_fails = True  # the next commit's image stays unsynced
    with pytest.raises(ActorCrashed, match="fsync"):
        _ask(sim, Req(10))
    disk.fsync_fails = False
    sim.crash_node("n1")
    sim.restart_node("n1")
    assert _ask(sim, Req(0)).n == 4


def test_a_failed_sync_fails_the_handle_until_reopened() -> None:
    disk = SimDisk()
    db = open_image_database(disk, "g")
    db.commit([("CREATE TABLE t (a)", [()])])
    disk.fsync_fails = True
    with pytest.raises(OSError, match="fsync"):
        db.commit([("INSERT INTO t VALUES (1)", [()])])
    disk.fsync_fails = False
    with pytest.raises(DatabaseError, match="sync failed"):
        db.rows("SELECT a FROM t")
    disk.crash(random.Random(0))
    assert open_image_database(disk, "g").rows("SELECT a FROM t") == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_torn_or_altered_image_is_refused_at_reopen(damage: str) -> None:
    disk = SimDisk()
    db = open_image_database(disk, "img")
    db.commit([("CREATE TABLE t (a)", [()]), ("INSERT INTO t VALUES (?)", [(i,) for i in range(50)])])
    raw = bytearray(disk.read("db/img").result() or b"")
    if damage == "truncate":  # what a disk that flushed part of its cache leaves
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        raw[-100] ^= 0x01
    else:
        raw = bytearray(b"not an image")
    disk.write("db/img", bytes(raw))
    disk.sync()
    with pytest.raises(DatabaseError, match="refused"):
        open_image_database(disk, "img")


def test_torn_writes_disk_keeps_a_whole_committed_image() -> None:
    """With ``torn_writes`` a crash keeps a random prefix of the unsynced writes; a
    commit syncs its image before returning, so every crash reopens at a commit."""
    for seed in range(20):
        disk = SimDisk(torn_writes=True)
        db = open_image_database(disk, "t")
        db.commit([("CREATE TABLE t (a)", [()])])
        rng = random.Random(seed)
        done = 0
        for _ in range(rng.randrange(1, 6)):
            db.commit([("INSERT INTO t VALUES (?)", [(done,)])])
            done += 1
        disk.write("other", b"x" * 10)  # unsynced writes of others may tear
        disk.crash(rng)
        assert open_image_database(disk, "t").rows("SELECT COUNT(*) FROM t") == [(done,)]


def test_database_names_are_plain_stems() -> None:
    disk = SimDisk()
    for bad in ["", "../x", "a/b", "x" * 65, "é"]:
        with pytest.raises(DatabaseError, match="invalid database name"):
            open_image_database(disk, bad)


@pytest.mark.anyio
async def test_live_commits_are_in_the_file_and_survive_a_restart(tmp_path: Path) -> None:
    async with ActorSystem("n1", storage_dir=tmp_path) as system:
        ref = system.spawn(Rows, name="rows")
        assert await ref.ask(Req(3)) == Resp(3, "")
        answer = await ref.ask(Req(ADD_CONFLICTING))
        assert answer.n == 3 and "UNIQUE" in answer.text
        assert await ref.ask(Req(ADD_IN_THREAD, "4")) == Resp(7, "")  # worker thread
    assert (tmp_path / "rows.sqlite").exists()
    mode = open_file_database(tmp_path / "rows.sqlite").rows("PRAGMA journal_mode")
    assert mode == [("wal",)]
    async with ActorSystem("n1", storage_dir=tmp_path) as system:
        assert await system.spawn(Rows, name="rows").ask(Req(0)) == Resp(7, "")


@pytest.mark.anyio
async def test_live_without_a_data_dir_keeps_images_in_memory() -> None:
    async with ActorSystem("n1") as system:
        ref = system.spawn(Rows, name="rows")
        assert await ref.ask(Req(2)) == Resp(2, "")
        assert system.runtime.storage().keys("db/") == ["db/rows"]


def test_a_foreign_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        open_file_database(bad)
