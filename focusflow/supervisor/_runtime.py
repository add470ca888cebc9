"""The ``Runtime`` interface: everything nondeterministic the actor core may touch.

The actor core (``Node``) reads the clock, draws randomness, schedules work, arms timers,
sends to other nodes and reaches storage only through this interface. The live runtime
(``focusflow.supervisor.ActorSystem``) implements it on anyio with the real clock; the
simulator (``focusflow.sim``) with virtual time, a seeded scheduler and a simulated
network. Everything above it runs unchanged on both.
"""

from __future__ import annotations

import random  # runtime-ok: the Runtime interface declares the random source
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from focusflow.supervisor._future import Future

if TYPE_CHECKING:
    from focusflow.supervisor._database import Database

T = TypeVar("T")


@runtime_checkable
class TimerHandle(Protocol):
    """A timer that can be cancelled before it fires (cancelling later is a no-op)."""

    def cancel(self) -> None:
        """Prevent the callback from running."""


@runtime_checkable
class Storage(Protocol):
    """A node's durable key → bytes store (the storage hook).

    Writes become durable only after ``sync``; a crash may drop unsynced writes (the
    simulator does exactly that). All methods return runtime futures so actor code awaits
    them in both runtimes.
    """

    def read(self, key: str) -> Future[bytes | None]:
        """The stored bytes, or None."""

    def write(self, key: str, data: bytes) -> Future[None]:
        """Store ``data`` under ``key`` (not yet durable)."""

    def delete(self, key: str) -> Future[None]:
        """Remove ``key`` (not yet durable)."""

    def sync(self) -> Future[None]:
        """Make every earlier write and delete durable."""

    def keys(self, prefix: str = "") -> list[str]:
        """Keys currently visible, sorted."""


@runtime_checkable
class Runtime(Protocol):
    """What a ``Node`` needs from its environment (one instance per node)."""

    #: The node's name; part of every address on it.
    node_name: str

    def now_ns(self) -> int:
        """Monotonic time in nanoseconds (virtual in the simulator)."""

    @property
    def random(self) -> random.Random:
        """The node's random source (seeded in the simulator)."""

    @property
    def np_random(self) -> np.random.Generator:
        """The node's numpy random source (seeded in the simulator)."""

    def schedule(self, step: Callable[[], None]) -> None:
        """Make ``step`` runnable; the runtime decides the order of runnable steps."""

    def call_later(self, delay_ns: int, fn: Callable[[], None]) -> TimerHandle:
        """Run ``fn`` as a step after ``delay_ns`` (not earlier)."""

    def send_remote(self, node: str, frame: bytes) -> None:
        """Carry an encoded envelope to another node (may be lost; no answer)."""

    def record(self, event: bytes) -> None:
        """Append an event to the trace (the simulator hashes it; live may ignore it)."""

    def storage(self) -> Storage:
        """The node's storage."""

    def database(self, name: str) -> Database:
        """Open the node's SQLite database ``name`` (created empty if new): a file
        ``<name>.sqlite`` in the node's data directory live, an image on the node's
        simulated disk in the simulator (``focusflow.supervisor._database``)."""

    def bridge(self, fut: Future[T]) -> Awaitable[T]:
        """Let code outside actors (an embedding program) await a runtime future."""

    def spawn_io(self, fn: Callable[[], Awaitable[T]]) -> Future[T]:
        """Run real I/O (``fn()``) outside the actor scheduler; live runtime only."""

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run CPU-bound or blocking ``fn(*args)`` off the scheduler (a worker thread
        live; inline, deterministically, in the simulator)."""

    def logger(self) -> Any:
        """A structlog logger bound to the node."""
