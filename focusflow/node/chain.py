"""A node's durable chain: the finalized block log and the state it executes into.

Two SQLite files under ``data/``: ``blocks.sqlite`` (one row per finalized block: the
encoded ``BlockRecord`` with the notarising signatures, so any node can serve and verify
it) and ``state.sqlite`` (the state core's authenticated store, ``focusflow.actors.state``).
Both use WAL with ``synchronous=FULL``: a row is on disk when its commit returns, which is
what lets a validator killed with SIGKILL lose nothing it reported committed.

Verification of a synced block (``verify_record``) is what a light client does too: the
header bytes hash to the digest, the parent chains to the previous block, the
transactions hash to the header's ``da_root``, and signatures of the quorum stake of the
genesis committee cover the header bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import DOMAIN_BLOCK, DOMAIN_TX, Verifier, digest, merkle_root
from focusflow.actors.consensus.types import BlockHeader, Committee
from focusflow.actors.state.core import StateCore, decode_block
from focusflow.actors.state.smt import Proof, verify_proof
from focusflow.actors.state.store import SqliteStore
from focusflow.actors.state.tx import Tx
from focusflow.node.messages import BlockRecord
from focusflow.wire import decode_message, encode_message

PI_ROOT_UNCOMMITTED = bytes(32)
"""The node does not yet commit π per block (see docs/operations.md); the header says so."""
BLOCKS_PER_SYNC_MAX = 64
TOP_PARTICLES_MAX = 100
FOCUS_ITERATIONS_MAX = 100
FOCUS_LINKS_MAX = 2_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS block (height INTEGER PRIMARY KEY, digest BLOB NOT NULL,
                                  links INTEGER NOT NULL, record BLOB NOT NULL);
"""


class ChainError(Exception):
    """A synced block does not verify (the serving peer's fault) or the log is corrupt."""


