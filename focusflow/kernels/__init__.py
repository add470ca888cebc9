"""Focus kernels: token-weighted π on the CPU, CUDA (CuPy) and WebGPU (wgpu).

Pure compute: no actors, no I/O. The pieces:

* :class:`GraphStore` — cyberlinks + stakes (or weighted edges) as an in-link CSR that
  takes incremental batches and reports each as an :class:`EdgeDelta`;
* :func:`backend_for` — picks ``cpu`` / ``cuda`` / ``webgpu`` / ``auto`` once; its
  :class:`Backend` makes a :class:`Solver` (warm start, resident graph on devices, a
  convergence guard that never passes off a capped run as converged);
* :func:`bostrom_rank` — go-cyber ``x/rank`` reproduced bit for bit;
* :class:`Commitment` / :func:`verify` — fixed-point π, BLAKE3 merkle root, and a
  one-iteration residual check;
* :class:`ExactSolver` (``Backend.exact_solver``) — the committed π in exact integer
  arithmetic: the same bits on every backend and after any history of edits.

CuPy and wgpu are imported only when their backend is asked for.
"""

from __future__ import annotations

import numpy as np

from focusflow.kernels._backend import BACKENDS, KNOWN_GAPS, Backend, BackendGap, backend_for
from focusflow.kernels._bostrom import BostromResult, bostrom_rank, bostrom_rank_scalar
from focusflow.kernels._commit import (
    Commitment,
    Verdict,
    dequantize,
    merkle_root,
    quantize,
    residual_l1,
    verify,
)
from focusflow.kernels._cpu import CpuSolver
from focusflow.kernels._csr import EdgeDelta, InLinkCSR
from focusflow.kernels._exact import ExactCpuSolver, ExactResult, ExactSolver
from focusflow.kernels._graph import GraphStore
from focusflow.kernels._reference import (
    reference_focus,
    weights_from_cyberlinks,
    weights_from_edges,
)
from focusflow.kernels._result import (
    BackendUnavailable,
    ConvergenceError,
    FocusParams,
    FocusResult,
)
from focusflow.kernels._solver import Solver


def focus(store: GraphStore, *, backend: str = "auto",
          params: FocusParams | None = None) -> FocusResult:
    """One-shot π of ``store`` on ``backend`` (see :func:`backend_for`)."""
    return backend_for(backend).solver(store, params).solve(warm=False)


def focus_vector(store: GraphStore, *, backend: str = "auto",
                 params: FocusParams | None = None) -> np.ndarray:
    """π of ``store``; raises ConvergenceError when the guard did not pass."""
    return focus(store, backend=backend, params=params).require_converged().pi


__all__ = [
    "BACKENDS",
    "KNOWN_GAPS",
    "Backend",
    "BackendGap",
    "BackendUnavailable",
    "BostromResult",
    "Commitment",
    "ConvergenceError",
    "CpuSolver",
    "EdgeDelta",
    "ExactCpuSolver",
    "ExactResult",
    "ExactSolver",
    "FocusParams",
    "FocusResult",
    "GraphStore",
    "InLinkCSR",
    "Solver",
    "Verdict",
    "backend_for",
    "bostrom_rank",
    "bostrom_rank_scalar",
    "dequantize",
    "focus",
    "focus_vector",
    "merkle_root",
    "quantize",
    "reference_focus",
    "residual_l1",
    "verify",
    "weights_from_cyberlinks",
    "weights_from_edges",
]
