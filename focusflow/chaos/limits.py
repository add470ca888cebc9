"""Bounds on chaos runs and their workers: memory, wall time, steps.

``Budget`` is checked *inside* a run (every ``focusflow.chaos.campaign.BUDGET_CHUNK``
steps): a run past it stops cleanly with a ``run.budget`` violation saying which bound
and where. ``Limits`` is a campaign's policy: the in-run budget of each run and the hard
limits of its worker process, which ``focusflow.chaos.workers`` enforces from outside
(SIGKILL) whatever the worker is doing. This module imports nothing heavy: the CLI reads
its defaults.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING

from focusflow.chaos.workers import Limits as WorkerLimits
from focusflow.chaos.workers import rss_mb

if TYPE_CHECKING:
    from focusflow.sim import Simulation

#: A worker's resident memory cap (MiB); runs stop cleanly at ``RSS_SOFT`` of it.
RSS_MB_DEFAULT = 896.0
RSS_SOFT = 0.85
SEED_TIMEOUT_S_DEFAULT = 600.0
SHRINK_BUDGET_S_DEFAULT = 120.0
#: Seconds a worker may run past twice its expected time before it is killed.
TIMEOUT_GRACE_S = 30.0


@dataclasses.dataclass(frozen=True)
class Budget:
    """Bounds on one run, checked every ``BUDGET_CHUNK`` steps; None: unbounded.

    A run that passes one stops there with a ``run.budget`` violation that says which
    bound and where: an event storm or a memory blow-up is reported, not waited for.
    ``events_max`` is deterministic (shrinking uses it); the other two are not.
    """

    events_max: int | None = None
    wall_s: float | None = None
    rss_mb: float | None = None

    def exceeded(self, sim: Simulation, started: float) -> str | None:
        """Why the run must stop now, or None."""
        if self.events_max is not None and sim.events >= self.events_max:
            return f"{sim.events} steps, the budget is {self.events_max}"
        if self.wall_s is not None and time.perf_counter() - started > self.wall_s:
            return f"ran past {self.wall_s:g} wall seconds"
        if self.rss_mb is not None:
            rss = rss_mb(os.getpid())
            if rss > self.rss_mb:
                return f"resident memory {rss:.0f} MiB over the {self.rss_mb:g} MiB budget"
        return None


@dataclasses.dataclass(frozen=True)
class Limits:
    """A campaign's bounds on each worker; None: unbounded.

    The in-run budget (``Budget``) stops a run cleanly at ``RSS_SOFT`` of the memory cap
    and at ``seed_timeout_s``; the worker's watcher (``focusflow.chaos.workers``) SIGKILLs
    a worker at the cap itself or well past the timeout, whatever it is doing.
    """

    max_rss_mb: float | None = RSS_MB_DEFAULT
    seed_timeout_s: float | None = SEED_TIMEOUT_S_DEFAULT
    #: Wall seconds of candidate runs allowed to shrink one failure.
    shrink_budget_s: float = SHRINK_BUDGET_S_DEFAULT

    def budget(self) -> Budget:
        """The in-run budget of one run."""
        return Budget(wall_s=self.seed_timeout_s,
                      rss_mb=None if self.max_rss_mb is None else RSS_SOFT * self.max_rss_mb)

    def worker(self, run_s: float | None) -> WorkerLimits:
        """The hard limits of a worker whose work should take ``run_s`` wall seconds."""
        return WorkerLimits(rss_mb=self.max_rss_mb,
                            timeout_s=None if run_s is None else 2 * run_s + TIMEOUT_GRACE_S)
