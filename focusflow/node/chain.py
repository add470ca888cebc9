"""A node's durable chain: the finalized block log and the state it executes into.

Two Runtime databases (``ctx.database``: SQLite files under ``data/`` live, images on the
node's simulated disk in the simulator): ``blocks`` (``blocks.sqlite`` (one row per finalized block: the
encoded ``BlockRecord`` with the notarising signatures, so any node can serve and verify
it) and ``state`` (``state.sqlite``: the state core's authenticated store, ``focusflow.actors.state``,
plus the focus tables: particle numbering, each block's π root, the last committed π,
written in the same transaction as the block's state; see ``node.focus``). Block h + 1
writes π of block h into the state's ``/graph/pi`` slices, so state roots bind π and
:func:`focus_answer` / :func:`verify_focus_answer` give a light client a particle's focus.
Both use WAL with ``synchronous=FULL``: a row is on disk when its commit returns, which is
what lets a validator killed with SIGKILL lose nothing it reported committed.

Deferred writes (issue 8 follow-up): a validator in consensus computes a block's roots on
the event loop but lets a worker thread run its SQLite transaction (``Ledger.execute(...,
defer=True)`` then :meth:`Ledger.flush_job` off the loop, :meth:`Ledger.flushed` back on it;
``BlockLog.write`` / ``BlockLog.note_appended`` likewise). Until a deferred block is
flushed its writes stay in an in-memory overlay in front of the store, so executing the
next block reads what it would have read from SQLite. A commit from a worker thread runs
on a connection of the database's own for it (``focusflow.supervisor.Database``); the
loop's connection only reads meanwhile (WAL: it sees committed rows).

Verification of a synced block (``verify_record``) is what a light client does too: the
header bytes hash to the digest, the parent chains to the previous block, the
transactions give the header's ``da_root`` (:func:`block_data_root`: the NMT data root of
their erasure-coded square, recomputed), and signatures of the quorum stake of the
genesis committee cover the header bytes.

Data availability (issue 15 item 2): the ledger is the one executor, so it also commits the
block's data. :meth:`Ledger.execute` lays the block's transactions out in the DA square
(``actors.da.block.commit_block``: RS(2k, k) extension in bulk, row and column NMTs,
Celestia's data root) and :meth:`Ledger.da_root_of`, the consensus core's data-root hook,
samples that square with the DA sampler's sans-IO core (``actors.da.core``: random cells,
each share's NMT proof checked against the data root) before the header is signed.

Economics (issue 15 item 2 (c)): the ledger runs the economics core in every block, under
the state root (``actors.economics.onchain``). The state core's tx pass debits the fees;
its ``token`` hook, before the root, credits them to the economics' gas account, applies
the core's block (split, buyback-and-burn, rebates, focus rewards) and merges the writes
(neurons' H is ``/token/balance``, the rest and the core's state ``/token/econ/``). The
focus gains of block h (Δπ of its new links' targets) are paid with block h + 1 and wait
in the ``econ_gains`` row meanwhile (same transaction as block h). A reopened ledger
rebuilds the core from the state's keys.
"""

from __future__ import annotations

import random  # runtime-ok: only the type of ctx.random, which the validator passes in
from collections import OrderedDict
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.blocks import merkle_da_root
from focusflow.actors.consensus.crypto import DOMAIN_BLOCK, DOMAIN_VOTE, Verifier, digest
from focusflow.actors.consensus.types import (
    BlockHeader,
    Certificate,
    CertResponse,
    Committee,
    LocalBug,
)
from focusflow.actors.da.block import CommittedBlock, SquareCache, txs_digest
from focusflow.actors.da.core import DaSamplerCore, RequestSample, SamplerConfig, Verdict
from focusflow.actors.da.share import SquareFullError
from focusflow.actors.economics.core import BlockRecord as EconRecord
from focusflow.actors.economics.ledger import EconError
from focusflow.actors.economics.onchain import (
    ChainEconomics,
    EconStateError,
    focus_gains,
    gas_of,
    neuron_account,
)
from focusflow.actors.state import keys as KEYS
from focusflow.actors.state.core import (
    BlockResult,
    Receipt,
    StateCore,
    decode_block,
    focus_shard_of,
)
from focusflow.actors.state.ids import CID_LEN, cid_to_text
from focusflow.actors.state.smt import Proof, verify_proof
from focusflow.actors.state.store import CommitPlan, SqliteStore
from focusflow.actors.state.tx import Tx, verify_signatures
from focusflow.kernels import dequantize
from focusflow.node.focus import (
    EMPTY_ROOT,
    FocusBlock,
    FocusState,
    StateSlices,
    stake_unit_for,
)
from focusflow.node.messages import BlockRecord
from focusflow.supervisor import Database, DatabaseError, SqlError, Statement, open_file_database
from focusflow.wire import WireError, decode_message, encode_message

PI_ROOT_UNCOMMITTED = bytes(32)
"""The header's π root when the chain runs with ``commit_pi = false`` (benchmark switch)."""
BLOCKS_PER_SYNC_MAX = 64
SYNC_BYTES_MAX = 8 * 1024 * 1024
"""Encoded block records per sync answer: half the wire's message limit, leaving room for
the envelope (``BlockLog.records``)."""
DEFERRED_BLOCKS_MAX = 256
"""Executed blocks whose state may wait for its worker thread (overlay size bound; the
validator drains its queue well before: ``validator.IO_QUEUED_MAX``)."""
TOP_PARTICLES_MAX = 100
FOCUS_SAMPLES_MAX = 4096

_FOCUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS focus_particle (id INTEGER PRIMARY KEY, cid BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS focus_block (height INTEGER PRIMARY KEY, pi_root BLOB NOT NULL,
                                        particles INTEGER NOT NULL, links INTEGER NOT NULL,
                                        iterations INTEGER NOT NULL, residual REAL NOT NULL);
CREATE TABLE IF NOT EXISTS focus_head (id INTEGER PRIMARY KEY CHECK (id = 0),
                                       height INTEGER NOT NULL, q BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tx_receipt (tx_hash BLOB PRIMARY KEY, height INTEGER NOT NULL,
                                       reason TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS focus_rule (id INTEGER PRIMARY KEY CHECK (id = 0),
                                       stake_unit INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS econ_gains (id INTEGER PRIMARY KEY CHECK (id = 0),
                                       height INTEGER NOT NULL, gains BLOB NOT NULL);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS block (height INTEGER PRIMARY KEY, digest BLOB NOT NULL,
                                  links INTEGER NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending (height INTEGER PRIMARY KEY, record BLOB NOT NULL);
"""
PENDING_BLOCKS_MAX = 64
"""Own signed, unfinalized blocks a restarted validator offers again (oldest first)."""


_RECORD_TYPE_ID = encode_message(BlockRecord(0, b"", b"", (), (), ()))[0]
LOG_SIGNED_CHECKED_MAX = 64
"""Blocks at the tip of the log whose signatures a starting node checks (see
:func:`verify_block_log`); below them the hash chain alone."""


class ChainError(Exception):
    """A synced block does not verify (the serving peer's fault) or the log is corrupt."""


class BlockLog:
    """Finalized blocks, durable, in height order without gaps, in the database ``db``
    (the validator's ``ctx.database("blocks")``).

    With ``committee`` (the validator's log) :meth:`write` refuses a record whose signers
    lack the quorum stake: every reader (block sync's :func:`verify_record`, the node's
    start-up :func:`verify_block_log`) relies on it, and an under-signed row would make the
    node refuse its own log at its next start (issue 16, nemesis finding).
    """

    def __init__(self, db: Database, *, committee: Committee | None = None) -> None:
        self.db = db
        self.committee = committee
        db.commit(_script(_SCHEMA))
        row = db.row("SELECT COALESCE(MAX(height), 0), COUNT(*), COALESCE(SUM(links), 0) "
                     "FROM block")
        self.height, count, self.links = int(row[0]), int(row[1]), int(row[2])
        if count != self.height:
            raise ChainError(f"block log {db.name!r}: {count} blocks but tip {self.height} (gap)")
        last = self.record(self.height) if self.height else None
        self.tip_digest = last.digest if last is not None else bytes(32)

    def append(self, record: BlockRecord, links: int) -> None:
        """Make ``record`` durable; it must be the next height."""
        assert record.height == self.height + 1, (record.height, self.height)
        self.write(record, links)
        self.note_appended(record, links)

    def write(self, record: BlockRecord, links: int) -> None:
        """Make ``record`` durable (one commit). A worker thread may call this (one at a
        time, in height order); :meth:`note_appended` then publishes it on the actor.

        Why that split: the actor keeps serving reads meanwhile, and a reader never sees
        a row before its commit (with fsync) returned.
        """
        assert links >= 0
        self.require_quorum(record)
        _, data = encode_message(record)
        self.db.commit([("INSERT INTO block VALUES (?, ?, ?, ?)",
                         [(record.height, record.digest, links, data)]),
                        ("DELETE FROM pending WHERE height <= ?", [(record.height,)])])

    def save_pending(self, records: Sequence[BlockRecord]) -> None:
        """Make our signed, not yet finalized blocks durable (one commit, with fsync):
        each carries our share only (signers ``(me,)``). The validator calls this before
        the share leaves the node, so that after a crash it offers the *same* share again
        and its peers can still finalize the block it may have been the last signer of
        (issue 16 finding 1: a restarted validator's double-sign guard is at the height
        of a block no node logged, which nobody could finalize without its share)."""
        rows = []
        for record in records:
            assert record.height > self.height and len(record.signers) == 1
            rows.append((record.height, encode_message(record)[1]))
        self.db.commit([("INSERT OR REPLACE INTO pending VALUES (?, ?)", rows),
                        ("DELETE FROM pending WHERE height <= ?", [(self.height,)])])

    def pending(self) -> list[BlockRecord]:
        """Our signed, unfinalized blocks above the log's tip, by height (see
        :meth:`save_pending`); an undecodable row is skipped (it is only an offer)."""
        out = []
        for (data,) in self.db.rows("SELECT record FROM pending WHERE height > ? ORDER BY "
                                    "height LIMIT ?", (self.height, PENDING_BLOCKS_MAX)):
            try:
                rec = decode_message(_RECORD_TYPE_ID, bytes(data))
            except WireError:
                continue
            if isinstance(rec, BlockRecord) and len(rec.signers) == len(rec.signatures) == 1:
                out.append(rec)
        return out

    def require_quorum(self, record: BlockRecord) -> None:
        """Refuse (our bug, loudly) a record not carrying the committee's quorum stake of
        signers, one signature each. The signatures themselves were verified where they
        came in (the consensus core's shares, :func:`verify_record` for synced blocks).

        Raises:
            LocalBug: the record is under-signed; nothing was written.
        """
        committee = self.committee
        if committee is None:
            return
        if (len(record.signers) != len(record.signatures)
                or committee.stake_of(i for i in record.signers if committee.is_member(i))
                < committee.quorum_stake):
            raise LocalBug(f"block {record.height}: refusing to log a record signed by "
                           f"{list(record.signers)}, below the quorum stake")

    def note_appended(self, record: BlockRecord, links: int) -> None:
        """The next block is durable: advance the tip (the loop's view)."""
        assert record.height == self.height + 1, (record.height, self.height)
        self.height = record.height
        self.tip_digest = record.digest
        self.links += links

    def record(self, height: int) -> BlockRecord | None:
        """The block at ``height``, or None."""
        row = self.db.row("SELECT record FROM block WHERE height = ?", (height,))
        if row is None:
            return None
        rec = decode_message(_RECORD_TYPE_ID, bytes(row[0]))
        assert isinstance(rec, BlockRecord)
        return rec

    def rows(self) -> Iterator[tuple[int, bytes, BlockRecord]]:
        """(height, stored digest, record) of every block, in height order (read in
        pages of ``BLOCKS_PER_SYNC_MAX`` rows, so a long log is never all in memory)."""
        start = 1
        while True:
            page = self.db.rows("SELECT height, digest, record FROM block WHERE height >= ? "
                                "ORDER BY height LIMIT ?", (start, BLOCKS_PER_SYNC_MAX))
            if not page:
                return
            start = int(page[-1][0]) + 1
            yield from self._decoded(page)

    @staticmethod
    def _decoded(page: list[Any]) -> Iterator[tuple[int, bytes, BlockRecord]]:
        for height, stored, data in page:
            try:
                rec = decode_message(_RECORD_TYPE_ID, bytes(data))
            except WireError as exc:
                raise ChainError(f"block {height}: undecodable record ({exc})") from exc
            assert isinstance(rec, BlockRecord)
            yield int(height), bytes(stored), rec

    def records(self, start: int, count_max: int, *,
                bytes_max: int = SYNC_BYTES_MAX) -> list[BlockRecord]:
        """Up to ``count_max`` blocks from ``start`` on, at most ``bytes_max`` of encoded
        records (always the first one).

        Why a byte budget: a sync answer travels as one message, and 64 full blocks can
        exceed the wire's 16 MiB limit; the encode would then raise inside the serving
        validator, which crashes and restarts, and the catching-up peer asking again
        crashes the next one (issue 21 saw exactly that with the mempool's certificate
        answers, ``DagConfig.sync_bytes_max``).
        """
        count = min(count_max, BLOCKS_PER_SYNC_MAX)
        end = min(self.height, start + count - 1)
        sizes = self.db.rows("SELECT height, length(record) FROM block WHERE height "
                             "BETWEEN ? AND ? ORDER BY height", (max(1, start), end))
        heights: list[int] = []
        total = 0
        for h, size in sizes:
            total += int(size)
            if heights and total > bytes_max:
                break
            heights.append(int(h))
        out = [self.record(h) for h in heights]
        return [r for r in out if r is not None]

    def digests(self, start: int, end: int) -> list[tuple[int, str]]:
        """(height, digest hex) for ``start..end`` (agreement checks)."""
        rows = self.db.rows("SELECT height, digest FROM block WHERE height BETWEEN ? AND ? "
                            "ORDER BY height", (start, end))
        return [(int(h), bytes(d).hex()) for h, d in rows]

    def close(self) -> None:
        """Close the database."""
        self.db.close()


def _script(sql: str) -> list[Statement]:
    """The statements of a schema script, each run once, for one commit."""
    return [(stmt, [()]) for stmt in sql.split(";") if stmt.strip()]


@dataclass(frozen=True, slots=True)
class DurableChain:
    """What a stopped node made durable: (height, hex) of every block digest and π root."""

    digests: list[tuple[int, str]]
    pi_roots: list[tuple[int, str]]


def read_durable_chain(data: Path) -> DurableChain:
    """Read a node's ``data/`` directory (its process stopped): block digests from
    ``blocks.sqlite``, π roots from ``state.sqlite``. Read-only: nothing is created.

    Raises:
        ChainError: a file is missing or unreadable.
    """
    def rows(name: str, sql: str) -> list[tuple[int, str]]:
        path = data / name
        if not path.is_file():
            raise ChainError(f"{path} does not exist")
        try:
            db = open_file_database(path, read_only=True)
            try:
                return [(int(h), bytes(d).hex()) for h, d in db.rows(sql)]
            finally:
                db.close()
        except (SqlError, DatabaseError) as exc:
            raise ChainError(f"{path}: {exc}") from exc

    return DurableChain(
        rows("blocks.sqlite", "SELECT height, digest FROM block ORDER BY height"),
        rows("state.sqlite", "SELECT height, pi_root FROM focus_block ORDER BY height"))


@dataclass(frozen=True, slots=True)
class DeferredCommit:
    """An executed block whose SQLite transaction has not run yet (``defer=True``)."""

    height: int
    root: bytes
    pi_root: bytes
    writes: dict[bytes, bytes | None]
    statements: list[Statement]


class _OverlayReader:
    """The state core's reader: deferred blocks' writes (newest first), then SQLite."""

    def __init__(self, store: SqliteStore, deferred: OrderedDict[int, DeferredCommit]) -> None:
        self.store = store
        self.deferred = deferred

    def get(self, keypath: bytes) -> bytes | None:
        for pending in reversed(self.deferred.values()):
            if keypath in pending.writes:
                return pending.writes[keypath]
        return self.store.get(keypath)

    def get_many(self, keypaths: Sequence[bytes]) -> list[bytes | None]:
        """:meth:`get` of each key path (the columnar executor's one read per block)."""
        values = self.store.get_many(keypaths)
        for pending in self.deferred.values():  # oldest first: the newest write wins
            writes = pending.writes
            if writes:
                for i, k in enumerate(keypaths):
                    if k in writes:
                        values[i] = writes[k]
        return values

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """(key, value) under ``prefix``, in key order, deferred writes included."""
        merged: dict[bytes, bytes | None] = dict(self.store.scan(prefix))
        for pending in self.deferred.values():  # oldest first: the newest write wins
            for k, v in pending.writes.items():
                if k.startswith(prefix):
                    merged[k] = v
        return [(k, v) for k, v in sorted(merged.items()) if v is not None]


DA_SAMPLES = SamplerConfig().samples
"""Cells a validator samples per block before it signs (>= 99% detection, ``da.sampling``)."""
SQUARES_KEPT = 4
"""Blocks' DA squares kept by the process-wide memo (see :func:`block_square`)."""
_SQUARES = SquareCache(SQUARES_KEPT)


def block_square(txs: Sequence[bytes]) -> CommittedBlock | None:
    """The block's erasure-coded square (``actors.da.block.commit_block``), or None when
    its transactions need more than the largest square (128 x 128 shares, ~8 MiB).

    Memoised by the txs' digest, process-wide (a pure function): the producer's
    execution, its sampling and block sync's verification of the same block build it
    once, and so do all the validators of one simulator process.
    """
    try:
        return _SQUARES.commit(txs)
    except SquareFullError:
        return None


def block_data_root(txs: Sequence[bytes]) -> bytes:
    """The header's ``da_root`` of a block: the NMT data root of its square (Celestia's:
    RFC 6962 root over the 2k row and 2k column NMT roots).

    A block too large for one square commits the BLAKE3 Merkle root of its tx digests
    (``merkle_da_root``, the root before issue 15) instead: every node derives the same
    choice from the same txs, so it cannot be forged, but such a block is not sampled
    (the consensus core does not cut blocks at one square yet: docs/architecture.md).
    """
    square = block_square(txs)
    return square.data_root if square is not None else merkle_da_root(txs)


def verify_record(record: BlockRecord, *, parent: bytes | None, committee: Committee,
                  verifier: Verifier) -> BlockHeader:
    """Check a synced block against its parent and the committee; return its header.

    ``parent=None`` skips the chain check (a light client holding no chain).

    Raises:
        ChainError: anything does not verify (the serving peer's fault).
    """
    header = _chained_header(record, parent)
    if not txs_match(record, header):
        raise ChainError(f"block {record.height}: the data root of its transactions' square "
                         "differs from the header's da_root")
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


def txs_match(record: BlockRecord, header: BlockHeader) -> bool:
    """Whether the record's transactions are the ones the signed header commits to (the
    header is signed, the transactions travel beside it)."""
    return block_data_root(record.txs) == header.da_root


def _chained_header(record: BlockRecord, parent: bytes | None) -> BlockHeader:
    """The hash-chain part of :func:`verify_record`: the header bytes hash to the digest,
    decode, and name ``parent`` and the record's height."""
    if digest(DOMAIN_BLOCK, record.header) != record.digest:
        raise ChainError(f"block {record.height}: digest does not match the header bytes")
    try:
        header = codec.decode_block_header(record.header)
    except codec.DecodeError as exc:
        raise ChainError(f"block {record.height}: bad header ({exc})") from exc
    if header.height != record.height or (parent is not None and header.parent != parent):
        raise ChainError(f"block {record.height}: does not extend our tip")
    return header


def verify_block_log(path: Path, committee: Committee, verifier: Verifier, *,
                     signed_max: int = LOG_SIGNED_CHECKED_MAX) -> int:
    """Check a node's block log before it serves it; return its height.

    Every block: the stored digest is the record's, the header bytes hash to it and
    name the previous block's digest (the hash chain, from genesis). The last
    ``signed_max`` blocks: everything :func:`verify_record` checks (transactions against
    ``da_root``, quorum signatures of the committee). Why that bound suffices for the
    chain: the tip's quorum-signed header commits to its parent's digest, and so on down,
    so an edit anywhere in the chain breaks a hash; what the bound leaves unchecked below
    the suffix is an old block's *transactions* (a peer syncing from us checks them
    against the header anyway). Cost: one BLAKE3 of a header per block, plus the
    signatures of ``signed_max`` blocks.

    Raises:
        ChainError: "block H: reason" for the first block that fails (an edited or
            corrupt log: the node must not serve it).
    """
    if not path.exists():
        return 0
    log = BlockLog(open_file_database(path))  # raises on a gap
    try:
        parent = bytes(32)
        for height, stored_digest, record in log.rows():
            if record.height != height or record.digest != stored_digest:
                raise ChainError(f"block {height}: stored digest or height differs from its record")
            if height > log.height - signed_max:
                verify_record(record, parent=parent, committee=committee, verifier=verifier)
            else:
                _chained_header(record, parent)
            parent = record.digest
        return log.height
    finally:
        log.close()


def certified_round(frame: bytes, committee: Committee, verifier: Verifier, *,
                    above: int = 0) -> int:
    """The highest round above ``above`` of a certificate in a consensus frame whose votes
    carry the quorum stake (verified), or 0: what a validator without its double-sign
    guard learns of how far the network got (see ``Validator``). A header of round r
    exists only once r - 1 is certified, so nothing it signed before losing the guard is
    above the network's certified round + 1. Never raises on a bad frame (0)."""
    try:
        _, payload = codec.decode_message(frame)
    except codec.DecodeError:
        return 0
    certs = payload.certificates if isinstance(payload, CertResponse) else (
        (payload,) if isinstance(payload, Certificate) else ())
    best = 0
    for cert in certs:
        if cert.round <= max(above, best):
            continue
        voters = [v for v, _ in cert.votes]
        if len(set(voters)) != len(voters) or not all(committee.is_member(v) for v in voters):
            continue
        good = [v for v, sig in cert.votes
                if verifier.verify(committee.validators[v].public_key, DOMAIN_VOTE + cert.digest, sig)]
        if committee.stake_of(good) >= committee.quorum_stake:
            best = cert.round
    return best


class _FocusStore(SqliteStore):
    """The state store with the focus tables beside its own, written in its transactions.

    One connection for both (a second one would make SQLite drop this one's page cache
    after every block, since another connection wrote): the block's state statements
    (``plan_commit``) and the focus rows run as one transaction.
    """

    def create_focus_tables(self) -> None:
        """Create the focus tables if this file lacks them (a fresh or older state)."""
        self.db.commit(_script(_FOCUS_SCHEMA))

    def commit_with(self, result: BlockResult,
                    extra: list[Statement]) -> None:
        """``commit_block`` plus ``extra`` statements in the same transaction.

        Raises:
            StoreError: the block does not extend the committed head (a local bug).
        """
        self.check_extends(result)
        plan = self.plan_commit(result)
        self._execute(CommitPlan(plan.statements + extra, plan.checkpoint))
        self.note_committed(result, plan)

    def rows(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        """Rows of a read-only query."""
        return self.db.rows(sql, args)


class Ledger:
    """The state the chain executes into, and the π each block commits.

    The state core runs on its SQLite store (``state.sqlite``); the focus tables live in the
    same file and every block's focus rows are written in the *same transaction* as its
    state (the store's :meth:`~SqliteStore.plan_commit` statements plus ours, see
    ``_FocusStore``): after SIGKILL the state and the π that restart needs are always at
    one height.

    With π committed, block h + 1 also writes π of block h into the state (``/graph/pi``
    slices through the state core's focus input, only the shards that changed: see
    ``node.focus.StateSlices``), so the state root of h + 1 binds the π that header h
    commits and a light client can verify a particle's focus (:func:`focus_answer`,
    :func:`verify_focus_answer`).

    ``commit_pi=False`` keeps the old behaviour (headers carry ``PI_ROOT_UNCOMMITTED``, no
    π in the state): a benchmark switch; every validator of a chain must use the same
    setting. ``pi_in_state=False`` commits π in headers but keeps it out of the state
    (the behaviour before π went into the state): a benchmark switch too, not in config.

    ``focus_backend`` (node-local, not a chain rule): where the exact π is solved —
    ``cpu``, ``webgpu``, ``cuda`` or ``auto``; every backend commits the same root, and a
    device that fails falls back to the CPU with a log line (``node.focus``). ``log``: a
    structlog-style logger for that line (the validator's ``ctx.log``).

    The genesis supply fixes the chain's **stake unit** (``node.focus.stake_unit_for``:
    tokens per unit of stake in the exact π, so that Σ stake stays within the exact
    definition's bound forever); it is written with block 0 (``focus_rule``) and read
    back on every reopen, so a restarted validator never depends on being handed the
    genesis again.

    Every executed block also gets its DA square and data root (``last_square``,
    ``last_data_root``: see the module docstring); :meth:`da_root_of` samples the square
    before the consensus core signs the header. ``rng`` (the Runtime's random, so the
    simulator replays it) draws the sampled cells; without it the draw is seeded by the
    data root. ``da_samples``: cells per block (the DA sampler's default: >= 99% detection
    of an unrecoverable withholding, ``actors.da.sampling``).

    Raises:
        ChainError: focus tables that do not fit the state; a state without economics; a
            genesis whose economics cannot be funded (an H supply past u64).
    """

    def __init__(self, db: Database, *, chain_id: str, commit_pi: bool = True,
                 pi_in_state: bool = True, clock_ns: Callable[[], int] | None = None,
                 genesis_balances: Mapping[bytes, int] | None = None,
                 focus_backend: str = "cpu", log: Any = None,
                 rng: random.Random | None = None,
                 da_samples: int = DA_SAMPLES) -> None:
        store = _FocusStore.on(db, chain_id=chain_id)
        assert isinstance(store, _FocusStore)
        store.create_focus_tables()
        self.store = store
        self.commit_pi = commit_pi
        self.pi_in_state = commit_pi and pi_in_state
        self.clock_ns = clock_ns
        self.deferred: OrderedDict[int, DeferredCommit] = OrderedDict()
        self.reader = _OverlayReader(self.store, self.deferred)
        self.core = StateCore(chain_id=chain_id, reader=self.reader,
                              tree=self.store.load_tree(), height=self.store.height)
        self.last_econ: EconRecord | None = None  # what the last block's economics did
        self.last_links = 0
        self.last_focus: FocusBlock | None = None
        self.focus_ms: list[float] = []  # per block that moved π (others cost ~nothing)
        #: Since the start (the recent ``focus_ms`` are bounded), for /metrics.
        self.focus_count = 0
        self.focus_ms_total = 0.0
        self.slices_ms: list[float] = []  # per block that wrote π slices into the state
        self.slices_written = 0  # slices written into the state since this ledger opened
        self.slice_bytes_written = 0
        self.focus_backend = focus_backend
        self._log = log
        self.rng = rng
        self.sampler = DaSamplerCore(SamplerConfig(samples=da_samples, pending_heights_max=1,
                                                   verdicts_kept_max=64))
        self.last_square: CommittedBlock | None = None
        self.last_data_root = b""
        self._last_txs = b""  # txs_digest of the last executed block
        self.da_blocks_sampled = 0
        self.da_samples_verified = 0
        self.da_oversize = 0  # blocks too large for one square (not sampled)
        if self.core.height < 0:
            self.stake_unit = stake_unit_for(sum(int(v) for v in
                                                 (genesis_balances or {}).values()))
            self.focus = FocusState(backend=focus_backend, log=log, stake_unit=self.stake_unit)
            self.slices = self._new_slices()
            try:
                self.econ, token = ChainEconomics.genesis(dict(genesis_balances or {}),
                                                          self.reader.get, self.reader.scan)
            except EconError as exc:  # e.g. balances whose H supply exceeds u64
                raise ChainError(f"genesis economics: {type(exc).__name__}: {exc}") from exc
            self.gains: list[tuple[str, int]] = []
            self._commit(self.core.genesis(balances=dict(genesis_balances or {}), token=token),
                         None)
        else:
            self.econ, self.gains = self._restore_economics()
            rule = self.store.rows("SELECT stake_unit FROM focus_rule WHERE id = 0")
            self.stake_unit = int(rule[0][0]) if rule else 1  # a file from before the rule
            self.focus = (self._restore_focus() if commit_pi
                          else FocusState(backend=focus_backend, log=log,
                                          stake_unit=self.stake_unit))
            self.slices = self._restore_slices() if self.pi_in_state else self._new_slices()

    def _restore_economics(self) -> tuple[ChainEconomics, list[tuple[str, int]]]:
        """The economics core from the state's ``/token/econ/`` keys, and the focus gains
        of the state's block (paid with the next one) from ``econ_gains``.

        Raises:
            ChainError: no economics in this state, or it does not decode (a state written
                before economics joined the executor, or damage).
        """
        try:
            econ = ChainEconomics.restore(self.reader.get, self.reader.scan)
        except EconStateError as exc:
            raise ChainError(f"economics: {exc}") from exc
        row = self.store.rows("SELECT height, gains FROM econ_gains WHERE id = 0")
        if not row or int(row[0][0]) != self.core.height or econ.core.height != self.core.height:
            raise ChainError(f"economics at height {econ.core.height}, focus gains at "
                             f"{row[0][0] if row else None}, not at the state height "
                             f"{self.core.height}")
        return econ, _decode_gains(bytes(row[0][1]))

    def _new_slices(self) -> StateSlices:
        return StateSlices(shard_of=self.core.focus_shard, shards=self.core.focus_shards)

    def _restore_slices(self) -> StateSlices:
        """What the state holds of π (block h − 1's), read back from its own slices.

        Raises:
            ChainError: the slices do not fit the particle numbering (damage, or a state
                written without π in it).
        """
        stored = {s: raw for s in range(self.core.focus_shards)
                  if (raw := self.store.get(KEYS.pi_key(s))) is not None}
        try:
            return StateSlices.restore(shard_of=self.core.focus_shard,
                                       shards=self.core.focus_shards,
                                       particles=self.focus.particles, cids=self.focus.cids,
                                       stored=stored)
        except ValueError as exc:
            raise ChainError(f"the state's π slices do not fit the focus tables: {exc}") from exc

    def _restore_focus(self) -> FocusState:
        """The committed graph and π at the state's height, from this file alone.

        Raises:
            ChainError: the focus head is not at the state's height (a file written by a
                node that did not commit π, or damage).
        """
        head = self.store.rows("SELECT height, q FROM focus_head WHERE id = 0")
        row = head[0] if head else None
        if row is None or int(row[0]) != self.core.height:
            raise ChainError(f"focus head {None if row is None else row[0]} is not at the state "
                             f"height {self.core.height}: this state was not written with π")
        cids = [bytes(c) for (c,) in self.store.rows("SELECT cid FROM focus_particle ORDER BY id")]
        links = [(bytes(n), bytes(a), bytes(b)) for a, b, n in
                 self.store.rows("SELECT src, dst, neuron FROM link_index")]
        balances = {n: self.core.balance(n) for n in {link[0] for link in links}}
        try:
            return FocusState.restore(height=self.core.height, cids=cids, links=links,
                                      balances=balances, q=np.frombuffer(bytes(row[1]), "<u8"),
                                      backend=self.focus_backend, log=self._log,
                                      stake_unit=self.stake_unit)
        except ValueError as exc:
            raise ChainError(f"the focus tables do not fit the state: {exc}") from exc

    def _commit(self, result: BlockResult, focus: FocusBlock | None) -> None:
        """State and focus rows of one block in one transaction, then the core."""
        self.store.commit_with(result, _focus_statements(result.height, focus, self.focus)
                               + _receipt_statements(result) + self._gains_statements(result))
        self.core.block_committed(result)

    def execute(self, txs: Sequence[bytes], *, defer: bool = False,
                verified: Container[bytes] = frozenset()) -> tuple[bytes, bytes]:
        """Apply the next block's ordered transactions durably; return (state root, π root).

        ``last_links`` is then the number of links the accepted transactions added and
        ``last_focus`` what the π commitment did. ``defer``: everything but the SQLite
        transaction runs now (roots, π, the core's memory); the transaction is left in
        ``deferred`` for :meth:`flush` (a worker thread) and :meth:`flushed`, in height
        order. Without ``defer`` nothing may be deferred still (a bug otherwise).
        ``verified``: hashes of txs whose signature this node already checked (at mempool
        admission); the hash covers the exact signed bytes, so only the others are
        verified here.
        """
        assert defer or not self.deferred, "a synchronous block behind deferred ones"
        assert len(self.deferred) < DEFERRED_BLOCKS_MAX, "deferred blocks are not flushed"
        items = decode_block(txs)  # once: the core reuses it (issue 18)
        decodable = [t for t in items if isinstance(t, Tx)]
        decoded = {t.tx_hash: t for t in decodable}
        unknown = [t for t in decodable if t.tx_hash not in verified]
        verdicts = iter(verify_signatures(unknown))
        signatures_ok = [True if t.tx_hash in verified else next(verdicts) for t in decodable]
        slices = []
        if self.pi_in_state:  # block h's π (the focus head) goes into the state of h + 1
            t0 = self.clock_ns() if self.clock_ns is not None else 0
            slices = self.slices.plan(self.focus.cids, self.focus.q)
            if self.clock_ns is not None and slices:
                self.slices_ms.append((self.clock_ns() - t0) / 1e6)
                del self.slices_ms[: max(0, len(self.slices_ms) - FOCUS_SAMPLES_MAX)]
        height = self.core.height + 1

        def economics(receipts: Sequence[Receipt], get: Callable[[bytes], bytes | None]
                      ) -> dict[bytes, bytes | None]:
            writes, self.last_econ = self.econ.block(height, get, _gas(receipts, decoded),
                                                     self.gains)
            return writes

        result = self.core.prepare_block(height, txs, focus=slices, signatures_ok=signatures_ok,
                                         decoded=items, token=economics)
        focus = None
        self.gains = []
        if self.commit_pi:
            t0 = self.clock_ns() if self.clock_ns is not None else 0
            q_before = self.focus.q
            focus = self.focus.apply(result.height, result.deltas, _balances(result))
            added = result.deltas.sign > 0
            self.gains = focus_gains(result.deltas.neuron[added], self.focus.last_dst[added],
                                     q_before, self.focus.q)
            if self.clock_ns is not None and focus.iterations > 0:  # a solve ran
                self.focus_ms.append((self.clock_ns() - t0) / 1e6)
                self.focus_count += 1
                self.focus_ms_total += self.focus_ms[-1]
                del self.focus_ms[: max(0, len(self.focus_ms) - FOCUS_SAMPLES_MAX)]
        pi_root = focus.root if focus is not None else PI_ROOT_UNCOMMITTED
        if defer:
            self.store.check_extends(result)
            plan = self.store.plan_commit(result)
            statements = (plan.statements + _focus_statements(result.height, focus, self.focus)
                          + _receipt_statements(result) + self._gains_statements(result))
            self.store.note_committed(result, plan)  # the plan is fixed: the head moves now
            self.deferred[result.height] = DeferredCommit(result.height, result.root, pi_root,
                                                          dict(result.writes), statements)
            self.core.block_committed(result)
        else:
            self._commit(result, focus)
        if self.pi_in_state:
            self.slices.committed()
            self.slices_written += self.slices.last_slices
            self.slice_bytes_written += self.slices.last_bytes
        self.last_focus = focus
        self.last_links = sum(decoded[r.tx_hash].n_links for r in result.receipts
                              if r.ok and r.tx_hash in decoded)
        self.last_square = block_square(txs)
        self.last_data_root = block_data_root(txs)  # the memo's square: built once
        self._last_txs = txs_digest(txs)
        return result.root, pi_root

    def _gains_statements(self, result: BlockResult) -> list[Statement]:
        """The focus gains block ``result`` leaves for the next one's economics (in the
        block's transaction: a restarted node pays them as the running one would)."""
        return [("INSERT OR REPLACE INTO econ_gains VALUES (0, ?, ?)",
                 [(result.height, _encode_gains(self.gains))])]

    def da_root_of(self, txs: Sequence[bytes]) -> bytes:
        """The consensus core's data-root hook (``BlockCore.da_root_of``): called right
        after :meth:`execute` with the same txs and before the header is signed, it
        samples the block's square and returns its data root.

        Sampling is the DA sampler's sans-IO core answered from our own square: random
        cells, each share's NMT proof to its row root and the row root's proof to the data
        root checked. What that catches here is a square or proof that does not hold
        together (a local bug); sampling a *peer's* square needs a sample request on the
        wire (docs/architecture.md, "Known seams still open").

        Raises:
            LocalBug: other txs than the last executed block's, or a sample of our own
                square that does not verify.
        """
        if txs_digest(txs) != self._last_txs:
            raise LocalBug(f"da_root_of: the txs are not those of block {self.core.height}")
        square = self.last_square
        if square is None:
            self.da_oversize += 1
            return self.last_data_root
        height = self.core.height
        seed = self.rng.randbytes(32) if self.rng is not None else square.data_root
        effects = self.sampler.on_header(height, square.data_root, square.width, seed, 0)
        for effect in effects:  # answers (and any retry they cause) are appended: all served
            if isinstance(effect, RequestSample):
                effects += self.sampler.on_sample(height, effect.row, effect.col,
                                                  square.eds.sample(effect.row, effect.col), 0)
        verdict = self.sampler.verdict(height)
        if verdict is None or not verdict.available:
            raise LocalBug(f"block {height}: sampling our own square failed: "
                           f"{verdict.reason if verdict is not None else 'no verdict'}")
        if any(isinstance(e, Verdict) for e in effects):  # sampled now, not before
            self.da_blocks_sampled += 1
            self.da_samples_verified += verdict.samples_verified
        return square.data_root

    @property
    def durable_height(self) -> int:
        """The height SQLite holds (the core's height less the deferred blocks)."""
        return self.core.height - len(self.deferred)

    def _flush(self, pending: DeferredCommit) -> None:
        """Run a deferred block's transaction (durable when it returns).

        A worker thread calls this, one block at a time and oldest first; it reads only
        the (immutable) ``DeferredCommit``, never the ``deferred`` map the loop mutates.
        """
        self.store.db.commit(pending.statements)

    def flush_job(self, height: int) -> Callable[[], None]:
        """The blocking call that makes deferred block ``height`` durable (for a worker)."""
        pending = self.deferred[height]
        return lambda: self._flush(pending)

    def flushed(self, height: int) -> None:
        """Deferred block ``height`` is durable: drop it from the overlay (the loop)."""
        assert self.deferred and next(iter(self.deferred)) == height, "flushed out of order"
        del self.deferred[height]

    def flush_all(self) -> None:
        """Make every deferred block durable now, on this thread (shutdown)."""
        for height in list(self.deferred):
            self.flush_job(height)()
            self.flushed(height)

    def root_at(self, height: int) -> bytes | None:
        """The committed state root at ``height`` (None if not executed yet)."""
        if height in self.deferred:
            return self.deferred[height].root
        return self.store.block_roots().get(height)

    def pi_root_at(self, height: int) -> bytes | None:
        """The π root committed with ``height`` (None if not executed yet)."""
        if height in self.deferred:
            return self.deferred[height].pi_root
        rows = self.store.rows("SELECT pi_root FROM focus_block WHERE height = ?", (height,))
        return bytes(rows[0][0]) if rows else None

    def pi_roots(self, start: int, end: int) -> list[tuple[int, str]]:
        """(height, π root hex) for ``start..end`` (agreement checks)."""
        rows = self.store.rows("SELECT height, pi_root FROM focus_block WHERE height BETWEEN ? "
                               "AND ? ORDER BY height", (start, end))
        return [(int(h), bytes(r).hex()) for h, r in rows]

    def state_roots(self, start: int, end: int) -> list[tuple[int, str]]:
        """(height, state root hex) for ``start..end`` (agreement checks: with π in the
        state, equal state roots mean equal π slices too)."""
        rows = self.store.rows("SELECT height, root FROM block WHERE height BETWEEN ? AND ? "
                               "ORDER BY height", (start, end))
        return [(int(h), bytes(r).hex()) for h, r in rows]

    def tx_outcome(self, tx_hash: bytes) -> tuple[int, str] | None:
        """(height, reason) of the block that executed the tx (reason "" = applied; else
        the state core's rejection, e.g. ``nonce_gap: ...``), or None: not executed (or
        executed in a block whose transaction a worker thread still writes)."""
        rows = self.store.rows("SELECT height, reason FROM tx_receipt WHERE tx_hash = ?",
                               (tx_hash,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def top_particles(self, count: int) -> list[tuple[str, float, int]]:
        """(CID text, committed π, inbound links) of the ``count`` particles of highest π.

        The π committed with the last executed block (stake-weighted, the kernels'
        solve): no computation here.
        """
        top = self.focus.top(min(count, TOP_PARTICLES_MAX))
        return [(cid_to_text(cid), float(dequantize(np.array([q], np.uint64))[0]), inbound)
                for cid, q, inbound in top]

    def discard_deferred(self) -> None:
        """Forget the deferred blocks (executed, never finalized): the store on disk holds
        the finalized prefix. The in-memory core, focus and slices moved with them, so
        this ledger is then only fit to :meth:`close`; open a new one on the database."""
        self.deferred.clear()

    def close(self) -> None:
        """Close the store (deferred blocks must have been flushed or discarded)."""
        assert not self.deferred, "closing with deferred blocks"
        self.store.close()


def _balances(result: BlockResult) -> dict[bytes, int]:
    """Every ``/token`` balance the block wrote (a deleted key reads as 0)."""
    out = {}
    for key, value in result.writes.items():
        if key.startswith(KEYS.BALANCE):
            out[key[len(KEYS.BALANCE):]] = KEYS.read_u64(value)
    return out


def _gas(receipts: Sequence[Receipt], decoded: Mapping[bytes, Tx]) -> list[tuple[str, int]]:
    """Per-payer fees of the block's applied txs (what the tx pass debited), as columns."""
    paid = [decoded[r.tx_hash] for r in receipts if r.ok and r.tx_hash in decoded]
    if not paid:
        return []
    payers = np.frombuffer(b"".join(t.neuron for t in paid), np.uint8).reshape(len(paid), -1)
    return gas_of(payers, np.fromiter((t.fee for t in paid), np.uint64, len(paid)))


_GAIN_ROW = np.dtype([("address", "V20"), ("gain", "<u8")])


def _encode_gains(gains: Sequence[tuple[str, int]]) -> bytes:
    """Focus gains as rows of (address 20 bytes, u64 LE gain)."""
    rows = np.zeros(len(gains), _GAIN_ROW)
    for i, (account, gain) in enumerate(gains):
        rows[i] = (bytes.fromhex(account.removeprefix("neuron:")), gain)
    return rows.tobytes()


def _decode_gains(raw: bytes) -> list[tuple[str, int]]:
    """:func:`_encode_gains` back.

    Raises:
        ChainError: not whole rows (damage).
    """
    if len(raw) % _GAIN_ROW.itemsize:
        raise ChainError(f"econ_gains holds {len(raw)} bytes, not whole rows")
    rows = np.frombuffer(raw, _GAIN_ROW)
    return [(neuron_account(bytes(a)), int(g)) for a, g in zip(rows["address"], rows["gain"],
                                                               strict=True)]


def _receipt_statements(result: BlockResult) -> list[Statement]:
    """Each tx's outcome in the block (``/v1/tx``): its first execution wins (a replay of
    the same bytes in a later block is refused by nonce and keeps the first row)."""
    rows: list[tuple[object, ...]] = [
        (r.tx_hash, result.height,
         "" if r.ok else f"{r.reason.value if r.reason else 'rejected'}: {r.detail}"[:200])
        for r in result.receipts]
    return [("INSERT OR IGNORE INTO tx_receipt VALUES (?, ?, ?)", rows)] if rows else []


def _focus_statements(height: int, focus: FocusBlock | None,
                      state: FocusState) -> list[Statement]:
    """The focus rows of one block: new particle ids, the block's π root, the head's π."""
    if focus is None and height > 0:  # π not committed (benchmark switch): the head stays
        return [("INSERT INTO focus_block VALUES (?, ?, 0, 0, 0, 0.0)",
                 [(height, PI_ROOT_UNCOMMITTED)])]
    if focus is None:  # genesis: the empty graph's commitment and the chain's stake unit
        return [("INSERT INTO focus_block VALUES (?, ?, 0, 0, 0, 0.0)", [(height, EMPTY_ROOT)]),
                ("INSERT OR REPLACE INTO focus_rule VALUES (0, ?)", [(state.stake_unit,)]),
                ("INSERT OR REPLACE INTO focus_head VALUES (0, ?, ?)",
                 [(height, state.q.astype("<u8").tobytes())])]
    assert focus.height == height and len(focus.q) == focus.particles
    first = focus.particles - len(focus.new_cids)
    return [
        ("INSERT INTO focus_particle VALUES (?, ?)",
         [(first + i, cid) for i, cid in enumerate(focus.new_cids)]),
        ("INSERT INTO focus_block VALUES (?, ?, ?, ?, ?, ?)",
         [(height, focus.root, focus.particles, focus.links, focus.iterations, focus.residual)]),
        ("INSERT OR REPLACE INTO focus_head VALUES (0, ?, ?)",
         [(height, np.ascontiguousarray(focus.q, "<u8").tobytes())]),
    ]


def state_answer(ledger: Ledger, blocks: BlockLog, keypath: bytes,
                 finalizing: BlockRecord | None = None) -> dict[str, Any]:
    """Value and inclusion/absence proof of ``keypath`` against the state root of the
    finalized block at the state's height, with that block and its signatures (what a
    light client checks with :func:`verify_state_answer`).

    ``finalizing``: a block finalized but whose log row is still being written (the
    caller holds the answer back until it is durable). ``{"retry": true, ...}`` while the
    state is one block ahead of finality (executed at commit, not yet finalized): the
    client asks again.
    """
    height = ledger.core.height
    rec = blocks.record(height)
    if rec is None and finalizing is not None and finalizing.height == height:
        rec = finalizing
    if rec is None:
        return {"retry": True, "state_height": height, "finalized_height": blocks.height}
    assert ledger.root_at(height) == ledger.core.root
    value, proof = ledger.core.prove(keypath)
    return {"height": height, "value": None if value is None else value.hex(),
            "proof": proof.to_bytes().hex(),
            "block": {"height": rec.height, "header": rec.header.hex(),
                      "digest": rec.digest.hex(), "txs": [t.hex() for t in rec.txs],
                      "signers": list(rec.signers),
                      "signatures": [x.hex() for x in rec.signatures]}}


def focus_answer(ledger: Ledger, blocks: BlockLog, cid: bytes,
                 finalizing: BlockRecord | None = None) -> dict[str, Any]:
    """A particle's committed π with the proof of its ``/graph/pi`` slice (the whole
    shard) against a quorum-signed state root: :func:`state_answer` plus what the node
    claims (``q``, ``focus``, ``pi_height``), which the client re-derives from the proven
    slice and refuses when it differs.

    The state root of block s binds π committed by header s − 1 (π goes into the state one
    block late), so ``pi_height`` is the answer's height − 1.

    Raises:
        ValueError: ``cid`` is not a binary CID (the asker's fault).
    """
    if len(cid) != CID_LEN:
        raise ValueError(f"a CID is {CID_LEN} bytes, got {len(cid)}")
    shard = focus_shard_of(cid, ledger.core.focus_shards)
    answer = state_answer(ledger, blocks, KEYS.pi_key(shard), finalizing)
    if answer.get("retry"):
        return answer
    q = None if answer["value"] is None else KEYS.focus_in_slice(bytes.fromhex(answer["value"]), cid)
    answer.update(cid=cid_to_text(cid), shard=shard, pi_height=answer["height"] - 1, q=q,
                  focus=None if q is None else _focus_of(q))
    return answer


def _focus_of(q: int) -> float:
    return float(dequantize(np.array([q], np.uint64))[0])


def _verify_state(answer: dict[str, Any], committee: Committee, verifier: Verifier,
                  keypath: bytes) -> tuple[BlockHeader, bytes | None]:
    """(the verified header, the proven value) of a ``proof`` answer.

    Raises:
        ChainError: the block or the proof does not verify (the serving node's fault).
    """
    try:
        rec = answer["block"]
        record = BlockRecord(int(rec["height"]), bytes.fromhex(rec["header"]),
                             bytes.fromhex(rec["digest"]),
                             tuple(bytes.fromhex(t) for t in rec["txs"]),
                             tuple(int(i) for i in rec["signers"]),
                             tuple(bytes.fromhex(x) for x in rec["signatures"]))
        value = None if answer["value"] is None else bytes.fromhex(answer["value"])
        proof_bytes = bytes.fromhex(answer["proof"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainError(f"malformed answer: {type(exc).__name__}: {exc}") from exc
    header = verify_record(record, parent=None, committee=committee, verifier=verifier)
    try:
        proof = Proof.from_bytes(proof_bytes)
    except ValueError as exc:
        raise ChainError(f"malformed proof: {exc}") from exc
    if not verify_proof(header.state_root, keypath, value, proof):
        raise ChainError("the proof does not lead from the signed state root to the key")
    return header, value


def verify_state_answer(answer: dict[str, Any], committee: Committee, verifier: Verifier,
                        keypath: bytes) -> bytes | None:
    """A light client's check of a ``proof`` query: the value (None: proven absent).

    The answer carries the finalized block at the proof's height (with its signatures);
    the block must carry the quorum stake of the committee's signatures, and the proof
    must lead from the block's ``state_root`` to ``keypath``.

    Raises:
        ChainError: the block or the proof does not verify (the serving node's fault).
    """
    return _verify_state(answer, committee, verifier, keypath)[1]


@dataclass(frozen=True, slots=True)
class VerifiedFocus:
    """A particle's committed π as a light client proved it."""

    cid: bytes
    q: int | None  # fixed point (2^-60); None: proven to have no committed π yet
    focus: float | None
    pi_height: int  # the block whose header committed this π
    state_height: int  # the quorum-signed block whose state root binds it


def verify_focus_answer(answer: dict[str, Any], committee: Committee, verifier: Verifier,
                        cid: bytes) -> VerifiedFocus:
    """A light client's check of a ``focus`` query (see :func:`focus_answer`).

    The key is derived here from ``cid`` (never taken from the node), the slice proven
    against the quorum-signed state root, the particle's value read from the proven slice;
    the node's own claims (``q``, ``pi_height``, ``cid``) must match what was proven.

    Raises:
        ChainError: the block, the proof or the slice does not verify, or the node's
            claimed value differs from the proven one (the serving node's fault).
    """
    assert len(cid) == CID_LEN
    header, raw = _verify_state(answer, committee, verifier, KEYS.pi_key(focus_shard_of(cid)))
    q = None
    if raw is not None:
        try:
            KEYS.decode_focus_slice(raw)
        except ValueError as exc:
            raise ChainError(f"the proven π slice is malformed: {exc}") from exc
        q = KEYS.focus_in_slice(raw, cid)
    claimed = (answer.get("cid"), answer.get("q"), answer.get("pi_height"))
    if claimed != (cid_to_text(cid), q, header.height - 1):
        raise ChainError(f"the node claims (cid, q, π height) {claimed} but the proof gives "
                         f"{(cid_to_text(cid), q, header.height - 1)}")
    return VerifiedFocus(cid, q, None if q is None else _focus_of(q), header.height - 1,
                         header.height)
