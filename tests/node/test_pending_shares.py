"""A validator's own signed, unfinalized blocks are durable (issue 16 finding 1): what
``BlockLog.save_pending`` wrote is read back by the next start above the log's tip, a
logged block drops its pending row in the same commit, and a damaged row is skipped (it
is only an offer to peers, never trusted)."""

from __future__ import annotations

from pathlib import Path

from focusflow.node.chain import BlockLog
from focusflow.supervisor import open_file_database
from tests.node.test_chain import COMMITTEE, make_record


def _open(path: Path) -> BlockLog:
    return BlockLog(open_file_database(path), committee=COMMITTEE)


def test_pending_shares_survive_a_restart_until_their_block_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "blocks.sqlite"
    log = _open(path)
    b1 = make_record(1, bytes(32), (b"tx1",), [0, 1, 2])
    mine1 = make_record(1, bytes(32), (b"tx1",), [0])
    mine2 = make_record(2, b1.digest, (b"tx2",), [0])
    log.save_pending([mine1, mine2])
    log.close()  # killed: the pending rows are durable
    log = _open(path)
    assert [(r.height, r.digest, r.txs) for r in log.pending()] == [
        (1, mine1.digest, (b"tx1",)), (2, mine2.digest, (b"tx2",))]
    log.append(b1, 1)  # block 1 final: its pending row goes in the same commit
    assert [r.height for r in log.pending()] == [2]
    log.close()
    log = _open(path)
    assert [r.height for r in log.pending()] == [2] and log.height == 1
    log.close()


def test_a_damaged_pending_row_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "blocks.sqlite"
    log = _open(path)
    log.save_pending([make_record(1, bytes(32), (b"tx1",), [0]),
                      make_record(2, bytes(32), (b"tx2",), [0])])
    log.db.commit([("UPDATE pending SET record = ? WHERE height = 1", [(b"\xff" * 7,)])])
    assert [r.height for r in log.pending()] == [2]
    log.close()
