"""Durability: restart, refusing foreign/corrupt files, snapshots, crashes (real and simulated)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from focusflow.actors.state import (
    SqliteStore,
    StateCore,
    StoreError,
    TxKind,
    commit,
    make_tx,
    open_state,
    verify_proof,
)
from focusflow.actors.state import keys as K
from focusflow.sim import SimDisk
from focusflow.supervisor import open_file_database

from .workload import CHAIN, block_txs, genesis_balances, people


def _grow(store: SqliteStore, core: StateCore, n_blocks: int) -> dict[int, bytes]:
    roots = {}
    if core.height < 0:
        commit(store, core, core.genesis(balances=genesis_balances()))
        roots[0] = core.root
    for _ in range(n_blocks):
        h = core.height + 1
        commit(store, core, core.prepare_block(h, block_txs(core, h)))
        roots[h] = core.root
    return roots


def _reference_roots(n_blocks: int) -> dict[int, bytes]:
    """The same workload on a throwaway in-memory store: the expected root per height."""
    store = SqliteStore.open_simulated(chain_id=CHAIN)
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=store.height)
    return _grow(store, core, n_blocks)


def test_restart_root_equals_last_committed_root(tmp_path: Path) -> None:
    store, core = open_state(tmp_path / "s.db", chain_id=CHAIN)
    roots = _grow(store, core, 6)
    store.close()
    store2, core2 = open_state(tmp_path / "s.db", chain_id=CHAIN)
    assert core2.height == 6 and core2.root == roots[6]
    assert store2.block_roots() == roots
    assert store2.verify_full()
    # proofs from the reopened node verify against the committed root
    alice = people()[0].address
    value, proof = core2.prove(K.balance_key(alice))
    assert value is not None and verify_proof(roots[6], K.balance_key(alice), value, proof)
    store2.close()


def test_uncommitted_block_is_not_visible_after_restart(tmp_path: Path) -> None:
    store, core = open_state(tmp_path / "s.db", chain_id=CHAIN)
    _grow(store, core, 2)
    prepared = core.prepare_block(3, block_txs(core, 3))  # never committed
    assert prepared.root != core.root
    store.close()
    _, core2 = open_state(tmp_path / "s.db", chain_id=CHAIN)
    assert core2.height == 2 and core2.root == core.root


def test_foreign_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="foreign database"):
        SqliteStore.open(other, chain_id=CHAIN)


def test_non_sqlite_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match="not a SQLite database"):
        SqliteStore.open(junk, chain_id=CHAIN)
    path = tmp_path / "s.db"
    store, core = open_state(path, chain_id=CHAIN)
    _grow(store, core, 8)
    store.db.rows("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for i in range(2 * page, len(data), page):  # scribble over every page but the header's
        data[i + 100 : i + 400] = os.urandom(300)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt"):
        open_state(path, chain_id=CHAIN)


def test_silently_altered_rows_are_detected_by_the_root(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store, core = open_state(path, chain_id=CHAIN, tree_checkpoint_blocks=1)
    _grow(store, core, 3)
    store.close()
    conn = sqlite3.connect(path)
    key = conn.execute(
        "SELECT key FROM leaf WHERE key > ? AND key < ? LIMIT 1", (K.BALANCE, K.BALANCE + b"\xff")
    ).fetchone()[0]
    conn.execute("UPDATE leaf SET value = ? WHERE key = ?", (K.u64(10**9), key))
    conn.commit()
    conn.close()
    # nodes are checkpointed every block here, so nothing is replayed on open: the tree
    # nodes are intact, the values are not, and only the full check notices
    store, _ = open_state(path, chain_id=CHAIN)
    assert not store.verify_full()
    store.close()
    with pytest.raises(StoreError, match="do not hash to the committed root"):
        open_state(path, chain_id=CHAIN, verify=True)


def test_altered_leaf_after_the_tree_checkpoint_is_caught_by_the_replay(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store, core = open_state(path, chain_id=CHAIN, tree_checkpoint_blocks=4)
    _grow(store, core, 6)  # nodes written with block 3 (4 blocks since -1); 4..6 replayed
    assert store.tree_height == 3
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE leaf SET value = ? WHERE height = 6", (K.u64(7),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="disagree with the committed root"):
        open_state(path, chain_id=CHAIN)


@pytest.mark.parametrize("every", [1, 4, 1000])
def test_restart_replays_blocks_after_the_tree_checkpoint(tmp_path: Path, every: int) -> None:
    store, core = open_state(tmp_path / "s.db", chain_id=CHAIN, tree_checkpoint_blocks=every)
    roots = _grow(store, core, 7)
    unlink = make_tx(
        people()[0],
        chain_id=CHAIN,
        nonce=core.next_nonce(people()[0].address),
        kind=TxKind.UNLINK,
        fee=1,
        links=[_some_link(store, people()[0].address)],
    )
    res = core.prepare_block(8, [unlink])
    assert res.receipts[0].ok
    commit(store, core, res)  # a deletion: replayed from the `gone` table
    roots[8] = core.root
    expected_tree_height = {1: 8, 4: 7, 1000: -1}[every]
    assert store.tree_height == expected_tree_height
    store.close()
    store2, core2 = open_state(tmp_path / "s.db", chain_id=CHAIN, verify=True)
    assert core2.root == roots[8] and store2.tree_height == expected_tree_height
    pending = len(store2._pending)
    assert (pending == 0) == (expected_tree_height == 8)
    assert store2.checkpoint() == pending
    assert store2.tree_height == 8 and store2.verify_tree(store2.load_tree())
    store2.close()


def _some_link(store: SqliteStore, neuron: bytes) -> tuple[bytes, bytes]:
    for k, _ in store.leaves():
        if k.startswith(K.LINK) and K.parse_link_key(k)[0] == neuron:
            _, s, d = K.parse_link_key(k)
            return s, d
    raise AssertionError("no link")


def test_altered_tree_nodes_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store, core = open_state(path, chain_id=CHAIN, tree_checkpoint_blocks=1)
    _grow(store, core, 3)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE node SET entry = ? WHERE path = ?", (bytes(32), b"\x05"))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not the tree of the stored leaves"):
        open_state(path, chain_id=CHAIN, verify=True)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE node SET entry = ? WHERE path = ?", (bytes(32), b"\x01"))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="disagree with the committed root"):
        open_state(path, chain_id=CHAIN)


def test_other_chain_is_refused(tmp_path: Path) -> None:
    store, _ = open_state(tmp_path / "s.db", chain_id=CHAIN)
    store.close()
    with pytest.raises(StoreError, match="holds chain"):
        SqliteStore.open(tmp_path / "s.db", chain_id="another")


def test_snapshot_round_trip_verifies_against_the_root(tmp_path: Path) -> None:
    store, core = open_state(tmp_path / "a.db", chain_id=CHAIN)
    roots = _grow(store, core, 5)
    snap = store.export_snapshot(height=5)
    with pytest.raises(StoreError, match="only the head"):
        store.export_snapshot(height=3)
    imported = SqliteStore.import_snapshot(
        snap, open_file_database(tmp_path / "b.db"), chain_id=CHAIN, trusted_root=roots[5]
    )
    assert imported.height == 5 and imported.root == roots[5]
    assert imported.load_tree().root() == roots[5] and imported.verify_full()
    # links_of answers on the new node exactly like on the old one
    some_link = next(k for k, _ in store.leaves() if k.startswith(K.LINK))
    _, s, _ = K.parse_link_key(some_link)
    assert sorted(imported.links_of(s)) == sorted(store.links_of(s)) != []
    # the new node continues the chain and agrees with the old one
    b = StateCore(chain_id=CHAIN, reader=imported, tree=imported.load_tree(), height=5)
    txs = block_txs(core, 6)
    commit(store, core, core.prepare_block(6, txs))
    commit(imported, b, b.prepare_block(6, txs))
    assert b.root == core.root


def test_tampered_or_untrusted_snapshot_is_refused(tmp_path: Path) -> None:
    store, core = open_state(tmp_path / "a.db", chain_id=CHAIN)
    _grow(store, core, 3)
    snap = store.export_snapshot()
    data = bytearray(snap)
    data[len(data) // 2] ^= 1
    with pytest.raises(StoreError, match="checksum"):
        SqliteStore.import_snapshot(bytes(data), open_file_database(tmp_path / "b.db"),
                                    chain_id=CHAIN)
    with pytest.raises(StoreError, match="trusted root"):
        SqliteStore.import_snapshot(snap, open_file_database(tmp_path / "c.db"), chain_id=CHAIN,
                                    trusted_root=bytes(32))
    with pytest.raises(StoreError, match="not empty"):
        SqliteStore.import_snapshot(snap, store.db, chain_id=CHAIN)


def test_simulated_crash_drops_unsynced_block_and_keeps_every_synced_one() -> None:
    expected = _reference_roots(12)
    disk = SimDisk()
    crash_at = {4, 5, 9}
    acked: dict[int, bytes] = {}
    store = SqliteStore.open_simulated(disk, chain_id=CHAIN)
    dropped = 0
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=store.height)
    attempts = 0
    while core.height < 12:
        attempts += 1
        assert attempts < 40
        h = core.height + 1
        result = (
            core.genesis(balances=genesis_balances())
            if h == 0
            else core.prepare_block(h, block_txs(core, h))
        )
        if h in crash_at:
            crash_at.discard(h)
            disk.fsync_fails = True
        try:
            commit(store, core, result)
            acked[h] = core.root
        except OSError:
            # the node crashes, and restarts from what the disk made durable
            dropped += 1
            disk.fsync_fails = False
            disk.crash(random.Random(h))
            store = SqliteStore.open_simulated(disk, chain_id=CHAIN)
            core = StateCore(
                chain_id=CHAIN, reader=store, tree=store.load_tree(), height=store.height
            )
            assert core.height == h - 1 and core.root == acked[h - 1]
            assert set(store.block_roots()) == set(range(h))
    assert dropped == 3
    assert acked == expected and store.block_roots() == expected and store.verify_full()


def test_kill_dash_nine_mid_stream_keeps_every_committed_block_and_nothing_else(
    tmp_path: Path,
) -> None:
    db = tmp_path / "k.db"
    child = Path(__file__).with_name("crash_child.py")
    reported: dict[int, bytes] = {}
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(child), str(db)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        target = 5 + 4 * round_ + len(reported)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            _, h, root = line.split()
            reported[int(h)] = bytes.fromhex(root)
            if int(h) >= target:
                break
        time.sleep(0.002 * round_)  # land the kill at different points of the next block
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        store, core = open_state(db, chain_id=CHAIN)
        last = max(reported)
        # every reported (acknowledged) block is there with its root; at most the one block
        # in flight may also have become durable, and only as a whole block
        assert core.height in (last, last + 1)
        on_disk = store.block_roots()
        assert all(on_disk[h] == r for h, r in reported.items())
        assert set(on_disk) == set(range(core.height + 1))
        assert store.verify_full() and core.root == on_disk[core.height]
        store.close()
    expected = _reference_roots(max(reported) + 1)
    assert all(expected[h] == r for h, r in reported.items())


def test_get_many_equals_get_for_present_and_absent_keys(tmp_path: Path) -> None:
    """The columnar executor's one read per block (chunked IN queries) answers what a
    ``get`` per key would, in order, across more keys than one chunk holds."""
    store, core = open_state(tmp_path / "state.db", chain_id=CHAIN)
    _grow(store, core, 3)
    present = [k for (k,) in store.db.rows("SELECT key FROM leaf")]
    assert len(present) > 10
    keys = [bytes(k) for k in present] + [b"/graph/link/absent-%d" % i for i in range(700)]
    random.Random(7).shuffle(keys)
    keys.append(keys[0])  # a repeated key is answered twice
    assert store.get_many(keys) == [store.get(k) for k in keys]
    assert store.get_many([]) == []
    store.close()
