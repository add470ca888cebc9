"""The live runtime: the actor core driven by one anyio task (asyncio or trio).

Design: the same trampoline as the simulator, with the real clock. One driver task runs
runnable steps in FIFO order, yields to the event loop every ``STEPS_PER_YIELD`` steps,
and sleeps until the next timer or wake-up when idle. Actors are not tasks, so a message
costs a deque append and a coroutine step instead of a task switch; real I/O runs in
separate tasks through ``ctx.run_io`` and completes runtime futures.
"""

from __future__ import annotations

import heapq
import os  # runtime-ok: FileStorage fsyncs (the Runtime's own storage)
import random  # runtime-ok: the live Runtime is the source of randomness (seeded per node)
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread
import numpy as np
import sniffio
import structlog

from focusflow.supervisor._actor import Actor, ActorRef
from focusflow.supervisor._database import (
    Database,
    check_database_name,
    open_file_database,
    open_image_database,
)
from focusflow.supervisor._future import Future
from focusflow.supervisor._node import (
    DEAD_LETTERS_MAX_DEFAULT,
    MAILBOX_DEPTH_MAX_DEFAULT,
    DeadLetter,
    Node,
)
from focusflow.supervisor._strategy import ChildSpec

T = TypeVar("T")

STEPS_PER_YIELD = 512
BRIDGE_YIELD_EVERY = 32
STORAGE_KEY_BYTES_MAX = 200
#: Frames a ``LoopbackNetwork`` hands to a receiver in one step (then a new batch).
LOOPBACK_BATCH_FRAMES_MAX = 256


