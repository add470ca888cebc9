"""A node whose outside world is fed to the simulation (``Simulation.add_node(feed=)``).

A simulated node normally lives entirely inside the simulated world: its clock is the
simulation's virtual time, its timers fire from the simulation's timer heap, its
``run_blocking`` work completes inline, its frames go through ``SimNetwork`` to other
simulated nodes, its RNGs are derived from the simulation's seed. A *fed* node keeps
every step of its own (the same ``Node``, mailboxes, actors, the simulation's scheduler
and disk) but takes all of that from a ``NodeFeed`` instead: the inputs of a live run
(``focusflow.chaos.record_replay`` feeds a recorded live node's clock reads, timer
firings, thread completions, storage reads, frames and asks back in, at the steps they
happened). The simulation asks the feed before each step, so an input can land between
any two steps, as it did live.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from focusflow.supervisor._future import Future
from focusflow.supervisor._runtime import TimerHandle

T = TypeVar("T")


class NodeFeed(Protocol):
    """What a fed node's world supplies (see the module docstring)."""

    #: Seeds the node's RNGs (``random`` and ``numpy``) exactly, as the live node's were.
    seed: int

    def attach(self, node: Any) -> None:
        """The node was created (before its boot function runs): inputs go to it."""

    def now_ns(self) -> int:
        """The node's clock."""

    def call_later(self, delay_ns: int, fn: Callable[[], None]) -> TimerHandle:
        """A timer armed by the node; the feed decides the step at which it fires."""

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Work off the scheduler; the feed decides when it completes."""

    def send_remote(self, node: str, frame: bytes) -> None:
        """A frame the node sends to a peer (peers are outside the simulation)."""

    def storage(self) -> Any:
        """The node's ``ctx.storage`` (its reads are inputs)."""

    def before_step(self, step: int) -> Callable[[], None] | None:
        """Called before step ``step + 1`` (``step`` steps have run): inject the inputs
        due now (frames, asks, completions: they make steps runnable); return a step to
        run now instead of the scheduler's pick (a timer firing), or None."""
