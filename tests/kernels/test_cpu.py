"""The CPU solver against the direct-solve float64 reference, and the convergence guard."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.kernels import (
    ConvergenceError,
    CpuSolver,
    FocusParams,
    GraphStore,
    focus,
    focus_vector,
    reference_focus,
    weights_from_cyberlinks,
    weights_from_edges,
)
from tests.kernels._graphs import random_cyberlinks, reference_weights

TIGHT = FocusParams(eps=1e-13, iterations_max=5000)


def close(pi: np.ndarray, ref: np.ndarray, tol: float = 1e-10) -> bool:
    return bool(np.abs(pi - ref).sum() < tol)


@pytest.mark.parametrize("seed", range(5))
def test_cpu_matches_reference_on_random_cyberlinks(seed: int) -> None:
    store, links, stakes = random_cyberlinks(seed)
    res = CpuSolver(store, TIGHT).solve()
    assert res.converged
    assert close(res.pi, reference_focus(store.n, reference_weights(links, stakes)))
    assert abs(res.pi.sum() - 1.0) < 1e-12


edge = st.tuples(st.integers(0, 9), st.integers(0, 9),
                 st.one_of(st.just(0.0), st.floats(1e-3, 10.0)))


@settings(max_examples=60, deadline=None)
@given(edges=st.lists(edge, max_size=40), n=st.integers(0, 12))
def test_cpu_matches_reference_on_any_small_graph(edges, n) -> None:
    # self-loops, duplicates, zero weights, all-dangling and disconnected graphs included
    edges = [(s, d, w) for s, d, w in edges if s < n and d < n]
    src = [e[0] for e in edges]
    dst = [e[1] for e in edges]
    w = [e[2] for e in edges]
    store = GraphStore.from_edges(src, dst, w, n=n)
    res = CpuSolver(store, TIGHT).solve()
    assert res.converged and not np.any(np.isnan(res.pi))
    assert close(res.pi, reference_focus(n, weights_from_edges(src, dst, w)), 1e-9)


def test_subnormal_weights_give_no_nan() -> None:
    store = GraphStore.from_edges([0, 1], [1, 0], [5e-324, 1.0])
    pi = focus_vector(store, backend="cpu")
    assert np.all(np.isfinite(pi)) and abs(pi.sum() - 1) < 1e-12


def test_all_dangling_graph_is_the_teleport() -> None:
    store = GraphStore.from_edges([], [], [], n=5)
    assert np.allclose(focus_vector(store, backend="cpu"), np.full(5, 0.2))


def test_empty_graph() -> None:
    res = focus(GraphStore(0), backend="cpu")
    assert res.converged and len(res.pi) == 0


def test_zero_stake_everywhere_gives_no_nan() -> None:
    store = GraphStore.from_cyberlinks([0, 0, 1], [0, 1, 2], [1, 2, 0], {0: 0.0, 1: 0.0})
    pi = focus_vector(store, backend="cpu")
    assert not np.any(np.isnan(pi)) and np.allclose(pi, 1 / 3)


def test_teleport_prior() -> None:
    store, links, stakes = random_cyberlinks(9)
    prior = np.random.default_rng(9).random(store.n)
    res = CpuSolver(store, FocusParams(eps=1e-13, teleport=prior)).solve()
    ref = reference_focus(store.n, reference_weights(links, stakes), teleport=prior)
    assert close(res.pi, ref)


def test_capped_run_is_reported_not_converged() -> None:
    store, _, _ = random_cyberlinks(1)
    res = CpuSolver(store, FocusParams(eps=1e-12, iterations_max=3)).solve()
    assert not res.converged and res.iterations == 3 and res.residual_l1 > 1e-12
    with pytest.raises(ConvergenceError, match="did not converge"):
        res.require_converged()


def test_rate_estimate_is_below_damping() -> None:
    store, _, _ = random_cyberlinks(2, dangling_share=0.0)
    res = CpuSolver(store, FocusParams(eps=1e-12)).solve()
    assert res.rate is not None and 0.0 < res.rate <= 0.85 + 1e-3
    assert res.gap is not None and abs(res.gap - (1 - res.rate)) < 1e-15
    # the rate predicts the residuals: r_t ≈ r_0·rate^t within an order of magnitude
    r = res.residuals
    assert r[-1] < r[0]


def test_warm_start_needs_fewer_iterations_after_a_small_batch() -> None:
    store, _, _ = random_cyberlinks(4, n=400, m=4000)
    solver = CpuSolver(store, FocusParams(eps=1e-9))
    cold = solver.solve()
    solver.apply(store.update(insert=([1], [5], [7])))
    warm = solver.solve(warm=True)
    assert warm.converged and warm.method == "warm" and warm.iterations < cold.iterations
    fresh = CpuSolver(store, FocusParams(eps=1e-12)).solve(warm=False)
    assert close(warm.pi, fresh.pi, 1e-7)


def test_dynamic_frontier_matches_reference_after_batches() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    src = rng.integers(0, n, 15000)
    dst = (rng.zipf(1.5, 15000) - 1) % n
    store = GraphStore.from_edges(src, dst, rng.random(15000), n=n)
    solver = CpuSolver(store, FocusParams(eps=1e-10))
    solver.solve()
    methods = set()
    for _ in range(3):
        k = 5
        delta = store.update_edges(insert=(rng.integers(0, n, k), rng.integers(0, n, k),
                                           rng.random(k)))
        solver.apply(delta)
        res = solver.solve_dynamic()
        methods.add(res.method)
        assert res.converged
        s, d, w = _edges(store)
        assert close(res.pi, reference_focus(n, weights_from_edges(s, d, w)), 1e-8)
    assert "dynamic-frontier" in methods


def _edges(store: GraphStore):
    csr = store.csr
    dst = np.repeat(np.arange(csr.n), np.diff(csr.indptr))
    d_dst, d_src, d_w = csr.delta_coo()
    return (np.concatenate([csr.indices, d_src]), np.concatenate([dst, d_dst]),
            np.concatenate([csr.data, d_w]))


def test_focus_semantics_by_hand() -> None:
    # neuron 0 (stake 6) links 0→1, 0→2, 1→2: 2 each; neuron 1 (stake 3) links 0→1: 3
    store = GraphStore.from_cyberlinks([0, 0, 0, 1], [0, 0, 1, 0], [1, 2, 2, 1], {0: 6.0, 1: 3.0})
    w = weights_from_cyberlinks([(0, 0, 1), (0, 0, 2), (0, 1, 2), (1, 0, 1)], {0: 6.0, 1: 3.0})
    assert w == {(0, 1): 5.0, (0, 2): 2.0, (1, 2): 2.0}
    # P(0→1) = 5/7, P(0→2) = 2/7, P(1→2) = 1, 2 dangling; solve the 3×3 system by hand:
    d = 0.85
    # π0 = a, π1 = d·(5/7)π0 + b, π2 = d·((2/7)π0 + π1) + b, b = (d·π2 + 1 − d)/3, a = b
    # iterate the hand equations to a fixed point
    p = np.full(3, 1 / 3)
    for _ in range(500):
        b = (d * p[2] + 1 - d) / 3
        p = np.array([b, d * 5 / 7 * p[0] + b, d * (2 / 7 * p[0] + p[1]) + b])
    assert close(focus_vector(store, backend="cpu", params=TIGHT), p / p.sum(), 1e-12)