class _LiveTimer:
    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class MemoryStorage:
    """In-memory ``Storage`` (the live default when no directory is given)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def read(self, key: str) -> Future[bytes | None]:
        return Future.completed(self._data.get(key))

    def write(self, key: str, data: bytes) -> Future[None]:
        self._data[key] = bytes(data)
        return Future.completed(None)

    def delete(self, key: str) -> Future[None]:
        self._data.pop(key, None)
        return Future.completed(None)

    def sync(self) -> Future[None]:
        return Future.completed(None)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._data if k.startswith(prefix))


class FileStorage:
    """``Storage`` on a directory: one file per key, ``sync`` fsyncs (durable writes).

    Simple and crash-safe per key (write to a temporary file, fsync, rename); a
    component with heavier needs (SQL, transactions) uses ``ctx.database(name)``, whose
    files (``<name>.sqlite`` and SQLite's ``-wal``/``-shm``) live in the same directory
    and are not keys.
    """

    def __init__(self, directory: str | Path) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not key or len(key) > STORAGE_KEY_BYTES_MAX or "/" in key or key.startswith("."):
            raise ValueError(f"invalid storage key {key!r}")
        return self._dir / key

    def read(self, key: str) -> Future[bytes | None]:
        path = self._path(key)
        return Future.completed(path.read_bytes() if path.exists() else None)

    def write(self, key: str, data: bytes) -> Future[None]:
        """Write a temporary file, fsync it, rename it over the key: after a crash the
        key holds the old bytes or the new ones, never a torn mix. Durable (the rename
        itself) after ``sync``."""
        tmp = self._path(key).with_name(f".{key}.tmp")
        with tmp.open("wb") as fh:
            fh.write(bytes(data))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self._path(key))
        return Future.completed(None)

    def delete(self, key: str) -> Future[None]:
        self._path(key).unlink(missing_ok=True)
        return Future.completed(None)

    def sync(self) -> Future[None]:
        """Fsync the directory: every earlier write's rename (and delete) is durable."""
        fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return Future.completed(None)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(p.name for p in self._dir.iterdir()
                      if not p.name.startswith(".") and p.name.startswith(prefix)
                      and not _is_database_file(p.name))


def _is_database_file(name: str) -> bool:
    return name.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal"))


class LiveRuntime:
    """``Runtime`` on the real clock, driven by one anyio task."""

    #: No trace in production (the node then skips building trace records).
    tracing = False
    #: An actor with a backlog handles up to this many messages per step.
    messages_per_step = 64

    def __init__(self, node_name: str, *, seed: int | None = None,
                 storage: Any = None, database_dir: str | Path | None = None,
                 transport: Callable[[str, bytes], None] | None = None) -> None:
        self.node_name = node_name
        #: Where ``database(name)`` keeps ``<name>.sqlite``; None: images in ``storage``
        #: (memory unless a FileStorage was given: not durable across processes).
        self.database_dir = None if database_dir is None else Path(database_dir)
        self._ready: deque[Callable[[], None]] = deque()
        self._timers: list[tuple[int, int, _LiveTimer]] = []
        self._seq = 0
        self._wake: Callable[[], None] | None = None
        self._asyncio_loop: Any = None
        self._closing = False
        self._tg: anyio.abc.TaskGroup | None = None
        self._random = random.Random(seed)
        self._np_random = np.random.default_rng(seed)
        self._storage = storage if storage is not None else MemoryStorage()
        self._transport = transport
        if transport is not None:
            # Frames go straight to the transport (one call less on every remote send).
            self.send_remote = transport  # type: ignore[method-assign,assignment]
        self._log = structlog.get_logger("focusflow").bind(node=node_name)
        self.node: Node | None = None
        self.steps = 0
        self._bridge_calls = 0

    # -- Runtime -------------------------------------------------------------------------
    def now_ns(self) -> int:
        return time.monotonic_ns()

    @property
    def random(self) -> random.Random:
        return self._random

    @property
    def np_random(self) -> np.random.Generator:
        return self._np_random

    def schedule(self, step: Callable[[], None]) -> None:
        self._ready.append(step)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake()

    def schedule_input(self, deliver: Callable[[], None]) -> None:
        """Run ``deliver`` — frames arriving from outside this node, handed over by an
        in-process transport — in this runtime's order. Same as ``schedule`` here; a
        separate entry so an input recorder, which wraps ``schedule``, can tell an input
        from an actor's step (hence the class's ``schedule``, never a wrapper)."""
        LiveRuntime.schedule(self, deliver)

    def call_later(self, delay_ns: int, fn: Callable[[], None]) -> _LiveTimer:
        assert delay_ns >= 0
        timer = _LiveTimer(fn)
        self._seq += 1
        heapq.heappush(self._timers, (time.monotonic_ns() + delay_ns, self._seq, timer))
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake()
        return timer

    def send_remote(self, node: str, frame: bytes) -> None:
        if self._transport is None:
            assert self.node is not None
            self.node._dead_letter(DeadLetter(f"{node}:?", self.node_name, "?", "no_transport"))
            return
        self._transport(node, frame)

    def record(self, event: bytes) -> None:
        pass  # the live runtime keeps no trace (the simulator does)

    def storage(self) -> Any:
        return self._storage

    def database(self, name: str) -> Database:
        check_database_name(name)
        if self.database_dir is None:
            return open_image_database(self._storage, name)
        self.database_dir.mkdir(parents=True, exist_ok=True)
        return open_file_database(self.database_dir / f"{name}.sqlite", name=name)

    def bridge(self, fut: Future[T]) -> Awaitable[T]:
        return self.wait_for(fut)

    async def wait_for(self, fut: Future[T]) -> T:
        """Await a runtime future from a task of the system's event loop.

        Runnable steps are run right here first (the loop is single-threaded and steps
        never await, so this is the same work the driver would do): an outside ask whose
        answer needs no timer or I/O then completes without two task switches. A real
        checkpoint every ``BRIDGE_YIELD_EVERY`` calls keeps the loop fair; otherwise we
        wait for the driver.
        """
        ready = self._ready
        n = 0
        while ready and not fut.done() and n < STEPS_PER_YIELD and not self._closing:
            ready.popleft()()
            n += 1
        self.steps += n
        self._bridge_calls += 1
        if fut.done():
            if self._bridge_calls % BRIDGE_YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()
            else:
                await anyio.lowlevel.checkpoint_if_cancelled()
            return fut.result()
        return await _await_future(fut)

    def spawn_io(self, fn: Callable[[], Awaitable[T]]) -> Future[T]:
        if self._tg is None:
            raise RuntimeError("the actor system is not running")
        fut: Future[T] = Future()

        async def run_io() -> None:
            try:
                value = await fn()
            except Exception as exc:
                fut.try_set_exception(exc)
            else:
                fut.try_set_result(value)

        self._tg.start_soon(run_io)
        return fut

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        async def in_thread() -> T:
            return await anyio.to_thread.run_sync(fn, *args)

        return self.spawn_io(in_thread)

    def logger(self) -> Any:
        return self._log

    # -- the driver ------------------------------------------------------------------------
    def _fire_due_timers(self) -> int | None:
        """Move due timers to the ready queue; return ns until the next one (None: none)."""
        timers = self._timers
        now = time.monotonic_ns()
        while timers:
            when, _, timer = timers[0]
            if when > now:
                return when - now
            heapq.heappop(timers)
            if not timer.cancelled:
                self._ready.append(timer.fn)
        return None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
                  ) -> None:
        """Drive the node until ``close()``; steps raising are bugs and propagate."""
        task_status.started()
        ready = self._ready
        asyncio_loop = _asyncio_loop()
        self._asyncio_loop = asyncio_loop
        while not self._closing:
            n = 0
            while ready and n < STEPS_PER_YIELD:
                ready.popleft()()
                n += 1
            self.steps += n
            wait_ns = self._fire_due_timers()
            # Yield once before sleeping: an embedding task woken by this round (e.g. an
            # outside ask in a loop) usually posts new work right away, and catching it
            # here avoids the cost of an Event and a cancel scope per round trip.
            await anyio.lowlevel.checkpoint()
            if ready or self._closing:
                continue
            wait_ns = self._fire_due_timers()
            if ready:
                continue
            if asyncio_loop is not None:
                await self._idle_asyncio(asyncio_loop, wait_ns)
            else:
                await self._idle_anyio(wait_ns)
            self._wake = None

    async def _idle_anyio(self, wait_ns: int | None) -> None:
        event = anyio.Event()
        self._wake = event.set
        if wait_ns is None:
            await event.wait()
        else:
            with anyio.move_on_after(wait_ns / 1e9):
                await event.wait()

    async def _idle_asyncio(self, loop: Any, wait_ns: int | None) -> None:
        """The same wait with a bare asyncio future and call_later (no cancel scope)."""
        fut = loop.create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        self._wake = wake
        handle = None if wait_ns is None else loop.call_later(wait_ns / 1e9, wake)
        try:
            await fut
        finally:
            if handle is not None:
                handle.cancel()

    def close(self) -> None:
        """Stop the driver after its current step."""
        self._closing = True
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake()


