"""CPU backend: float64 power iteration on scipy's CSR, plus a dynamic frontier.

The iteration is π' = d·(Wᵀ·(π ⊙ 1/out)) + (d·Σ_dangling π + 1 − d)·v, computed from the
unnormalised weights W and the per-source inverse out-weight, so that a reweight changes
one stored value and one out-weight instead of renormalising a whole row.

Dynamic frontier (after Sahu, Kothapalli & Banerjee, "DF-P PageRank"): after a batch,
only particles whose in-sums can have changed are recomputed; a particle that moves by
more than the frontier tolerance adds its out-neighbours; one that moves less drops out
(pruning). The shared teleport term is applied to all particles analytically each step.
Because pruning bounds but does not remove error, every dynamic run is finished by full
iterations until the ordinary residual guard passes: the frontier only saves work, it
never decides convergence.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from focusflow.kernels._csr import EdgeDelta
from focusflow.kernels._graph import GraphStore
from focusflow.kernels._result import FocusParams, FocusResult, empty_result
from focusflow.kernels._solver import Solver

FRONTIER_SHARE_MAX = 0.25  # a frontier wider than this is a full iteration anyway
FRONTIER_STEPS_MAX = 200
FRONTIER_TOLERANCE_SHARE = 100.0  # a particle moving less than this·ε/n does not spread


class CpuSolver(Solver):
    """numpy/scipy float64 solver; shares the store's host CSR (no copy)."""

    backend = "cpu"
    dtype = "float64"

    def __init__(self, store: GraphStore, params: FocusParams | None = None) -> None:
        super().__init__(store, params)
        self._pi = np.zeros(0)
        self._matrix_version = -1
        self._a: sp.csr_matrix | None = None
        self._at: sp.csr_matrix | None = None
        self._pending_src: list[np.ndarray] = []
        self._pending_dst: list[np.ndarray] = []
        self._delta_cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- matrices ---------------------------------------------------------------------------
    def _matrix(self) -> sp.csr_matrix:
        """scipy view of the base CSR (data shared; rebuilt only when the layout changed)."""
        csr = self.store.csr
        n = csr.n
        if self._a is None or self._matrix_version != csr.version or self._a.shape[0] != n:
            idx = np.int32 if len(csr.keys) < 2**31 else np.int64
            self._a = sp.csr_matrix(
                (csr.data, csr.indices.astype(idx, copy=False), csr.indptr.astype(idx)),
                shape=(n, n), copy=False)
            self._at = None
            self._matrix_version = csr.version
        return self._a

    def _gather(self, x: np.ndarray) -> np.ndarray:
        """y = Wᵀ-pull: y_j = Σ_i W_ij x_i over base and delta edges."""
        csr = self.store.csr
        y = self._matrix() @ x
        if len(csr.d_keys):
            if self._delta_cache is None or self._delta_cache[0] is not csr.d_keys:
                self._delta_cache = (csr.d_keys, *csr.delta_coo())
            _, d_dst, d_src, d_w = self._delta_cache
            y += np.bincount(d_dst, weights=d_w * x[d_src], minlength=csr.n)
        return y

    # -- Solver operations --------------------------------------------------------------------
    def _start(self, pi0: np.ndarray) -> None:
        csr = self.store.csr
        self._pi = pi0.astype(np.float64, copy=True)
        self._inv = csr.inv_out()
        self._dangling = self._inv == 0.0
        self._v = self.params.teleport_for(csr.n)
        self._dmass = float(self._pi[self._dangling].sum())

    def _step(self) -> float:
        d = self.params.damping
        y = self._gather(self._pi * self._inv)
        coef = d * self._dmass + (1.0 - d)
        new = d * y + coef * self._v
        r = float(np.abs(new - self._pi).sum())
        self._pi = new
        self._dmass = float(new[self._dangling].sum())
        return r

    def _snapshot(self) -> np.ndarray:
        total = self._pi.sum()
        return self._pi / total if total > 0 else self._pi.copy()

    def _fetch(self, snapshot: np.ndarray) -> np.ndarray:
        return snapshot

    def apply(self, delta: EdgeDelta) -> None:
        """Remember which edges changed, for the next dynamic-frontier solve."""
        super().apply(delta)
        self._pending_src.append(np.asarray(delta.src))
        self._pending_dst.append(np.asarray(delta.dst))

    # -- dynamic frontier -------------------------------------------------------------------
    def _out_neighbours(self, rows: np.ndarray) -> np.ndarray:
        """Destinations of the out-edges of ``rows`` (base transpose cached + delta)."""
        csr = self.store.csr
        a = self._matrix()
        if self._at is None:
            self._at = a.T.tocsr()
        at = self._at
        sel = at.indptr[rows], at.indptr[rows + 1]
        parts = [at.indices[s:e] for s, e in zip(*sel, strict=True)] if len(rows) < 64 else [
            at[rows].indices]
        if len(csr.d_keys):
            d_dst, d_src, _ = csr.delta_coo()
            mask = np.zeros(csr.n, dtype=bool)
            mask[rows] = True
            parts.append(d_dst[mask[d_src]])
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def solve_dynamic(self, *, eps: float | None = None, iterations_max: int | None = None,
                      frontier_tolerance: float | None = None) -> FocusResult:
        """Re-converge after the deltas seen by :meth:`apply`, by dynamic frontier.

        Falls back to a warm-started power iteration when there is no previous π or the
        frontier grows past FRONTIER_SHARE_MAX of the graph. The result is certified by
        the ordinary full-iteration residual guard.
        """
        eps = self.params.eps if eps is None else eps
        cap = self.params.iterations_max if iterations_max is None else iterations_max
        n = self.store.n
        srcs = np.concatenate(self._pending_src) if self._pending_src else np.zeros(0, np.int64)
        dsts = np.concatenate(self._pending_dst) if self._pending_dst else np.zeros(0, np.int64)
        self._pending_src, self._pending_dst = [], []
        if n == 0:
            return empty_result(self.backend, self.dtype, eps)
        if self._last is None:
            return self.solve(warm=False, eps=eps, iterations_max=cap)
        self._start(self.start_vector(warm=True))
        tau = frontier_tolerance if frontier_tolerance is not None else FRONTIER_TOLERANCE_SHARE * eps / n
        frontier = np.zeros(n, dtype=bool)
        frontier[dsts] = True
        frontier[self._out_neighbours(np.unique(srcs))] = True
        frontier[len(self._last):] = True  # new particles
        steps = self._frontier_steps(frontier, tau)
        if steps < 0:  # the frontier grew too wide: start over as a plain warm start
            self._start(self.start_vector(warm=True))
            return self._loop(eps, cap, method="warm")
        return self._loop(eps, cap, method="dynamic-frontier")

    def _frontier_steps(self, frontier: np.ndarray, tau: float) -> int:
        """Run frontier-restricted steps; returns how many, or −1 when it gave up."""
        n = self.store.n
        d = self.params.damping
        a = self._matrix()
        pi, inv, v = self._pi, self._inv, self._v
        x = pi * inv
        for step in range(FRONTIER_STEPS_MAX):
            rows = np.flatnonzero(frontier)
            if len(rows) == 0:
                return step
            if len(rows) > FRONTIER_SHARE_MAX * n:
                return -1
            y = a[rows] @ x
            csr = self.store.csr
            if len(csr.d_keys):
                d_dst, d_src, d_w = csr.delta_coo()
                pos = np.full(n, -1, dtype=np.int64)
                pos[rows] = np.arange(len(rows))
                hit = pos[d_dst] >= 0
                y += np.bincount(pos[d_dst[hit]], weights=d_w[hit] * x[d_src[hit]],
                                 minlength=len(rows))
            coef_old = d * self._dmass + (1.0 - d)
            new_rows = d * y + coef_old * v[rows]
            change = np.abs(new_rows - pi[rows])
            pi[rows] = new_rows
            x[rows] = new_rows * inv[rows]
            self._dmass = float(pi[self._dangling].sum())
            coef_new = d * self._dmass + (1.0 - d)
            if coef_new != coef_old:  # the teleport share moved: every particle shifts
                pi += (coef_new - coef_old) * v
                x = pi * inv
                self._dmass = float(pi[self._dangling].sum())
            moved = rows[change > tau]
            frontier[:] = False
            if len(moved):
                frontier[self._out_neighbours(moved)] = True
        return FRONTIER_STEPS_MAX
