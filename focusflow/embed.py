"""Embedding an actor system in an existing program.

Async programs use ``focusflow.supervisor.ActorSystem`` directly::

    async with ActorSystem("app") as system:
        ref = system.spawn(MyActor)
        answer = await ref.ask(Query(...))

Synchronous, threaded programs use ``ThreadedActorSystem``: the system runs on a
background thread (an anyio blocking portal, asyncio or trio), and calls return
Pykka-style futures with ``.get(timeout)``; ``ref.proxy()`` turns method calls on the
actor object into futures (Pykka's proxy convention)::

    with ThreadedActorSystem("app") as system:
        ref = system.spawn(MyActor)
        ref.tell(Event(...))
        answer = ref.ask(Query(...))                 # blocks, like pykka's ask()
        future = ref.ask(Query(...), block=False)    # ThreadFuture
        counter = ref.proxy().count.get()            # attribute read inside the actor
        ref.proxy().reset().get(timeout=1.0)         # method call inside the actor
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import anyio.from_thread

from focusflow.supervisor import ASK_TIMEOUT_MS_DEFAULT, Actor, ActorRef, ActorSystem
from focusflow.supervisor._live import _await_future

T = TypeVar("T")

__all__ = ["ActorProxy", "ThreadFuture", "ThreadedActorSystem", "ThreadedRef"]


class ThreadFuture(Generic[T]):
    """A result computed on the actor system's thread (Pykka's ``Future`` API subset)."""

    __slots__ = ("_cf",)

    def __init__(self, cf: concurrent.futures.Future[T]) -> None:
        self._cf = cf

    def get(self, timeout: float | None = None) -> T:
        """Block until the result is there and return it (or raise its exception).

        Raises:
            TimeoutError: not done within ``timeout`` seconds.
        """
        try:
            return self._cf.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise TimeoutError(f"no result within {timeout} s") from exc

    def done(self) -> bool:
        """Whether the result (or an exception) is available."""
        return self._cf.done()

    def map(self, fn: Callable[[T], Any]) -> ThreadFuture[Any]:
        """A future of ``fn(result)`` (Pykka's ``Future.map``)."""
        out: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def done(cf: concurrent.futures.Future[T]) -> None:
            try:
                out.set_result(fn(cf.result()))
            except BaseException as exc:
                out.set_exception(exc)

        self._cf.add_done_callback(done)
        return ThreadFuture(out)


class ThreadedRef:
    """A ref usable from any thread of the embedding program."""

    __slots__ = ("_system", "ref")

    def __init__(self, system: ThreadedActorSystem, ref: ActorRef) -> None:
        self._system = system
        self.ref = ref

    def tell(self, msg: Any) -> None:
        """Send ``msg``; blocks while a local mailbox is full (backpressure)."""
        self._system._portal().call(self._system._async.tell, self.ref, msg)

    def ask(self, msg: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        """Ask; with ``block`` return the answer, else a ``ThreadFuture``.

        ``timeout`` (seconds) bounds the ask itself (default: the runtime's 5 s).
        """
        timeout_ms = ASK_TIMEOUT_MS_DEFAULT if timeout is None else max(1, int(timeout * 1000))
        cf = self._system._portal().start_task_soon(self._ask, msg, timeout_ms)
        future: ThreadFuture[Any] = ThreadFuture(cf)
        return future.get() if block else future

    async def _ask(self, msg: Any, timeout_ms: int) -> Any:
        return await self._system._async.ask(self.ref, msg, timeout_ms=timeout_ms)

    def stop(self, *, block: bool = True, timeout: float | None = None) -> Any:
        """Stop the actor; with ``block`` return its exit reason, else a ``ThreadFuture``."""
        cf = self._system._portal().start_task_soon(self._system._async.stop, self.ref)
        future: ThreadFuture[str] = ThreadFuture(cf)
        return future.get(timeout) if block else future

    def proxy(self) -> ActorProxy:
        """A Pykka-style proxy: attribute reads and method calls run inside the actor."""
        return ActorProxy(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ThreadedRef) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)

    def __repr__(self) -> str:
        return f"ThreadedRef({self.ref.node!r}, {self.ref.path!r})"


class ActorProxy:
    """``proxy.attr`` → future of the attribute; ``proxy.method(*a)`` → future of the call.

    Node-local and in-process (like Pykka): the call is not a wire message. Exceptions
    from the method reach the future; the actor keeps running.
    """

    def __init__(self, ref: ThreadedRef) -> None:
        object.__setattr__(self, "_ref", ref)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        ref: ThreadedRef = object.__getattribute__(self, "_ref")
        system = ref._system
        cls = system._portal().call(system._actor_class, ref.ref)
        if callable(getattr(cls, name, None)):
            def call(*args: Any, **kwargs: Any) -> ThreadFuture[Any]:
                return system._call(ref.ref, name, args, kwargs)

            return call
        return system._call(ref.ref, name, (), {})


class ThreadedActorSystem:
    """An ``ActorSystem`` on a background thread, driven from synchronous code."""

    def __init__(self, name: str = "local", *, backend: str = "asyncio", **options: Any) -> None:
        self._async = ActorSystem(name, **options)
        self._backend = backend
        self._portal_cm: Any = None
        self._portal_obj: anyio.from_thread.BlockingPortal | None = None
        self._stop_event: anyio.Event | None = None
        self._host: concurrent.futures.Future[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> ThreadedActorSystem:
        """Start the background thread and the system; returns self."""
        assert self._portal_obj is None, "already started"
        self._portal_cm = anyio.from_thread.start_blocking_portal(self._backend)
        self._portal_obj = self._portal_cm.__enter__()
        self._host, _ = self._portal_obj.start_task(self._host_main)
        return self

    async def _host_main(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        self._stop_event = anyio.Event()
        async with self._async:
            task_status.started()
            await self._stop_event.wait()

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop every actor (reverse start order), then the thread."""
        if self._portal_obj is None:
            return
        portal, self._portal_obj = self._portal_obj, None
        try:
            assert self._stop_event is not None and self._host is not None
            portal.call(self._stop_event.set)
            self._host.result(timeout)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> ThreadedActorSystem:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def _portal(self) -> anyio.from_thread.BlockingPortal:
        if self._portal_obj is None:
            raise RuntimeError("the threaded actor system is not running")
        return self._portal_obj

    # -- API ----------------------------------------------------------------------------
    def spawn(self, cls: type[Actor], *args: Any, name: str | None = None,
              **kwargs: Any) -> ThreadedRef:
        """Start a top-level actor; returns a thread-safe ref."""
        ref = self._portal().call(lambda: self._async.spawn(cls, *args, name=name, **kwargs))
        return ThreadedRef(self, ref)

    def whereis(self, name: str) -> ThreadedRef | None:
        """The actor registered under ``name``."""
        ref = self._portal().call(self._async.whereis, name)
        return None if ref is None else ThreadedRef(self, ref)

    def ref(self, ref: ActorRef) -> ThreadedRef:
        """Wrap a ref obtained elsewhere (e.g. inside a message)."""
        return ThreadedRef(self, ref)

    def dead_letters(self) -> list[Any]:
        """Recent dead letters."""
        return self._portal().call(self._async.dead_letters)

    def _actor_class(self, ref: ActorRef) -> type:
        cell = self._async.node._cells.get(ref.path)
        if cell is None or cell.actor is None:
            raise LookupError(f"{ref} is not a live local actor")
        return type(cell.actor)

    def _call(self, ref: ActorRef, name: str, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> ThreadFuture[Any]:
        async def run() -> Any:
            return await _await_future(self._async.node.call_in_actor(ref, name, args, kwargs))

        return ThreadFuture(self._portal().start_task_soon(run))