class BlockLog:
    """Finalized blocks, durable, in height order without gaps."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT COALESCE(MAX(height), 0), COUNT(*), "
                                 "COALESCE(SUM(links), 0) FROM block").fetchone()
        self.height, count, self.links = int(row[0]), int(row[1]), int(row[2])
        if count != self.height:
            raise ChainError(f"{path}: {count} blocks but tip {self.height} (gap)")
        last = self.record(self.height) if self.height else None
        self.tip_digest = last.digest if last is not None else bytes(32)

    def append(self, record: BlockRecord, links: int) -> None:
        """Make ``record`` durable; it must be the next height."""
        assert record.height == self.height + 1, (record.height, self.height)
        assert links >= 0
        _, data = encode_message(record)
        self._conn.execute("INSERT INTO block VALUES (?, ?, ?, ?)",
                           (record.height, record.digest, links, data))
        self.height = record.height
        self.tip_digest = record.digest
        self.links += links

    def record(self, height: int) -> BlockRecord | None:
        """The block at ``height``, or None."""
        row = self._conn.execute("SELECT record FROM block WHERE height = ?", (height,)).fetchone()
        if row is None:
            return None
        type_id, _ = encode_message(BlockRecord(0, b"", b"", (), (), ()))
        rec = decode_message(type_id, bytes(row[0]))
        assert isinstance(rec, BlockRecord)
        return rec

    def records(self, start: int, count_max: int) -> list[BlockRecord]:
        """Up to ``count_max`` blocks from ``start`` on."""
        count = min(count_max, BLOCKS_PER_SYNC_MAX)
        out = [self.record(h) for h in range(max(1, start), min(self.height, start + count - 1) + 1)]
        return [r for r in out if r is not None]

    def digests(self, start: int, end: int) -> list[tuple[int, str]]:
        """(height, digest hex) for ``start..end`` (agreement checks)."""
        rows = self._conn.execute("SELECT height, digest FROM block WHERE height BETWEEN ? AND ? "
                                  "ORDER BY height", (start, end))
        return [(int(h), bytes(d).hex()) for h, d in rows]

    def close(self) -> None:
        """Close the database."""
        self._conn.close()


def verify_record(record: BlockRecord, *, parent: bytes | None, committee: Committee,
                  verifier: Verifier) -> BlockHeader:
    """Check a synced block against its parent and the committee; return its header.

    ``parent=None`` skips the chain check (a light client holding no chain).

    Raises:
        ChainError: anything does not verify (the serving peer's fault).
    """
    if digest(DOMAIN_BLOCK, record.header) != record.digest:
        raise ChainError(f"block {record.height}: digest does not match the header bytes")
    try:
        header = codec.decode_block_header(record.header)
    except codec.DecodeError as exc:
        raise ChainError(f"block {record.height}: bad header ({exc})") from exc
    if header.height != record.height or (parent is not None and header.parent != parent):
        raise ChainError(f"block {record.height}: does not extend our tip")
    if merkle_root([digest(DOMAIN_TX, t) for t in record.txs]) != header.da_root:
        raise ChainError(f"block {record.height}: transactions do not match da_root")
    if len(record.signers) != len(record.signatures) or len(set(record.signers)) != len(record.signers):
        raise ChainError(f"block {record.height}: malformed signature list")
    good = []
    for index, sig in zip(record.signers, record.signatures, strict=True):
        if not committee.is_member(index):
            raise ChainError(f"block {record.height}: signer {index} is not a validator")
        if verifier.verify(committee.validators[index].public_key, record.header, sig):
            good.append(index)
    if committee.stake_of(good) < committee.quorum_stake:
        raise ChainError(f"block {record.height}: signatures below the quorum stake")
    return header


class Ledger:
    """The state the chain executes into (the state core on its SQLite store)."""

    def __init__(self, path: Path, *, chain_id: str) -> None:
        self.store = SqliteStore.open(path, chain_id=chain_id)
        self.core = StateCore(chain_id=chain_id, reader=self.store, tree=self.store.load_tree(),
                              height=self.store.height)
        if self.core.height < 0:
            self._commit(self.core.genesis(balances={}))
        self.last_links = 0

    def _commit(self, result: object) -> None:
        self.store.commit_block(result)  # type: ignore[arg-type]
        self.core.block_committed(result)  # type: ignore[arg-type]

    def execute(self, txs: Sequence[bytes]) -> bytes:
        """Apply the next block's ordered transactions durably; return the state root.

        ``last_links`` is then the number of links the accepted transactions added.
        """
        decoded = {t.tx_hash: t for t in decode_block(txs) if isinstance(t, Tx)}
        result = self.core.prepare_block(self.core.height + 1, txs)
        self._commit(result)
        self.last_links = sum(decoded[r.tx_hash].n_links for r in result.receipts
                              if r.ok and r.tx_hash in decoded)
        return result.root

    def root_at(self, height: int) -> bytes | None:
        """The committed state root at ``height`` (None if not executed yet)."""
        return self.store.block_roots().get(height)

    def top_particles(self, count: int) -> list[tuple[str, float, int]]:
        """(cid hex, focus, inbound links) of the ``count`` particles of highest focus.

        π by power iteration over the links (each neuron's weight split over its links;
        damping 0.85, ε 1e-6): an on-demand view, not the committed π.
        """
        rows = self.store._conn.execute(
            "SELECT src, dst, neuron FROM link_index LIMIT ?", (FOCUS_LINKS_MAX,)).fetchall()
        if not rows:
            return []
        ids: dict[bytes, int] = {}
        src = np.array([ids.setdefault(bytes(r[0]), len(ids)) for r in rows])
        dst = np.array([ids.setdefault(bytes(r[1]), len(ids)) for r in rows])
        neurons: dict[bytes, int] = {}
        for r in rows:
            neurons[bytes(r[2])] = neurons.get(bytes(r[2]), 0) + 1
        w = np.array([1.0 / neurons[bytes(r[2])] for r in rows])
        n = len(ids)
        m = sp.csr_matrix((w, (dst, src)), shape=(n, n))
        out_w = np.asarray(m.sum(axis=0)).ravel()
        scale = np.divide(1.0, out_w, out=np.zeros(n), where=out_w > 0)
        pt = m @ sp.diags(scale)
        pi = np.full(n, 1.0 / n)
        for _ in range(FOCUS_ITERATIONS_MAX):
            dangling = pi[out_w == 0].sum()
            nxt = 0.85 * (pt @ pi + dangling / n) + 0.15 / n
            done = np.abs(nxt - pi).sum() < 1e-6
            pi = nxt
            if done:
                break
        indeg = np.bincount(dst, minlength=n)
        cids = list(ids)
        top = np.argsort(-pi, kind="stable")[: min(count, TOP_PARTICLES_MAX)]
        return [(cids[i].hex(), float(pi[i]), int(indeg[i])) for i in top]

    def close(self) -> None:
        """Close the store."""
        self.store.close()


def verify_state_answer(answer: dict[str, Any], committee: Committee, verifier: Verifier,
                        keypath: bytes) -> bytes | None:
    """A light client's check of a ``proof`` query: the value (None: proven absent).

    The answer carries the finalized block at the proof's height (with its signatures);
    the block must carry the quorum stake of the committee's signatures, and the proof
    must lead from the block's ``state_root`` to ``keypath``.

    Raises:
        ChainError: the block or the proof does not verify (the serving node's fault).
    """
    rec = answer["block"]
    record = BlockRecord(int(rec["height"]), bytes.fromhex(rec["header"]),
                         bytes.fromhex(rec["digest"]), tuple(bytes.fromhex(t) for t in rec["txs"]),
                         tuple(int(i) for i in rec["signers"]),
                         tuple(bytes.fromhex(x) for x in rec["signatures"]))
    header = verify_record(record, parent=None, committee=committee, verifier=verifier)
    value = None if answer["value"] is None else bytes.fromhex(answer["value"])
    try:
        proof = Proof.from_bytes(bytes.fromhex(answer["proof"]))
    except ValueError as exc:
        raise ChainError(f"malformed proof: {exc}") from exc
    if not verify_proof(header.state_root, keypath, value, proof):
        raise ChainError("the proof does not lead from the signed state root to the key")
    return value
