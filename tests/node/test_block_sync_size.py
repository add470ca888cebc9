"""A block-sync answer stays under the wire's message limit (issue 21).

A catching-up validator asks for 64 blocks; full blocks make that answer larger than the
wire's 16 MiB limit, and the encode would raise inside the serving validator's handler:
it would crash and restart, and the peer asking again would crash the next one. Issue 21
saw that failure with the mempool's certificate answers (tests/consensus/test_cores.py);
this is the same bound for block sync.
"""

from __future__ import annotations

from pathlib import Path

from focusflow.node.chain import SYNC_BYTES_MAX, BlockLog, read_durable_chain
from focusflow.node.messages import BlockRecord, Blocks
from focusflow.supervisor import open_file_database
from focusflow.wire import encode_message

TX = bytes(range(256)) * 16  # 4 KiB, the consensus tx size limit
TXS_PER_BLOCK = 1000  # ~4 MB a block


def _log(path: Path, blocks: int) -> BlockLog:
    log = BlockLog(open_file_database(path))
    for h in range(1, blocks + 1):
        digest = h.to_bytes(32, "big")
        log.append(BlockRecord(h, b"header", digest, (TX,) * TXS_PER_BLOCK, (0,), (b"s" * 64,)), 1)
    return log


def test_sync_answer_fits_the_wire(tmp_path: Path) -> None:
    log = _log(tmp_path / "blocks.sqlite", 6)
    records = log.records(1, 64)
    assert 1 <= len(records) < 6  # cut by bytes, in height order from the start
    assert [r.height for r in records] == list(range(1, len(records) + 1))
    encode_message(Blocks(tuple(records), log.height))  # raised WireError before
    assert sum(len(t) for r in records for t in r.txs) <= SYNC_BYTES_MAX
    assert len(log.records(1, 64, bytes_max=1)) == 1  # a block is always served whole
    log.close()


def test_durable_chain_read_back(tmp_path: Path) -> None:
    log = _log(tmp_path / "blocks.sqlite", 2)
    log.close()
    import sqlite3

    from focusflow.node.chain import _FOCUS_SCHEMA

    conn = sqlite3.connect(tmp_path / "state.sqlite")
    conn.executescript(_FOCUS_SCHEMA)
    conn.execute("INSERT INTO focus_block VALUES (1, ?, 0, 0, 0, 0.0)", (b"\x01" * 32,))
    conn.commit()
    conn.close()
    chain = read_durable_chain(tmp_path)
    assert chain.digests == [(1, (1).to_bytes(32, "big").hex()), (2, (2).to_bytes(32, "big").hex())]
    assert chain.pi_roots == [(1, "01" * 32)]
