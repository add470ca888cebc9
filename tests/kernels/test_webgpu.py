"""WebGPU (WGSL) backend against the float64 reference; skipped without an adapter."""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.kernels import (
    BackendUnavailable,
    CpuSolver,
    FocusParams,
    GraphStore,
    backend_for,
    reference_focus,
)
from tests.kernels._graphs import random_cyberlinks, reference_weights

pytestmark = pytest.mark.webgpu

FLOAT32_L1 = 5e-6


@pytest.fixture(scope="module")
def webgpu():
    try:
        return backend_for("webgpu")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("seed", range(3))
def test_webgpu_matches_float64_reference(webgpu, seed: int) -> None:
    store, links, stakes = random_cyberlinks(seed, n=250 + 40 * seed, m=2500)
    ref = reference_focus(store.n, reference_weights(links, stakes))
    res = webgpu.solver(store, FocusParams(eps=5e-7)).solve()
    assert res.converged and res.backend == "webgpu" and res.dtype == "float32"
    assert np.abs(res.pi - ref).sum() < FLOAT32_L1


def test_webgpu_long_rows_use_wide_bins(webgpu) -> None:
    # a star: one row with thousands of in-links (the 256-lane bin) plus short rows
    n = 3000
    src = np.arange(1, n)
    dst = np.zeros(n - 1, dtype=np.int64)
    src = np.concatenate([src, np.arange(n - 1)])
    dst = np.concatenate([dst, np.arange(1, n)])
    w = np.random.default_rng(1).random(len(src)) + 0.1
    store = GraphStore.from_edges(src, dst, w, n=n)
    res = webgpu.solver(store, FocusParams(eps=5e-7)).solve()
    ref = CpuSolver(store, FocusParams(eps=1e-12)).solve()
    assert res.converged and np.abs(res.pi - ref.pi).sum() < FLOAT32_L1


def test_webgpu_follows_batches(webgpu) -> None:
    store, _links, _stakes = random_cyberlinks(11, n=300, m=3000)
    gpu = webgpu.solver(store, FocusParams(eps=5e-7))
    gpu.solve()
    rng = np.random.default_rng(11)
    ins = (rng.integers(0, 30, 100), rng.integers(0, 310, 100), rng.integers(0, 310, 100))
    delta = store.update(insert=ins, stakes={1: 5.0})
    gpu.apply(delta)
    res = gpu.solve()
    ref = CpuSolver(store, FocusParams(eps=1e-12)).solve()
    assert res.converged and np.abs(res.pi - ref.pi).sum() < FLOAT32_L1
