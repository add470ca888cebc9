"""The deterministic simulator: virtual time, a seeded scheduler, many nodes, one process.

Each node is an ordinary ``Node`` on a ``SimRuntime``. All runnable steps of all nodes go
into one ready list; the scheduler picks the next with a seeded RNG (so another seed is
another interleaving), or, with ``scheduler="fifo"``, in the order they became runnable
(the live runtime's order), and when nothing is runnable virtual time jumps to the next
timer or network arrival. A node may be *fed* (``add_node(feed=)``, ``_feed.py``): its
clock, timers, thread completions, storage reads and peers come from outside (a live
node's recording), while its steps run here like any other node's. Every delivery (and every crash, restart, partition, loss) is fed to
a running BLAKE3 hash: the same seed gives the same hash in any process and under any
``PYTHONHASHSEED``, because nothing here iterates a set or uses ``hash()``.
"""

from __future__ import annotations

import heapq
import random
import struct
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import blake3
import numpy as np

from focusflow.sim._disk import SimDisk
from focusflow.sim._feed import NodeFeed
from focusflow.sim._network import LinkConfig, SimNetwork
from focusflow.supervisor._actor import Actor
from focusflow.supervisor._database import Database, open_image_database
from focusflow.supervisor._future import Future
from focusflow.supervisor._node import RUNTIME_KNOBS, Node
from focusflow.wire import KIND_SYSTEM, Address, encode_envelope_fields, encode_message
from focusflow.wire.system import Down

T = TypeVar("T")

EVENTS_MAX_DEFAULT = 50_000_000
NODE_DOWN_MS_DEFAULT = 1_000.0
TRACE_TAIL_MAX_DEFAULT = 256
SCHEDULERS = ("seeded", "fifo")
_U32 = struct.Struct("<I")


