"""What a solve returns, and the convergence guard that decides whether it converged.

A run that stops at the iteration cap is returned with ``converged=False`` and can never
be mistaken for a converged one: callers that need a fixed point call
:meth:`FocusResult.require_converged`, which raises :class:`ConvergenceError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

DAMPING_DEFAULT = 0.85
EPS_DEFAULT = 1e-6
ITERATIONS_MAX_DEFAULT = 1000
RATE_WINDOW = 8  # residual ratios averaged for the rate estimate


class ConvergenceError(RuntimeError):
    """The solver hit its iteration cap (or stalled) before reaching ε: not a fixed point."""


class BackendUnavailable(RuntimeError):
    """An explicitly requested backend cannot run here (package or device missing)."""


@dataclass(frozen=True)
class FocusParams:
    """Solver options. ``teleport`` None means uniform; otherwise a prior summing to 1."""

    damping: float = DAMPING_DEFAULT
    eps: float = EPS_DEFAULT
    iterations_max: int = ITERATIONS_MAX_DEFAULT
    teleport: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.damping < 1.0:
            raise ValueError("damping must lie in (0, 1)")
        if not self.eps > 0.0:
            raise ValueError("eps must be positive")
        if self.iterations_max < 1:
            raise ValueError("iterations_max must be at least 1")
        if self.teleport is not None:
            t = np.asarray(self.teleport, dtype=np.float64)
            if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0) or t.sum() <= 0:
                raise ValueError("teleport must be a non-negative finite vector with a positive sum")

    def teleport_for(self, n: int) -> np.ndarray:
        """The teleport vector for n particles, normalised to sum 1 (uniform by default).

        Raises ValueError when a given prior has the wrong length.
        """
        if self.teleport is None:
            return np.full(n, 1.0 / n) if n else np.zeros(0)
        t = np.asarray(self.teleport, dtype=np.float64)
        if len(t) != n:
            raise ValueError(f"teleport has {len(t)} entries for {n} particles")
        return t / t.sum()


@dataclass(frozen=True)
class FocusResult:
    """π and the evidence about how it was obtained.

    ``residual_l1`` is ‖π_t − π_{t−1}‖₁ of the last iteration; ``rate`` the geometric mean
    of the last residual ratios (≈ the modulus of the second eigenvalue, ≤ damping), and
    ``gap`` = 1 − rate, the spectral-gap estimate. ``pi`` is float64 on the host whatever
    the backend computed in; device backends fetch it only when it is read, so a caller
    that chains batches on the device never pays the copy.
    """

    pi_source: Any  # float64 ndarray, or a zero-argument callable that fetches it once
    converged: bool
    iterations: int
    residual_l1: float
    residuals: tuple[float, ...]
    backend: str
    dtype: str
    eps: float
    method: str = "power"

    @cached_property
    def pi(self) -> np.ndarray:
        """π as float64 on the host (a device backend copies it over on first access)."""
        src = self.pi_source
        return np.asarray(src() if callable(src) else src, dtype=np.float64)

    @property
    def rate(self) -> float | None:
        """Convergence-rate estimate from successive residuals (None if too few)."""
        return convergence_rate(self.residuals)

    @property
    def gap(self) -> float | None:
        """Spectral-gap estimate 1 − rate (None if too few residuals)."""
        r = self.rate
        return None if r is None else 1.0 - r

    def require_converged(self) -> FocusResult:
        """Return self if converged; raise ConvergenceError (with the evidence) if not."""
        if not self.converged:
            raise ConvergenceError(
                f"{self.backend} solve did not converge: residual {self.residual_l1:.3e} "
                f"> eps {self.eps:.1e} after {self.iterations} iterations "
                f"(rate estimate {self.rate})"
            )
        return self


def convergence_rate(residuals: tuple[float, ...] | list[float]) -> float | None:
    """Geometric mean of r_{t+1}/r_t over the last RATE_WINDOW positive residuals."""
    tail = [r for r in residuals[-(RATE_WINDOW + 1):] if r > 0 and math.isfinite(r)]
    if len(tail) < 3:
        return None
    ratio = (tail[-1] / tail[0]) ** (1.0 / (len(tail) - 1))
    return float(min(ratio, 1.0))


def empty_result(backend: str, dtype: str, eps: float) -> FocusResult:
    """The (trivially converged) result for a graph with no particles."""
    return FocusResult(np.zeros(0), True, 0, 0.0, (), backend, dtype, eps)
