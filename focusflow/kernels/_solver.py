"""The solver interface shared by every backend, and the power-iteration loop with its guard.

A backend supplies four small operations (start from a vector, one fused iteration that
returns the L1 residual, download π, apply an edge delta to its resident graph); the loop,
the convergence guard, warm start and the result are written once here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from focusflow.kernels._csr import EdgeDelta
from focusflow.kernels._graph import GraphStore
from focusflow.kernels._result import FocusParams, FocusResult, empty_result


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
        self._last: np.ndarray | None = None  # host π of the previous solve

    # -- backend operations ---------------------------------------------------------------
    @abstractmethod
    def _start(self, pi0: np.ndarray) -> None:
        """Load the start vector (float64, sums to 1) and prepare the iteration."""

    @abstractmethod
    def _step(self) -> float:
        """One iteration π ← d·Pᵀπ + (d·dangling + 1 − d)·v; returns ‖Δπ‖₁."""

    @abstractmethod
    def _download(self) -> np.ndarray:
        """Current π as float64 on the host."""

    def apply(self, delta: EdgeDelta) -> None:
        """Take note of a delta the store already applied to the host CSR.

        Device backends apply it to their resident copy here; the CPU backend shares
        the host CSR and only remembers what changed (for the dynamic frontier).
        """
        del delta

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
        pi = self._download()
        assert len(pi) == self.store.n
        total = pi.sum()
        if converged and total > 0:
            pi = pi / total  # float32 backends drift from Σπ = 1 by rounding only
        self._last = pi
        return FocusResult(pi, converged, len(residuals), residuals[-1] if residuals else 0.0,
                           tuple(residuals), self.backend, self.dtype, eps, method)
