"""``Actor``, ``ActorRef`` and the per-actor ``Context``.

Users subclass ``Actor`` and never construct runtime objects: refs come from ``spawn``,
from messages and from the registry; the context is installed before ``__init__`` runs.
"""

from __future__ import annotations

import random  # runtime-ok: the type of ctx.random, which the Runtime provides
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from focusflow.supervisor._future import Future
from focusflow.wire import Address, HopRoute
from focusflow.wire.system import Exit

if TYPE_CHECKING:
    from focusflow.supervisor._database import Database
    from focusflow.supervisor._node import DeferredReply, Node, _Cell
    from focusflow.supervisor._runtime import Storage, TimerHandle

A = TypeVar("A", bound="Actor")

#: Default ask timeout; every ask has one (no unbounded waits).
ASK_TIMEOUT_MS_DEFAULT = 5_000


class ActorRef(Address):
    """A location-transparent handle to an actor: node name + path.

    Equality and hashing use only (node, path), so a ref that came over the wire equals
    the one returned by ``spawn``. Inside actor code, sends go through the current
    actor's node (which is then the sender); outside, through the node that made the ref.
    """

    __slots__ = ("_hops", "_router")

    _router: Node
    #: The encoded routes of recent senders to this ref (key: the sending cell, or the
    #: node for sends from outside any actor), so that a send skips the route table;
    #: bounded by ``HOPS_PER_REF_MAX`` in the node. Not part of equality or hashing.
    _hops: dict[Any, HopRoute]

    def __init__(self, node: str, path: str, router: Node) -> None:
        super().__init__(node, path)
        object.__setattr__(self, "_router", router)
        object.__setattr__(self, "_hops", {})

    def tell(self, msg: Any) -> Awaitable[None]:
        """Send ``msg``; awaiting it waits while a local receiver's mailbox is full."""
        return self._router._ref_tell(self, msg)

    def tell_nowait(self, msg: Any) -> None:
        """Send ``msg`` now.

        Raises:
            MailboxFull: the (local) receiver's mailbox is full.
            WireError: ``msg`` is not an encodable message.
        """
        self._router._ref_tell_nowait(self, msg)

    def ask(self, msg: Any, *, timeout_ms: int = ASK_TIMEOUT_MS_DEFAULT) -> Awaitable[Any]:
        """Send ``msg`` and await the receiver's return value.

        Raises (when awaited):
            AskTimeout: no answer within ``timeout_ms``.
            ActorNotFound: no such actor (or it died before answering).
            ActorCrashed: the receiver raised while handling it.
            MailboxFull: a remote receiver rejected it (overflow policy "reject").
        """
        return self._router._ref_ask(self, msg, timeout_ms)


