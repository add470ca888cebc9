"""The state actor: a thin shell that feeds ordered blocks to :class:`StateCore`.

It owns one core and one store. Per ``ApplyBlock`` it verifies signatures, lets the core
prepare the block, makes the block durable, folds it into memory, replies
``BlockApplied`` (root, per-tx status, link deltas as flat arrays) and tells the same
message to every subscriber (the rank workers). Queries answer from committed state only.

Storage is the Runtime's database ``ctx.database(database)`` (default ``"state"``): a
WAL file in the node's data directory live, an image on the node's simulated disk in the
simulator, the same code in both (``docs/runtime.md``, *Storage*). A block is committed
(durable) before it is acknowledged, so a crash restarts the node at the last
acknowledged block. Signature batches, block preparation and the commit run through
``ctx.run_blocking`` (worker threads live, so the event loop never stalls — PyNaCl
releases the GIL; inline and deterministic in the simulator).
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
from focusflow.actors.state.store import SqliteStore, tree_checkpoint_blocks_default
from focusflow.actors.state.tx import Reject, Tx, schema, verify_signatures
from focusflow.supervisor import Actor, ActorRef, DatabaseError, MailboxFull
from focusflow.wire import array_field, message

DATABASE_DEFAULT = "state"
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
        database: str = DATABASE_DEFAULT,
        genesis_balances: dict[bytes, int] | None = None,
        fee_min: int = 0,
        focus_shards: int = 16,
        verify_chunks: int = 4,
        sync_latency_ms: float = 0.0,
        tree_checkpoint_blocks: int = tree_checkpoint_blocks_default,
    ) -> None:
        assert 1 <= verify_chunks <= verify_chunks_max and sync_latency_ms >= 0
        self.chain_id = chain_id
        self.database = database
        self.genesis_balances = dict(genesis_balances or {})
        self.fee_min = fee_min
        self.focus_shards = focus_shards
        self.verify_chunks = verify_chunks
        # Time between preparing a block and committing it: the window in which a crash
        # loses the block (never acknowledged); chaos widens it to test exactly that.
        self.sync_latency_ms = sync_latency_ms
        assert tree_checkpoint_blocks >= 1
        self.tree_checkpoint_blocks = tree_checkpoint_blocks
        self.subscribers: list[ActorRef] = []
        self.store: SqliteStore | None = None
        self.core: StateCore | None = None

    # ----------------------------------------------------------------- lifecycle

    async def on_start(self) -> None:
        db = self.ctx.database(self.database)
        self.store = store = SqliteStore.on(db, chain_id=self.chain_id)
        store.tree_checkpoint_blocks = self.tree_checkpoint_blocks
        self.core = StateCore(
            chain_id=self.chain_id, reader=store, tree=store.load_tree(), height=store.height,
            fee_min=self.fee_min, focus_shards=self.focus_shards,
        )  # fmt: skip
        if self.core.height < 0:
            await self._persist(self.core.genesis(balances=self.genesis_balances))
        self.ctx.log.info("state_started", height=self.core.height, root=self.core.root.hex())

    async def on_stop(self) -> None:
        if self.store is not None:
            store = self.store  # clean stop: write pending tree nodes, no replay on restart
            try:
                await self.ctx.run_blocking(store.checkpoint)
            except (DatabaseError, OSError) as exc:  # a failed disk: restart replays instead
                self.ctx.log.warning("state_checkpoint_failed", error=str(exc))
            store.close()

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
        result = await self._prepare(msg, focus)
        await self._persist(result)
        reply = block_applied(result)
        for sub in self.subscribers:
            try:
                self.ctx.tell_nowait(sub, reply)
            except MailboxFull:
                self.ctx.log.warning("subscriber_full", subscriber=str(sub), height=result.height)
        return reply

    async def _prepare(self, msg: ApplyBlock, focus: list[FocusSlice]) -> BlockResult:
        """Signatures in ``verify_chunks`` parallel jobs, then the block in another (worker
        threads live; inline in the simulator: the same result, deterministically)."""
        core = self.core
        assert core is not None
        decoded = decode_block(list(msg.txs))  # once: verification and the core share it
        txs = [t for t in decoded if isinstance(t, Tx)]
        step = max(1, -(-len(txs) // self.verify_chunks))
        jobs = [self.ctx.run_blocking(verify_signatures, txs[i : i + step])
                for i in range(0, len(txs), step)]  # all started before the first await
        sig_ok = [ok for job in jobs for ok in await job]
        return await self.ctx.run_blocking(
            lambda: core.prepare_block(msg.height, list(msg.txs), signatures_ok=sig_ok,
                                       decoded=decoded, focus=focus))

    async def _persist(self, result: BlockResult) -> None:
        """Durable first (the database commit returned), then memory."""
        core, store = self.core, self.store
        assert core is not None and store is not None
        store.check_extends(result)
        if self.sync_latency_ms:
            await self.ctx.sleep(self.sync_latency_ms)
        await self.ctx.run_blocking(store.commit_block, result)
        core.block_committed(result)
