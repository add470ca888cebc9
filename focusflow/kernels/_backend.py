"""Backend selection, done once: ``backend_for("cpu" | "cuda" | "webgpu" | "auto")``.

CuPy and wgpu are imported only here and only when asked for, so ``import
focusflow.kernels`` loads neither. ``auto`` tries CUDA, then WebGPU on a real GPU adapter,
then the CPU, and logs why it passed over each; an explicit ``cuda`` or ``webgpu`` that
cannot run raises :class:`BackendUnavailable` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from focusflow.kernels._exact import ExactCpuSolver, ExactSolver
from focusflow.kernels._graph import GraphStore
from focusflow.kernels._result import BackendUnavailable, FocusParams
from focusflow.kernels._solver import Solver

BackendName = Literal["cpu", "cuda", "webgpu", "auto"]
BACKENDS: tuple[str, ...] = ("cpu", "cuda", "webgpu", "auto")

log = structlog.get_logger("focusflow.kernels")


@dataclass(frozen=True)
class BackendGap:
    """A known difference between a backend and the float64 reference, as data."""

    backend: str
    what: str
    reason: str


KNOWN_GAPS: tuple[BackendGap, ...] = (
    BackendGap("cuda", "float32 iteration: π agrees with the float64 reference to ~1e-6 in L1,"
               " not to 1e-12", "bandwidth: float32 values and weights halve the bytes per link"),
    BackendGap("webgpu", "float32 iteration (same as cuda)", "WGSL has no portable float64"),
    BackendGap("webgpu", "no resident incremental updates: a batch re-uploads the compacted"
               " CSR", "WGSL has no float atomics for the delta segment's scatter"),
    BackendGap("webgpu", "a graph must fit the adapter's storage-buffer binding limit"
               " (128 MiB on llvmpipe: ~32M links)", "no buffer splitting yet"),
    BackendGap("cuda", "dynamic frontier not implemented on the device; batches re-converge by"
               " warm start on the resident graph", "time; the CPU has it"),
    BackendGap("cuda", "float32 residual floor ~1.5e-7 (L1): ε below ~3e-7 may not be reached",
               "rounding of float32 π; the guard then reports not converged"),
    BackendGap("webgpu", "float32 residual floor ~1.5e-7 (L1), as cuda", "float32"),
    BackendGap("bostrom", "CPU only (numpy); no GPU path", "it is a bit-exact compatibility"
               " reference, not a throughput path"),
    BackendGap("cpu", "exact focus: an iteration costs ~3-6x a float64 one (target 1.5x)",
               "numpy runs the per-link hi64 as 14 separate array passes; nothing fuses them"),
    BackendGap("webgpu", "exact focus: one thread per row and the graph re-uploaded per solve",
               "agreement first; the float kernels' degree bins are not ported yet"),
    BackendGap("cpu", "exact focus (every backend): uniform teleport only; cyberlink stakes must be integers summing to"
               " at most 2^38 - 1", "the integer out-weights must fit 62 bits (docs/kernels.md)"),
)


@dataclass(frozen=True)
class Backend:
    """A chosen backend: its name, why it was chosen, and its solver class."""

    name: str
    reason: str
    solver_cls: type[Solver]
    exact_cls: type[ExactSolver] | None = None

    def solver(self, store: GraphStore, params: FocusParams | None = None) -> Solver:
        """A solver on this backend for ``store``."""
        return self.solver_cls(store, params)

    def exact_solver(self, store: GraphStore, params: FocusParams | None = None) -> ExactSolver:
        """The exact (integer) solver on this backend; ``store`` must be exact.

        Raises ValueError for a float store or a non-uniform teleport.
        """
        assert self.exact_cls is not None
        return self.exact_cls(store, params)


def _cuda() -> Backend:
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        raise BackendUnavailable(f"cuda: CuPy is not importable ({exc})") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendUnavailable(f"cuda: no CUDA device ({exc})") from exc
    if count < 1:
        raise BackendUnavailable("cuda: CuPy found no CUDA device")
    from focusflow.kernels._cuda import CudaSolver
    from focusflow.kernels._exact_cuda import ExactCudaSolver

    return Backend("cuda", f"CuPy {cupy.__version__}, {count} device(s)", CudaSolver,
                   ExactCudaSolver)


def _webgpu(*, allow_software: bool) -> Backend:
    try:
        from focusflow.kernels._exact_webgpu import ExactWebGpuSolver
        from focusflow.kernels._webgpu import WebGpuSolver, adapter_info
    except Exception as exc:
        raise BackendUnavailable(f"webgpu: wgpu is not importable ({exc})") from exc
    info = adapter_info()
    if info is None:
        raise BackendUnavailable("webgpu: no WebGPU adapter")
    if not allow_software and info.get("adapter_type", "").lower() == "cpu":
        raise BackendUnavailable(f"webgpu: only a software adapter ({info.get('device')})")
    return Backend("webgpu", f"{info.get('device')} ({info.get('backend_type')})", WebGpuSolver,
                   ExactWebGpuSolver)


def backend_for(name: str = "auto") -> Backend:
    """Pick the backend once. Raises ValueError for an unknown name and
    BackendUnavailable for an explicit GPU backend that cannot run here."""
    from focusflow.kernels._cpu import CpuSolver

    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "cpu":
        return Backend("cpu", "asked for", CpuSolver, ExactCpuSolver)
    if name == "cuda":
        return _cuda()
    if name == "webgpu":
        return _webgpu(allow_software=True)
    reasons = []
    for attempt in (_cuda, lambda: _webgpu(allow_software=False)):
        try:
            chosen = attempt()
        except BackendUnavailable as exc:
            reasons.append(str(exc))
            continue
        log.info("backend chosen", backend=chosen.name, reason=chosen.reason)
        return chosen
    reason = "; ".join(reasons)
    log.info("backend chosen", backend="cpu", reason=f"no GPU backend: {reason}")
    return Backend("cpu", f"no GPU backend: {reason}", CpuSolver, ExactCpuSolver)