def _asyncio_loop() -> Any:
    """The running asyncio loop, or None under trio (anyio's generic path then)."""
    if sniffio.current_async_library() != "asyncio":
        return None
    import asyncio

    return asyncio.get_running_loop()


async def _await_future(fut: Future[T]) -> T:
    """Await a runtime future from a task of the event loop (asyncio or trio)."""
    if not fut.done():
        if sniffio.current_async_library() == "asyncio":
            import asyncio

            waiter = asyncio.get_running_loop().create_future()

            def done(_f: Future[T]) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            fut.add_done_callback(done)
            await waiter
        else:
            event = anyio.Event()
            fut.add_done_callback(lambda _f: event.set())
            await event.wait()
    return fut.result()


class ActorSystem:
    """A live node inside an async program: ``async with ActorSystem() as system``.

    Works on asyncio and trio (anyio). Leaving the block stops every top-level actor in
    reverse start order (each with its shutdown timeout), then the driver.
    """

    def __init__(self, name: str = "local", *, seed: int | None = None,
                 encode_local: bool = True,
                 mailbox_depth_max: int = MAILBOX_DEPTH_MAX_DEFAULT,
                 overflow: str = "reject",
                 dead_letters_max: int = DEAD_LETTERS_MAX_DEFAULT,
                 storage_dir: str | Path | None = None,
                 transport: Callable[[str, bytes], None] | None = None) -> None:
        storage = FileStorage(storage_dir) if storage_dir is not None else None
        self.runtime = LiveRuntime(name, seed=seed, storage=storage, database_dir=storage_dir,
                                   transport=transport)
        self.node = Node(self.runtime, encode_local=encode_local,
                         mailbox_depth_max=mailbox_depth_max, overflow=overflow,
                         dead_letters_max=dead_letters_max)
        self.runtime.node = self.node
        self._tg: anyio.abc.TaskGroup | None = None
        self.name = name

    async def __aenter__(self) -> ActorSystem:
        assert self._tg is None, "an ActorSystem runs once"
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self.runtime._tg = self._tg
        await self._tg.start(self.runtime.run)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._tg is not None
        try:
            if exc_info[0] is None:
                await self.shutdown()
            else:
                self.node.kill_all()
        finally:
            self.runtime.close()
            # Every actor is gone: I/O still in flight has nobody to report to, so the
            # task group (driver and run_io tasks only) is cancelled. The body's own
            # exception, if any, propagates unwrapped.
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)

    # -- the embedding API -------------------------------------------------------------
    def spawn(self, cls: type[Actor], *args: Any, name: str | None = None, **kwargs: Any) -> ActorRef:
        """Start a top-level actor (see ``Context.spawn`` for options)."""
        return self.node.spawn(cls, *args, name=name, **kwargs)

    def spawn_spec(self, spec: ChildSpec) -> ActorRef:
        """Start a top-level actor (often a supervisor tree) from a child spec."""
        return self.node.spawn_spec(spec)

    async def ask(self, ref: ActorRef, msg: Any, *, timeout_ms: int = 5_000) -> Any:
        """Ask from the embedding program."""
        return await self.runtime.wait_for(self.node.ask(ref, msg, timeout_ms=timeout_ms))

    async def tell(self, ref: ActorRef, msg: Any) -> None:
        """Tell from the embedding program (waits while a local mailbox is full)."""
        await self.runtime.wait_for(self.node.tell(ref, msg))

    async def stop(self, ref: ActorRef, *, shutdown_ms: int | None = None) -> str:
        """Stop an actor and return its exit reason."""
        return await _await_future(self.node.stop(ref, shutdown_ms=shutdown_ms))

    async def wait_started(self, ref: ActorRef) -> None:
        """Wait for an actor's ``on_start`` (raises ActorStartError if it failed)."""
        await _await_future(self.node._wait_started(ref))

    async def shutdown(self) -> None:
        """Stop all top-level actors in reverse start order."""
        await _await_future(self.node.stop_all())

    def whereis(self, name: str) -> ActorRef | None:
        """The live actor registered under ``name``."""
        return self.node.whereis(name)

    def register(self, name: str, ref: ActorRef) -> None:
        """Register a local actor under ``name``."""
        self.node.register(name, ref)

    def dead_letters(self) -> list[DeadLetter]:
        """Recent dead letters."""
        return self.node.dead_letters()

    def receive_frame(self, frame: bytes) -> None:
        """Inject an encoded envelope from a transport (must run on the system's thread)."""
        self.node.receive_frame(frame)


