"""The ``Supervisor`` actor: the generic OTP supervision loop, written once.

It applies the pure functions of ``_strategy`` to its children: start in order (each
child's ``on_start`` completes before the next starts), restart per strategy and restart
type within the intensity budget, escalate by terminating itself when the budget is
exhausted, and (through the core) stop children in reverse order with their shutdown
timeouts on the way out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from focusflow.supervisor._actor import Actor, ActorRef
from focusflow.supervisor._errors import ActorStartError, NotInActor
from focusflow.supervisor._future import Future
from focusflow.supervisor._node import Node, current_cell
from focusflow.supervisor._strategy import (
    CHILDREN_MAX,
    ChildSpec,
    SupervisorFlags,
    add_restart,
    backoff_ms,
    plan_restart,
    resolve_class,
    should_restart,
)
from focusflow.wire.system import Exit

ESCALATION_REASON = "shutdown:reached_max_restart_intensity"


class _Control:
    """A node-local control request to a supervisor (never leaves the node)."""

    __slots__ = ("arg", "future", "op")

    def __init__(self, op: str, arg: Any) -> None:
        self.op = op
        self.arg = arg
        self.future: Future[Any] = Future()


class Supervisor(Actor):
    """Supervises children per ``SupervisorFlags``; see the module docstring."""

    def __init__(self, flags: SupervisorFlags | None = None,
                 children: Sequence[ChildSpec] = ()) -> None:
        self.flags = flags or SupervisorFlags()
        if len(children) > CHILDREN_MAX:
            raise ValueError(f"more than {CHILDREN_MAX} children")
        self._specs: dict[str, ChildSpec] = {}
        for spec in children:
            if spec.id in self._specs:
                raise ValueError(f"duplicate child id {spec.id!r}")
            self._specs[spec.id] = spec
        self._running: dict[str, tuple[ActorRef, int]] = {}
        self._history: tuple[int, ...] = ()
        self._consecutive = 0
        #: Restarts performed (for statistics and the simulator's invariants).
        self.restarts = 0

    @property
    def _node(self) -> Node:
        return self.ctx._node

    async def on_start(self) -> None:
        for spec in list(self._specs.values()):
            await self._start_child(spec)

    async def _start_child(self, spec: ChildSpec) -> ActorRef:
        cls = resolve_class(spec.start)
        cell = self._node._spawn(self.ctx._cell, cls, spec.args, dict(spec.kwargs),
                                 name=spec.id, mailbox_depth_max=spec.mailbox_depth_max,
                                 overflow=spec.overflow, shutdown_ms=spec.shutdown_ms)
        self._running[spec.id] = (cell.ref, cell.incarnation)
        try:
            await cell.started
        except ActorStartError:
            self._running.pop(spec.id, None)
            await cell.stopped  # its name is free only once it is gone
            raise
        return cell.ref

    def _child_id(self, exit: Exit) -> str | None:
        for child_id, (ref, incarnation) in self._running.items():
            if ref.path == exit.actor.path and incarnation == exit.incarnation:
                return child_id
        return None

    async def on_child_exit(self, exit: Exit) -> None:
        child_id = self._child_id(exit)
        if child_id is None:
            return  # a child we stopped on purpose, or an earlier incarnation
        del self._running[child_id]
        spec = self._specs[child_id]
        if not should_restart(spec.restart, exit.reason):
            if spec.restart == "temporary":
                del self._specs[child_id]
            return
        self.ctx.log.info("child_failed", child=child_id, reason=exit.reason)
        await self._restart(child_id)

    async def _restart(self, failed: str) -> None:
        ok, self._history = add_restart(self._history, self.ctx.now_ns(),
                                        intensity=self.flags.intensity,
                                        period_ms=self.flags.period_ms)
        if not ok:
            self.ctx.log.error("restart_intensity_reached", child=failed,
                               intensity=self.flags.intensity, period_ms=self.flags.period_ms)
            self.ctx.stop(reason=ESCALATION_REASON)
            return
        plan = plan_restart(self.flags.strategy, list(self._specs), failed)
        for child_id in plan.stop:
            running = self._running.pop(child_id, None)
            if running is not None:
                spec = self._specs[child_id]
                await self.ctx.stop_and_wait(running[0], shutdown_ms=spec.shutdown_ms)
        delay = backoff_ms(self._consecutive, base_ms=self.flags.backoff_ms_base,
                           max_ms=self.flags.backoff_ms_max)
        self._consecutive += 1
        if delay:
            await self.ctx.sleep(delay)
        for child_id in plan.start:
            spec = self._specs[child_id]
            if child_id != failed and spec.restart == "temporary":
                del self._specs[child_id]  # OTP: temporary siblings are not restarted
                continue
            if child_id in self._running:
                continue
            try:
                await self._start_child(spec)
            except ActorStartError as exc:
                self.ctx.log.warning("restart_failed", child=child_id, error=str(exc))
                self._running.pop(child_id, None)
                await self._restart(child_id)
                return
        self.restarts += 1
        self._node.stats["restarts"] += 1
        self._node.runtime.record(b"R" + self.ctx.self_ref.path.encode() + b"\0" + failed.encode())

    async def receive(self, msg: Any) -> Any:
        if not isinstance(msg, _Control):
            self.ctx.log.warning("supervisor_ignored_message", type=type(msg).__name__)
            return None
        try:
            msg.future.set_result(await self._control(msg.op, msg.arg))
        except Exception as exc:
            msg.future.set_exception(exc)
        return None

    async def _control(self, op: str, arg: Any) -> Any:
        if op == "start_child":
            spec: ChildSpec = arg
            if spec.id in self._specs:
                raise ValueError(f"child id {spec.id!r} already exists")
            if len(self._specs) >= CHILDREN_MAX:
                raise ValueError(f"more than {CHILDREN_MAX} children")
            self._specs[spec.id] = spec
            try:
                return await self._start_child(spec)
            except ActorStartError:
                del self._specs[spec.id]
                self._running.pop(spec.id, None)
                raise
        if op == "terminate_child":
            running = self._running.pop(arg, None)
            if arg not in self._specs:
                raise KeyError(f"no child {arg!r}")
            if running is not None:
                await self.ctx.stop_and_wait(running[0], shutdown_ms=self._specs[arg].shutdown_ms)
            if self._specs[arg].restart == "temporary":
                del self._specs[arg]
            return None
        if op == "delete_child":
            if arg in self._running:
                raise ValueError(f"child {arg!r} is running; terminate it first")
            self._specs.pop(arg)
            return None
        if op == "restart_child":
            if arg in self._running:
                raise ValueError(f"child {arg!r} is already running")
            return await self._start_child(self._specs[arg])
        if op == "which_children":
            return [(cid, self._running.get(cid, (None, 0))[0]) for cid in self._specs]
        raise ValueError(f"unknown supervisor operation {op!r}")


def _control(sup: ActorRef, op: str, arg: Any) -> Awaitable[Any]:
    """Post a local control request to a supervisor and return its awaitable result."""
    cell = current_cell()
    node: Node = sup._router if cell is None or cell.ctx is None else cell.ctx._node
    if sup.node != node.name:
        raise NotInActor("supervisor control works on supervisors of the local node only")
    target = node._cells.get(sup.path)
    request = _Control(op, arg)
    if target is None or not isinstance(target.actor, Supervisor):
        request.future.set_exception(ValueError(f"{sup} is not a live supervisor"))
    else:
        from focusflow.supervisor._node import _delivery
        from focusflow.wire import KIND_TELL

        node._admit(sup.path, _delivery(KIND_TELL, request, None, 0), local=True, wait=False)
    return request.future if cell is not None else node.runtime.bridge(request.future)


def start_child(sup: ActorRef, spec: ChildSpec) -> Awaitable[ActorRef]:
    """Add and start a dynamic child (OTP ``supervisor:start_child/2``)."""
    return _control(sup, "start_child", spec)


def terminate_child(sup: ActorRef, child_id: str) -> Awaitable[None]:
    """Stop a child; permanent/transient specs stay (restart_child), temporary go."""
    return _control(sup, "terminate_child", child_id)


def restart_child(sup: ActorRef, child_id: str) -> Awaitable[ActorRef]:
    """Start a terminated child again from its spec."""
    return _control(sup, "restart_child", child_id)


def delete_child(sup: ActorRef, child_id: str) -> Awaitable[None]:
    """Forget a terminated child's spec."""
    return _control(sup, "delete_child", child_id)


def which_children(sup: ActorRef) -> Awaitable[list[tuple[str, ActorRef | None]]]:
    """(id, ref or None when not running) for every child spec, in start order."""
    return _control(sup, "which_children", None)


def supervisor_spec(id: str, children: Sequence[ChildSpec], *,
                    flags: SupervisorFlags | None = None,
                    restart: str = "permanent") -> ChildSpec:
    """A child spec for a nested supervisor (shutdown: infinity, as OTP recommends)."""
    return ChildSpec(id=id, start=Supervisor, args=(flags or SupervisorFlags(), tuple(children)),
                     restart=restart, shutdown_ms=None)  # type: ignore[arg-type]
