"""The node-local validator actor: a thin shell around the consensus core.

This node drives the consensus core (``focusflow.actors.consensus.node.ValidatorCore``)
itself rather than through ``focusflow.actors.consensus.actor`` (which landed later),
because it needs a hook before any signed effect leaves (the double-sign guard); each
``Finalize`` brings the block's notarising signatures, stored with it in the log (the log
refuses a record below the quorum stake): consensus bytes from peer validator actors
(``ConsensusFrame``, sender = the node the transport authenticated), client transactions
(``SubmitTxs``), and the core's timers go in; the core's effects come out as tells to
the peers' validator actors, durable blocks (``chain.BlockLog``) and state
(``chain.Ledger``). Protocol logic stays in the core. All storage is the Runtime's: the
databases ``ctx.database("blocks")`` and ``ctx.database("state")`` and the guard in
``ctx.storage`` (files in the node's data directory live, the node's simulated disk in the
simulator, which can crash them).

Two modes:

* **consensus** — a validator of the genesis committee: it runs the core (proposes,
  votes, signs).
* **follower** — full nodes, and a validator that restarted (or fell too far behind) until
  it caught up. The core keeps its DAG and vote record in memory only; what survives a
  crash is ``last_signed_state.json`` (a key of ``ctx.storage``): the highest round the
  core signed a header or vote for (``dag.watermark()``) and the highest block height it
  signed, written and synced (fsync) before any effect of a step leaves. A restarted validator follows the chain by block
  sync (fetches finalized blocks from peers, verifies each against the committee's
  quorum signatures and the parent chain, re-executes it and checks the state root);
  once it reached a peer's tip and the height it signed last, it starts a core resumed on
  that chain (``ValidatorCore.resume_chain``) that never proposes or votes at or below
  the watermark, and signs again. Without a guard file at all (``focusflow init`` writes
  a zero one; ``rm -rf data`` removes it) what it signed is unknown: it follows even on an
  empty chain and rejoins only with a watermark above the highest quorum-certified round
  it saw in its peers' frames (``chain.certified_round``).

What a kill -9 leaves on disk, in the order it is written (issue 16 finding 1):

* our share of a block, with the block (header, txs), in the log database's ``pending``
  table (``BlockLog.save_pending``), then the guard, both synced before the share leaves;
* once the block is final: its log row (which drops its pending row), then its state
  transaction. Executed state waits in the ledger's overlay until then, so the state on
  disk is never ahead of the log: a crash between the two leaves it one block behind and
  the next start executes that block from the log (``_execute_logged``); a block we
  executed that never finalized never reaches the disk, so the chain may finalize another
  block at its height and we follow it (we only signed the first: the guard).

A validator restarted with its guard at a height its log lacks (it signed block h + 1,
nobody logged it final) follows, and offers its pending share again to every peer on each
sync tick (``_offer_pending``, the same signed bytes): a peer still collecting shares for
h + 1 counts it and finalizes the block, which we then fetch by block sync and rejoin.
After a restart of *every* validator the followers collect each other's offered shares
(``node/catchup.py``) and the resumed cores restart the DAG (docs/consensus.md). When
only some had signed h + 1 (more than a third of the stake), the others adopt the offered
block (``OfferedBlock``: the share with the block): they execute it, sign it (durably, as
their own) and offer it in turn, so the quorum forms without any consensus core.

Every block commits π (``pi_root`` in the header): ``Ledger.execute`` runs the state core
and ``node.focus.FocusState`` (the kernels' store, solver and commitment) and writes both
in one SQLite transaction; π of block h is a pure function of the durable state, so a
restarted validator and a block-synced follower compute the same root (see node.focus).
Block h + 1 also writes π of block h into the state (``/graph/pi`` slices), so the state
root binds it and the ``focus`` query serves a particle's π with a proof (``node.chain``).

Blocking work and the event loop (issue 8 follow-up, ``offload_io``, off by default —
it trades finality for shorter stalls, see docs/operations.md): when on, in
consensus mode the SQLite transactions with fsync — each finalized block's log row and
then its state and focus rows, one job per block — run in a worker thread
(``ctx.run_blocking``), one job at a time in queue order (``_io``; what is queued when the
thread is idle goes as one batch); the actor does not await them and keeps handling consensus frames, client txs and
queries meanwhile. It takes completions job by job at its next message, or when the
``IoDone`` message the finished thread call sends arrives. Ordering and durability:

* the core's ``execute`` callback stays synchronous: roots and π are computed on the loop
  (``Ledger.execute(defer=True)``, in both settings), so every header carries the roots
  of its own block (bit-identical across validators, whatever the thread timing). Until
  the block's transaction ran, its writes sit in an overlay in front of the store, so the
  next block reads the same values;
* a block's log row is written before its state transaction (above), so on disk the
  state is never ahead of the log;
* a block counts as final for clients (finalized height, finality samples, block sync,
  queries of blocks) only once its log row is committed;
* the double-sign guard and the pending shares are still written with fsync on the loop
  before any effect of the step leaves (moving them would hold every outgoing frame for
  that fsync).

What stays on the loop: the state core's ``prepare_block`` (SMT update), the π solve and
slice planning (a follower's block sync executes there too, its writes go to the thread
like a validator's) and the double-sign guard. ``offload_io = false`` (the default)
keeps every commit on the loop.
"""

from __future__ import annotations

import json
import threading  # runtime-ok: flags shared with the job ctx.run_blocking runs (the thread is the Runtime's)
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from focusflow.actors.bft.reputation import ReputationConfig
from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import DOMAIN_TX, CachingVerifier, Signer, digest
from focusflow.actors.consensus.node import NodeConfig, ValidatorCore
from focusflow.actors.consensus.types import (
    BlockHeader,
    BlockSig,
    Broadcast,
    ClientTx,
    Commit,
    Committee,
    Finalize,
    Misbehaviour,
    ModeChange,
    Reject,
    Send,
    SetTimer,
    SettleRewards,
)
from focusflow.actors.consensus.types import Validator as CommitteeMember
from focusflow.actors.state.core import decode_block
from focusflow.actors.state.ids import cid_to_text
from focusflow.actors.state.tx import Reject as TxReject
from focusflow.actors.state.tx import (
    Tx,
    TxKind,
    TxRejected,
    decode_tx,
    tx_hash_of,
    verify_signatures,
)
from focusflow.limits import SUBMIT_TXS_MAX
from focusflow.node.catchup import OFFERED_SHARES_MAX, Adopt, CatchUp, Final
from focusflow.node.chain import (
    BLOCKS_PER_SYNC_MAX,
    BlockLog,
    ChainError,
    Ledger,
    certified_round,
    focus_answer,
    state_answer,
    verify_record,
)
from focusflow.node.explain import ProgressWatch, StallRule, consensus_answer
from focusflow.node.messages import (
    BlockRecord,
    Blocks,
    BlocksFrom,
    ConsensusFrame,
    CoreTick,
    IoDone,
    OfferedBlock,
    Query,
    QueryReply,
    SubmitReply,
    SubmitTxs,
    SyncTick,
)
from focusflow.node.query import QueryArgs, QueryError, parse_query
from focusflow.supervisor import Actor, Future, MailboxFull, Storage
from focusflow.wire import WireError

VALIDATOR_PATH = "/user/node/validator"
FINALITY_SAMPLES_MAX = 65_536
SUBMITTED_TRACKED_MAX = 262_144
RESUBMIT_AFTER_MS = 4_000
RESUBMIT_ATTEMPTS_MAX = 4
RESUBMIT_BATCH_MAX = 2_048
BEHIND_BLOCKS_MAX = 32  # a validator this far behind a peer's tip ...
BEHIND_MS_MAX = 10_000  # ... for this long stops signing and follows by block sync
TIP_PROBE_EVERY_TICKS = 6
FINALITY_STUCK_MS = 1_000  # our lowest unfinalized block this old: fetch its shares by block sync
FINISH_BLOCKS_MAX = 8  # blocks asked for at once to finish ours
OFFER_BLOCK_EVERY_TICKS = 4  # a following validator sends its pending block itself this often
REJOIN_BLOCKS_MAX = 1024  # blocks read back to seed a rejoining core's dedup window
IO_SAMPLES_MAX = 4096
IO_DRAIN_WAIT_S = 30.0
IO_QUEUED_MAX = 32  # jobs; beyond it (a burst of commits) the queue is drained on the loop
SIG_VERIFIED_MAX = 65_536  # tx hashes whose signature admission checked (execution skips them)
LAST_SIGNED_KEY = "last_signed_state.json"
LAST_SIGNED_BYTES_MAX = 4096


