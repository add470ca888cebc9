"""Supervision as data and pure functions (after OTP's ``supervisor.erl``).

Child specs and flags are validated data with OTP's defaults; the restart-limit check,
the restart decision and the strategy planners are small pure functions that the
``Supervisor`` actor applies and the tests check table-driven against OTP's documented
semantics.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from typing import Any, Literal

from focusflow.supervisor._actor import Actor

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartType = Literal["permanent", "transient", "temporary"]

STRATEGIES: tuple[str, ...] = ("one_for_one", "one_for_all", "rest_for_one")
RESTART_TYPES: tuple[str, ...] = ("permanent", "transient", "temporary")
#: Upper bound on ``intensity``: a restart budget is a limit, not a formality.
INTENSITY_MAX = 1_000
CHILDREN_MAX = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class SupervisorFlags:
    """OTP's ``sup_flags``: strategy, intensity (restarts) per period, plus backoff.

    Defaults are OTP's: one_for_one, intensity 1 in a period of 5 s. ``backoff_ms_base``
    > 0 delays each restart by ``base * 2**(consecutive restarts)``, capped at
    ``backoff_ms_max`` (not in OTP; useful against restart storms on a flapping
    dependency).
    """

    strategy: Strategy = "one_for_one"
    intensity: int = 1
    period_ms: int = 5_000
    backoff_ms_base: int = 0
    backoff_ms_max: int = 30_000

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if not 0 <= self.intensity <= INTENSITY_MAX:
            raise ValueError(f"intensity must be in 0..{INTENSITY_MAX}")
        if self.period_ms <= 0:
            raise ValueError("period_ms must be positive")
        if self.backoff_ms_base < 0 or self.backoff_ms_max < self.backoff_ms_base:
            raise ValueError("need 0 <= backoff_ms_base <= backoff_ms_max")


@dataclasses.dataclass(frozen=True, slots=True)
class ChildSpec:
    """OTP's child spec: how to start a child, when to restart it, how to stop it.

    ``start`` is an ``Actor`` subclass or a ``"module:Class"`` string (resolved when the
    child starts, so a TOML tree can name classes). ``shutdown_ms`` 0 is OTP's
    ``brutal_kill``; None is ``infinity`` (use for supervisors).
    """

    id: str
    start: Any
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    restart: RestartType = "permanent"
    shutdown_ms: int | None = 5_000
    mailbox_depth_max: int | None = None
    overflow: str | None = None

    def __post_init__(self) -> None:
        if not self.id or "/" in self.id or self.id.startswith("$"):
            raise ValueError(f"invalid child id {self.id!r}")
        if self.restart not in RESTART_TYPES:
            raise ValueError(f"restart must be one of {RESTART_TYPES}, not {self.restart!r}")
        if self.shutdown_ms is not None and self.shutdown_ms < 0:
            raise ValueError("shutdown_ms must be >= 0 (0 = brutal kill) or None (infinity)")
        if not (isinstance(self.start, (str, type))):
            raise ValueError("start must be an Actor class or a 'module:Class' string")
        if isinstance(self.start, str) and ":" not in self.start:
            raise ValueError(f"start {self.start!r} must look like 'module:Class'")


def is_normal_exit(reason: str) -> bool:
    """OTP: ``normal``, ``shutdown`` and ``{shutdown, _}`` are normal exit reasons."""
    return reason == "normal" or reason == "shutdown" or reason.startswith("shutdown:")


def should_restart(restart: RestartType, reason: str) -> bool:
    """OTP: permanent always; transient only after an abnormal exit; temporary never."""
    assert restart in RESTART_TYPES, restart
    if restart == "permanent":
        return True
    if restart == "transient":
        return not is_normal_exit(reason)
    return False


def add_restart(history: Sequence[int], now_ns: int, *, intensity: int,
                period_ms: int) -> tuple[bool, tuple[int, ...]]:
    """Record a restart at ``now_ns``; return (allowed, the new history).

    OTP (``supervisor:add_restart/3``): if more than ``intensity`` restarts happen
    within ``period`` the supervisor gives up (terminates its children and itself).
    OTP keeps the restarts with ``t >= now - period`` (inclusive) and forgets older ones.
    """
    assert intensity >= 0 and period_ms > 0
    assert all(t <= now_ns for t in history), "history must be in the past"
    period_ns = period_ms * 1_000_000
    kept = (*(t for t in history if t >= now_ns - period_ns), now_ns)
    return len(kept) <= intensity, kept


@dataclasses.dataclass(frozen=True, slots=True)
class RestartPlan:
    """Which children to stop (in this order) and then start (in this order)."""

    stop: tuple[str, ...]
    start: tuple[str, ...]


def plan_restart(strategy: Strategy, order: Sequence[str], failed: str) -> RestartPlan:
    """OTP's strategies, given the children in start order and the one that failed.

    - one_for_one: restart only the failed child.
    - one_for_all: stop all the others in reverse start order, restart all in order.
    - rest_for_one: stop the children started after the failed one (reverse order),
      restart the failed one and those, in order.
    """
    assert failed in order, f"{failed!r} is not a child"
    assert len(set(order)) == len(order), "child ids must be unique"
    i = list(order).index(failed)
    if strategy == "one_for_one":
        return RestartPlan(stop=(), start=(failed,))
    if strategy == "one_for_all":
        others = [c for c in order if c != failed]
        return RestartPlan(stop=tuple(reversed(others)), start=tuple(order))
    if strategy == "rest_for_one":
        rest = list(order[i + 1:])
        return RestartPlan(stop=tuple(reversed(rest)), start=tuple(order[i:]))
    raise ValueError(f"unknown strategy {strategy!r}")


def backoff_ms(consecutive: int, *, base_ms: int, max_ms: int) -> int:
    """Exponential backoff before restart number ``consecutive`` (0-based); 0 if disabled."""
    assert consecutive >= 0
    if base_ms <= 0:
        return 0
    return min(max_ms, base_ms * (1 << min(consecutive, 32)))


def resolve_class(start: Any) -> type[Actor]:
    """An Actor class from a class or a ``"module:Class"`` string.

    Raises:
        ValueError: the string does not name an importable Actor subclass.
    """
    if isinstance(start, str):
        module_name, _, attr = start.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot resolve actor class {start!r}: {exc}") from exc
        start = obj
    if not (isinstance(start, type) and issubclass(start, Actor)):
        raise ValueError(f"{start!r} is not an Actor subclass")
    return start
