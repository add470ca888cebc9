"""Fault points inside code paths (FoundationDB's BUGGIFY) and the accelerator fault hook.

Production code may import this module: it has no dependencies, and every function here
is a constant ``False`` / no-op unless a chaos run activated it. Only the chaos harness
(``focusflow.chaos``, under the simulator) activates it, so a live node never fires a
fault point::

    from focusflow.chaos.points import buggify

    timeout_ms = 10.0 if buggify("mempool.short_timeout") else 1_000.0

Semantics follow BUGGIFY: the first time a run reaches a point, the run decides once
(seeded) whether that point is *enabled* for the whole run (probability
``enable_probability``); an enabled point then fires with probability ``p`` each time.
Every decision comes from the run's seeded RNG and is written to the simulator's trace,
so a run with fault points is reproduced exactly by replaying its seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POINTS_MAX = 10_000
DEVICE_MODES = ("ok", "slow", "fail")


class AcceleratorFault(RuntimeError):
    """A (simulated) accelerator failure: the caller is expected to fall back to the CPU."""


class FaultPoints:
    """The state of fault points during one simulated run (built by the chaos harness)."""

    def __init__(self, rng: random.Random, *, enabled: bool = True,
                 enable_probability: float = 0.25,
                 only: tuple[str, ...] | None = None,
                 record: Callable[[bytes], None] | None = None) -> None:
        assert 0.0 <= enable_probability <= 1.0
        self._rng = rng
        self.enabled = enabled
        self.enable_probability = enable_probability
        self.only = only
        self._record = record
        #: point name -> enabled for this run (decided at the first hit).
        self.decisions: dict[str, bool] = {}
        #: point name -> times it fired.
        self.fired: dict[str, int] = {}
        #: device name -> "ok" | "slow" | "fail" (set by the ``gpu`` fault).
        self.devices: dict[str, str] = {}
        #: device name -> extra virtual milliseconds a call takes while "slow".
        self.slow_ms: dict[str, float] = {}
        self.device_fallbacks = 0

    def hit(self, name: str, p: float) -> bool:
        """Decide whether point ``name`` fires now."""
        if not self.enabled or (self.only is not None and name not in self.only):
            return False
        on = self.decisions.get(name)
        if on is None:
            assert len(self.decisions) < POINTS_MAX, "too many distinct fault points"
            on = self._rng.random() < self.enable_probability
            self.decisions[name] = on
        if not on or self._rng.random() >= p:
            return False
        self.fired[name] = self.fired.get(name, 0) + 1
        if self._record is not None:
            self._record(b"Q" + name.encode())
        return True


_active: FaultPoints | None = None


def activate(points: FaultPoints | None) -> FaultPoints | None:
    """Install ``points`` for the current simulated run; return the previous ones.

    Only the chaos harness calls this (one simulation per process at a time).
    """
    global _active
    previous, _active = _active, points
    return previous


def active() -> FaultPoints | None:
    """The fault points of the running simulation, or None (always None in production)."""
    return _active


def buggify(name: str, *, p: float = 0.25) -> bool:
    """True when fault point ``name`` fires: only under a chaos run, never live."""
    points = _active
    return points is not None and points.hit(name, p)


def device_mode(device: str = "gpu") -> str:
    """The injected state of an accelerator: "ok" (also always in production), "slow",
    or "fail"."""
    points = _active
    if points is None:
        return "ok"
    return points.devices.get(device, "ok")


def device_delay_ms(device: str = "gpu") -> float:
    """Virtual milliseconds an actor should add (``await ctx.sleep(...)``) around a device
    call while the device is injected "slow"; 0.0 otherwise (always 0.0 in production)."""
    points = _active
    if points is None or points.devices.get(device) != "slow":
        return 0.0
    return points.slow_ms.get(device, 0.0)


def accelerated(gpu: Callable[[], T], cpu: Callable[[], T], *, device: str = "gpu",
                on_fallback: Callable[[BaseException], None] | None = None) -> T:
    """Run ``gpu()``; on an accelerator failure (real or injected), run ``cpu()`` instead.

    The fallback hook for "a GPU is an accelerator, never a requirement": a kernel call
    site wraps its device path in this and the chaos ``gpu`` fault exercises the CPU
    path. Injected "slow" devices are the caller's to model (see ``device_mode``).
    """
    try:
        if device_mode(device) == "fail":
            raise AcceleratorFault(f"{device}: injected failure (chaos)")
        return gpu()
    except (AcceleratorFault, RuntimeError, OSError, MemoryError) as exc:
        points = _active
        if points is not None:
            points.device_fallbacks += 1
        if on_fallback is not None:
            on_fallback(exc)
        return cpu()
