"""CUDA (CuPy) backend against the float64 reference; skipped without CuPy and a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.kernels import (
    BackendUnavailable,
    CpuSolver,
    FocusParams,
    backend_for,
    reference_focus,
)
from tests.kernels._graphs import random_cyberlinks, reference_weights

pytestmark = pytest.mark.gpu

FLOAT32_L1 = 5e-6  # ε=5e-7 (float32 residual floor ~1.5e-7): d/(1−d)·ε + rounding


@pytest.fixture(scope="module")
def cuda():
    try:
        return backend_for("cuda")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("seed", range(4))
def test_cuda_matches_float64_reference(cuda, seed: int) -> None:
    store, links, stakes = random_cyberlinks(seed, n=300 + 50 * seed, m=3000)
    ref = reference_focus(store.n, reference_weights(links, stakes))
    res = cuda.solver(store, FocusParams(eps=5e-7)).solve()
    assert res.converged and res.backend == "cuda"
    assert np.abs(res.pi - ref).sum() < FLOAT32_L1


def test_cuda_teleport_prior(cuda) -> None:
    store, links, stakes = random_cyberlinks(7)
    prior = np.random.default_rng(7).random(store.n)
    ref = reference_focus(store.n, reference_weights(links, stakes), teleport=prior)
    res = cuda.solver(store, FocusParams(eps=5e-7, teleport=prior)).solve()
    assert np.abs(res.pi - ref).sum() < FLOAT32_L1


def test_cuda_resident_graph_follows_batches(cuda) -> None:
    store, links, _stakes = random_cyberlinks(3, n=400, m=4000)
    gpu = cuda.solver(store, FocusParams(eps=5e-7))
    cpu = CpuSolver(store, FocusParams(eps=1e-9))
    gpu.solve(), cpu.solve()
    rng = np.random.default_rng(3)
    for step in range(6):  # enough churn to trigger compactions
        k = 200
        ins = (rng.integers(0, 30, k), rng.integers(0, store.n + 3, k), rng.integers(0, store.n + 3, k))
        rem_idx = rng.choice(len(links), 100, replace=False)
        rem = tuple(np.array([links[i][c] for i in rem_idx]) for c in range(3))
        delta = store.update(insert=ins, remove=rem, stakes={step: float(10 * step + 1)})
        gpu.apply(delta)
        cpu.apply(delta)
        g, c = gpu.solve(), cpu.solve()
        assert g.converged and c.converged
        gpu.dcsr.invariants()
        import cupy as cp

        assert np.allclose(cp.asnumpy(gpu.dcsr.out_w), store.csr.out_w, rtol=1e-9, atol=1e-12)
        assert np.array_equal(cp.asnumpy(gpu.dcsr.out_deg), store.csr.out_deg)
        assert np.abs(g.pi - c.pi).sum() < FLOAT32_L1


@pytest.mark.parametrize("layout", [{"relabel": False}, {"sort_rows": True}])
def test_cuda_layout_options_agree(cuda, layout) -> None:
    from focusflow.kernels._cuda import CudaSolver

    store, links, stakes = random_cyberlinks(6, n=500, m=6000)
    ref = reference_focus(store.n, reference_weights(links, stakes))
    res = CudaSolver(store, FocusParams(eps=5e-7), **layout).solve()
    assert res.converged and np.abs(res.pi - ref).sum() < FLOAT32_L1


def test_cuda_device_store_from_edges(cuda) -> None:
    import cupy as cp

    from focusflow.kernels import GraphStore
    from focusflow.kernels._cuda import CudaSolver, DeviceStore

    rng = np.random.default_rng(5)
    n, m = 1000, 20000
    s, d, w = rng.integers(0, n, m), (rng.zipf(1.4, m) - 1) % n, rng.random(m)
    ds = DeviceStore.from_edges(cp.asarray(s), cp.asarray(d), cp.asarray(w), n)
    host = GraphStore.from_edges(s, d, w, n=n)
    a = CudaSolver(ds, FocusParams(eps=5e-7)).solve()
    b = CpuSolver(host, FocusParams(eps=1e-10)).solve()
    assert np.abs(a.pi - b.pi).sum() < FLOAT32_L1