class LoopbackNetwork:
    """Several live ``ActorSystem``s in one process and event loop, wired directly.

    For tests, examples and single-process deployments: a frame sent to another system
    becomes a step on that system's driver (still encoded: the envelope crosses as
    bytes). Frames to a name that is not (or no longer) attached are dead-lettered at
    the sender with reason ``unreachable``.
    """

    def __init__(self) -> None:
        self._systems: dict[str, ActorSystem] = {}
        #: Per receiving system: the batch of frames whose delivery step is scheduled
        #: but has not run yet (frames sent meanwhile join it: one step per batch).
        self._open: dict[str, list[bytes]] = {}

    def system(self, name: str, **options: Any) -> ActorSystem:
        """A new ``ActorSystem`` named ``name`` attached to this network.

        Raises:
            ValueError: the name is taken.
        """
        if name in self._systems:
            raise ValueError(f"a system named {name!r} is already attached")
        system = ActorSystem(name, transport=self._transport_for(name), **options)
        self._systems[name] = system
        return system

    def detach(self, name: str) -> None:
        """Disconnect a system (frames to it are dropped from now on)."""
        self._systems.pop(name, None)

    def _transport_for(self, sender: str) -> Callable[[str, bytes], None]:
        def send(node: str, frame: bytes) -> None:
            target = self._systems.get(node)
            if target is None:
                source = self._systems.get(sender)
                if source is not None:
                    source.node._dead_letter(DeadLetter(f"{node}:?", sender, "?", "unreachable"))
                return
            batch = self._open.get(node)
            if batch is not None and len(batch) < LOOPBACK_BATCH_FRAMES_MAX:
                batch.append(frame)  # its delivery step is already scheduled
                return
            batch = self._open[node] = [frame]
            target.runtime.schedule_input(partial(self._deliver, node, target, batch))

        return send

    def _deliver(self, node: str, target: ActorSystem, batch: list[bytes]) -> None:
        """One step on the receiver: every frame of the batch, in order (one scheduler
        turn per batch instead of one per frame; each frame is still decoded alone)."""
        if self._open.get(node) is batch:
            del self._open[node]
        target.node.receive_frames(batch)