class Context:
    """An actor's window on the runtime (``self.ctx``). One per actor incarnation."""

    __slots__ = ("_cell", "_node", "log")

    def __init__(self, node: Node, cell: _Cell) -> None:
        self._node = node
        self._cell = cell
        self.log: Any = node.log.bind(actor=cell.path)

    # -- identity --------------------------------------------------------------------
    @property
    def self_ref(self) -> ActorRef:
        """This actor's ref."""
        return self._cell.ref

    @property
    def parent(self) -> ActorRef | None:
        """The parent's ref (None for a top-level actor)."""
        parent = self._cell.parent
        return None if parent is None else parent.ref

    @property
    def node_name(self) -> str:
        """The node this actor runs on."""
        return self._node.name

    @property
    def sender(self) -> ActorRef | None:
        """Sender of the message being handled (None if sent from outside any actor)."""
        current = self._cell.current
        return None if current is None else current[2]  # the delivery's sender

    @property
    def incarnation(self) -> int:
        """Node-unique id of this incarnation (changes on every restart)."""
        return self._cell.uid

    # -- messaging -------------------------------------------------------------------
    def tell(self, ref: ActorRef, msg: Any) -> Future[None]:
        """Send ``msg`` to ``ref``; await the result to respect local backpressure."""
        return self._node._tell(self._cell, ref, msg, True)

    def tell_nowait(self, ref: ActorRef, msg: Any) -> None:
        """Send now or raise ``MailboxFull``."""
        self._node._tell(self._cell, ref, msg, wait=False)

    def ask(self, ref: ActorRef, msg: Any, *, timeout_ms: int = ASK_TIMEOUT_MS_DEFAULT) -> Future[Any]:
        """Send ``msg`` and await the answer (see ``ActorRef.ask`` for errors)."""
        return self._node._ask(self._cell, ref, msg, timeout_ms)

    def defer_reply(self) -> DeferredReply | None:
        """Answer the ask being handled later, through the returned handle (None if the
        current message is not an ask). The handler's return value is then ignored."""
        return self._node._defer_reply(self._cell)

    # -- lifecycle -------------------------------------------------------------------
    def spawn(self, cls: type[Actor], *args: Any, name: str | None = None,
              mailbox_depth_max: int | None = None, overflow: str | None = None,
              shutdown_ms: int | None = None, **kwargs: Any) -> ActorRef:
        """Start a child actor; returns at once (``on_start`` runs as its first step).

        Raises:
            ValueError: ``name`` is taken by a live sibling or malformed.
        """
        cell = self._node._spawn(self._cell, cls, args, kwargs, name=name,
                                 mailbox_depth_max=mailbox_depth_max, overflow=overflow,
                                 shutdown_ms=shutdown_ms)
        return cell.ref

    def stop(self, ref: ActorRef | None = None, *, reason: str = "normal") -> None:
        """Ask ``ref`` (default: this actor) to stop gracefully after its current message."""
        self._node._request_stop(ref or self._cell.ref, reason)

    def stop_and_wait(self, ref: ActorRef, *, shutdown_ms: int | None = None) -> Future[str]:
        """Stop a local actor and await its exit reason; killed after ``shutdown_ms``."""
        return self._node._stop_and_wait_ref(ref, shutdown_ms)

    def wait_started(self, ref: ActorRef) -> Future[None]:
        """Await a local actor's ``on_start`` (raises ActorStartError if it failed)."""
        return self._node._wait_started(ref)

    def watch(self, ref: ActorRef) -> None:
        """Get a ``Down`` message when ``ref`` terminates (at once if it already has)."""
        self._node._watch(self._cell, ref)

    def unwatch(self, ref: ActorRef) -> None:
        """Cancel a watch (a Down already queued may still arrive)."""
        self._node._unwatch(self._cell, ref)

    # -- time --------------------------------------------------------------------------
    def now_ns(self) -> int:
        """Monotonic time (virtual in the simulator)."""
        return self._node.runtime.now_ns()

    def sleep(self, delay_ms: float) -> Future[None]:
        """Await ``delay_ms`` milliseconds of (virtual) time."""
        return self._node._sleep(delay_ms)

    def start_timer(self, key: str, delay_ms: float, msg: Any, *, repeat: bool = False) -> None:
        """Deliver ``msg`` to this actor after ``delay_ms`` (every ``delay_ms`` if repeat).

        A timer with the same key is replaced. Timers die with the actor.
        """
        self._node._start_timer(self._cell, key, delay_ms, msg, repeat)

    def cancel_timer(self, key: str) -> bool:
        """Cancel a timer; returns whether one was active."""
        handle: TimerHandle | None = self._cell.timers.pop(key, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    # -- mailbox -----------------------------------------------------------------------
    def stash(self) -> None:
        """Set the current message aside until ``unstash_all`` (bounded by ``stash_max``)."""
        self._node._stash(self._cell)

    def unstash_all(self) -> int:
        """Put stashed messages back at the front of the mailbox, in arrival order."""
        return self._node._unstash_all(self._cell)

    # -- registry ----------------------------------------------------------------------
    def register(self, name: str, ref: ActorRef | None = None) -> None:
        """Register ``ref`` (default: self) under ``name`` on this node."""
        self._node.register(name, ref or self._cell.ref)

    def whereis(self, name: str) -> ActorRef | None:
        """The ref registered under ``name`` on this node, if alive."""
        return self._node.whereis(name)

    def ref_for(self, node: str, path: str) -> ActorRef:
        """A ref to an address (e.g. a well-known path on another node)."""
        return self._node.ref(node, path)

    # -- environment -------------------------------------------------------------------
    @property
    def random(self) -> random.Random:
        """The node's random source (seeded in the simulator)."""
        return self._node.runtime.random

    @property
    def np_random(self) -> np.random.Generator:
        """The node's numpy random source (seeded in the simulator)."""
        return self._node.runtime.np_random

    @property
    def storage(self) -> Storage:
        """The node's storage hook (simulated disk in the simulator)."""
        return self._node.runtime.storage()

    def database(self, name: str) -> Database:
        """Open the node's SQLite database ``name``: reads and atomic, durable commits,
        the same code in both runtimes (``docs/runtime.md``, *Storage*). Each call opens
        a new handle on the committed data; close it in ``on_stop``.

        Raises:
            DatabaseError: a bad name, or a stored image that is torn or corrupt.
        """
        return self._node.runtime.database(name)

    def run_io(self, fn: Any) -> Future[Any]:
        """Await real I/O ``fn()`` (an async callable) run outside the scheduler (live only)."""
        return self._node.runtime.spawn_io(fn)

    def run_blocking(self, fn: Any, *args: Any) -> Future[Any]:
        """Await ``fn(*args)`` run off the scheduler: a worker thread in the live runtime
        (CPU-bound work such as batch signature checks), inline in the simulator."""
        return self._node.runtime.run_blocking(fn, *args)


class Actor:
    """Base class of every actor: override the async callbacks you need.

    Actor code may only await what the runtime gives (``ctx.ask``, ``ctx.sleep``,
    ``ctx.tell``, storage, other actors' ``ask``/``tell``): the same coroutine then runs
    under the simulator and the live runtime. One message is handled at a time; while a
    handler awaits, the mailbox waits (like a gen_server call). Never call
    ``time``/``random``/sockets/threads directly: use ``self.ctx``.
    """

    ctx: Context

    async def on_start(self) -> None:
        """Runs before any message; raising makes the start fail."""

    async def receive(self, msg: Any) -> Any:
        """Handle one message. For an ask, the return value (a message or None) is the answer.

        Raising crashes the actor (an asker gets ActorCrashed); its supervisor decides.
        """
        return None

    async def on_child_exit(self, exit: Exit) -> None:
        """A child terminated (supervisors restart it; plain actors may react)."""
        if exit.reason not in ("normal", "shutdown") and not exit.reason.startswith("shutdown"):
            self.ctx.log.warning("child_exited", child=str(exit.actor), reason=exit.reason)

    async def on_stop(self) -> None:
        """Runs when stopping (after children stopped), also after a crash; best effort."""
