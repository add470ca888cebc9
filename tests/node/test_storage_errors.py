"""Storage errors name their cause and file (issue 16, finding 11): disk full used to log
only ``cannot rollback - no transaction is active`` (SQLite had rolled back by itself and
the second ROLLBACK hid the cause)."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusflow.node.chain import BlockLog, Ledger
from focusflow.supervisor import StorageError, open_file_database
from tests.node.test_chain import make_record
from tests.node.test_deferred_io import CHAIN, chain_of_blocks


def fill_up(conn: object) -> None:
    """Let the database file grow by no more than a page or two: a full disk."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[attr-defined]
    conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # type: ignore[attr-defined]


def test_a_full_disk_under_the_state_names_the_cause_and_the_file(tmp_path: Path) -> None:
    db = open_file_database(tmp_path / "state.sqlite")
    ledger = Ledger(db, chain_id=CHAIN)
    fill_up(db._conn)
    with pytest.raises(StorageError) as info:
        for txs in chain_of_blocks():
            ledger.execute(txs)
    text = str(info.value)
    assert "disk full" in text and "state.sqlite" in text and "cannot rollback" not in text


def test_a_full_disk_under_the_block_log_names_the_cause_and_the_file(tmp_path: Path) -> None:
    db = open_file_database(tmp_path / "blocks.sqlite")
    log = BlockLog(db)
    fill_up(db._conn)
    parent = bytes(32)
    with pytest.raises(StorageError) as info:
        for h in range(1, 200):
            rec = make_record(h, parent, (bytes(3000),), [0, 1, 2])
            log.append(rec, 1)
            parent = rec.digest
    assert "disk full" in str(info.value) and "blocks.sqlite" in str(info.value)
    log.close()
