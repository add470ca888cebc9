"""Exact focus on CUDA (CuPy): the CPU's bits, also after resident in-place deltas.
Skipped without CuPy and a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.kernels import BackendUnavailable, GraphStore, backend_for
from focusflow.kernels._exact import exact_reference
from tests.kernels.test_exact import exact_cyberlinks

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda():
    try:
        return backend_for("cuda")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("seed", range(3))
def test_cuda_gives_the_cpu_bits(cuda, seed: int) -> None:
    store, _, _ = exact_cyberlinks(seed, n=2000 + 500 * seed, m=40000)
    cpu = backend_for("cpu").exact_solver(store).solve()
    gpu = cuda.exact_solver(store).solve()
    assert cpu.converged and gpu.converged and gpu.backend == "cuda"
    assert gpu.root == cpu.root and gpu.residuals == cpu.residuals


def test_cuda_is_the_definition_with_hub_rows(cuda) -> None:
    """A row with thousands of in-links (the 256-lane bin) and extreme weights."""
    rng = np.random.default_rng(3)
    m = 6000
    dst = np.where(rng.random(m) < 0.5, 0, rng.integers(0, 50, m))
    w = np.where(rng.random(m) < 0.5, 1, rng.integers(2**40, 2**41, m))
    store = GraphStore.from_edges(rng.integers(0, 50, m), dst, w, n=50, exact=True)
    ref, iterations, _ = exact_reference(store)
    res = cuda.exact_solver(store).solve()
    assert res.q.tolist() == ref and res.iterations == iterations


def test_resident_deltas_give_the_fresh_bits(cuda) -> None:
    """Batches applied in place on the device (delta segment, tombstones, compaction)
    give the same root as the CPU on the host store and as a fresh device copy."""
    store, _, _ = exact_cyberlinks(7, n=3000, m=30000, neurons=40)
    store.csr.compact_fraction = 0.05
    solver = cuda.exact_solver(store)
    solver.solve()
    rng = np.random.default_rng(8)
    for step in range(4):
        k = 800
        delta = store.update(
            insert=(rng.integers(0, 40, k), rng.integers(750, 3100, k), rng.integers(0, 3100, k)),
            remove=(rng.integers(0, 40, 300), rng.integers(0, 3000, 300),
                    rng.integers(0, 3000, 300)),
            stakes={int(rng.integers(0, 40)): int(rng.integers(0, 10**9))})
        solver.apply(delta)
        warm = solver.solve(warm=True)
        start = solver.start_vector(warm=False)
        cold = solver.solve(start=start)
        cpu = backend_for("cpu").exact_solver(store).solve(start=start)
        fresh = cuda.exact_solver(store).solve(start=start)
        assert cold.root == cpu.root == fresh.root, step
        assert warm.converged