def derive_seed(seed: int, label: str) -> int:
    """A 64-bit sub-seed for ``label``, stable across processes (BLAKE3, not hash())."""
    digest = blake3.blake3(f"focusflow.sim.seed:{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


class InvariantViolation(AssertionError):
    """An invariant registered with the simulation failed; the message says how to replay."""


class _NullLogger:
    """Drops log events: the simulator's default (its counters and trace say what happened).

    Pass ``log=structlog.get_logger()`` to ``Simulation`` to see actor logs.
    """

    def bind(self, **_kw: Any) -> _NullLogger:
        return self

    def _drop(self, *_a: Any, **_kw: Any) -> None:
        return None

    debug = info = warning = error = exception = critical = msg = _drop


class _SimTimer:
    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimRuntime:
    """``Runtime`` of one simulated node (one per node incarnation)."""

    tracing = True
    messages_per_step = 1  # every message is a scheduling point: most interleavings

    def __init__(self, sim: Simulation, node_name: str, generation: int, disk: SimDisk,
                 log: Any, *, feed: NodeFeed | None = None,
                 knobs: dict[str, Any] | None = None) -> None:
        self._sim = sim
        self.node_name = node_name
        self.generation = generation
        self.alive = True
        self._disk = disk
        #: Clock offset of this node (chaos clock skew); never decreases.
        self.skew_ns = 0
        label = f"node:{node_name}:{generation}"
        self._random = random.Random(derive_seed(sim.seed, label))
        self._np_random = np.random.default_rng(derive_seed(sim.seed, label + ":np"))
        self._log = log.bind(node=node_name, generation=generation)
        for knob, value in (knobs or {}).items():
            if knob not in RUNTIME_KNOBS:
                raise ValueError(f"unknown runtime knob {knob!r} (known: {RUNTIME_KNOBS})")
            setattr(self, knob, value)
        if feed is not None:
            # The node's world is the feed's: bound once here (instance attributes, as
            # the live runtime binds its transport), so unfed nodes pay nothing for it.
            self._random = random.Random(feed.seed)
            self._np_random = np.random.default_rng(feed.seed)
            self.now_ns = feed.now_ns  # type: ignore[method-assign]
            self.call_later = feed.call_later  # type: ignore[method-assign,assignment]
            self.run_blocking = feed.run_blocking  # type: ignore[method-assign]
            self.send_remote = feed.send_remote  # type: ignore[method-assign]
            self.storage = feed.storage  # type: ignore[method-assign]

    def now_ns(self) -> int:
        return self._sim.now_ns() + self.skew_ns

    @property
    def random(self) -> random.Random:
        return self._random

    @property
    def np_random(self) -> np.random.Generator:
        return self._np_random

    def schedule(self, step: Callable[[], None]) -> None:
        if self.alive:
            self._sim._ready.append(step)

    def call_later(self, delay_ns: int, fn: Callable[[], None]) -> _SimTimer:
        assert delay_ns >= 0
        timer = _SimTimer(fn)
        self._sim._push(self._sim.now_ns() + delay_ns, timer, self)
        return timer

    def send_remote(self, node: str, frame: bytes) -> None:
        if self.alive:
            self._sim.network.send(self.node_name, node, frame)

    def record(self, event: bytes) -> None:
        self._sim._record(self.node_name, event)

    def storage(self) -> SimDisk:
        return self._disk

    def database(self, name: str) -> Database:
        """The same SQLite code on an in-memory connection whose committed image is on
        this node's disk (synced at each commit; a crash keeps exactly the committed).
        Also for a fed node: its databases are rebuilt here from the same writes, and
        their reads are not inputs (a live node's database files never go through
        ``ctx.storage``)."""
        return open_image_database(self._disk, name)

    def bridge(self, fut: Future[T]) -> Awaitable[T]:
        return fut  # awaitable only from code the simulator drives (actors, scripts)

    def spawn_io(self, fn: Callable[[], Awaitable[T]]) -> Future[T]:
        raise RuntimeError("real I/O cannot run in the simulator; use ctx.storage")

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Inline: the work is pure, so running it now keeps the run deterministic."""
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def logger(self) -> Any:
        return self._log


class _NodeSlot:
    __slots__ = ("alive", "boot", "disk", "feed", "generation", "knobs", "node", "options",
                 "runtime", "skew_ns", "totals")

    def __init__(self, boot: Callable[[Node], None] | None, disk: SimDisk,
                 options: dict[str, Any], feed: NodeFeed | None = None,
                 knobs: dict[str, Any] | None = None) -> None:
        self.boot = boot
        self.disk = disk
        self.options = options
        self.feed = feed
        self.knobs = knobs
        self.generation = 0
        self.alive = False
        self.node: Node | None = None
        self.runtime: SimRuntime | None = None
        self.skew_ns = 0
        #: Counters of earlier (crashed) incarnations of the node, summed.
        self.totals: dict[str, int] = {}


class _Script(Actor):
    """Runs a test's or a scenario's coroutine as actor code (so it may await asks)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], result: Future[Any]) -> None:
        self._coro = coro
        self._result = result

    async def on_start(self) -> None:
        try:
            value = await self._coro
        except Exception as exc:
            self._result.try_set_exception(exc)
        else:
            self._result.try_set_result(value)
        self.ctx.stop()



def failure_detail(exc: BaseException) -> str:
    """What an invariant's failed assertion says: its message, else (a bare ``assert``)
    the exception type and the failing line, so a violation never prints an empty detail.
    """
    message = str(exc)
    name = type(exc).__name__
    if message:
        return message if name == "AssertionError" else f"{name}: {message}"
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return name
    last = frames[-1]
    return f"{name} at {Path(last.filename).name}:{last.lineno}: {(last.line or '').strip()}"

