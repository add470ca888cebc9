"""Backend selection: lazy GPU imports, auto fallback, clear errors, gaps as data."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from focusflow.kernels import KNOWN_GAPS, BackendUnavailable, backend_for


def test_importing_kernels_loads_no_gpu_library() -> None:
    code = ("import sys, focusflow.kernels, focusflow.kernels.edgefile; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cupy', 'wgpu', 'cupyx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        backend_for("tpu")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy installed")
def test_explicit_cuda_without_cupy_says_why() -> None:
    with pytest.raises(BackendUnavailable, match="cuda: CuPy is not importable"):
        backend_for("cuda")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy installed")
def test_auto_without_a_gpu_falls_back_to_cpu_with_a_reason() -> None:
    chosen = backend_for("auto")
    if chosen.name == "webgpu":  # a real (hardware) WebGPU adapter is present
        assert "cpu" not in chosen.reason.lower()
        return
    assert chosen.name == "cpu" and "no GPU backend" in chosen.reason and "cuda" in chosen.reason


def test_known_gaps_are_data() -> None:
    assert KNOWN_GAPS and all(g.backend and g.what and g.reason for g in KNOWN_GAPS)
    assert {g.backend for g in KNOWN_GAPS} <= {"cpu", "cuda", "webgpu", "bostrom"}
