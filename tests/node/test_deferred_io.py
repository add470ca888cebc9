"""Deferred SQLite writes (issue 8 follow-up): what the validator's worker thread relies on.

* ``Ledger.execute(defer=True)`` gives the same roots, block by block, as the synchronous
  path, while up to a few blocks wait for their transaction (the overlay must serve the
  writes not yet in SQLite: nonces of a neuron that sends in every block);
* the file a deferred ledger leaves is the file the synchronous one leaves (reopened: same
  height, root, π roots, focus), and a crash before a flush loses only the unflushed
  blocks: reopened, the ledger is at its durable height and re-executing the rest gives
  the same roots (what block sync does after SIGKILL);
* a job handed to a thread that has not started yet runs exactly once when the actor
  drains (the deadlock the first version had on a burst of commits);
* the loop monitor sees a blocking call as a stall (asyncio and trio).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx
from focusflow.node.app import LoopMonitor
from focusflow.node.chain import BlockLog, Ledger
from focusflow.node.validator import (
    IO_QUEUED_MAX,
    CommitteeEntry,
    Validator,
    ValidatorSettings,
    _IoJob,
)
from focusflow.supervisor import Future, open_file_database
from focusflow.topology.devnet import Workload
from tests.node.test_chain import make_record

CHAIN = "deferred-test"
BLOCKS = 8
LAG = 3  # blocks left unflushed behind the tip


def chain_of_blocks() -> list[list[bytes]]:
    """Blocks of fresh-neuron link txs plus one neuron that sends in every block (its
    nonce is read back each block: from the overlay while the last one is deferred)."""
    work = Workload(chain_id=CHAIN, seed=3, particles=200, links_per_tx=6)
    steady = Neuron.from_seed(bytes(range(32)))
    parts = [cid_of(f"p{i}".encode()) for i in range(20)]
    blocks = []
    for h in range(BLOCKS):
        txs, _ = work.txs(5)
        txs.append(make_tx(steady, chain_id=CHAIN, nonce=h, kind=TxKind.LINK,
                           links=[(parts[h % 20], parts[(h + 1) % 20])]))
        blocks.append(txs)
    return blocks


def test_deferred_execution_is_bit_identical_and_survives_a_crash(tmp_path: Path) -> None:
    blocks = chain_of_blocks()
    sync = Ledger(open_file_database(tmp_path / "sync.sqlite"), chain_id=CHAIN)
    lazy = Ledger(open_file_database(tmp_path / "lazy.sqlite"), chain_id=CHAIN)
    for h, txs in enumerate(blocks, start=1):
        want = sync.execute(txs)
        got = lazy.execute(txs, defer=True)
        assert got == want, f"roots differ at block {h}"
        assert lazy.root_at(h) == want[0] and lazy.pi_root_at(h) == want[1]
        assert sync.last_links == lazy.last_links > 0
        while len(lazy.deferred) > LAG:
            oldest = next(iter(lazy.deferred))
            lazy.flush_job(oldest)()
            lazy.flushed(oldest)
        assert lazy.durable_height == h - len(lazy.deferred)
    steady_ok = sync.core.next_nonce(Neuron.from_seed(bytes(range(32))).address)
    assert steady_ok == BLOCKS  # every one of its txs was accepted: nonces were read right
    durable = lazy.durable_height
    assert durable == BLOCKS - LAG
    # SIGKILL now: the deferred blocks never reach SQLite. The files as they are on disk
    # (database and WAL; nothing is being written) are what a restart would find.
    for suffix in ("", "-wal"):
        src = tmp_path / f"lazy.sqlite{suffix}"
        if src.exists():
            shutil.copyfile(src, tmp_path / f"crashed.sqlite{suffix}")
    crashed = Ledger(open_file_database(tmp_path / "crashed.sqlite"), chain_id=CHAIN)
    assert crashed.core.height == durable and crashed.core.root == sync.root_at(durable)
    for txs in blocks[durable:]:  # block sync re-executes what was lost
        h = crashed.core.height + 1
        assert crashed.execute(txs) == (sync.root_at(h), sync.pi_root_at(h))
    crashed.close()
    lazy.flush_all()
    assert not lazy.deferred and lazy.durable_height == BLOCKS
    sync.close()
    lazy.close()
    a = Ledger(open_file_database(tmp_path / "sync.sqlite"), chain_id=CHAIN)
    b = Ledger(open_file_database(tmp_path / "lazy.sqlite"), chain_id=CHAIN)
    assert (a.core.height, a.core.root) == (b.core.height, b.core.root)
    assert a.pi_roots(1, BLOCKS) == b.pi_roots(1, BLOCKS)
    assert a.state_roots(1, BLOCKS) == b.state_roots(1, BLOCKS)
    assert a.top_particles(5) == b.top_particles(5)
    a.close()
    b.close()


def test_block_log_written_from_a_thread_is_read_back_in_order(tmp_path: Path) -> None:
    log = BlockLog(open_file_database(tmp_path / "blocks.sqlite"))
    r1 = make_record(1, bytes(32), (b"a",), [0, 1, 2])
    r2 = make_record(2, r1.digest, (b"b",), [1, 2, 3])
    for rec, links in ((r1, 2), (r2, 3)):
        t = threading.Thread(target=log.write, args=(rec, links))
        t.start()
        t.join()
        assert log.height == rec.height - 1  # not published before note_appended
        log.note_appended(rec, links)
    assert log.record(2) == r2 and log.height == 2 and log.links == 5
    log.close()
    again = BlockLog(open_file_database(tmp_path / "blocks.sqlite"))
    assert again.height == 2 and again.tip_digest == r2.digest
    again.close()


def test_an_io_job_runs_once_whoever_claims_it_first() -> None:
    runs: list[str] = []
    job = _IoJob(lambda: runs.append("ran"), lambda: None)
    assert job.claim.acquire(blocking=False)  # a draining actor got it first
    job.job()
    job.done.set()
    job.run_in_thread()  # the thread starts late: a no-op
    assert runs == ["ran"]
    late = _IoJob(lambda: runs.append("thread"), lambda: None)
    late.run_in_thread()
    assert late.done.is_set() and not late.claim.acquire(blocking=False)
    assert runs == ["ran", "thread"]
    failing = _IoJob(lambda: 1 // 0 and None, lambda: None)
    with pytest.raises(ZeroDivisionError):
        failing.run_in_thread()
    assert failing.done.is_set() and isinstance(failing.error, ZeroDivisionError)


@pytest.mark.anyio
async def test_loop_monitor_sees_a_blocking_call() -> None:
    monitor = LoopMonitor()
    async with anyio.create_task_group() as tg:
        await tg.start(monitor.run)
        await anyio.sleep(0.05)
        time.sleep(0.12)  # a blocking call on the loop, like an fsync or a π solve
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    st = monitor.status()
    assert st["ticks"] >= 3
    assert st["stall_ms_max"] >= 90.0 and st["stalls_over_50ms"] >= 1


class _FakeCtx:
    """Just what the validator's worker queue touches: thread calls are held here and run
    by the test, so the order of disk work is observable and deterministic."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Future[Any]]] = []
        self.told: list[Any] = []
        self.self_ref = self

    def now_ns(self) -> int:
        return 0

    def run_blocking(self, fn: Any, *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        self.calls.append((lambda: fn(*args), fut))
        return fut

    def tell_nowait(self, msg: Any) -> None:
        self.told.append(msg)

    def run_next(self) -> None:
        fn, fut = self.calls.pop(0)
        try:
            fut.set_result(fn())
        except Exception as exc:
            fut.set_exception(exc)


def _validator() -> tuple[Validator, _FakeCtx]:
    settings = ValidatorSettings(node_name="n0", role="validator", chain_id=CHAIN,
                                 committee=(CommitteeEntry("n0", bytes(32), 1),))
    v = Validator(settings)
    ctx = _FakeCtx()
    v.ctx = ctx  # type: ignore[assignment]
    return v, ctx


def test_the_worker_queue_keeps_disk_order_and_batches_what_waits() -> None:
    """Each job is one final block's log row and then its state (``_finalized``): the
    thread runs them in queue order, what queued while it was busy as one batch."""
    v, ctx = _validator()
    disk: list[str] = []
    done: list[str] = []

    def queue(name: str) -> None:
        v._queue_io(lambda: disk.append(name), lambda: done.append(name))

    queue("block1")  # handed to a thread call at once (batch A)
    queue("block2")  # waits: the thread is busy
    queue("block3")
    assert len(ctx.calls) == 1
    ctx.run_next()  # batch A: block1
    assert ctx.told, "the finished thread call wakes the actor"
    v._io_finished()
    assert done == ["block1"] and len(ctx.calls) == 1
    queue("block4")  # block2 and block3 are handed over already (batch B): block4 waits
    ctx.run_next()  # batch B: block2, block3
    v._io_finished()
    ctx.run_next()  # batch C: block4
    v._io_finished()
    assert disk == ["block1", "block2", "block3", "block4"]
    assert done == disk and not v._io and not ctx.calls


def test_a_failed_disk_job_stops_everything_after_it() -> None:
    v, ctx = _validator()
    disk: list[str] = []

    def boom() -> None:
        raise OSError("disk full")

    v._queue_io(boom, lambda: disk.append("block1 reported"))
    v._queue_io(lambda: disk.append("block2"), lambda: disk.append("block2 reported"))
    ctx.run_next()
    with pytest.raises(OSError):
        v._io_finished()  # the actor crashes: its supervisor restarts it
    with pytest.raises(OSError):
        v._drain_io()  # on_stop: the failed job is still at the head; nothing after it runs
    assert disk == []


def test_a_burst_beyond_the_queue_bound_drains_on_the_loop_exactly_once() -> None:
    v, ctx = _validator()
    disk: list[int] = []
    for i in range(IO_QUEUED_MAX + 1):
        v._queue_io(lambda i=i: disk.append(i), lambda: None)  # type: ignore[misc]
    assert disk == list(range(IO_QUEUED_MAX + 1)) and not v._io
    assert v.counters["io_drains"] == 1
    ctx.run_next()  # the first call's thread starts late: its job was run by the drain
    assert disk == list(range(IO_QUEUED_MAX + 1))
    v._io_finished()  # a stale wake-up: nothing in flight
    assert not v._io