class Simulation:
    """A seeded, single-process world of simulated nodes. See ``docs/sim.md``."""

    def __init__(self, seed: int, *, link: LinkConfig | None = None,
                 invariant_every: int = 1, stop_on_violation: bool = False,
                 trace_tail_max: int = TRACE_TAIL_MAX_DEFAULT, log: Any = None,
                 node_down_ms: float | None = NODE_DOWN_MS_DEFAULT,
                 scheduler: str = "seeded") -> None:
        assert invariant_every >= 1 and trace_tail_max >= 0
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler {scheduler!r}: one of {SCHEDULERS}")
        #: "fifo": steps run in the order they became runnable, as the live runtime's
        #: trampoline runs them (replaying a live node); "seeded": a seeded pick.
        self.scheduler = scheduler
        self._fifo = scheduler == "fifo"
        self._feeds: list[NodeFeed] = []
        self._log: Any = _NullLogger() if log is None else log
        #: Delay before watchers across a crash or partition get Down("noconnection");
        #: None: never (remote watchers are then not told, as with no keep-alive).
        self.node_down_ms = node_down_ms
        self.seed = seed
        self._sched_rng = random.Random(derive_seed(seed, "scheduler"))
        self._net_rng = random.Random(derive_seed(seed, "network"))
        self._fault_rng = random.Random(derive_seed(seed, "faults"))
        self._now_ns = 0
        self._ready: list[Callable[[], None]] = []
        self._heap: list[tuple[int, int, _SimTimer, SimRuntime | None]] = []
        self._seq = 0
        self._slots: dict[str, _NodeSlot] = {}
        self.network = SimNetwork(self, link)
        self._hasher = blake3.blake3(b"focusflow.sim.trace.v1")
        self.trace_tail: deque[tuple[int, str, bytes]] = deque(maxlen=trace_tail_max)
        #: Steps executed so far.
        self.events = 0
        #: Trace records hashed so far (deliveries, crashes, network faults, ...).
        self.records = 0
        self._invariants: dict[str, Callable[[], bool | None]] = {}
        self.invariant_results: dict[str, bool] = {}
        self.violations: list[tuple[str, int, int, str]] = []
        self._step_hooks: list[Callable[[Simulation], None]] = []
        #: Called with (t_ns, node, event) for every trace record (chaos trace files).
        self.record_listener: Callable[[int, str, bytes], None] | None = None
        self.invariant_every = invariant_every
        self.stop_on_violation = stop_on_violation
        self.wall_seconds = 0.0

    # ==================================================================== nodes
    def add_node(self, name: str, *, boot: Callable[[Node], None] | None = None,
                 torn_writes: bool = False, feed: NodeFeed | None = None,
                 knobs: dict[str, Any] | None = None, **node_options: Any) -> Node:
        """Create and start a node; ``boot(node)`` spawns its actors (again on restart).

        ``feed``: the node's clock, timers, thread completions, storage reads, RNG seed
        and peers come from it (``_feed.py``); a fed node is not crashed or restarted.
        ``knobs``: runtime attributes that shape its steps (``RUNTIME_KNOBS``).
        """
        assert name and name not in self._slots, f"node {name!r} exists"
        slot = _NodeSlot(boot, SimDisk(torn_writes=torn_writes), node_options, feed, knobs)
        self._slots[name] = slot
        if feed is not None:
            self._feeds.append(feed)
        return self._start(name, slot)

    def _start(self, name: str, slot: _NodeSlot) -> Node:
        slot.generation += 1
        runtime = SimRuntime(self, name, slot.generation, slot.disk, self._log,
                             feed=slot.feed, knobs=slot.knobs)
        runtime.skew_ns = slot.skew_ns
        node = Node(runtime, **slot.options)
        slot.runtime, slot.node, slot.alive = runtime, node, True
        self._record_global(b"B" + name.encode() + _U32.pack(slot.generation))
        if slot.feed is not None:
            slot.feed.attach(node)
        if slot.boot is not None:
            slot.boot(node)
        return node

    def node(self, name: str) -> Node:
        """The current incarnation of a node (KeyError if unknown or crashed)."""
        slot = self._slots[name]
        if not slot.alive or slot.node is None:
            raise KeyError(f"node {name!r} is down")
        return slot.node

    def node_names(self) -> list[str]:
        """All node names, in creation order."""
        return list(self._slots)

    def is_up(self, name: str) -> bool:
        """Whether a node is running."""
        return self._slots[name].alive

    def _alive_node(self, name: str) -> Node | None:
        slot = self._slots.get(name)
        return slot.node if slot is not None and slot.alive else None

    def crash_node(self, name: str) -> None:
        """Crash a node: all its actors die at once, unsynced disk writes are lost,
        frames in flight to it are dropped. Watchers on other nodes get
        ``Down(reason="noconnection")`` after ``node_down_ms`` (as from the live
        transport's keep-alive), unless ``node_down_ms`` is None."""
        slot = self._slots[name]
        assert slot.alive and slot.node is not None and slot.runtime is not None
        assert slot.feed is None, "a fed node's life is its feed's"
        watches = self._remote_watches(name, lambda _other: True, forget=True)
        slot.runtime.alive = False  # nothing leaves the node from now on
        slot.node.kill_all()
        self._schedule_node_down(name, watches)
        for key, value in slot.node.stats.items():
            slot.totals[key] = slot.totals.get(key, 0) + value
        lost = slot.disk.crash(self._fault_rng)
        slot.alive = False
        self._record_global(b"K" + name.encode() + _U32.pack(lost))

    # -- node-down detection (parity with focusflow.net's transport) ---------------------
    def _remote_watches(self, name: str, cut: Callable[[str], bool], *,
                        forget: bool) -> list[tuple[str, str, str]]:
        """(watched path, watcher node, watcher path) for watches of actors on ``name``
        by actors on nodes for which ``cut(node)``; ``forget`` drops them on this side."""
        node = self._alive_node(name)
        if node is None:
            return []
        found: list[tuple[str, str, str]] = []
        for path in node.paths():
            cell = node._cells[path]
            for key in list(cell.watchers):
                watcher_node, watcher_path = key
                if watcher_node != name and cut(watcher_node):
                    found.append((path, watcher_node, watcher_path))
                    if forget:
                        node.drop_remote_watch(path, watcher_node, watcher_path)
        return found

    def _schedule_node_down(self, name: str, watches: list[tuple[str, str, str]],
                            still_cut: Callable[[str], bool] | None = None) -> None:
        if self.node_down_ms is None or not watches:
            return

        def deliver() -> None:
            for path, watcher_node, watcher_path in watches:
                target = self._alive_node(watcher_node)
                if target is None or (still_cut is not None and not still_cut(watcher_node)):
                    continue  # the watcher is gone, or the link came back in time
                watched = self._alive_node(name)
                if watched is not None:  # the watch is consumed, as by a dropped connection
                    watched.drop_remote_watch(path, watcher_node, watcher_path)
                type_id, data = encode_message(Down(Address(name, path), "noconnection", 0))
                target.receive_frame(encode_envelope_fields(
                    KIND_SYSTEM, 0, name, path, watcher_node, watcher_path, type_id, data))

        self.call_later(self.node_down_ms, deliver)

    def _partition_changed(self) -> None:
        """After a partition, watches across the cut fail like a dropped connection."""
        for name in self.node_names():
            def cut(other: str, name: str = name) -> bool:
                return not self.network.reachable(name, other)

            watches = self._remote_watches(name, cut, forget=False)
            self._schedule_node_down(name, watches, still_cut=cut)

    def disk(self, name: str) -> SimDisk:
        """The simulated disk of a node, for tests and tools: what its actors stored
        through ``ctx.storage`` (``keys``, ``read``), and the chaos switches. It survives
        ``crash_node``, losing what was not synced.

        Raises:
            KeyError: no node of that name was added.
        """
        slot = self._slots.get(name)
        if slot is None:
            raise KeyError(f"no node {name!r} in this simulation (add_node first)")
        return slot.disk

    def set_clock_skew(self, name: str, skew_ms: float) -> None:
        """Set a node's clock offset (kept across restarts). The offset may only grow:
        ``now_ns`` is monotonic, so a skew jumps a node's clock forward, never back."""
        slot = self._slots[name]
        skew_ns = int(skew_ms * 1_000_000)
        assert skew_ns >= slot.skew_ns, "a monotonic clock never goes back"
        slot.skew_ns = skew_ns
        if slot.runtime is not None:
            slot.runtime.skew_ns = skew_ns
        self._record_global(b"S" + name.encode() + struct.pack("<q", skew_ns))

    def restart_node(self, name: str) -> Node:
        """Start a crashed node again: fresh actors from ``boot``, the durable disk kept."""
        slot = self._slots[name]
        assert not slot.alive, f"node {name!r} is running"
        return self._start(name, slot)

    # ==================================================================== time and steps
    def now_ns(self) -> int:
        """Virtual time in nanoseconds."""
        return self._now_ns

    @property
    def virtual_seconds(self) -> float:
        """Virtual time in seconds."""
        return self._now_ns / 1e9

    def _push(self, when_ns: int, timer: _SimTimer, runtime: SimRuntime | None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when_ns, self._seq, timer, runtime))

    def _at(self, when_ns: int, fn: Callable[[], None]) -> _SimTimer:
        timer = _SimTimer(fn)
        self._push(max(when_ns, self._now_ns), timer, None)
        return timer

    def call_at(self, when_ns: int, fn: Callable[[], None]) -> _SimTimer:
        """Run ``fn`` as a step at virtual time ``when_ns`` (fault plans use this)."""
        return self._at(when_ns, fn)

    def call_later(self, delay_ms: float, fn: Callable[[], None]) -> _SimTimer:
        """Run ``fn`` as a step ``delay_ms`` from now."""
        return self._at(self._now_ns + int(delay_ms * 1_000_000), fn)

    def _advance(self, until_ns: int | None) -> bool:
        """Move due timers to the ready list, jumping virtual time; False if none left."""
        heap = self._heap
        while heap:
            when, _, timer, runtime = heap[0]
            if until_ns is not None and when > until_ns:
                return False
            heapq.heappop(heap)
            if timer.cancelled or (runtime is not None and not runtime.alive):
                continue
            assert when >= self._now_ns, "virtual time never goes back"
            self._now_ns = when
            self._ready.append(timer.fn)
            while heap and heap[0][0] == when:
                _, _, t2, r2 = heapq.heappop(heap)
                if not t2.cancelled and (r2 is None or r2.alive):
                    self._ready.append(t2.fn)
            return True
        return False

    def step(self, *, until_ns: int | None = None) -> bool:
        """Run one step; False when nothing is runnable before ``until_ns``."""
        ready = self._ready
        fn = None
        if self._feeds:  # inputs due between the last step and this one
            for feed in self._feeds:
                fn = feed.before_step(self.events)
                if fn is not None:
                    break
        if fn is None:
            if not ready and not self._advance(until_ns):
                return False
            if self._fifo:
                fn = ready.pop(0)
            else:
                i = self._sched_rng.randrange(len(ready)) if len(ready) > 1 else 0
                fn = ready[i]
                ready[i] = ready[-1]
                ready.pop()
        fn()
        self.events += 1
        for hook in self._step_hooks:
            hook(self)
        if self._invariants and self.events % self.invariant_every == 0:
            self.check_invariants()
        return True

    def run(self, *, for_ms: float | None = None, until_ns: int | None = None,
            until: Callable[[], bool] | None = None,
            max_events: int = EVENTS_MAX_DEFAULT) -> int:
        """Run until quiet, a virtual deadline, ``until()`` is true, or ``max_events``.

        Returns the number of steps run. With a deadline, virtual time ends exactly there.
        """
        if for_ms is not None:
            until_ns = self._now_ns + int(for_ms * 1_000_000)
        start = time.perf_counter()
        n = 0
        try:
            while n < max_events:
                if until is not None and until():
                    break
                if not self.step(until_ns=until_ns):
                    if until_ns is not None:
                        self._now_ns = max(self._now_ns, until_ns)
                    break
                n += 1
        finally:
            self.wall_seconds += time.perf_counter() - start
        return n

    def run_until_complete(self, awaitable: Future[T] | Coroutine[Any, Any, T], *,
                           node: str | None = None, timeout_ms: float = 3_600_000.0) -> T:
        """Run until a future (or a coroutine, run as actor code on ``node``) is done.

        Raises:
            TimeoutError: not done within ``timeout_ms`` of virtual time or the world
                went quiet first (a deadlock or a lost message).
            Whatever the coroutine raised.
        """
        if isinstance(awaitable, Future):
            fut = awaitable
        else:
            fut = Future()
            target = self.node(node or self.node_names()[0])
            target.spawn(_Script, awaitable, fut)
        deadline = self._now_ns + int(timeout_ms * 1_000_000)
        self.run(until=fut.done, until_ns=deadline)
        if not fut.done():
            raise TimeoutError(f"not done after {self.virtual_seconds:.3f} virtual s "
                               f"(seed {self.seed})")
        return fut.result()

    # ==================================================================== hooks
    def add_step_hook(self, hook: Callable[[Simulation], None]) -> None:
        """Call ``hook(sim)`` after every step (fault injection, probes)."""
        self._step_hooks.append(hook)

    def add_invariant(self, name: str, check: Callable[[], bool | None]) -> None:
        """Register an invariant checked after every ``invariant_every`` steps.

        ``check`` returns False or raises AssertionError when violated (None counts as
        held). Results are in ``invariant_results``; ``stop_on_violation`` makes the
        first violation raise ``InvariantViolation`` with the replay command.
        """
        assert name not in self._invariants, f"invariant {name!r} registered twice"
        self._invariants[name] = check
        self.invariant_results[name] = True

    def check_invariants(self) -> bool:
        """Check every invariant now; return whether all hold."""
        ok = True
        for name, check in self._invariants.items():
            try:
                held = check() is not False
                detail = ""
            except AssertionError as exc:
                held, detail = False, failure_detail(exc)
            if not held:
                ok = False
                if self.invariant_results[name]:
                    self.violations.append((name, self.events, self._now_ns, detail))
                self.invariant_results[name] = False
                if self.stop_on_violation:
                    raise InvariantViolation(
                        f"invariant {name!r} violated at step {self.events}, "
                        f"t={self.virtual_seconds:.6f}s {detail}; replay with seed {self.seed} "
                        f"(focusflow sim --seed {self.seed})")
        return ok

    # ==================================================================== trace
    def _record(self, node: str, event: bytes) -> None:
        nb = node.encode()
        self._hasher.update(_U32.pack(len(nb)) + nb + _U32.pack(len(event)) + event)
        self.records += 1
        if self.record_listener is not None:
            self.record_listener(self._now_ns, node, event)
        if self.trace_tail.maxlen:
            self.trace_tail.append((self._now_ns, node, event))

    def _record_global(self, event: bytes) -> None:
        self._record("", struct.pack("<Q", self._now_ns) + event)

    def trace_hash(self) -> str:
        """Hex BLAKE3 of the trace so far."""
        return self._hasher.copy().hexdigest()

    def statistics(self) -> dict[str, Any]:
        """Counters of the world, its network and its nodes (all incarnations summed)."""
        nodes = {}
        for name, slot in self._slots.items():
            if slot.node is not None:
                counters = dict(slot.node.stats)
                if slot.alive:  # a crashed node's counters are already in totals
                    for key, value in slot.totals.items():
                        counters[key] = counters.get(key, 0) + value
                else:
                    counters = dict(slot.totals)
                nodes[name] = dict(counters, alive=int(slot.alive), generation=slot.generation)
        return {"events": self.events, "records": self.records,
                "virtual_seconds": self.virtual_seconds, "network": dict(self.network.stats),
                "nodes": nodes}
