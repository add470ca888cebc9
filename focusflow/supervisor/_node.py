"""The actor core: one ``Node`` per runtime node, driving actor coroutines step by step.

A *step* runs one actor until its handler finishes or awaits a runtime ``Future``. The
runtime decides which runnable step goes next (FIFO live, seeded-random in the
simulator); nothing here reads the clock, RNG or network except through ``Runtime``.

Every message crosses the wire codec: the sender encodes an ``Envelope`` (payload nested
as Data), the receiving node decodes it before it reaches a mailbox. Local delivery takes
the same path unless the node was built with ``encode_local=False`` (benchmarks only).
"""

from __future__ import annotations

import contextvars
import inspect
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, Final

from focusflow.supervisor._actor import Actor, ActorRef, Context
from focusflow.supervisor._errors import (
    ActorCrashed,
    ActorNotFound,
    ActorStartError,
    AskTimeout,
    MailboxFull,
)
from focusflow.supervisor._future import Future
from focusflow.supervisor._gate import NODE_PATH, REMOTE_PATH_CHARS_MAX, RemoteGate, RemotePolicy
from focusflow.supervisor._runtime import Runtime, TimerHandle
from focusflow.supervisor._strategy import ChildSpec, resolve_class
from focusflow.wire import (
    KIND_ASK,
    KIND_ERROR,
    KIND_REPLY,
    KIND_SYSTEM,
    KIND_TELL,
    HopRoute,
    WireError,
    decode_hop,
    decode_hop_on,
    encode_hop,
    encode_hop_on,
    encode_message,
    hop_route,
    hop_template,
)
from focusflow.wire.system import Down, ErrorReply, Exit, Ping, Pong, Stop, Unwatch, Watch

MAILBOX_DEPTH_MAX_DEFAULT = 4096
STASH_MAX_DEFAULT = 4096
#: Runtime attributes a ``Node`` reads (``getattr(runtime, ...)``) that shape its steps: a
#: recording keeps a live node's values and a replay sets them (``Simulation.add_node(knobs=)``).
RUNTIME_KNOBS = ("tracing", "messages_per_step")
DEAD_LETTERS_MAX_DEFAULT = 1024
SHUTDOWN_MS_DEFAULT = 5_000
REF_CACHE_MAX = 4096
#: Encoded routes a ref keeps (one per recent sender); cleared when full.
HOPS_PER_REF_MAX = 64
OVERFLOW_POLICIES = ("reject", "dead_letter")

_STARTING, _RUNNING, _STOPPING, _DEAD = range(4)
_PHASE_START, _PHASE_RECEIVE, _PHASE_EXIT, _PHASE_STOP = range(4)
_H_RECEIVE, _H_EXIT, _H_CALL = 0, 1, 2

_NOTHING: Any = object()  # cell.resume: not runnable
_GO: Any = object()  # cell.resume: first send(None)
# cell.coro of a spawned actor whose on_start has not run yet: the coroutine is made on
# its first step, so a node dropped before it ever ran (a simulation built, not run)
# leaves no never-awaited coroutine behind.
_NOT_STARTED: Any = object()

_current: contextvars.ContextVar[_Cell | None] = contextvars.ContextVar(
    "focusflow_current_cell", default=None
)
_REC = struct.Struct("<cQI")
_TO_ACTORS = frozenset((KIND_TELL, KIND_ASK))
_ANSWERS = frozenset((KIND_REPLY, KIND_ERROR))
#: Runtime signals: from another node only as system envelopes, and only where justified
#: (``_remote_system_refusal``); never as an ordinary tell or ask an actor would handle.
_SIGNALS = frozenset((Down, Exit, Stop, Watch, Unwatch))


class DeadLetter:
    """A message that could not be delivered, kept for observation (bounded)."""

    __slots__ = ("message_type", "reason", "receiver", "sender")

    def __init__(self, receiver: str, sender: str, message_type: str, reason: str) -> None:
        self.receiver = receiver
        self.sender = sender
        self.message_type = message_type
        self.reason = reason

    def __repr__(self) -> str:
        return (f"DeadLetter(to={self.receiver}, from={self.sender}, "
                f"type={self.message_type}, reason={self.reason})")


#: What a mailbox holds for one message: (kind, message, sender ref or None, correlation
#: id, handler). A plain tuple, made once per message: a slots class costs about four
#: times as much to build, on the hot path of every message. Indexed by the names below.
_Delivery = tuple[int, Any, "ActorRef | None", int, int]
_KIND: Final = 0
_MSG: Final = 1
_SENDER: Final = 2
_CORR: Final = 3
_HANDLER: Final = 4


def _delivery(kind: int, msg: Any, sender: ActorRef | None, corr: int,
              handler: int = _H_RECEIVE) -> _Delivery:
    assert handler in (_H_RECEIVE, _H_EXIT, _H_CALL)
    return (kind, msg, sender, corr, handler)


class _Cell:
    """Everything the core keeps about one actor incarnation."""

    __slots__ = (
        "actor", "blocked", "children", "coro", "ctx", "current", "incarnation", "mailbox",
        "mailbox_depth_max", "name", "overflow", "parent", "path", "phase", "ref", "resume",
        "scheduled", "shutdown_ms", "skip_on_stop", "started", "stash", "state", "step",
        "stop_reason", "stopped", "sysq", "timers", "uid", "watchers", "watching",
    )

    def __init__(self, node: Node, parent: _Cell | None, name: str, path: str, uid: int,
                 mailbox_depth_max: int, overflow: str, shutdown_ms: int) -> None:
        self.parent = parent
        self.name = name
        self.path = path
        self.uid = uid
        #: How many actors have started at this path on this node, this one included.
        self.incarnation = 1
        self.ref = ActorRef(node.name, path, node)
        self.actor: Actor | None = None
        self.ctx: Context | None = None
        self.mailbox: deque[_Delivery] = deque()
        self.blocked: deque[tuple[Future[None], _Delivery]] = deque()
        self.sysq: deque[str] = deque()
        self.mailbox_depth_max = mailbox_depth_max
        self.overflow = overflow
        self.shutdown_ms = shutdown_ms
        self.children: dict[str, _Cell] = {}
        self.state = _STARTING
        self.phase = _PHASE_START
        self.coro: Coroutine[Any, Any, Any] | None = None
        self.resume: Any = _NOTHING
        self.scheduled = False
        self.current: _Delivery | None = None
        self.stash: list[_Delivery] = []
        self.timers: dict[str, TimerHandle] = {}
        self.watchers: dict[tuple[str, str], ActorRef] = {}
        self.watching: dict[tuple[str, str], ActorRef] = {}
        self.started: Future[None] = Future()
        self.stopped: Future[str] = Future()
        self.stop_reason = "normal"
        self.skip_on_stop = False
        self.step: Callable[[], None] = partial(node._step, self)


class DeferredReply:
    """The answer to one ask, given later (OTP's ``{noreply, _}`` + ``gen_server:reply``).

    Made by ``ctx.defer_reply()``; answer exactly once with ``reply`` or ``fail``, from
    actor code of the same node. Unanswered, the asker times out.
    """

    __slots__ = ("_cell", "_delivery", "_node", "answered")

    def __init__(self, node: Node, cell: _Cell, delivery: _Delivery) -> None:
        self._node = node
        self._cell = cell
        self._delivery = delivery
        self.answered = False

    def reply(self, value: Any) -> None:
        """Send ``value`` (a message or None) as the answer."""
        assert not self.answered, "an ask is answered once"
        self.answered = True
        self._node._reply(self._cell, self._delivery, value)

    def fail(self, message: str, *, error_type: str = "ActorCrashed") -> None:
        """Answer with an error: the asker's await raises (ActorCrashed by default)."""
        assert not self.answered, "an ask is answered once"
        self.answered = True
        self._node._reply_error(self._cell.path, self._delivery, error_type, message)


