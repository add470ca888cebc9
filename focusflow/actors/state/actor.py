"""The state actor: a thin shell that feeds ordered blocks to :class:`StateCore`.

It owns one core and one store. Per ``ApplyBlock`` it verifies signatures, lets the core
prepare the block, makes the block durable, folds it into memory, replies
``BlockApplied`` (root, per-tx status, link deltas as flat arrays) and tells the same
message to every subscriber (the rank workers). Queries answer from committed state only.

Two storage modes, chosen by ``db_path``:

* ``db_path=None`` — the database is an in-memory SQLite whose image is written to the
  runtime's storage hook (``ctx.storage``) and synced before the block is acknowledged.
  This is the simulator mode (deterministic; a simulated crash drops an unsynced image,
  so the node restarts at the last acknowledged block) and also works live for small
  states. Signatures are verified inline.
* ``db_path=<file>`` — live only: the SQLite file, written through aiosqlite inside
  ``ctx.run_io`` (same rows as the sync store, see :meth:`.store.SqliteStore.plan_commit`), with
  signature batches and block preparation run in worker threads so the event loop never
  stalls (PyNaCl releases the GIL).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from focusflow.actors.state.core import (
    BlockResult,
    FocusSlice,
    LinkDeltas,
    StateCore,
    decode_block,
)
from focusflow.actors.state.ids import ADDRESS_LEN, CID_LEN
from focusflow.actors.state.smt import EMPTY
from focusflow.actors.state.store import CommitPlan, SqliteStore, tree_checkpoint_blocks_default
from focusflow.actors.state.tx import Reject, Tx, schema, verify_signatures
from focusflow.supervisor import Actor, ActorRef, MailboxFull
from focusflow.wire import array_field, message

STORAGE_KEY = "state/sqlite"
subscribers_max = 64
verify_chunks_max = 8
REJECT_CODE = {reason: i + 1 for i, reason in enumerate(Reject)}
REJECT_BY_CODE = {code: reason for reason, code in REJECT_CODE.items()}


@message(schema.FocusSliceUpdate)
class FocusSliceUpdate:
    shard: int
    cids: np.ndarray = array_field("|u1")
    values: np.ndarray = array_field("<u8")


@message(schema.ApplyBlock)
class ApplyBlock:
    height: int
    txs: tuple[bytes, ...]
    focus: tuple[FocusSliceUpdate, ...] = ()


@message(schema.BlockApplied)
class BlockApplied:
    height: int
    root: bytes
    status: np.ndarray = array_field("|u1")
    delta_neuron: np.ndarray = array_field("|u1")
    delta_src: np.ndarray = array_field("|u1")
    delta_dst: np.ndarray = array_field("|u1")
    delta_sign: np.ndarray = array_field("|i1")
    replayed: bool = False

    def deltas(self) -> LinkDeltas:
        """The link deltas as (n, width) arrays."""
        return LinkDeltas(
            neuron=np.asarray(self.delta_neuron, np.uint8).reshape(-1, ADDRESS_LEN),
            src=np.asarray(self.delta_src, np.uint8).reshape(-1, CID_LEN),
            dst=np.asarray(self.delta_dst, np.uint8).reshape(-1, CID_LEN),
            sign=np.asarray(self.delta_sign, np.int8),
        )

    def reasons(self) -> list[Reject | None]:
        """Per tx: None when applied, else the rejection reason."""
        return [None if c == 0 else REJECT_BY_CODE[int(c)] for c in self.status]


@message(schema.Subscribe)
class Subscribe:
    node: str
    path: str


@message(schema.GetHead)
class GetHead:
    pass


@message(schema.Head)
class Head:
    height: int
    root: bytes


@message(schema.GetAccount)
class GetAccount:
    address: bytes


@message(schema.Account)
class Account:
    address: bytes
    balance: int
    nonce: int
    link_count: int


@message(schema.GetLinks)
class GetLinks:
    cid: bytes
    outgoing: bool = True


@message(schema.Links)
class Links:
    neuron: np.ndarray = array_field("|u1")
    src: np.ndarray = array_field("|u1")
    dst: np.ndarray = array_field("|u1")


@message(schema.GetFocus)
class GetFocus:
    cid: bytes


@message(schema.Focus)
class Focus:
    cid: bytes
    found: bool
    value: int


@message(schema.GetProof)
class GetProof:
    keypath: bytes


@message(schema.ProofReply)
class ProofReply:
    height: int
    root: bytes
    found: bool
    value: bytes
    proof: bytes


def block_applied(result: BlockResult) -> BlockApplied:
    """The reply/notification for a committed block (flat arrays, no per-link structs)."""
    status = np.array(
        [0 if r.ok or r.reason is None else REJECT_CODE[r.reason] for r in result.receipts],
        dtype=np.uint8,
    )
    d = result.deltas
    return BlockApplied(
        height=result.height, root=result.root, status=status,
        delta_neuron=d.neuron.reshape(-1), delta_src=d.src.reshape(-1),
        delta_dst=d.dst.reshape(-1), delta_sign=d.sign,
    )  # fmt: skip


class StateActor(Actor):
    """Applies ordered blocks and answers state queries. See the module docstring."""

    def __init__(
        self,
        *,
        chain_id: str,
        db_path: str | None = None,
        genesis_balances: dict[bytes, int] | None = None,
        fee_min: int = 0,
        focus_shards: int = 16,
        verify_chunks: int = 4,
        sync_latency_ms: float = 0.0,
        tree_checkpoint_blocks: int = tree_checkpoint_blocks_default,
    ) -> None:
        assert 1 <= verify_chunks <= verify_chunks_max and sync_latency_ms >= 0
        self.chain_id = chain_id
        self.db_path = db_path
        self.genesis_balances = dict(genesis_balances or {})
        self.fee_min = fee_min
        self.focus_shards = focus_shards
        self.verify_chunks = verify_chunks
        # Storage mode only: (virtual) time between writing the image and its sync, the
        # window in which a simulated crash drops the unsynced block.
        self.sync_latency_ms = sync_latency_ms
        assert tree_checkpoint_blocks >= 1
        self.tree_checkpoint_blocks = tree_checkpoint_blocks
        self.subscribers: list[ActorRef] = []
        self.store: SqliteStore | None = None
        self.core: StateCore | None = None
        self._adb: Any = None

    # ----------------------------------------------------------------- lifecycle

    async def on_start(self) -> None:
        if self.db_path is None:
            image = await self.ctx.storage.read(STORAGE_KEY)
            self.store = SqliteStore.open_image(image, chain_id=self.chain_id)
        else:
            self.store = await self.ctx.run_io(lambda: _open_file(self.db_path, self.chain_id))
        store = self.store
        assert store is not None
        store.tree_checkpoint_blocks = self.tree_checkpoint_blocks
        self.core = StateCore(
            chain_id=self.chain_id, reader=store, tree=store.load_tree(), height=store.height,
            fee_min=self.fee_min, focus_shards=self.focus_shards,
        )  # fmt: skip
        if self.core.height < 0:
            await self._persist(self.core.genesis(balances=self.genesis_balances))
        self.ctx.log.info("state_started", height=self.core.height, root=self.core.root.hex())

    async def on_stop(self) -> None:
        if self.db_path is not None and self.store is not None:
            store = self.store  # clean stop: write pending tree nodes, no replay on restart
            await self.ctx.run_io(lambda: _in_thread(store.checkpoint))
        if self._adb is not None:
            adb, self._adb = self._adb, None
            await self.ctx.run_io(adb.close)
        if self.store is not None:
            self.store.close()

    # ----------------------------------------------------------------- messages

    async def receive(self, msg: Any) -> Any:
        core, store = self.core, self.store
        assert core is not None and store is not None
        if isinstance(msg, ApplyBlock):
            return await self._apply(msg)
        if isinstance(msg, Subscribe):
            if len(self.subscribers) >= subscribers_max:
                raise ValueError(f"subscribers_max {subscribers_max} reached")
            self.subscribers.append(self.ctx.ref_for(msg.node, msg.path))
            return Head(core.height, core.root)
        if isinstance(msg, GetHead):
            return Head(core.height, core.root)
        if isinstance(msg, GetAccount):
            a = msg.address
            return Account(a, core.balance(a), core.next_nonce(a), core.link_count(a))
        if isinstance(msg, GetLinks):
            rows = store.links_of(msg.cid, outgoing=msg.outgoing)
            return Links(
                neuron=np.frombuffer(b"".join(n for n, _, _ in rows), np.uint8),
                src=np.frombuffer(b"".join(s for _, s, _ in rows), np.uint8),
                dst=np.frombuffer(b"".join(d for _, _, d in rows), np.uint8),
            )
        if isinstance(msg, GetFocus):
            focus = core.focus(msg.cid)
            return Focus(msg.cid, focus is not None, focus or 0)
        if isinstance(msg, GetProof):
            found, proof = core.prove(msg.keypath)
            return ProofReply(
                core.height, core.root, found is not None, found or b"", proof.to_bytes()
            )
        raise TypeError(f"state actor does not handle {type(msg).__name__}")

    async def _apply(self, msg: ApplyBlock) -> BlockApplied | Head:
        core, store = self.core, self.store
        assert core is not None and store is not None
        if msg.height > core.height + 1:  # a gap: the sender's fault; say where we are
            self.ctx.log.warning("block_gap", got=msg.height, head=core.height)
            return Head(core.height, core.root)
        if msg.height <= core.height:  # re-delivery after a restart: already durable
            root = store.block_roots().get(msg.height, EMPTY)
            return BlockApplied(height=msg.height, root=root, status=np.zeros(0, np.uint8),
                                delta_neuron=np.zeros(0, np.uint8), delta_src=np.zeros(0, np.uint8),
                                delta_dst=np.zeros(0, np.uint8), delta_sign=np.zeros(0, np.int8),
                                replayed=True)  # fmt: skip
        focus = []
        for f in msg.focus:  # from the wire: a malformed slice is dropped, not fatal
            cids = np.asarray(f.cids, np.uint8)
            values = np.asarray(f.values, np.uint64)
            if 0 <= f.shard < core.focus_shards and cids.size == CID_LEN * values.size:
                focus.append(FocusSlice(f.shard, cids.reshape(-1, CID_LEN), values))
            else:
                self.ctx.log.warning("focus_slice_malformed", shard=f.shard, height=msg.height)
        if self.db_path is None:
            result = core.prepare_block(msg.height, list(msg.txs), focus=focus)
        else:
            result = await self.ctx.run_io(lambda: self._prepare_off_loop(msg, focus))
        await self._persist(result)
        reply = block_applied(result)
        for sub in self.subscribers:
            try:
                self.ctx.tell_nowait(sub, reply)
            except MailboxFull:
                self.ctx.log.warning("subscriber_full", subscriber=str(sub), height=result.height)
        return reply

    async def _prepare_off_loop(self, msg: ApplyBlock, focus: list[FocusSlice]) -> BlockResult:
        """Live only (runs inside run_io, outside the actor scheduler, where threads are
        allowed): signatures in parallel worker threads, then prepare in another."""
        import anyio

        core = self.core
        assert core is not None
        txs = [t for t in decode_block(list(msg.txs)) if isinstance(t, Tx)]
        step = max(1, -(-len(txs) // self.verify_chunks))
        chunks = [txs[i : i + step] for i in range(0, len(txs), step)]
        results: list[list[bool]] = [[] for _ in chunks]

        async def verify(i: int) -> None:
            results[i] = await anyio.to_thread.run_sync(verify_signatures, chunks[i])

        async with anyio.create_task_group() as tg:
            for i in range(len(chunks)):
                tg.start_soon(verify, i)
        sig_ok = [ok for part in results for ok in part]
        return await anyio.to_thread.run_sync(
            lambda: core.prepare_block(msg.height, list(msg.txs), signatures_ok=sig_ok, focus=focus)
        )

    async def _persist(self, result: BlockResult) -> None:
        """Durable first (storage synced / SQLite committed), then memory."""
        core, store = self.core, self.store
        assert core is not None and store is not None
        if self.db_path is None:
            store.commit_block(result)
            await self.ctx.storage.write(STORAGE_KEY, store.image())
            if self.sync_latency_ms:
                await self.ctx.sleep(self.sync_latency_ms)
            await self.ctx.storage.sync()
        else:
            store.check_extends(result)
            await self.ctx.run_io(lambda: self._commit_file(result))
        core.block_committed(result)

    async def _commit_file(self, result: BlockResult) -> None:
        """Live only (inside run_io). On asyncio through aiosqlite; aiosqlite is asyncio-only,
        so on trio the same statements run on the store's connection in a worker thread."""
        import anyio
        import sniffio

        store = self.store
        assert store is not None
        if sniffio.current_async_library() == "asyncio":
            if self._adb is None:
                self._adb = await _open_aiosqlite(self.db_path)
            plan = store.plan_commit(result)
            await _commit_aiosqlite(self._adb, plan)
            store.note_committed(result, plan)
        else:
            await anyio.to_thread.run_sync(store.commit_block, result)


async def _in_thread(fn: Any) -> Any:
    import anyio

    return await anyio.to_thread.run_sync(fn)


async def _open_file(path: str | None, chain_id: str) -> SqliteStore:
    import anyio

    assert path is not None
    return await anyio.to_thread.run_sync(lambda: SqliteStore.open(path, chain_id=chain_id))


async def _open_aiosqlite(path: str | None) -> Any:
    import aiosqlite

    assert path is not None
    adb = await aiosqlite.connect(path, isolation_level=None)
    await adb.execute("PRAGMA journal_mode=WAL")
    await adb.execute("PRAGMA synchronous=FULL")
    return adb


async def _commit_aiosqlite(adb: Any, plan: CommitPlan) -> None:
    """One transaction with exactly the rows the sync store would write."""
    await adb.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in plan.statements:
            await adb.executemany(sql, rows)
        await adb.execute("COMMIT")
    except BaseException:
        await adb.execute("ROLLBACK")
        raise