@dataclass(frozen=True, slots=True)
class CommitteeEntry:
    """A genesis validator: the node that runs it, its signing key and stake."""

    node: str
    public_key: bytes
    stake: int


@dataclass(frozen=True, slots=True)
class ValidatorSettings:
    """What the validator actor needs from the node config (see ``node.config``)."""

    node_name: str
    role: str
    chain_id: str
    committee: tuple[CommitteeEntry, ...]
    validator_seed: bytes | None = None
    consensus: NodeConfig = field(default_factory=NodeConfig)
    sync_interval_ms: int = 300
    commit_pi: bool = True  # a chain rule: every validator of the chain must agree
    #: node-local: where the exact π is solved (cpu, webgpu, cuda, auto); same root on all
    focus_backend: str = "cpu"
    offload_io: bool = False  # node-local: SQLite commits in a worker thread (see module doc)
    last_signed_key: str = LAST_SIGNED_KEY  # the double-sign guard's key in ctx.storage
    stall: StallRule = field(default_factory=StallRule)  # node-local: when /ready says stalled
    #: Block 0's ``/token`` balances (address, amount): a chain rule, like the committee.
    genesis_balances: tuple[tuple[bytes, int], ...] = ()


def decode_last_signed(raw: bytes | None) -> dict[str, int]:
    """The double-sign guard: the highest round and height this validator signed.

    Raises:
        ValueError: the stored guard is unreadable (refuse to start rather than risk
            signing twice: an operator must look).
    """
    if raw is None:
        return {"round": 0, "height": 0}
    if len(raw) > LAST_SIGNED_BYTES_MAX:
        raise ValueError(f"double-sign guard larger than {LAST_SIGNED_BYTES_MAX} bytes")
    data = json.loads(raw)
    return {"round": int(data.get("round", 0)), "height": int(data.get("height", 0))}


def write_last_signed(storage: Storage, key: str, round_: int, height: int) -> None:
    """Durably record what we are about to sign: written and synced before this returns.

    Raises:
        OSError: the storage could not make it durable (the caller must not let the
            signed effects leave: the actor crashes instead).
    """
    data = json.dumps({"round": round_, "height": height}).encode()
    written = storage.write(key, data)
    synced = storage.sync()
    # The Runtime's storage completes at once (a file write and fsync live, the
    # simulated disk in the simulator); a failure is in the future and raised here.
    assert written.done() and synced.done(), "the guard's write must be durable now"
    written.result()
    synced.result()


class _IoJob:
    """A blocking job for the worker thread, its continuation on the actor, and who ran it.

    ``claim``: taken by whoever runs the job (its thread, or a draining actor when the
    thread has not started yet), so that it runs exactly once; ``done`` is set after a
    successful run (``error`` holds what a failed one raised).
    """

    __slots__ = ("claim", "done", "error", "handed", "job", "then")

    def __init__(self, job: Callable[[], None], then: Callable[[], None]) -> None:
        self.job = job
        self.then = then
        self.handed = False  # given to a thread call (it may run any moment)
        self.claim = threading.Lock()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run_in_thread(self) -> None:
        """The worker thread's entry; a no-op when a drain already ran the job."""
        if not self.claim.acquire(blocking=False):
            return
        try:
            self.job()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.done.set()