class _PendingAsk:
    __slots__ = ("future", "receiver")

    def __init__(self, future: Future[Any], receiver: ActorRef) -> None:
        self.future = future
        self.receiver = receiver


def current_cell() -> _Cell | None:
    """The actor being stepped right now on this thread (None outside actor code)."""
    return _current.get()


def _normal(reason: str) -> bool:
    return reason == "normal" or reason.startswith("shutdown")


class Node:
    """One node of actors on one ``Runtime``. Built by runtimes, never by users."""

    def __init__(self, runtime: Runtime, *, encode_local: bool = True,
                 mailbox_depth_max: int = MAILBOX_DEPTH_MAX_DEFAULT,
                 overflow: str = "reject",
                 dead_letters_max: int = DEAD_LETTERS_MAX_DEFAULT) -> None:
        assert overflow in OVERFLOW_POLICIES, overflow
        assert mailbox_depth_max >= 1 and dead_letters_max >= 1
        self.runtime = runtime
        self.name = runtime.node_name
        self.log: Any = runtime.logger()
        self.encode_local = encode_local
        self.mailbox_depth_max = mailbox_depth_max
        self.overflow = overflow
        self._cells: dict[str, _Cell] = {}
        self._top: dict[str, _Cell] = {}
        self._registry: dict[str, ActorRef] = {}
        #: Incarnations started per named path (anonymous ``$uid`` paths are never
        #: reused, so they are not kept: the table grows only with distinct names).
        self._incarnations: dict[str, int] = {}
        self._pending: dict[int, _PendingAsk] = {}
        # Ask deadlines: one FIFO per timeout value (deadlines in a FIFO only grow), and
        # one runtime timer for the earliest; cheaper than a timer per ask.
        self._ask_queues: dict[int, deque[tuple[int, int]]] = {}
        self._ask_timer: TimerHandle | None = None
        self._ask_timer_at = 0
        self._next_corr = 1
        self._next_uid = 1
        self._dead_letters: deque[DeadLetter] = deque(maxlen=dead_letters_max)
        self._dead_letter_listeners: list[Callable[[DeadLetter], None]] = []
        self.stats: dict[str, int] = dict.fromkeys(
            ("delivered", "dead_letters", "rejected", "malformed", "crashes", "restarts",
             "spawned", "asks", "ask_timeouts", "remote_sent", "refused"), 0)
        #: The door for envelopes from other nodes (see ``_gate``).
        self.gate = RemoteGate(self.name, self.log)
        self._factory = self.ref
        self._ref_cache: dict[tuple[str, str, str, str], ActorRef] = {}
        self.alive = True
        #: Whether the runtime keeps a trace (the simulator); the live runtime does not,
        #: so the hot path skips building trace records.
        self._tracing = bool(getattr(runtime, "tracing", True))
        #: Handlers one step may run back to back (live: fewer scheduler round trips).
        self._messages_per_step = int(getattr(runtime, "messages_per_step", 1))
        self._now_ns = runtime.now_ns
        assert 1 <= self._messages_per_step <= 4096

    # ==================================================================== public surface
    def ref(self, node: str, path: str) -> ActorRef:
        """A ref to (node, path) bound to this node for sending."""
        return ActorRef(node, path, self)

    def spawn(self, cls: type[Actor], *args: Any, name: str | None = None,
              mailbox_depth_max: int | None = None, overflow: str | None = None,
              shutdown_ms: int | None = None, **kwargs: Any) -> ActorRef:
        """Start a top-level actor under ``/user`` (see ``Context.spawn``); a ``name`` is
        also registered (``whereis(name)``) for as long as the actor lives.

        Raises:
            ValueError: the name is invalid, or taken by a running actor or registration.
        """
        self._check_unregistered(name)
        return self._registered(name, self._spawn(
            None, cls, args, kwargs, name=name, mailbox_depth_max=mailbox_depth_max,
            overflow=overflow, shutdown_ms=shutdown_ms).ref)

    def spawn_spec(self, spec: ChildSpec) -> ActorRef:
        """Start a top-level actor from a child spec (e.g. a tree from ``tree_from_toml``),
        registered under the spec's id like ``spawn(name=...)``."""
        self._check_unregistered(spec.id)
        return self._registered(spec.id, self._spawn(
            None, resolve_class(spec.start), spec.args, dict(spec.kwargs), name=spec.id,
            mailbox_depth_max=spec.mailbox_depth_max, overflow=spec.overflow,
            shutdown_ms=spec.shutdown_ms).ref)

    def _check_unregistered(self, name: str | None) -> None:
        if name is not None and self.whereis(name) is not None:
            raise ValueError(f"name {name!r} is already registered to {self.whereis(name)}")

    def _registered(self, name: str | None, ref: ActorRef) -> ActorRef:
        if name is not None and ref.path in self._cells:  # not if it failed at once
            self._registry[name] = ref
        return ref

    def register(self, name: str, ref: ActorRef) -> None:
        """Register ``ref`` under ``name``; unregistered automatically when it dies.

        Raises:
            ValueError: ``name`` is registered to a live actor, or ``ref`` is not local.
        """
        if ref.node != self.name:
            raise ValueError(f"can only register local actors, not {ref}")
        old = self._registry.get(name)
        if old is not None and old.path in self._cells:
            raise ValueError(f"name {name!r} is already registered to {old}")
        if ref.path not in self._cells:
            raise ValueError(f"{ref} is not alive")
        self._registry[name] = ref

    def unregister(self, name: str) -> None:
        """Remove a registration (no error if absent)."""
        self._registry.pop(name, None)

    def whereis(self, name: str) -> ActorRef | None:
        """The live actor registered under ``name``, or None."""
        ref = self._registry.get(name)
        if ref is None or ref.path not in self._cells:
            return None
        return ref

    def set_remote_policy(self, policy: RemotePolicy | None) -> None:
        """Which node may send which message to which actor here (see ``_gate``)."""
        self.gate.set_policy(policy)

    def peer_down(self, node: str) -> None:
        """The connection to ``node`` dropped: forget every watch it held here (Erlang
        drops a node's monitors on nodedown), so its table cannot outlive it."""
        for path, watcher_path in self.gate.watches.pop(node, ()):
            cell = self._cells.get(path)
            if cell is not None:
                cell.watchers.pop((node, watcher_path), None)

    def drop_remote_watch(self, path: str, node: str, watcher_path: str) -> None:
        """Forget one watch a remote actor held on the local actor at ``path`` (its link
        failed: the watcher gets ``Down(noconnection)`` from its own side)."""
        cell = self._cells.get(path)
        if cell is not None:
            cell.watchers.pop((node, watcher_path), None)
        self.gate.watch_removed(node, path, watcher_path)

    def dead_letters(self) -> list[DeadLetter]:
        """The most recent dead letters (bounded by ``dead_letters_max``)."""
        return list(self._dead_letters)

    def on_dead_letter(self, listener: Callable[[DeadLetter], None]) -> None:
        """Call ``listener`` for every future dead letter."""
        self._dead_letter_listeners.append(listener)

    def children_of(self, ref: ActorRef | None = None) -> list[ActorRef]:
        """Live children of a local actor (top-level actors if None), in start order."""
        if ref is None:
            return [c.ref for c in self._top.values()]
        cell = self._cells.get(ref.path)
        return [] if cell is None else [c.ref for c in cell.children.values()]

    def actor_of(self, ref: ActorRef) -> Actor | None:
        """The live actor object at a local ref (introspection, tests, replay tools).

        Reading its state from outside races with nothing only between steps (the
        simulator, or code running on the system's own thread); do not mutate it.
        """
        cell = self._cells.get(ref.path) if ref.node == self.name else None
        return None if cell is None or cell.state == _DEAD else cell.actor

    def paths(self) -> list[str]:
        """Paths of the live actors on this node, sorted."""
        return sorted(self._cells)

    def is_alive(self, ref: ActorRef) -> bool:
        """Whether a local actor is alive (started or starting, not yet dead)."""
        cell = self._cells.get(ref.path)
        return cell is not None and cell.state != _DEAD

    def incarnation(self, ref: ActorRef) -> int:
        """Which incarnation of the actor at ``ref`` is live: 1 for the first actor
        started at that path on this node, 2 after its first restart, ... (0 if none)."""
        cell = self._cells.get(ref.path)
        return 0 if cell is None else cell.incarnation

    def stopped(self, ref: ActorRef) -> Future[str]:
        """A future of the exit reason of the live local actor at ``ref`` ("noproc" now
        if there is none): how a process notices its top supervisor gave up."""
        cell = self._cells.get(ref.path) if ref.node == self.name else None
        return Future.completed("noproc") if cell is None else cell.stopped

    def mailbox_depth(self, ref: ActorRef) -> int:
        """Messages waiting in a local actor's mailbox."""
        cell = self._cells.get(ref.path)
        return 0 if cell is None else len(cell.mailbox)

    def actor_count(self) -> int:
        """Number of live actors on this node."""
        return len(self._cells)

    def ask(self, ref: ActorRef, msg: Any, *, timeout_ms: int = 5_000) -> Future[Any]:
        """Ask from outside any actor; returns a runtime future."""
        return self._ask(None, ref, msg, timeout_ms)

    def tell(self, ref: ActorRef, msg: Any) -> Future[None]:
        """Tell from outside any actor; the future completes once enqueued."""
        return self._tell(None, ref, msg, wait=True)

    def stop(self, ref: ActorRef, *, shutdown_ms: int | None = None) -> Future[str]:
        """Stop a local actor; the future gives its exit reason."""
        return self._stop_and_wait_ref(ref, shutdown_ms)

    def stop_all(self) -> Future[None]:
        """Stop every top-level actor in reverse start order, one after the other."""
        done: Future[None] = Future()
        order = list(reversed(list(self._top.values())))

        def next_one(_: Any = None) -> None:
            while order:
                cell = order.pop(0)
                if cell.state == _DEAD:
                    continue
                self._stop_and_wait(cell, cell.shutdown_ms).add_done_callback(next_one)
                return
            done.try_set_result(None)

        next_one()
        return done

    def kill_all(self) -> None:
        """Kill every actor at once without on_stop (a node crash)."""
        for cell in reversed(list(self._top.values())):
            self._kill(cell, "killed")
        self._pending.clear()
        self._ask_queues.clear()
        if self._ask_timer is not None:
            self._ask_timer.cancel()
            self._ask_timer = None
        self.alive = False

    # ==================================================================== spawning
    def _spawn(self, parent: _Cell | None, cls: type[Actor], args: tuple[Any, ...],
               kwargs: dict[str, Any], *, name: str | None, mailbox_depth_max: int | None,
               overflow: str | None, shutdown_ms: int | None) -> _Cell:
        assert isinstance(cls, type) and issubclass(cls, Actor), f"{cls!r} is not an Actor class"
        uid = self._next_uid
        self._next_uid += 1
        if name is None:
            name = f"${uid}"
        elif not name or "/" in name or name.startswith("$"):
            raise ValueError(f"invalid actor name {name!r}")
        siblings = self._top if parent is None else parent.children
        old = siblings.get(name)
        if old is not None and old.state != _DEAD:
            raise ValueError(f"an actor named {name!r} is already running here")
        if parent is not None and parent.state not in (_STARTING, _RUNNING):
            raise RuntimeError(f"{parent.path} is stopping; it cannot spawn")
        path = ("/user/" if parent is None else parent.path + "/") + name
        depth = mailbox_depth_max or self.mailbox_depth_max
        cell = _Cell(self, parent, name, path, uid, depth, overflow or self.overflow,
                     SHUTDOWN_MS_DEFAULT if shutdown_ms is None else shutdown_ms)
        if not name.startswith("$"):
            cell.incarnation = self._incarnations[path] = self._incarnations.get(path, 0) + 1
        actor = cls.__new__(cls)
        cell.actor = actor
        cell.ctx = actor.ctx = Context(self, cell)
        token = _current.set(cell)
        try:
            actor.__init__(*args, **kwargs)  # type: ignore[misc]
        finally:
            _current.reset(token)
        siblings[name] = cell
        self._cells[path] = cell
        self.stats["spawned"] += 1
        cell.coro = _NOT_STARTED
        cell.phase = _PHASE_START
        cell.resume = _GO
        self._schedule(cell)
        return cell

    # ==================================================================== the trampoline
    def _schedule(self, cell: _Cell) -> None:
        if not cell.scheduled:
            cell.scheduled = True
            self.runtime.schedule(cell.step)

    def _step(self, cell: _Cell) -> None:
        """Run one actor: resume its handler, or start up to ``messages_per_step`` handlers
        that complete without waiting (the simulator uses 1 for the finest interleaving)."""
        cell.scheduled = False
        if cell.state == _DEAD:
            return
        token = _current.set(cell)  # the actor whose code runs now (refs route through it)
        try:
            if cell.coro is not None:
                resume = cell.resume
                if resume is _NOTHING:
                    return
                cell.resume = _NOTHING
                self._drive(cell, resume)
            else:
                self._start_next(cell)
            budget = self._messages_per_step - 1
            while cell.coro is None and cell.state != _DEAD and (
                cell.sysq or (cell.state == _RUNNING and cell.mailbox)
            ):
                if budget <= 0:
                    self._schedule(cell)
                    return
                if not cell.sysq and len(cell.mailbox) > 1 and (
                        cell.mailbox[0][_HANDLER] == _H_RECEIVE):
                    budget = self._receive_run(cell, budget)
                    continue
                budget -= 1
                self._start_next(cell)
        finally:
            _current.reset(token)

    def _receive_run(self, cell: _Cell, budget: int) -> int:
        """``_start_next`` for a run of ordinary messages, as one coroutine (``_run``) that
        awaits each handler: a handler that finishes without waiting then returns its
        value to it inside the interpreter, with no StopIteration to make and catch per
        message (the hot path of every message once an actor has a backlog). Returns the
        budget left (0 if the run is suspended: it goes on when resumed)."""
        assert cell.coro is None and budget > 0
        cell.phase = _PHASE_RECEIVE
        cell.coro = run = self._run(cell, budget)
        try:
            yielded = run.send(None)
        except StopIteration as stop:
            cell.coro = None
            left: int = stop.value
            return left
        except Exception as exc:
            cell.coro = None
            self._handler_failed(cell, exc)
            return 0
        self._suspended(cell, run, yielded)
        return 0

    async def _run(self, cell: _Cell, budget: int) -> int:
        """Handle up to ``budget`` ordinary messages in order (see ``_receive_run``). Stops
        at anything else: a system request, another handler, a state change. A handler's
        exception ends the run with ``cell.current`` still its delivery, as a single
        handler's would; its awaits of runtime futures suspend the whole run."""
        mailbox = cell.mailbox
        blocked = cell.blocked
        actor = cell.actor
        assert actor is not None
        while budget > 0 and mailbox and cell.state == _RUNNING and not cell.sysq:
            d = mailbox.popleft()
            if d[_HANDLER] != _H_RECEIVE:
                mailbox.appendleft(d)
                break
            budget -= 1
            if blocked:  # room for one waiting sender
                fut, waiting = blocked.popleft()
                mailbox.append(waiting)
                fut.set_result(None)
            cell.current = d
            value = await actor.receive(d[_MSG])
            d = cell.current  # defer_reply() or stash() may have replaced it
            cell.current = None
            if d is not None and d[_KIND] == KIND_ASK:
                self._reply(cell, d, value)
        return budget

    def _start_next(self, cell: _Cell) -> None:
        if cell.sysq:
            reason = cell.sysq.popleft()
            if cell.state in (_STARTING, _RUNNING):
                self._begin_stop(cell, reason)
            return
        if cell.state != _RUNNING or not cell.mailbox:
            return
        d = cell.mailbox.popleft()
        if cell.blocked:
            fut, waiting = cell.blocked.popleft()
            cell.mailbox.append(waiting)
            fut.set_result(None)
        cell.current = d
        actor = cell.actor
        assert actor is not None
        if d[_HANDLER] == _H_RECEIVE:
            # Most handlers finish without awaiting: run the first step here, without
            # _drive/_handler_done (the hot path of every message; same outcomes).
            cell.phase = _PHASE_RECEIVE
            cell.coro = coro = actor.receive(d[_MSG])
            try:
                yielded = coro.send(None)
            except StopIteration as stop:
                cell.coro = None
                d = cell.current  # defer_reply() or stash() may have replaced it
                cell.current = None
                if d is not None and d[_KIND] == KIND_ASK:
                    self._reply(cell, d, stop.value)
                return
            except Exception as exc:
                cell.coro = None
                self._handler_failed(cell, exc)
                return
            self._suspended(cell, coro, yielded)
            return
        if d[_HANDLER] == _H_EXIT:
            cell.phase = _PHASE_EXIT
            cell.coro = actor.on_child_exit(d[_MSG])
        else:
            cell.phase = _PHASE_EXIT
            cell.coro = _invoke(actor, *d[_MSG])
        self._drive(cell, _GO)

    def _drive(self, cell: _Cell, resume: Any) -> None:
        coro = cell.coro
        assert coro is not None and _current.get() is cell, "only _step drives actors"
        if coro is _NOT_STARTED:
            assert cell.actor is not None and cell.phase == _PHASE_START
            coro = cell.coro = cell.actor.on_start()
        try:
            if resume is _GO:
                yielded = coro.send(None)
            elif resume._exc is not None:
                yielded = coro.throw(resume._exc)
            else:
                yielded = coro.send(resume._result)
        except StopIteration as stop:
            cell.coro = None
            self._handler_done(cell, stop.value)
            return
        except Exception as exc:
            cell.coro = None
            self._handler_failed(cell, exc)
            return
        self._suspended(cell, coro, yielded)

    def _suspended(self, cell: _Cell, coro: Any, yielded: Any) -> None:
        """A handler awaits ``yielded``: resume it when that runtime future completes."""
        if type(yielded) is Future:
            yielded.add_done_callback(partial(self._wake, cell, coro))
            return
        coro.close()
        cell.coro = None
        self._handler_failed(cell, TypeError(
            f"actor code awaited {type(yielded).__name__}; actors may only await what the "
            "runtime gives (ctx.ask, ctx.sleep, ctx.tell, ref.ask, storage, ctx.run_io)"))

    def _wake(self, cell: _Cell, coro: Any, fut: Future[Any]) -> None:
        if cell.coro is coro and cell.resume is _NOTHING and cell.state != _DEAD:
            cell.resume = fut
            self._schedule(cell)

    def _handler_done(self, cell: _Cell, value: Any) -> None:
        phase = cell.phase
        if phase == _PHASE_RECEIVE:
            d = cell.current
            cell.current = None
            if d is not None and d[_KIND] == KIND_ASK:
                self._reply(cell, d, value)
        elif phase == _PHASE_START:
            if cell.state == _STARTING:
                cell.state = _RUNNING
                cell.started.try_set_result(None)
        elif phase == _PHASE_STOP:
            self._finalize(cell, cell.stop_reason)
        else:
            cell.current = None

    def _handler_failed(self, cell: _Cell, exc: BaseException) -> None:
        phase = cell.phase
        reason = f"error:{type(exc).__name__}: {exc}"
        if phase == _PHASE_STOP:
            self.log.warning("on_stop_failed", actor=cell.path, error=repr(exc))
            self._finalize(cell, cell.stop_reason)
            return
        self.stats["crashes"] += 1
        self.log.warning("actor_crashed", actor=cell.path, error=repr(exc))
        self.runtime.record(b"C" + cell.path.encode() + b"\0" + type(exc).__name__.encode())
        if phase == _PHASE_START:
            cell.started.try_set_exception(ActorStartError(f"{cell.path}: {exc!r}"))
            cell.skip_on_stop = True
        d, cell.current = cell.current, None
        if phase == _PHASE_RECEIVE and d is not None and d[_KIND] == KIND_ASK:
            self._reply_error(cell.path, d, "ActorCrashed", f"{cell.path} crashed: {exc!r}")
        self._begin_stop(cell, reason)

    # ==================================================================== stopping
    def _begin_stop(self, cell: _Cell, reason: str) -> None:
        assert cell.coro is None and cell.state in (_STARTING, _RUNNING)
        cell.state = _STOPPING
        cell.stop_reason = reason
        for handle in cell.timers.values():
            handle.cancel()
        cell.timers.clear()
        cell.phase = _PHASE_STOP
        cell.coro = self._terminate(cell)
        cell.resume = _GO
        self._schedule(cell)

    async def _terminate(self, cell: _Cell) -> None:
        for child in reversed(list(cell.children.values())):
            if child.state != _DEAD:
                await self._stop_and_wait(child, child.shutdown_ms)
        if not cell.skip_on_stop and cell.actor is not None:
            try:
                await cell.actor.on_stop()
            except Exception as exc:
                self.log.warning("on_stop_failed", actor=cell.path, error=repr(exc))

    def _request_stop(self, ref: ActorRef, reason: str) -> None:
        if ref.node != self.name:
            self._send_system(None, ref, Stop(reason))
            return
        cell = self._cells.get(ref.path)
        if cell is None or cell.state in (_STOPPING, _DEAD):
            return
        cell.sysq.append(reason)
        if cell.coro is None:
            self._schedule(cell)

    def _stop_and_wait(self, cell: _Cell, shutdown_ms: int | None) -> Future[str]:
        """Graceful stop, then a brutal kill after ``shutdown_ms`` (0: kill at once)."""
        if cell.state == _DEAD:
            return cell.stopped
        if shutdown_ms == 0:
            self._kill(cell, "killed")
            return cell.stopped
        self._request_stop(cell.ref, "shutdown")
        if shutdown_ms is not None and shutdown_ms > 0:
            timer = self.runtime.call_later(
                int(shutdown_ms * 1_000_000), partial(self._kill_if_alive, cell))
            cell.stopped.add_done_callback(lambda _f: timer.cancel())
        return cell.stopped

    def _stop_and_wait_ref(self, ref: ActorRef, shutdown_ms: int | None) -> Future[str]:
        cell = self._cells.get(ref.path) if ref.node == self.name else None
        if cell is None:
            if ref.node != self.name:
                raise ValueError("stop_and_wait works on local actors only; use stop()")
            return Future.completed("noproc")
        return self._stop_and_wait(cell, cell.shutdown_ms if shutdown_ms is None else shutdown_ms)

    def _kill_if_alive(self, cell: _Cell) -> None:
        if cell.state != _DEAD:
            self.log.warning("shutdown_timeout_kill", actor=cell.path)
            self._kill(cell, "killed")

    def _kill(self, cell: _Cell, reason: str) -> None:
        """Brutal kill: children first (reverse order), no on_stop, coroutines closed."""
        if cell.state == _DEAD:
            return
        for child in reversed(list(cell.children.values())):
            self._kill(child, reason)
        coro, cell.coro = cell.coro, None
        if coro is not None and coro is not _NOT_STARTED:
            token = _current.set(cell)
            try:
                coro.close()
            except Exception as exc:  # a finally block that awaits
                self.log.warning("kill_close_failed", actor=cell.path, error=repr(exc))
            finally:
                _current.reset(token)
        cell.started.try_set_exception(ActorStartError(f"{cell.path} was killed"))
        self._finalize(cell, reason)

    def _finalize(self, cell: _Cell, reason: str) -> None:
        assert cell.state != _DEAD
        cell.state = _DEAD
        cell.coro = None
        for handle in cell.timers.values():
            handle.cancel()
        cell.timers.clear()
        if self._cells.get(cell.path) is cell:
            del self._cells[cell.path]
        siblings = self._top if cell.parent is None else cell.parent.children
        if siblings.get(cell.name) is cell:
            del siblings[cell.name]
        for name in [n for n, r in self._registry.items() if r.path == cell.path]:
            del self._registry[name]
        self.runtime.record(b"X" + cell.path.encode() + b"\0" + reason.encode())
        leftovers = [d for d in list(cell.mailbox) + cell.stash + [d for _, d in cell.blocked]
                     if d[_KIND] != KIND_SYSTEM]
        for fut, _ in cell.blocked:
            fut.try_set_result(None)
        cell.mailbox.clear()
        cell.blocked.clear()
        cell.stash.clear()
        for d in leftovers:
            self._undeliverable(cell.path, d, "stopped")
        cell.started.try_set_exception(ActorStartError(f"{cell.path} stopped: {reason}"))
        for watcher in list(cell.watchers.values()):
            self._send_system(cell, watcher, Down(cell.ref, reason, cell.incarnation))
            if watcher.node != self.name:
                self.gate.watch_removed(watcher.node, cell.path, watcher.path)
        cell.watchers.clear()
        for watched in list(cell.watching.values()):
            self._unwatch(cell, watched)
        parent = cell.parent
        if parent is not None and parent.state != _DEAD:
            self._send_system(cell, parent.ref, Exit(cell.ref, reason, cell.incarnation))
        elif parent is None and not _normal(reason) and reason != "killed":
            self.log.error("top_level_actor_died", actor=cell.path, reason=reason)
        cell.stopped.set_result(reason)

    # ==================================================================== sending
    def _encode(self, kind: int, corr: int, sender: ActorRef | None, ref: ActorRef,
                msg: Any) -> bytes:
        return encode_hop(kind, corr, self.name, "" if sender is None else sender.path,
                          ref.node, ref.path, msg)

    def _hop(self, key: Any, path: str, ref: ActorRef) -> HopRoute:
        """The encoded route from ``path`` on this node to ``ref``, kept on the ref under
        ``key`` (the sending cell, or this node for sends from outside any actor)."""
        hops = ref._hops
        route = hops.get(key)
        if route is None:
            if len(hops) >= HOPS_PER_REF_MAX:
                hops.clear()
            route = hops[key] = hop_route(self.name, path, ref.node, ref.path)
        assert route.names[0] == self.name and route.names[3] == ref.path
        return route

    def _tell(self, cell: _Cell | None, ref: ActorRef, msg: Any, wait: bool) -> Future[None]:
        """Send ``msg`` from ``cell`` (None: from outside) to ``ref``: encoded on the route
        kept on the ref, then handed to the transport or received here. The future is
        done unless a local mailbox is full and ``wait`` (then it completes when there is
        room).

        Raises:
            WireError: ``msg`` cannot be encoded (nothing was sent).
            MailboxFull: a local mailbox is full and not ``wait``.
        """
        local = ref.node == self.name
        if self.encode_local or not local:
            route = ref._hops.get(self if cell is None else cell)
            if route is None:
                route = self._hop(self if cell is None else cell,
                                  "" if cell is None else cell.path, ref)
            cls = msg.__class__
            write = route.writers.get(cls)
            if write is not None:  # a numbers-only message: one pack call
                frame = write(KIND_TELL, 0, msg)
            else:
                frame = encode_hop_on(route, KIND_TELL, 0, msg)
            if not local:
                self.stats["remote_sent"] += 1  # _send_remote, inline
                self.runtime.send_remote(ref.node, frame)
                return _DONE_NONE
            read = route.readers.get(cls)
            out = None if read is None or cell is None or self._tracing else read(frame)
            if out is not None:
                # The hot path of a tell between two actors of this node: the frame is
                # read back by this route's template reader (same verdict as decode_hop;
                # its route is route.names: sent by ``cell`` to ``ref``), then admitted
                # as _receive_frame would; anything unusual takes _receive_frame.
                target = self._cells.get(ref.path)
                if target is not None and target.state == _RUNNING and (
                        len(target.mailbox) < target.mailbox_depth_max) and (
                        out[0] == KIND_TELL):
                    assert cell is not None and out[2] is route.names
                    assert route.names[2] == self.name
                    target.mailbox.append((out[0], out[3], cell.ref, out[1], _H_RECEIVE))
                    self.stats["delivered"] += 1
                    if target.coro is None and not target.scheduled:
                        target.scheduled = True
                        self.runtime.schedule(target.step)
                    return _DONE_NONE
                return self._receive_frame(frame, True, wait, None, None, out)
            return self._receive_frame(frame, True, wait, route, cls)
        return self._admit(ref.path, _delivery(KIND_TELL, msg, None if cell is None else cell.ref,
                                               0), local=True, wait=wait)

    def _ask(self, cell: _Cell | None, ref: ActorRef, msg: Any, timeout_ms: int) -> Future[Any]:
        assert timeout_ms > 0, "every ask needs a positive timeout"
        corr = self._next_corr
        self._next_corr += 1
        fut: Future[Any] = Future()
        pending = self._pending
        pending[corr] = _PendingAsk(fut, ref)
        timeout_ns = int(timeout_ms * 1_000_000)
        queue = self._ask_queues.get(timeout_ns)
        deadline = self._now_ns() + timeout_ns
        if queue is not None and self._ask_timer is not None and deadline >= self._ask_timer_at:
            # The common case inline: the timer is armed for an earlier deadline.
            while queue and queue[0][1] not in pending:
                queue.popleft()  # answered already: forget its deadline
            queue.append((deadline, corr))
        else:
            self._arm_ask_deadline(corr, timeout_ns)
        self.stats["asks"] += 1
        sender = None if cell is None else cell.ref
        if self.encode_local or ref.node != self.name:
            route = ref._hops.get(self if cell is None else cell)
            if route is None:
                route = self._hop(self if cell is None else cell,
                                  "" if cell is None else cell.path, ref)
            frame = encode_hop_on(route, KIND_ASK, corr, msg)
            if ref.node != self.name:
                self._send_remote(ref.node, frame)
            else:
                self._receive_frame(frame, local=True, wait=True, route=route,
                                    cls=msg.__class__)
        else:
            self._admit(ref.path, _delivery(KIND_ASK, msg, sender or self._outside(), corr),
                        local=True, wait=True)
        return fut

    def _outside(self) -> ActorRef:
        return ActorRef(self.name, "", self)

    def _arm_ask_deadline(self, corr: int, timeout_ns: int) -> None:
        queue = self._ask_queues.get(timeout_ns)
        if queue is None:
            queue = self._ask_queues[timeout_ns] = deque()
        pending = self._pending
        while queue and queue[0][1] not in pending:
            queue.popleft()  # answered already: forget its deadline
        deadline = self.runtime.now_ns() + timeout_ns
        queue.append((deadline, corr))
        if self._ask_timer is None or deadline < self._ask_timer_at:
            if self._ask_timer is not None:
                self._ask_timer.cancel()
            self._ask_timer_at = deadline
            self._ask_timer = self.runtime.call_later(timeout_ns, self._ask_deadlines_due)

    def _ask_deadlines_due(self) -> None:
        self._ask_timer = None
        now = self.runtime.now_ns()
        pending = self._pending
        earliest: int | None = None
        for queue in self._ask_queues.values():
            while queue and (queue[0][1] not in pending or queue[0][0] <= now):
                deadline, corr = queue.popleft()
                if corr in pending and deadline <= now:
                    self._ask_timed_out(corr)
            if queue and (earliest is None or queue[0][0] < earliest):
                earliest = queue[0][0]
        if earliest is not None and self._ask_timer is None:
            self._ask_timer_at = earliest
            self._ask_timer = self.runtime.call_later(earliest - now, self._ask_deadlines_due)

    def _ask_timed_out(self, corr: int) -> None:
        pending = self._pending.pop(corr, None)
        if pending is not None:
            self.stats["ask_timeouts"] += 1
            pending.future.try_set_exception(
                AskTimeout(f"no answer from {pending.receiver} in time"))

    def _reply(self, cell: _Cell, d: _Delivery, value: Any) -> None:
        sender = d[_SENDER]
        assert sender is not None
        try:
            self._route_out(KIND_REPLY, d[_CORR], cell.path, sender, value, key=cell)
        except WireError as exc:
            self._reply_error(cell.path, d, "WireError", f"cannot encode the answer: {exc}")

    def _defer_reply(self, cell: _Cell) -> DeferredReply | None:
        d = cell.current
        if d is None or cell.phase != _PHASE_RECEIVE:
            raise RuntimeError("defer_reply() works only while handling a message")
        if d[_KIND] != KIND_ASK:
            return None
        cell.current = _delivery(KIND_TELL, d[_MSG], d[_SENDER], 0)  # no automatic answer
        return DeferredReply(self, cell, d)

    def _reply_error(self, path: str, d: _Delivery, error_type: str, text: str) -> None:
        sender = d[_SENDER]
        if sender is None:
            return
        self._route_out(KIND_ERROR, d[_CORR], path, sender, ErrorReply(error_type, text))

    def _route_out(self, kind: int, corr: int, path: str, to: ActorRef, obj: Any, *,
                   key: Any = None) -> None:
        """Send an answer (reply or error) to an asker, local or remote.

        Raises:
            WireError: ``obj`` cannot be encoded (nothing was sent).
        """
        if to.node != self.name or self.encode_local:
            if key is None:
                key = (self, path)  # unique per sending node and path, like a cell
            route = to._hops.get(key)
            if route is None:
                route = self._hop(key, path, to)
            frame = encode_hop_on(route, kind, corr, obj)
            if to.node != self.name:
                self._send_remote(to.node, frame)
            else:
                self._receive_frame(frame, local=True, wait=False, route=route,
                                    cls=obj.__class__)
        else:
            encode_message(obj)  # what cannot travel fails here too
            self._complete_ask(kind, corr, obj)

    def _send_system(self, cell: _Cell | None, ref: ActorRef, msg: Any) -> None:
        frame = self._encode(KIND_SYSTEM, 0, None if cell is None else cell.ref, ref, msg)
        if ref.node != self.name:
            self._send_remote(ref.node, frame)
        else:
            self._receive_frame(frame, local=True, wait=False)

    def _send_remote(self, node: str, frame: bytes) -> None:
        self.stats["remote_sent"] += 1
        self.runtime.send_remote(node, frame)

    # ==================================================================== receiving
    def receive_frame(self, frame: bytes) -> None:
        """Entry point for an encoded envelope arriving from another node."""
        if self.alive:
            self._receive_frame(frame, local=False, wait=False)

    def receive_frames(self, frames: list[bytes]) -> None:
        """``receive_frame`` for each of ``frames``, in order (a transport's batch).

        Frames of a batch mostly share a route and type, so each is first matched
        against the template of the previous one (``hop_template``): the same verdict
        as ``decode_hop``, without looking the template up per frame.
        """
        receive = self._receive_frame
        read = None
        texts: tuple[str, str, str, str] | None = None  # the route of the frames below
        sender: ActorRef | None = None
        target: _Cell | None = None
        open_door = self.gate.policy is None  # no policy: any class may reach any actor
        for frame in frames:
            if not self.alive:
                return
            out = None if read is None or self._tracing else read(frame)
            if out is None:
                receive(frame, False, False)
                read = hop_template(frame)
                continue
            if out[2] is not texts:  # a new route: who sends, and to which actor
                texts = out[2]
                if texts[2] != self.name or not self._remote_route_ok(texts):
                    texts = None
                    receive(frame, False, False, None, None, out)  # refused there
                    continue
                sender = (self._ref_cache.get(texts) or self._sender_ref(texts)) if (
                    texts[0]) else None
                target = self._cells.get(texts[3])
            # The common case as in _receive_frame: a tell to a running actor with room.
            if out[0] == KIND_TELL and target is not None and target.state == _RUNNING and (
                    len(target.mailbox) < target.mailbox_depth_max) and (
                    out[3].__class__ not in _SIGNALS) and (
                    open_door or self.gate.allows(texts[0], texts[3], out[3].__class__)):
                target.mailbox.append((KIND_TELL, out[3], sender, out[1], _H_RECEIVE))
                self.stats["delivered"] += 1
                if target.coro is None and not target.scheduled:
                    target.scheduled = True
                    self.runtime.schedule(target.step)
            else:
                receive(frame, False, False, None, None, out)

    def _receive_frame(self, frame: bytes, local: bool, wait: bool,
                       route: HopRoute | None = None, cls: type | None = None,
                       out: tuple[int, int, tuple[str, str, str, str], Any] | None = None,
                       ) -> Future[None]:
        """Decode and admit one frame. ``route`` and ``cls`` (local sends only) say how the
        frame was made, which lets the decoder pick its template first; ``out``: the frame
        already decoded by a template reader (``receive_frames``). The verdict on the
        bytes is the same either way (``decode_hop_on``, ``hop_template``)."""
        if self._tracing:
            self.runtime.record(_REC.pack(b"D", self.runtime.now_ns(), len(frame)) + frame)
        try:
            if out is not None:
                pass
            elif route is not None and cls is not None:
                read = route.readers.get(cls)  # decode_hop_on's first step, inline
                out = None if read is None else read(frame)
                if out is None:
                    out = decode_hop_on(route, cls, frame, address_factory=self._factory)
            else:
                out = decode_hop(frame, address_factory=self._factory)
            kind, corr, route_texts, msg = out
            sender_node, _sender_path, receiver_node, path = route_texts
            if receiver_node != self.name:
                raise WireError(f"envelope for node {receiver_node!r} reached {self.name!r}")
        except WireError as exc:
            self.stats["malformed"] += 1
            self.log.warning("malformed_frame", error=str(exc), local=local)
            self._dead_letter(DeadLetter("?", "?", "?", f"malformed: {exc.reason}"))
            if local:
                raise
            return _DONE_NONE
        if not local and not self._remote_admitted(kind, corr, route_texts, msg):
            return _DONE_NONE
        if kind in _TO_ACTORS:
            # The common case inline (a running actor with room); everything else in _admit.
            if sender_node:
                sender = self._ref_cache.get(route_texts)
                if sender is None:
                    sender = self._sender_ref(route_texts)
            else:
                sender = None
            cell = self._cells.get(path)  # never "/" (the node's own address)
            if cell is not None and cell.state == _RUNNING and (
                    len(cell.mailbox) < cell.mailbox_depth_max):
                cell.mailbox.append((kind, msg, sender, corr, _H_RECEIVE))
                self.stats["delivered"] += 1
                if cell.coro is None and not cell.scheduled:
                    cell.scheduled = True
                    self.runtime.schedule(cell.step)
                return _DONE_NONE
        if kind in _ANSWERS:
            self._complete_ask(kind, corr, msg)
            return _DONE_NONE
        if sender_node:
            sender = self._ref_cache.get(route_texts)
            if sender is None:
                sender = self._sender_ref(route_texts)
        else:
            sender = None
        if kind == KIND_SYSTEM:
            self._system(path, sender, msg)
            return _DONE_NONE
        if kind == KIND_ASK and path == "/" and type(msg) is Ping:
            d = _delivery(kind, msg, sender, corr)
            self._reply_node(d, Pong(msg.seq))
            return _DONE_NONE
        # The common case inline (a running actor with room); everything else in _admit.
        cell = self._cells.get(path)
        if cell is not None and cell.state == _RUNNING and (
                len(cell.mailbox) < cell.mailbox_depth_max):
            cell.mailbox.append(_delivery(kind, msg, sender, corr))
            self.stats["delivered"] += 1
            if cell.coro is None and not cell.scheduled:
                cell.scheduled = True
                self.runtime.schedule(cell.step)
            return _DONE_NONE
        return self._admit(path, _delivery(kind, msg, sender, corr), local=local, wait=wait)

    # ==================================================================== the door
    def _remote_route_ok(self, texts: tuple[str, str, str, str]) -> bool:
        """A route from another node: a sender node that is not us, paths of bounded size."""
        return bool(texts[0]) and texts[0] != self.name and (
            len(texts[1]) <= REMOTE_PATH_CHARS_MAX and len(texts[3]) <= REMOTE_PATH_CHARS_MAX)

    def _remote_admitted(self, kind: int, corr: int, texts: tuple[str, str, str, str],
                         msg: Any) -> bool:
        """Whether an envelope from another node may act here (see ``_gate``); a refused
        one is counted and logged, and a refused ask answered ``Unauthorized``."""
        node, sender_path, _, path = texts
        if not self._remote_route_ok(texts):
            self._refuse(node or "?", "bad_route", sender_path_chars=len(sender_path),
                         path_chars=len(path))
            return False
        if kind in _TO_ACTORS:
            if msg.__class__ in _SIGNALS:
                self._refuse(node, "signal_as_message", actor=path, message=type(msg).__name__)
                return False
            if (path == NODE_PATH and type(msg) is Ping) or self.gate.allows(
                    node, path, msg.__class__):
                return True
            self._refuse(node, "not_authorized", actor=path, message=type(msg).__name__)
            if kind == KIND_ASK:
                d = _delivery(kind, msg, self._sender_ref(texts), corr)
                self._reply_error(path, d, "Unauthorized",
                                  f"{node} may not send {type(msg).__name__} to {path}")
            return False
        if kind in _ANSWERS:
            pending = self._pending.get(corr)
            if pending is not None and pending.receiver.node != node:
                self._refuse(node, "answer_not_asked", corr=corr)
                return False
            return True
        reason = self._remote_system_refusal(node, path, msg)
        if reason is not None:
            self._refuse(node, reason, actor=path, message=type(msg).__name__)
            return False
        return True

    def _remote_system_refusal(self, node: str, path: str, msg: Any) -> str | None:
        """Why a system message from ``node`` is not justified here (None: it is)."""
        kind = type(msg)
        if kind is Exit:
            return "exit_from_remote"  # a parent lives on its child's node: no remote link
        if kind is Stop:
            return "stop_from_remote"  # stopping is a local, supervised decision
        if kind is Down:
            return None if msg.actor.node == node else "down_for_other_node"
        if kind is Watch or kind is Unwatch:
            watcher = msg.watcher
            if watcher.node != node:
                return "watch_for_other_node"
            if len(watcher.path) > REMOTE_PATH_CHARS_MAX:
                return "bad_route"
            cell = self._cells.get(path)
            if kind is Watch and (cell is None or (node, watcher.path) not in cell.watchers):
                return self.gate.may_watch(node, path)
        return None

    def _refuse(self, node: str, reason: str, **details: Any) -> None:
        self.stats["refused"] += 1
        self.gate.refuse(node, reason, **details)

    def _sender_ref(self, route: tuple[str, str, str, str]) -> ActorRef:
        """Refs are immutable, so the senders of recent routes are reused (bounded; keyed
        by the decoded route, which the hop codec shares between frames)."""
        ref = self._ref_cache.get(route)
        if ref is None:
            if len(self._ref_cache) >= REF_CACHE_MAX:
                self._ref_cache.clear()
            ref = self._ref_cache[route] = ActorRef(route[0], route[1], self)
        return ref

    def _reply_node(self, d: _Delivery, value: Any) -> None:
        sender = d[_SENDER]
        assert sender is not None
        self._route_out(KIND_REPLY, d[_CORR], "/", sender, value)

    def _complete_ask(self, kind: int, corr: int, msg: Any) -> None:
        pending = self._pending.pop(corr, None)
        if pending is None:
            return  # late answer after a timeout: nobody waits any more
        if not self._pending and self._ask_timer is not None:
            # Nothing left to time out: drop the deadline timer so an idle node is quiet.
            self._ask_timer.cancel()
            self._ask_timer = None
            for queue in self._ask_queues.values():
                queue.clear()
        if kind == KIND_REPLY:
            pending.future.set_result(msg)
            return
        assert isinstance(msg, ErrorReply)
        exc: Exception
        if msg.error_type == "ActorNotFound":
            exc = ActorNotFound(msg.message)
        elif msg.error_type == "MailboxFull":
            exc = MailboxFull(msg.message)
        else:
            exc = ActorCrashed(msg.message, error_type=msg.error_type)
        pending.future.set_exception(exc)

    def _admit(self, path: str, d: _Delivery, *, local: bool, wait: bool) -> Future[None]:
        cell = self._cells.get(path)
        if cell is None or cell.state >= _STOPPING:
            self._undeliverable(path, d, "noproc")
            return _DONE_NONE
        if len(cell.mailbox) < cell.mailbox_depth_max:
            cell.mailbox.append(d)
            self.stats["delivered"] += 1
            if cell.coro is None and cell.state == _RUNNING:
                self._schedule(cell)
            return _DONE_NONE
        if local:
            if not wait:
                raise MailboxFull(f"mailbox of {path} is full ({cell.mailbox_depth_max})")
            fut: Future[None] = Future()
            cell.blocked.append((fut, d))
            return fut
        self.stats["rejected"] += 1
        if cell.overflow == "reject" and d[_KIND] == KIND_ASK:
            self._reply_error(path, d, "MailboxFull", f"mailbox of {path} is full")
        self._dead_letter(DeadLetter(path, _who(d), type(d[_MSG]).__name__, "mailbox_full"))
        return _DONE_NONE

    def _undeliverable(self, path: str, d: _Delivery, reason: str) -> None:
        if d[_KIND] == KIND_ASK:
            self._reply_error(path, d, "ActorNotFound", f"no actor at {self.name}:{path} ({reason})")
        self._dead_letter(DeadLetter(path, _who(d), type(d[_MSG]).__name__, reason))

    def _dead_letter(self, letter: DeadLetter) -> None:
        self.stats["dead_letters"] += 1
        self._dead_letters.append(letter)
        self.runtime.record(b"L" + repr(letter).encode())
        for listener in self._dead_letter_listeners:
            listener(letter)

    def _system(self, path: str, sender: ActorRef | None, msg: Any) -> None:
        cell = self._cells.get(path)
        if type(msg) is Down or type(msg) is Exit:
            if cell is None or cell.state == _DEAD:
                self._dead_letter(DeadLetter(path, str(sender), type(msg).__name__, "noproc"))
                return
            if type(msg) is Down and (msg.actor.node, msg.actor.path) not in cell.watching:
                return  # unwatched meanwhile
            if type(msg) is Down:
                del cell.watching[(msg.actor.node, msg.actor.path)]
            handler = _H_RECEIVE if type(msg) is Down else _H_EXIT
            cell.mailbox.append(_delivery(KIND_SYSTEM, msg, sender, 0, handler))
            if cell.coro is None and cell.state == _RUNNING:
                self._schedule(cell)
        elif type(msg) is Stop:
            self._request_stop(self.ref(self.name, path), msg.reason)
        elif type(msg) is Watch:
            watcher = msg.watcher
            assert isinstance(watcher, ActorRef)
            if cell is None or cell.state == _DEAD:
                self._send_system(None, watcher, Down(self.ref(self.name, path), "noproc", 0))
            else:
                cell.watchers[(watcher.node, watcher.path)] = watcher
                if watcher.node != self.name:
                    self.gate.watch_added(watcher.node, path, watcher.path)
        elif type(msg) is Unwatch:
            if cell is not None:
                cell.watchers.pop((msg.watcher.node, msg.watcher.path), None)
            if msg.watcher.node != self.name:
                self.gate.watch_removed(msg.watcher.node, path, msg.watcher.path)
        else:
            self._dead_letter(DeadLetter(path, str(sender), type(msg).__name__, "bad_system"))

    # ==================================================================== watch, timers
    def _watch(self, cell: _Cell, ref: ActorRef) -> None:
        key = (ref.node, ref.path)
        if key in cell.watching:
            return
        cell.watching[key] = ref
        if ref.node != self.name:
            self._send_system(cell, ref, Watch(cell.ref))
            return
        target = self._cells.get(ref.path)
        if target is None or target.state == _DEAD:
            self._send_system(None, cell.ref, Down(ref, "noproc", 0))
        else:
            target.watchers[(self.name, cell.path)] = cell.ref

    def _unwatch(self, cell: _Cell, ref: ActorRef) -> None:
        cell.watching.pop((ref.node, ref.path), None)
        if ref.node != self.name:
            self._send_system(cell, ref, Unwatch(cell.ref))
            return
        target = self._cells.get(ref.path)
        if target is not None:
            target.watchers.pop((self.name, cell.path), None)

    def _sleep(self, delay_ms: float) -> Future[None]:
        assert delay_ms >= 0
        fut: Future[None] = Future()
        self.runtime.call_later(int(delay_ms * 1_000_000), lambda: fut.set_result(None))
        return fut

    def _start_timer(self, cell: _Cell, key: str, delay_ms: float, msg: Any,
                     repeat: bool) -> None:
        assert delay_ms > 0 or not repeat, "a repeating timer needs a positive period"
        encode_message(msg)  # fail now, in the caller, if msg cannot travel
        old = cell.timers.pop(key, None)
        if old is not None:
            old.cancel()
        delay_ns = int(delay_ms * 1_000_000)

        def fire() -> None:
            if cell.state != _RUNNING or cell.timers.get(key) is not handle_box[0]:
                return
            if repeat:
                handle_box[0] = cell.timers[key] = self.runtime.call_later(delay_ns, fire)
            else:
                del cell.timers[key]
            frame = self._encode(KIND_TELL, 0, cell.ref, cell.ref, msg)
            if self._tracing:
                self.runtime.record(_REC.pack(b"T", self.runtime.now_ns(), len(frame)) + frame)
            obj = decode_hop(frame, address_factory=self._factory)[3]
            cell.mailbox.append(_delivery(KIND_TELL, obj, cell.ref, 0))
            if cell.coro is None:
                self._schedule(cell)

        handle_box: list[TimerHandle] = [self.runtime.call_later(delay_ns, fire)]
        cell.timers[key] = handle_box[0]

    # ==================================================================== stash
    def _stash(self, cell: _Cell) -> None:
        d = cell.current
        if d is None or cell.phase != _PHASE_RECEIVE:
            raise RuntimeError("stash() works only while handling a message")
        if len(cell.stash) >= STASH_MAX_DEFAULT:
            raise MailboxFull(f"stash of {cell.path} is full ({STASH_MAX_DEFAULT})")
        cell.stash.append(d)
        if d[_KIND] == KIND_ASK:
            cell.current = _delivery(KIND_TELL, d[_MSG], d[_SENDER], 0)  # answered on unstash

    def _unstash_all(self, cell: _Cell) -> int:
        n = len(cell.stash)
        cell.mailbox.extendleft(reversed(cell.stash))
        cell.stash.clear()
        return n

    def call_in_actor(self, ref: ActorRef, name: str, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Future[Any]:
        """Run ``actor.<name>(*args, **kwargs)`` (or read the attribute) inside a local
        actor, in turn with its messages: the node-local channel behind Pykka-style
        proxies. An exception goes to the future; the actor does not crash (as in Pykka).
        """
        fut: Future[Any] = Future()
        cell = self._cells.get(ref.path) if ref.node == self.name else None
        if cell is None or cell.state >= _STOPPING:
            fut.set_exception(ActorNotFound(f"{ref} is not a live local actor"))
            return fut
        self._admit(ref.path, _delivery(KIND_TELL, (name, args, kwargs, fut), None, 0, _H_CALL),
                    local=True, wait=False)
        return fut

    def _wait_started(self, ref: ActorRef) -> Future[None]:
        cell = self._cells.get(ref.path) if ref.node == self.name else None
        if cell is None:
            fut: Future[None] = Future()
            fut.set_exception(ActorNotFound(f"{ref} is not a live local actor"))
            return fut
        return cell.started

    # ==================================================================== ref helpers
    def _router_for_call(self) -> tuple[Node, _Cell | None]:
        cell = _current.get()
        if cell is None:
            return self, None
        actor_ctx = cell.ctx
        assert actor_ctx is not None
        return actor_ctx._node, cell

    def _ref_tell(self, ref: ActorRef, msg: Any) -> Awaitable[None]:
        node, cell = self._router_for_call()
        fut = node._tell(cell, ref, msg, wait=True)
        return fut if cell is not None else node.runtime.bridge(fut)

    def _ref_tell_nowait(self, ref: ActorRef, msg: Any) -> None:
        node, cell = self._router_for_call()
        node._tell(cell, ref, msg, wait=False)

    def _ref_ask(self, ref: ActorRef, msg: Any, timeout_ms: int) -> Awaitable[Any]:
        node, cell = self._router_for_call()
        fut = node._ask(cell, ref, msg, timeout_ms)
        return fut if cell is not None else node.runtime.bridge(fut)


async def _invoke(actor: Actor, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                  fut: Future[Any]) -> None:
    try:
        attr = getattr(actor, name)
        value = attr(*args, **kwargs) if callable(attr) else attr
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        fut.try_set_exception(exc)
    else:
        fut.try_set_result(value)


def _who(d: _Delivery) -> str:
    return "outside" if d[_SENDER] is None else str(d[_SENDER])


_DONE_NONE: Future[None] = Future.completed(None)
