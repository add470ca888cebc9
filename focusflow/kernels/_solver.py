"""The solver interface shared by every backend, and the power-iteration loop with its guard.

A backend supplies four small operations (start from a vector, one fused iteration that
returns the L1 residual, download π, apply an edge delta to its resident graph); the loop,
the convergence guard, warm start and the result are written once here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from focusflow.kernels._csr import EdgeDelta
from focusflow.kernels._graph import GraphStore
from focusflow.kernels._result import FocusParams, FocusResult, empty_result

WARM_RESTART_SHARE = 0.5  # measured on R-MAT 2^23: after 100% churn, warm 44 it, cold 33


class Solver(ABC):
    """Power iteration for focus π over a :class:`GraphStore`, on one backend.

    Lifecycle: build with a store, :meth:`solve`; after each ``store.update...`` call
    :meth:`apply` with the returned delta (device backends edit their resident copy), and
    :meth:`solve` again, which warm-starts from the previous π unless told otherwise.
    """

    backend: str = "?"
    dtype: str = "float64"

    def __init__(self, store: GraphStore, params: FocusParams | None = None) -> None:
        self.store = store
        self.params = params or FocusParams()
        self._last: Any = None  # π of the previous solve, where the backend keeps it
        self._changed = 0  # edges changed by apply() since the last solve

    # -- backend operations ---------------------------------------------------------------
    @abstractmethod
    def _start(self, pi0: np.ndarray) -> None:
        """Load the start vector (float64, sums to 1) and prepare the iteration."""

    @abstractmethod
    def _step(self) -> float:
        """One iteration π ← d·Pᵀπ + (d·dangling + 1 − d)·v; returns ‖Δπ‖₁."""

    @abstractmethod
    def _snapshot(self) -> Any:
        """A copy of the current π where it lives (host array or device array)."""

    @abstractmethod
    def _fetch(self, snapshot: Any) -> np.ndarray:
        """A snapshot as float64 on the host, normalised to Σ = 1."""

    def apply(self, delta: EdgeDelta) -> None:
        """Take note of a delta the store already applied to the host CSR.

        Device backends apply it to their resident copy here; the CPU backend shares
        the host CSR and only remembers what changed (for the dynamic frontier).
        """
        self._changed += len(delta)

    # -- the loop -------------------------------------------------------------------------
    def start_vector(self, *, warm: bool) -> np.ndarray:
        """Previous π (padded with the teleport for new particles) or the teleport."""
        n = self.store.n
        v = self.params.teleport_for(n)
        if not warm or self._last is None:
            return v
        pi = np.concatenate([self._last[:n], v[len(self._last):]])
        total = pi.sum()
        return pi / total if total > 0 else v

    def solve(self, *, warm: bool = True, eps: float | None = None,
              iterations_max: int | None = None) -> FocusResult:
        """Iterate until ‖Δπ‖₁ < ε or the cap; the result says which happened.

        Never raises for non-convergence (see FocusResult.require_converged); raises
        ValueError for bad options.
        """
        eps = self.params.eps if eps is None else eps
        cap = self.params.iterations_max if iterations_max is None else iterations_max
        if eps <= 0 or cap < 1:
            raise ValueError("eps must be positive and iterations_max at least 1")
        if self.store.n == 0:
            return empty_result(self.backend, self.dtype, eps)
        self._eps_now = eps
        if warm and self._changed > WARM_RESTART_SHARE * max(self.store.csr.nnz, 1):
            warm = False  # most links changed: the old π is a worse start than the teleport
        self._changed = 0
        self._start(self.start_vector(warm=warm))
        return self._loop(eps, cap, method="power" if not warm or self._last is None else "warm")

    def _loop(self, eps: float, cap: int, *, method: str, first: tuple[float, ...] = ()) -> FocusResult:
        residuals: list[float] = list(first)
        converged = False
        for _ in range(cap):
            r = self._step()
            residuals.append(r)
            if not math.isfinite(r):
                break  # reported as not converged, never as a fixed point
            if r < eps:
                converged = True
                break
        snap = self._snapshot()
        self._last = snap
        return FocusResult(lambda: self._fetch(snap), converged, len(residuals),
                           residuals[-1] if residuals else 0.0, tuple(residuals), self.backend,
                           self.dtype, eps, method)


def next_group(history: list[float], eps: float, *, first: int = 4, most: int = 32) -> int:
    """How many iterations a device backend should enqueue before reading residuals.

    Predicts the remaining count from the last residual ratio so that a group rarely
    runs past convergence (each extra iteration is a full pass over the links).
    """
    if len(history) < 2 or not history[-1] > 0 or not history[-2] > 0:
        return first
    rate = history[-1] / history[-2]
    if not 0.0 < rate < 1.0:
        return most
    if history[-1] < eps:
        return 1
    need = math.ceil(math.log(eps / history[-1]) / math.log(rate))
    return max(1, min(most, need))