class Validator(Actor):
    """Drives a ``ValidatorCore`` (consensus mode) or follows by block sync (follower)."""

    def __init__(self, settings: ValidatorSettings) -> None:
        self.s = settings
        self.committee = Committee(tuple(CommitteeMember(i, e.public_key, e.stake)
                                         for i, e in enumerate(settings.committee)))
        self.index_of = {e.node: i for i, e in enumerate(settings.committee)}
        self.peers = [e.node for e in settings.committee if e.node != settings.node_name]
        self.verifier = CachingVerifier()
        self.core: ValidatorCore | None = None
        self.mode = "starting"
        self.blocks: BlockLog | None = None
        self.ledger: Ledger | None = None
        self.pending_links: dict[int, int] = {}
        # tx digest -> [first submit ns, last submit ns, payload, focus, attempts]
        self.submitted: OrderedDict[bytes, list[Any]] = OrderedDict()
        self.finality_ms: list[float] = []  # recent ones, for the percentiles
        #: Since the start, for the /metrics summary's _count and _sum.
        self.finality_count = 0
        self.finality_ms_total = 0.0
        self.counters = dict.fromkeys(("submitted", "admitted", "rejected", "forwarded",
                                       "misbehaviours", "commits", "synced_blocks", "resubmitted",
                                       "sync_refused", "mode_changes", "rejoins", "io_drains",
                                       "shed", "unsendable"), 0)
        self.last_signed = {"round": 0, "height": 0}
        self.peer_tips: dict[str, int] = {}
        self._sync_turn = 0
        self._tick_seq = 0
        self.why = ""
        self.behind_since_ns: int | None = None
        self._sync_ticks = 0
        self.signer: Signer | None = None
        # Blocking jobs for the worker thread, oldest first: (job, continuation on the actor).
        self._io: deque[_IoJob] = deque()
        self._io_future: Future[Any] | None = None
        self._io_started_ns = 0
        self.io_ms: list[float] = []  # per batch: handed to the thread to IoDone handled
        self.io_thread_ms: list[float] = []  # per batch: inside the thread (SQL + fsync)
        self._io_thread_ns: list[int] = []  # appended by the thread (list.append is atomic)
        self.io_queue_max = 0
        self._finalizing: dict[int, BlockRecord] = {}  # finalized, log row being written
        self._tip_queued: BlockRecord | None = None  # the newest block queued for the log
        self._held: dict[int, list[tuple[Any, str]]] = {}  # height -> (reply handle, JSON)
        self.accepted_ids: OrderedDict[bytes, None] = OrderedDict()  # tx ids (/v1/tx pending)
        self.shed_ids: OrderedDict[bytes, str] = OrderedDict()  # accepted, then shed: id -> why
        self.guard_lost = False  # no double-sign guard file: signed history unknown
        self.network_round = 0  # highest certified round seen from peers while guard_lost
        self.progress = ProgressWatch()  # height first seen, peers last heard (node.explain)
        # Txs whose signature _admit verified, oldest first: executing their block does not
        # verify them again (the hash covers the exact signed bytes).
        self.sig_verified: OrderedDict[bytes, None] = OrderedDict()
        # Our signed, unfinalized blocks read back at start (offered again while we follow,
        # finished or adopted with peers' shares: node/catchup.py) and the highest height
        # whose share we made durable since the core started.
        self.catchup = CatchUp(self.committee, self.verifier)
        self._finality_watch = (0, 0)  # (core's finalized height, since when: ns)
        self._follow_tip = 2**63  # the tip the last block sync reply reported (none yet)
        self.pending_saved = 0

    # ---------------------------------------------------------------- lifecycle
    async def on_start(self) -> None:
        self.blocks = BlockLog(self.ctx.database("blocks"), committee=self.committee)
        self.ledger = self._open_ledger()
        self._execute_logged()
        self.catchup.reset()
        self.catchup.pending = self.blocks.pending()
        guard = await self.ctx.storage.read(self.s.last_signed_key)
        self.last_signed = decode_last_signed(guard)
        me = self.index_of.get(self.s.node_name)
        fresh = (self.last_signed == {"round": 0, "height": 0} and self.blocks.height == 0
                 and self.ledger.core.height == 0)
        self.why = ""
        self.signer = None
        if self.committee.size < 2:
            self.why = "the consensus core needs at least 2 validators in the genesis"
        elif self.s.role == "validator" and me is not None and self.s.validator_seed:
            self.signer = Signer(self.s.validator_seed)
            assert self.signer.public_key == self.committee.validators[me].public_key, \
                "validator key does not match the genesis entry of this node"
        # No guard file (``focusflow init`` writes one): what we signed is unknown (data
        # wiped). Follow, and sign only above the network's certified round (issue 16).
        self.guard_lost = self.signer is not None and guard is None
        if self.signer is not None and fresh and not self.guard_lost:
            self._start_core(resume=False)
        else:
            self.mode = "follower"
            if self.guard_lost:
                self.why = ("double-sign guard missing (data wiped?): following by block sync; "
                            "signs again only above the network's certified round")
            elif self.signer is not None:
                self.why = (f"restarted: catching up by block sync, then signing above round "
                            f"{self.last_signed['round']}")
        self.ctx.log.info("validator_started", mode=self.mode, why=self.why, height=self.blocks.height,
                          state_height=self.ledger.core.height, last_signed=self.last_signed)
        self.ctx.start_timer("sync", self.s.sync_interval_ms, SyncTick(), repeat=True)

    def _open_ledger(self) -> Ledger:
        return Ledger(self.ctx.database("state"), chain_id=self.s.chain_id,
                      commit_pi=self.s.commit_pi, clock_ns=self.ctx.now_ns,
                      genesis_balances=dict(self.s.genesis_balances),
                      focus_backend=self.s.focus_backend, log=self.ctx.log, rng=self.ctx.random)

    def _execute_logged(self) -> None:
        """Execute the logged blocks the state lacks (killed between a block's log row and
        its state transaction: the state on disk is never ahead of the log, at most
        behind it, see ``_finalized``).

        Raises:
            ChainError: our execution disagrees with a block of our own log.
        """
        blocks, ledger = self.blocks, self.ledger
        assert blocks is not None and ledger is not None
        for h in range(ledger.core.height + 1, blocks.height + 1):
            record = blocks.record(h)
            assert record is not None
            header = codec.decode_block_header(record.header)
            self._replay(h, record.txs, header.state_root, header.pi_root)
            ledger.flush_job(h)()
            ledger.flushed(h)
            self.ctx.log.info("logged_block_executed", height=h)

    def _forget_unfinalized(self) -> None:
        """Leaving consensus: drop the blocks we executed that are not final (the chain may
        finalize others at those heights), and reopen the finalized state."""
        ledger = self.ledger
        assert ledger is not None
        self._drain_io()
        self.pending_links.clear()
        if ledger.deferred:
            ledger.discard_deferred()
            ledger.close()
            self.ledger = self._open_ledger()

    def _start_core(self, *, resume: bool) -> None:
        """Run the consensus core; ``resume``: on the chain we hold, above our watermark.

        Why resume is safe: ``last_signed_state.json`` holds the highest round we signed a
        header or vote for and the highest block height we signed, written (fsync) before
        any of it left the node; the resumed core neither proposes nor votes at or below
        that round, and we only resume at a block height at or above the signed one, so a
        restart never signs two different things for one round or height.
        """
        blocks, ledger, signer = self.blocks, self.ledger, self.signer
        assert blocks is not None and ledger is not None and signer is not None
        me = self.index_of[self.s.node_name]
        core = ValidatorCore(committee=self.committee, me=me, signer=signer, verifier=self.verifier,
                             admit_batch=self._admit, execute=self._execute, rng=self.ctx.random,
                             config=self.s.consensus, genesis_state_root=ledger.root_at(0) or bytes(32),
                             da_root_of=ledger.da_root_of)
        if resume:
            assert blocks.height >= self.last_signed["height"] and ledger.core.height == blocks.height
            anchor_round, recent, headers = self._recent_chain(core.config.dag.gc_depth_rounds,
                                                               core.config.bft.reputation)
            core.resume_chain(watermark=self.last_signed["round"], height=blocks.height,
                              parent=blocks.tip_digest, state_root=ledger.core.root,
                              anchor_round=anchor_round, recent_txs=recent,
                              recent_headers=headers)
            self.counters["rejoins"] += 1
            self.ctx.log.info("validator_rejoined", height=blocks.height, anchor_round=anchor_round,
                              watermark=self.last_signed)
        self.core = core
        self.catchup.reset()  # offered while following; the core re-sends its own shares now
        self.pending_saved = blocks.height
        self.mode = "consensus"
        self.why = ""
        self._handle(core.tick(self.ctx.now_ns()))

    def _recent_chain(self, gc_depth_rounds: int, reputation: ReputationConfig,
                      ) -> tuple[int, list[bytes], list[BlockHeader]]:
        """What a resumed core needs of our log, each record read and decoded once: the
        anchor round of our tip block; the txs of the blocks whose anchors lie within two
        GC depths of it, oldest first (its dedup window); the headers of the last
        ``window_anchors + 2·every_anchors`` blocks, oldest first (the leader schedule the
        others follow: ``LeaderSchedule.resume``)."""
        blocks = self.blocks
        assert blocks is not None
        headers_wanted = reputation.window_anchors + 2 * reputation.every_anchors
        chunks: list[tuple[bytes, ...]] = []
        headers: list[BlockHeader] = []
        anchor_round: int | None = None
        txs_done = False
        for h in range(blocks.height, max(0, blocks.height - REJOIN_BLOCKS_MAX), -1):
            if txs_done and len(headers) >= headers_wanted:
                break
            rec = blocks.record(h)
            assert rec is not None
            header = codec.decode_block_header(rec.header)
            if anchor_round is None:
                anchor_round = header.anchor_round
            if len(headers) < headers_wanted:
                headers.append(header)
            txs_done = txs_done or header.anchor_round <= anchor_round - 2 * gc_depth_rounds
            if not txs_done:
                chunks.append(rec.txs)
        return (anchor_round or 0, [tx for chunk in reversed(chunks) for tx in chunk],
                headers[::-1])

    def _maybe_rejoin(self, tip: int) -> None:
        """A validator following by block sync resumes signing once it reached the tip a
        peer reported, the height it signed last, and executed every block it holds."""
        blocks, ledger = self.blocks, self.ledger
        assert blocks is not None and ledger is not None
        if (self.signer is None or self.core is not None or self._io or tip > blocks.height
                or blocks.height < self.last_signed["height"] or ledger.core.height != blocks.height):
            return
        if self.guard_lost:
            if not self.network_round:
                return  # no certificate seen yet: we cannot bound what we signed before
            self.last_signed = {"round": max(self.last_signed["round"], self.network_round + 1),
                                "height": max(self.last_signed["height"], blocks.height)}
            write_last_signed(self.ctx.storage, self.s.last_signed_key, self.last_signed["round"],
                              self.last_signed["height"])
            self.guard_lost = False
        self._start_core(resume=True)

    async def on_stop(self) -> None:
        self._drain_io()
        if self.blocks is not None:
            self.blocks.close()
        if self.ledger is not None:
            self.ledger.discard_deferred()  # executed, not final: the next start re-derives them
            self.ledger.close()

    # ---------------------------------------------------------------- messages
    async def receive(self, msg: Any) -> Any:
        sender = self.ctx.sender
        self.progress.observe(self.blocks.height if self.blocks is not None else 0,
                              None if sender is None else sender.node, self.s.node_name,
                              self.ctx.now_ns())
        if self._io and self._io[0].done.is_set():
            # Jobs the thread finished: take their completions now, one by one even while
            # its batch goes on, rather than when its IoDone reaches the head of a mailbox
            # full of consensus frames (finality latency).
            self._take_done()
            if self._io_future is not None and self._io_future.done():
                self._io_finished()
        if isinstance(msg, ConsensusFrame):
            sender = self.ctx.sender
            index = None if sender is None else self.index_of.get(sender.node)
            if self.core is not None and index is not None:
                self._handle(self.core.receive(msg.data, index, self.ctx.now_ns()))
            elif self.guard_lost and index is not None:  # how far the network got (verified)
                self.network_round = max(self.network_round, certified_round(
                    msg.data, self.committee, self.verifier, above=self.network_round))
            elif index is not None and self.catchup.pending and not self._io:
                self._caught_up(self.catchup.on_share(index, msg.data, self._chain_tip()[0]))
            return None
        if isinstance(msg, OfferedBlock):
            self._on_offer(msg.record)
            return None
        if isinstance(msg, IoDone):
            self._io_finished()
            return None
        if isinstance(msg, CoreTick):
            if self.core is not None:
                self._handle(self.core.tick(self.ctx.now_ns()))
            return None
        if isinstance(msg, SubmitTxs):
            return self._submit(msg)
        if isinstance(msg, SyncTick):
            self._sync()
            return None
        if isinstance(msg, BlocksFrom):
            return self._serve_blocks(msg)
        if isinstance(msg, Blocks):
            self._apply_synced(msg)
            return None
        if isinstance(msg, Query):
            return self._answer(msg)
        return None

    def _answer(self, msg: Query) -> QueryReply | None:
        """A ``Query`` from anywhere: a bad one gets an error reply (with the HTTP status
        that names whose fault it is), never an exception in this actor."""
        try:
            answer = self.query(parse_query(msg.kind, msg.arg))
        except QueryError as exc:  # the asker's fault
            return QueryReply(json.dumps({"error": str(exc), "status": exc.status}))
        except Exception as exc:  # a bug of ours on some input: report it, stay up
            self.ctx.log.error("query_failed", kind=msg.kind[:64], arg=msg.arg[:64], error=repr(exc))
            return QueryReply(json.dumps({"error": f"query failed: {type(exc).__name__}",
                                          "status": 500}))
        held = self._hold_until_durable(answer)
        return None if held else QueryReply(json.dumps(answer))

    # ---------------------------------------------------------------- consensus glue
    def _admit(self, payloads: Any) -> list[bool | str]:
        """Batch admission for the mempool: decodable within the limits, our chain, valid
        signature. A refusal carries the state core's reason (``Reject`` value + detail)."""
        verdicts: list[bool | str] = [False] * len(payloads)
        txs: list[Tx] = []
        where: list[int] = []
        for i, raw in enumerate(payloads):
            try:
                tx = decode_tx(bytes(raw))
            except TxRejected as exc:
                verdicts[i] = str(exc)
                continue
            if tx.chain_id != self.s.chain_id:
                verdicts[i] = f"{TxReject.WRONG_CHAIN.value}: chain id {tx.chain_id[:64]!r}"
                continue
            txs.append(tx)
            where.append(i)
        for i, tx, good in zip(where, txs, verify_signatures(txs), strict=True):
            verdicts[i] = True if good else f"{TxReject.BAD_SIGNATURE.value}: does not verify"
            if good:
                self.sig_verified[tx.tx_hash] = None
        while len(self.sig_verified) > SIG_VERIFIED_MAX:
            self.sig_verified.popitem(last=False)
        return verdicts

    def _execute(self, parent_root: bytes, txs: Any) -> tuple[bytes, bytes]:
        """The core's state transition: apply the committed block, commit its π.

        Runs on the event loop (the core calls it synchronously); ``status()["pi"]``
        reports what the π part costs per block. The block's SQLite transaction waits in
        the ledger's overlay until the block is final (``_finalized``): a block that never
        finalizes (we crashed, or the chain finalized another at its height after a
        restart) never reaches the disk, so a restart resumes on the finalized state.
        """
        ledger = self.ledger
        assert ledger is not None
        assert parent_root == ledger.core.root, "execution out of order"
        roots = ledger.execute(list(txs), defer=True, verified=self.sig_verified)
        self.pending_links[ledger.core.height] = ledger.last_links
        return roots

    # ---------------------------------------------------------------- worker thread
    def _queue_io(self, job: Callable[[], None], then: Callable[[], None]) -> None:
        """Run ``job`` (blocking) in a worker thread after the jobs queued before it, then
        ``then()`` on the actor. Jobs never overlap: their order is the disk's."""
        self._io.append(_IoJob(job, then))
        self.io_queue_max = max(self.io_queue_max, len(self._io))
        if len(self._io) > IO_QUEUED_MAX:  # backpressure: pay the old price for this burst
            self.counters["io_drains"] += 1
            self._drain_io()
            return
        self._io_next()

    def _io_next(self) -> None:
        """Hand every queued job not yet handed out to one thread call, in order (one
        thread hop and one ``IoDone`` per batch, not per job)."""
        if self._io_future is not None or not self._io:
            return
        batch = [job for job in self._io if not job.done.is_set()]
        if not batch:
            return
        for job in batch:
            job.handed = True
        self._io_started_ns = self.ctx.now_ns()

        clock = self.ctx.now_ns
        spent = self._io_thread_ns

        def run_batch() -> None:
            t0 = clock()
            for job in batch:
                job.run_in_thread()
            spent.append(clock() - t0)

        fut = self.ctx.run_blocking(run_batch)
        self._io_future = fut
        fut.add_done_callback(self._io_completed)

    def _io_completed(self, fut: Future[Any]) -> None:
        """Future callback (scheduler thread): only tell ourselves; never run actor code.

        A full mailbox must not lose the wake-up (the queue would stall): retry by timer.
        """
        try:
            self.ctx.self_ref.tell_nowait(IoDone(0))
        except MailboxFull:
            self.ctx.start_timer("io", 5, IoDone(0))

    def _io_finished(self) -> None:
        """The thread returned: the continuations of the jobs it finished, in order, then
        the next batch. A job that raised (disk full, I/O error) crashes the actor:
        nothing after it may be reported durable."""
        fut = self._io_future
        if fut is None or not fut.done():
            return  # a stale or duplicate wake-up (after a drain, a timer retry)
        self._io_future = None
        self._take_done()
        fut.result()
        self.io_ms.append((self.ctx.now_ns() - self._io_started_ns) / 1e6)
        if self._io_thread_ns:
            self.io_thread_ms.append(self._io_thread_ns.pop() / 1e6)
            self._io_thread_ns.clear()
        for samples in (self.io_ms, self.io_thread_ms):
            if len(samples) > IO_SAMPLES_MAX:
                del samples[: len(samples) - IO_SAMPLES_MAX]
        self._take_done()
        self._io_next()

    def _take_done(self) -> None:
        """Continuations of the finished jobs at the head of the queue, in order. A failed
        job stays at the head (so a drain on the way down stops there too) and raises."""
        while self._io and self._io[0].done.is_set():
            job = self._io[0]
            if job.error is not None:
                raise job.error
            self._io.popleft()
            job.then()

    def _drain_io(self) -> None:
        """Finish every queued job here, in order, blocking the loop (stopping, or a burst
        beyond ``IO_QUEUED_MAX``).

        The job handed to a thread may not have started (its task needs the loop we are
        blocking): whoever claims it first runs it, so it runs exactly once and we wait
        only for a thread that is really running it. Its late ``IoDone`` finds nothing
        in flight.
        """
        self._io_future = None
        while self._io:
            job = self._io.popleft()
            if job.claim.acquire(blocking=False):
                job.job()
                job.done.set()
            elif not job.done.wait(IO_DRAIN_WAIT_S):
                raise RuntimeError("a disk job did not finish in its worker thread")
            if job.error is not None:
                raise job.error
            job.then()

    def _handle(self, effects: list[Any]) -> None:
        core = self.core
        assert core is not None
        self._guard_double_sign(core)
        for e in effects:
            if isinstance(e, Send):
                self._tell_peer(self.s.committee[e.to].node, ConsensusFrame(e.data))
            elif isinstance(e, Broadcast):
                for peer in self.peers:
                    self._tell_peer(peer, ConsensusFrame(e.data))
            elif isinstance(e, SetTimer):
                delay_ms = max(0.0, (e.at_ns - self.ctx.now_ns()) / 1e6)
                self._tick_seq += 1
                self.ctx.start_timer("core", delay_ms, CoreTick(self._tick_seq))
            elif isinstance(e, Finalize):
                self._finalized(e)
            elif isinstance(e, Commit):
                self.counters["commits"] += 1
            elif isinstance(e, Reject):
                self.counters["rejected"] += 1
                self._note_shed(self.submitted.pop(e.tx_digest, None), e.reason)
            elif isinstance(e, Misbehaviour):
                self.counters["misbehaviours"] += 1
                self.ctx.log.warning("misbehaviour", peer=e.peer, kind=e.kind, detail=e.detail[:200])
            elif isinstance(e, ModeChange):
                self.counters["mode_changes"] += 1
            elif isinstance(e, SettleRewards):
                pass  # rewards are the economics actor's; not wired into the node yet

    def _guard_double_sign(self, core: ValidatorCore) -> None:
        """Persist the highest round/height signed before any of it leaves the node, and
        the blocks whose shares we signed (``BlockLog.save_pending``), so that a restart
        can offer the same shares again."""
        blocks = self.blocks
        assert blocks is not None
        if core.blocks.height > self.pending_saved:
            me = self.index_of[self.s.node_name]
            fresh = [BlockRecord(h.height, payload, d, txs, (me,), (sig,))
                     for h, payload, d, txs, sig in core.blocks.unfinalized()
                     if h.height > max(self.pending_saved, blocks.height)]
            if fresh:
                blocks.save_pending(fresh)
            self.pending_saved = core.blocks.height
        round_ = max(core.dag.watermark(), self.last_signed["round"])
        height = max(core.blocks.height, self.last_signed["height"])
        if round_ > self.last_signed["round"] or height > self.last_signed["height"]:
            self.last_signed = {"round": round_, "height": height}
            write_last_signed(self.ctx.storage, self.s.last_signed_key, round_, height)

    def _tell_peer(self, node: str, msg: Any) -> None:
        self._tell(self.ctx.ref_for(node, VALIDATOR_PATH), msg)

    def _tell(self, ref: Any, msg: Any) -> None:
        """A best-effort tell to a peer (the transport may drop it too): a message that
        cannot be encoded — over the wire's message limit — is our bug, logged loudly and
        counted, never an exception that restarts this actor (and with it consensus)."""
        try:
            ref.tell_nowait(msg)
        except WireError as exc:
            self.counters["unsendable"] += 1
            self.ctx.log.error("message_not_sent", to=str(ref), kind=type(msg).__name__,
                               error=str(exc)[:200])

    def _finalized(self, e: Finalize) -> None:
        """Block h is final: its log row, then its state (executed at commit, waiting in
        the ledger's overlay). That order keeps the state on disk never ahead of the log:
        a crash between the two leaves the state one block behind, and the next start
        executes that block from the log (``_execute_logged``)."""
        blocks, ledger = self.blocks, self.ledger
        assert blocks is not None and ledger is not None
        h = e.header.height
        record = BlockRecord(h, codec.encode_block_header(e.header), e.digest, tuple(e.txs),
                             e.signers, e.signatures)
        links = self.pending_links.pop(h, 0)
        flush_state = ledger.flush_job(h)
        if not self.s.offload_io:
            blocks.append(record, links)
            flush_state()
            ledger.flushed(h)
            self._report_final(e)
            return
        self._finalizing[h] = record
        self._tip_queued = record

        def job() -> None:
            blocks.write(record, links)
            flush_state()

        def then() -> None:
            blocks.note_appended(record, links)
            ledger.flushed(h)
            if self._tip_queued is record:
                self._tip_queued = None
            del self._finalizing[h]
            self._release_held(h)
            self._report_final(e)

        self._queue_io(job, then)

    def _report_final(self, e: Finalize) -> None:
        """The block is durable: count the finality of the txs submitted here."""
        now = self.ctx.now_ns()
        for tx in e.txs:
            entry = self.submitted.pop(digest(DOMAIN_TX, tx), None)
            if entry is not None:
                self.finality_ms.append((now - entry[0]) / 1e6)
                self.finality_count += 1
                self.finality_ms_total += self.finality_ms[-1]
        if len(self.finality_ms) > FINALITY_SAMPLES_MAX:
            del self.finality_ms[: len(self.finality_ms) - FINALITY_SAMPLES_MAX]

    # ---------------------------------------------------------------- client API
    def _submit(self, msg: SubmitTxs) -> SubmitReply:
        if len(msg.txs) > SUBMIT_TXS_MAX or len(msg.focus) != len(msg.txs):
            return SubmitReply(0, len(msg.txs), f"at most {SUBMIT_TXS_MAX} txs, focus aligned")
        self.counters["submitted"] += len(msg.txs)
        if self.core is None:
            if not self.peers:
                return SubmitReply(0, len(msg.txs), "no validator to forward to")
            return self._forward(msg)
        now = self.ctx.now_ns()
        for tx, f in zip(msg.txs, msg.focus, strict=True):
            self.submitted[digest(DOMAIN_TX, tx)] = [now, now, tx, int(f), 1]
        while len(self.submitted) > SUBMITTED_TRACKED_MAX:
            self.submitted.popitem(last=False)
        txs = [ClientTx(tx, int(f), 0) for tx, f in zip(msg.txs, msg.focus, strict=True)]
        effects = self.core.submit(txs, now)
        mine = {digest(DOMAIN_TX, tx) for tx in msg.txs}
        rejects = [e for e in effects if isinstance(e, Reject) and e.tx_digest in mine]
        for r in rejects:  # refused now: the client knows, nothing to retry
            self.submitted.pop(r.tx_digest, None)
        self._handle(effects)  # rejects of txs accepted earlier (shed) are noted there
        accepted = len(txs) - len(rejects)
        self.counters["admitted"] += accepted
        refused = {r.tx_digest for r in rejects}
        self._note_accepted([tx for tx in msg.txs if digest(DOMAIN_TX, tx) not in refused])
        return SubmitReply(accepted, len(rejects), rejects[0].reason if rejects else "")

    def _note_shed(self, entry: list[Any] | None, reason: str) -> None:
        """A tx accepted here earlier was dropped by the mempool (``shed: ...``, lowest
        focus first under load): ``/v1/tx`` says so instead of "pending" forever."""
        if entry is None or not reason.startswith("shed"):
            return
        tx_id = tx_hash_of(entry[2])
        self.counters["shed"] += 1
        self.accepted_ids.pop(tx_id, None)
        self.shed_ids[tx_id] = reason
        while len(self.shed_ids) > SUBMITTED_TRACKED_MAX:
            self.shed_ids.popitem(last=False)

    def _note_accepted(self, txs: list[bytes]) -> None:
        """Remember accepted txs by id: ``/v1/tx`` says "pending" until a block executed
        them (then its receipt says applied or why refused)."""
        for tx in txs:
            self.accepted_ids[tx_hash_of(tx)] = None
        while len(self.accepted_ids) > SUBMITTED_TRACKED_MAX:
            self.accepted_ids.popitem(last=False)

    def _tx_status(self, tx_id: bytes) -> dict[str, Any]:
        """A tx's fate as this node knows it: committed (applied or rejected at execution,
        with the state core's reason) at a height, pending, or unknown."""
        assert self.ledger is not None and self.blocks is not None
        outcome = self.ledger.tx_outcome(tx_id)
        if outcome is not None and outcome[0] <= self.blocks.height:
            height, reason = outcome
            return {"id": tx_id.hex(), "status": "rejected" if reason else "committed",
                    "height": height, "reason": reason}
        if outcome is None and tx_id in self.shed_ids:
            return {"id": tx_id.hex(), "status": "shed", "height": None,
                    "reason": self.shed_ids[tx_id]}
        known = outcome is not None or tx_id in self.accepted_ids
        return {"id": tx_id.hex(), "status": "pending" if known else "unknown",
                "height": None, "reason": ""}

    def _forward(self, msg: SubmitTxs) -> SubmitReply:
        """A follower checks what it can at the door (limits, chain, signature) and
        forwards the rest to a validator; a refusal names its reason, as a validator's."""
        verdicts = self._admit(msg.txs)
        keep = [i for i, v in enumerate(verdicts) if v is True]
        refused = [v for v in verdicts if v is not True]
        if keep:
            self._note_accepted([msg.txs[i] for i in keep])
            self._sync_turn += 1
            self._tell_peer(self.peers[self._sync_turn % len(self.peers)],
                            SubmitTxs(tuple(msg.txs[i] for i in keep),
                                      tuple(msg.focus[i] for i in keep)))
            self.counters["forwarded"] += len(keep)
        self.counters["rejected"] += len(refused)
        reason = f"invalid: {refused[0]}" if refused else "forwarded"
        return SubmitReply(len(keep), len(refused), reason)

    # ---------------------------------------------------------------- block sync
    def _resubmit(self) -> None:
        """Re-offer admitted transactions not finalized after ``RESUBMIT_AFTER_MS``.

        A counted safety net (``counters["resubmitted"]``), not the guarantee: the mempool
        core itself carries the batch of a header of ours replaced uncertified into the
        next one and re-proposes a certificate of ours nobody linked (issue 6). What is
        left for this net: a batch lost in a core that was replaced (rejoin after falling
        behind) and any loss path the core does not know of; a non-zero counter under
        steady load is worth a look. Re-offering is safe: a transaction already committed
        is dropped by the block core's dedup window, and the state core refuses a replayed
        nonce, so nothing commits twice.
        """
        core = self.core
        assert core is not None
        now = self.ctx.now_ns()
        due: list[ClientTx] = []
        for entry in self.submitted.values():
            if now - entry[0] < RESUBMIT_AFTER_MS * 1_000_000:
                break  # ordered by first submission: the rest are younger
            if entry[4] < RESUBMIT_ATTEMPTS_MAX and now - entry[1] >= RESUBMIT_AFTER_MS * 1_000_000:
                entry[1] = now
                entry[4] += 1
                due.append(ClientTx(entry[2], entry[3], 0))
                if len(due) >= RESUBMIT_BATCH_MAX:
                    break
        if due:
            self.counters["resubmitted"] += len(due)
            self._handle(core.submit(due, now))

    def _sync(self) -> None:
        """Followers ask a peer (round robin) for the blocks after their tip; validators
        re-offer stale transactions."""
        assert self.blocks is not None
        self._sync_ticks += 1
        if self.core is not None:
            self._check_behind()  # by time too: the probes' replies may all be dropped
            if self.core is None:
                return
            self._resubmit()
            self._fetch_missing_shares()
            if self.peers and self._sync_ticks % TIP_PROBE_EVERY_TICKS == 0:
                peer = self.peers[(self._sync_ticks // TIP_PROBE_EVERY_TICKS) % len(self.peers)]
                # The block just past "behind": a peer's tip counts once a block proves it.
                self._tell_peer(peer, BlocksFrom(self.blocks.height + BEHIND_BLOCKS_MAX + 1, 1))
            return
        if not self.peers:
            return
        # The reply that brought us to the tip may have found the log writes still in the
        # worker thread (``offload_io``), which ``_maybe_rejoin`` waits for: try again
        # here, against the tip that reply reported (the SIGKILL test's in-thread case
        # stayed a follower for 30 s under a trickle of load, each reply queueing writes).
        self._maybe_rejoin(self._follow_tip)
        if self.core is not None:
            return
        self._sync_turn += 1
        peer = self.peers[self._sync_turn % len(self.peers)]
        self._tell_peer(peer, BlocksFrom(self._chain_tip()[0] + 1, BLOCKS_PER_SYNC_MAX))
        self._offer_pending()

    def _on_offer(self, record: BlockRecord) -> None:
        """A peer's share of a block it signed before a restart, with the block: finish
        our own pending block with it, or adopt the block (``node/catchup.py``)."""
        sender = self.ctx.sender
        index = None if sender is None else self.index_of.get(sender.node)
        if index is None or sender is None or sender.node == self.s.node_name or self._io:
            return
        tip, tip_digest = self._chain_tip()
        may_sign = self.signer is not None and not self.guard_lost
        signed = max(self.last_signed["height"],
                     self.core.blocks.height if self.core is not None else 0)
        self._caught_up(self.catchup.on_offer(index, record, tip=tip, tip_digest=tip_digest,
                                              signed_height=signed if may_sign else 2**63))

    def _caught_up(self, decision: Final | Adopt | None) -> None:
        if isinstance(decision, Final):
            record = decision.record
            self.ctx.log.info("pending_block_finalized_by_offered_shares", height=record.height,
                              signers=list(record.signers))
            self._apply_synced(Blocks((record,), record.height))
        elif isinstance(decision, Adopt):
            self._adopt(decision.record)

    def _adopt(self, offered: BlockRecord) -> None:
        """Sign a block at our tip + 1 that more than a third of the stake signed before a
        restart and no log holds (we never signed at its height): execute it, make our
        share durable (pending row, then the guard), then offer it like our own.

        Why: after a restart of every validator where only f + 1 of them had signed the
        last block, those wait for it and the rest resume below it; no side is a quorum
        (issue 16 finding 1). Safety: see ``node/catchup.py``.
        """
        blocks, signer = self.blocks, self.signer
        assert blocks is not None and signer is not None
        h = offered.height
        if self.core is not None:  # stop signing anything else first
            self._leave_consensus("adopting an offered block")
        header = codec.decode_block_header(offered.header)
        try:
            self._replay(h, offered.txs, header.state_root, header.pi_root)
        except ChainError as exc:  # our execution disagrees: never sign it
            self.counters["sync_refused"] += 1
            self.ctx.log.error("offered_block_refused", height=h, error=str(exc))
            self._forget_unfinalized()
            return
        me = self.index_of[self.s.node_name]
        backed = self.catchup.backers(offered)
        mine = BlockRecord(h, offered.header, offered.digest, offered.txs, (me,),
                           (signer.sign(offered.header),))
        blocks.save_pending([mine])
        self.last_signed = {"round": self.last_signed["round"], "height": h}
        write_last_signed(self.ctx.storage, self.s.last_signed_key, self.last_signed["round"], h)
        self.why = f"adopted block {h} that validators signed before a restart; finishing it"
        self.ctx.log.warning("offered_block_adopted", height=h, backers=list(backed.signers))
        decision = self.catchup.adopted(mine, backed)
        self._offer_pending(block_too=True)
        self._caught_up(decision)

    def _offer_pending(self, *, block_too: bool = False) -> None:
        """While we follow after a restart: send our shares of the blocks we signed before
        the crash, not yet in our log, to every peer again (the same bytes; never a new
        signature), and now and then the lowest such block itself (``OfferedBlock``). A
        peer still collecting shares for such a block counts ours and can finalize it; a
        peer that never signed at its height may adopt it (``node/catchup.py``); without
        either, the block we may have been the last signer of stays unfinalized while our
        guard forbids us to sign another at its height (issue 16 finding 1)."""
        signer, blocks = self.signer, self.blocks
        assert blocks is not None
        self.catchup.advance(self._chain_tip()[0])
        pending = self.catchup.pending
        if signer is None or self.guard_lost or not pending:
            return
        me = self.index_of[self.s.node_name]
        for record in pending[:OFFERED_SHARES_MAX]:
            share = codec.encode_message(me, BlockSig(me, record.header, record.signatures[0],
                                                      signer.public_key))
            for peer in self.peers:
                self._tell_peer(peer, ConsensusFrame(share))
        if block_too or self._sync_ticks % OFFER_BLOCK_EVERY_TICKS == 1:
            for peer in self.peers:
                self._tell_peer(peer, OfferedBlock(pending[0]))

    def _serve_blocks(self, msg: BlocksFrom) -> Blocks | None:
        assert self.blocks is not None
        reply = Blocks(tuple(self.blocks.records(msg.height, msg.count_max)), self.blocks.height)
        sender = self.ctx.sender
        if sender is not None and sender.path == VALIDATOR_PATH and sender.node != self.s.node_name:
            self._tell(sender, reply)
            return None
        return reply  # an ask from outside (a light client, the CLI)

    def _apply_synced(self, msg: Blocks) -> None:
        blocks, ledger = self.blocks, self.ledger
        assert blocks is not None and ledger is not None
        if self.core is not None:
            self._note_verified_tip(msg.records)
            self._finish_with(msg.records)
            if self.core is not None:
                self._check_behind()
            return
        height, parent = self._chain_tip()
        for record in msg.records:
            if record.height != height + 1:
                continue
            try:
                header = verify_record(record, parent=parent, committee=self.committee,
                                       verifier=self.verifier)
            except ChainError as exc:
                self.counters["sync_refused"] += 1
                self.ctx.log.warning("sync_block_refused", error=str(exc))
                return
            links = self._replay(record.height, record.txs, header.state_root, header.pi_root)
            self._append_synced(record, links)
            height, parent = record.height, record.digest
        if msg.records and msg.tip > height:
            self._sync()
        else:
            self._maybe_rejoin(msg.tip)
        self._follow_tip = msg.tip

    def _note_verified_tip(self, records: tuple[BlockRecord, ...]) -> None:
        """A peer's tip as far as a block it sent proves it (quorum-signed): the claimed
        ``Blocks.tip`` alone never moves a validator out of consensus (issue 16: one
        ``Blocks((), tip=10**12)`` per validator halted the chain)."""
        sender = self.ctx.sender
        if sender is None or not records:
            return
        last = records[-1]
        try:
            verify_record(last, parent=None, committee=self.committee, verifier=self.verifier)
        except ChainError as exc:
            self.counters["sync_refused"] += 1
            self.ctx.log.warning("tip_block_refused", peer=sender.node, error=str(exc))
            return
        if last.height > self.peer_tips.get(sender.node, 0):
            self.peer_tips[sender.node] = last.height

    def _chain_tip(self) -> tuple[int, bytes]:
        """(height, digest) of the last block finalized here: durable, or queued for the
        worker thread (what the next block must extend)."""
        assert self.blocks is not None
        queued = self._tip_queued
        if queued is not None:
            return queued.height, queued.digest
        return self.blocks.height, self.blocks.tip_digest

    def _append_synced(self, record: BlockRecord, links: int) -> None:
        """A verified synced block into the log, then its state (executed by ``_replay``
        into the overlay, unless executed before): the order of ``_finalized``. By the
        worker thread with ``offload_io``."""
        blocks, ledger = self.blocks, self.ledger
        assert blocks is not None and ledger is not None
        h = record.height
        flush_state = ledger.flush_job(h) if h in ledger.deferred else None
        if not self.s.offload_io:
            blocks.append(record, links)
            if flush_state is not None:
                flush_state()
                ledger.flushed(h)
            self.counters["synced_blocks"] += 1
            return
        self._tip_queued = record

        def job() -> None:
            blocks.write(record, links)
            if flush_state is not None:
                flush_state()

        def then() -> None:
            blocks.note_appended(record, links)
            if flush_state is not None:
                ledger.flushed(h)
            if self._tip_queued is record:
                self._tip_queued = None
            self.counters["synced_blocks"] += 1

        self._queue_io(job, then)

    def _check_behind(self) -> None:
        """Stop signing and follow by block sync when DAG sync cannot catch us up.

        Why: the consensus core syncs certificates only above its GC floor, so a
        validator cut off for longer than ``gc_depth_rounds`` never catches up by itself.
        Leaving consensus is safe (we only stop signing); the double-sign guard keeps us
        out after a restart too.
        """
        blocks, core = self.blocks, self.core
        assert blocks is not None and core is not None
        lag = max(self.peer_tips.values(), default=0) - blocks.height
        # The DAG's own evidence: certificates (quorum-signed) of rounds we can no longer
        # link to ours. Needs no reply from a peer, whose queue to us may be full.
        # (From our round, or from our DAG's floor where that is higher: a core resumed
        # after block sync keeps its old round as a watermark but starts its DAG near the
        # tip, and catches up by DAG sync from there.)
        lag_rounds = core.dag.seen_round - max(core.dag.round, core.dag.gc_round)
        now = self.ctx.now_ns()
        if lag <= BEHIND_BLOCKS_MAX and lag_rounds <= core.config.dag.gc_depth_rounds:
            self.behind_since_ns = None
            return
        # Certificates past our DAG's reach prove it can never link to theirs: leave at
        # once. A peer's claimed tip is only evidence after BEHIND_MS_MAX (issue 19: after
        # a 20 s minority cut at n = 10 the cut validators, ~100 rounds behind, waited
        # those 10 s before block sync and recovered in none of 3 seeds within 10 s).
        reach_lost = lag_rounds > core.config.dag.gc_depth_rounds
        if self.behind_since_ns is None:
            self.behind_since_ns = now
        if not reach_lost and now - self.behind_since_ns < BEHIND_MS_MAX * 1_000_000:
            return
        self.ctx.log.warning("validator_behind_following_by_block_sync", lag_blocks=lag,
                             lag_rounds=lag_rounds)
        self._leave_consensus(f"fell {lag} blocks / {lag_rounds} rounds behind (beyond DAG "
                              "sync); following by block sync")
        self._sync()

    def _leave_consensus(self, why: str) -> None:
        """Stop signing and follow: the core and what it executed but did not finalize go
        (the guard keeps us out of every round and height we signed)."""
        self.core = None
        self._forget_unfinalized()
        self.mode = "follower"
        self.why = why
        self.ctx.cancel_timer("core")

    def _fetch_missing_shares(self) -> None:
        """Our lowest unfinalized block waited ``FINALITY_STUCK_MS``: ask a peer (round
        robin) for the final blocks from there; their quorum signatures finish ours
        (``_finish_with``). Stops asking as soon as finality moves."""
        core = self.core
        assert core is not None
        now = self.ctx.now_ns()
        finalized = core.blocks.finalized_height
        if core.blocks.height <= finalized or self._finality_watch[0] != finalized:
            self._finality_watch = (finalized, now)
            return
        if now - self._finality_watch[1] >= FINALITY_STUCK_MS * 1_000_000 and self.peers:
            peer = self.peers[self._sync_ticks % len(self.peers)]
            self._tell_peer(peer, BlocksFrom(finalized + 1, FINISH_BLOCKS_MAX))

    def _finish_with(self, records: tuple[BlockRecord, ...]) -> None:
        """Final blocks a peer sent while we are in consensus: those we built with the
        same header give their quorum of shares to our core (``receive_final_shares``);
        one whose header differs from ours means the committee finalized a block we did
        not build, and we follow by block sync."""
        core = self.core
        assert core is not None
        for record in records:
            if record.height <= core.blocks.finalized_height:
                continue
            mine = core.blocks.built_digest(record.height)
            if mine is None:
                return  # not built here yet: DAG sync brings us there
            try:
                verify_record(record, parent=None, committee=self.committee, verifier=self.verifier)
            except ChainError as exc:
                self.counters["sync_refused"] += 1
                self.ctx.log.warning("final_block_refused", error=str(exc))
                return
            if record.digest != mine:
                self.ctx.log.warning("final_block_differs_from_ours", height=record.height,
                                     final=record.digest.hex()[:16], ours=mine.hex()[:16])
                self._leave_consensus(f"the committee finalized another block {record.height} "
                                      "than ours; following by block sync")
                self._sync()
                return
            self._handle(core.receive_final_shares(record.header,
                                                   tuple(zip(record.signers, record.signatures,
                                                             strict=True)),
                                                   self.ctx.now_ns()))

    def _replay(self, height: int, txs: tuple[bytes, ...], state_root: bytes,
                pi_root: bytes) -> int:
        """Execute a synced block (or check one executed before a crash); return its links.

        Raises:
            ChainError: our state or π disagrees with a block the quorum signed (a local
                bug or non-determinism: crash rather than serve a wrong state).
        """
        ledger = self.ledger
        assert ledger is not None
        if ledger.core.height >= height:  # executed at commit, killed before finality
            if ledger.root_at(height) != state_root:
                raise ChainError(f"state root at {height} differs from the signed block")
            if ledger.pi_root_at(height) != pi_root:
                raise ChainError(f"π root at {height} differs from the signed block")
            return sum(t.n_links for t in decode_block(list(txs)) if isinstance(t, Tx)
                       and t.kind is TxKind.LINK and t.n_links
                       and ledger.core.has_link(t.neuron, bytes(t.froms[0]), bytes(t.tos[0])))
        root, pi = ledger.execute(list(txs), defer=True)
        if root != state_root:
            raise ChainError(f"state root at {height} differs from the signed block")
        if pi != pi_root:
            raise ChainError(f"π root at {height} differs from the signed block")
        return ledger.last_links

    # ---------------------------------------------------------------- queries
    def query(self, q: QueryArgs) -> Any:
        """Answer a checked read-only question (``node.query``) as JSON-ready data."""
        blocks, ledger = self.blocks, self.ledger
        assert blocks is not None and ledger is not None
        kind = q.kind
        if kind == "status":
            return self.status()
        if kind == "blocks":
            return blocks.digests(*q.span(blocks.height))
        if kind == "pi_roots":
            return ledger.pi_roots(*q.span(ledger.core.height))
        if kind == "state_roots":
            return ledger.state_roots(*q.span(ledger.core.height))
        if kind == "finality":
            return self.finality_ms[-(q.count or FINALITY_SAMPLES_MAX):] if q.count != 0 else []
        if kind == "top":
            return [{"cid": c, "focus": f, "inbound_links": n}
                    for c, f, n in ledger.top_particles(10 if q.count is None else q.count)]
        if kind == "links":  # q.key: a particle in any form cid_from_text accepts (node.query)
            return [{"neuron": n.hex(), "from": cid_to_text(s), "to": cid_to_text(d)}
                    for n, s, d in ledger.store.links_of(q.key)]
        if kind == "balance":
            return {"address": q.key.hex(), "balance": ledger.core.balance(q.key),
                    "next_nonce": ledger.core.next_nonce(q.key)}
        if kind == "proof":
            return state_answer(ledger, blocks, q.key, self._finalizing.get(ledger.core.height))
        if kind == "focus":
            return focus_answer(ledger, blocks, q.key, self._finalizing.get(ledger.core.height))
        if kind == "tx":
            return self._tx_status(q.key)
        if kind == "consensus":
            return consensus_answer(
                node=self.s.node_name, mode=self.mode, why=self.why,
                view=None if self.core is None else self.core.view(),
                names=[e.node for e in self.s.committee], peers=self.peers, height=blocks.height,
                watch=self.progress, rule=self.s.stall, now_ns=self.ctx.now_ns())
        assert kind == "block", kind
        rec = blocks.record(q.height)
        return None if rec is None else {
            "height": rec.height, "digest": rec.digest.hex(), "txs": len(rec.txs),
            "signers": list(rec.signers), "header": rec.header.hex()}

    def _hold_until_durable(self, answer: Any) -> bool:
        """Hold a proof answered against a block whose log row is still being written:
        the reply leaves once that block is durable (``_release_held``). Returns whether
        it was held (the actor then replies later)."""
        if not isinstance(answer, dict) or answer.get("retry") or "block" not in answer:
            return False
        height = int(answer["block"]["height"])
        assert self.blocks is not None
        if height <= self.blocks.height:
            return False
        handle = self.ctx.defer_reply()
        if handle is None:  # a tell, not an ask: nobody to answer
            return True
        self._held.setdefault(height, []).append((handle, json.dumps(answer)))
        return True

    def _release_held(self, height: int) -> None:
        """Block ``height`` is durable: send the answers held for it (and below)."""
        for h in [h for h in self._held if h <= height]:
            for handle, text in self._held.pop(h):
                handle.reply(QueryReply(text))

    def _pi_status(self) -> dict[str, Any]:
        """The π committed with the last executed block and what committing it costs."""
        ledger = self.ledger
        assert ledger is not None
        focus, last = ledger.focus, ledger.last_focus
        ms = ledger.focus_ms
        return {
            "height": ledger.core.height,
            "root": (ledger.pi_root_at(ledger.core.height) or b"").hex(),
            "committed": ledger.commit_pi,
            "exact": True,  # the integer definition (docs/kernels.md): same bits on any backend
            "backend": focus.backend,  # configured (node.toml consensus.focus_backend)
            "solver": focus.solver_backend,  # where it runs ("cpu" after a device fallback)
            "stake_unit": ledger.stake_unit,
            "particles": focus.n,
            "links": focus.links,
            "iterations_last": last.iterations if last is not None else None,
            "residual_last": last.residual if last is not None else None,
            "verified_last": last.verified if last is not None else None,
            "ms_last": ms[-1] if ms else None,
            "ms_p50": float(np.percentile(ms, 50)) if ms else None,
            "ms_p99": float(np.percentile(ms, 99)) if ms else None,
            "ms_max": max(ms) if ms else None,
            "ms_total": ledger.focus_ms_total,
            "samples": len(ms),
            "count": ledger.focus_count,
            "in_state": ledger.pi_in_state,
            "state_held_particles": ledger.slices.written,
            "slices_last": ledger.slices.last_slices,
            "slice_bytes_last": ledger.slices.last_bytes,
            "slices_written": ledger.slices_written,
            "slice_bytes_written": ledger.slice_bytes_written,
            "slices_plan_ms_p50": (float(np.percentile(ledger.slices_ms, 50))
                                   if ledger.slices_ms else None),
        }

    def _io_status(self) -> dict[str, Any]:
        """The worker thread's queue: jobs waiting, the deepest it got, time per job."""
        ms = self.io_ms
        return {
            "offload": self.s.offload_io,
            "queued": len(self._io),
            "queued_max": self.io_queue_max,
            "deferred_blocks": len(self.ledger.deferred) if self.ledger is not None else 0,
            "batch_ms_p50": float(np.percentile(ms, 50)) if ms else None,
            "batch_ms_p99": float(np.percentile(ms, 99)) if ms else None,
            "thread_ms_p50": (float(np.percentile(self.io_thread_ms, 50))
                              if self.io_thread_ms else None),
            "batches": len(ms),
        }

    def status(self) -> dict[str, Any]:
        """The validator's view for /status and /metrics."""
        blocks, ledger = self.blocks, self.ledger
        assert blocks is not None and ledger is not None
        samples = self.finality_ms
        core = self.core
        return {
            "mode": self.mode,
            "mode_reason": self.why,
            "finalized_height": blocks.height,
            "state_height": ledger.core.height,
            "state_root": ledger.core.root.hex(),
            "tip_digest": blocks.tip_digest.hex(),
            "links_committed": blocks.links,
            "pi": self._pi_status(),
            "finality_ms_p50": float(np.percentile(samples, 50)) if samples else None,
            "finality_ms_p99": float(np.percentile(samples, 99)) if samples else None,
            "finality_samples": len(samples),
            "finality_count": self.finality_count,
            "finality_ms_total": self.finality_ms_total,
            "round": core.dag.round if core is not None else 0,
            "built_height": core.blocks.height if core is not None else blocks.height,
            "consensus_mode": core.bft.mode.mode if core is not None else None,
            "mempool": core.dag.status(self.ctx.now_ns()) if core is not None else {},
            "peer_tips": dict(self.peer_tips),
            "io": self._io_status(),
            "last_signed": dict(self.last_signed),
            "counters": dict(self.counters),
        }
