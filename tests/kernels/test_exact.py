"""Exact focus on the CPU: the definition with Python integers, history independence,
the error bound against float64, the CLI's output and its refusals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from focusflow.cli import rank
from focusflow.kernels import (
    ExactCpuSolver,
    FocusParams,
    GraphStore,
    _exact,
    backend_for,
    reference_focus,
    weights_from_cyberlinks,
)
from focusflow.kernels._exact import (
    MASS,
    RECIPROCAL_NUMERATOR,
    bit_length,
    damp,
    exact_reference,
    mul64,
    padded_start,
    reciprocal,
)
from focusflow.kernels._graph import STAKE_TOTAL_MAX

U64 = (1 << 64) - 1


def exact_cyberlinks(seed: int, *, n: int = 120, m: int = 900, neurons: int = 20):
    """(store, links, stakes) with integer stakes, zero stakes and dangling particles."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, neurons, m)
    s = rng.integers(n // 4, n, m)  # particles below n/4 never link out: dangling
    d = (rng.zipf(1.6, m) - 1) % n
    stakes = {i: 0 if rng.random() < 0.2 else int(rng.integers(1, 10**9)) for i in range(neurons)}
    store = GraphStore.from_cyberlinks(u, s, d, stakes, n=n, exact=True)
    return store, list(zip(u.tolist(), s.tolist(), d.tolist(), strict=True)), stakes


def test_integer_primitives_match_python_integers() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, U64, 4000, dtype=np.uint64, endpoint=True)
    b = rng.integers(0, U64, 4000, dtype=np.uint64, endpoint=True)
    a[:2], b[:2] = U64, [U64, 0]
    hi, lo = mul64(np, a, b)
    assert [(int(h) << 64) | int(low) for h, low in zip(hi, lo, strict=True)] == [
        int(x) * int(y) for x, y in zip(a, b, strict=True)]
    d = rng.integers(1 << 63, U64, 4000, dtype=np.uint64, endpoint=True)
    d[:3] = [1 << 63, U64, (1 << 63) + 1]
    assert reciprocal(np, d).tolist() == [RECIPROCAL_NUMERATOR // int(v) for v in d]
    u = np.array([0, 1, 2, 3, 2**53 + 1, 2**60 - 1, 2**62, 2**63, U64], dtype=np.uint64)
    assert bit_length(np, u).tolist() == [int(v).bit_length() for v in u]
    y = rng.integers(0, 1 << 62, 1000, dtype=np.uint64)
    delta = 3650722202
    assert damp(np, y, delta).tolist() == [(int(v) * delta) >> 32 for v in y]


@pytest.mark.parametrize("seed", range(3))
def test_cpu_solver_is_the_definition(seed: int) -> None:
    store, _, _ = exact_cyberlinks(seed, n=60, m=400)
    ref, iterations, converged = exact_reference(store)
    res = ExactCpuSolver(store).solve()
    assert converged and res.converged and res.iterations == iterations
    assert res.q.tolist() == ref
    assert int(res.q.sum()) <= MASS


def test_edge_mode_with_delta_segment_is_the_definition() -> None:
    rng = np.random.default_rng(5)
    store = GraphStore.from_edges(rng.integers(0, 40, 300), rng.integers(0, 40, 300),
                                  rng.integers(0, 2**40, 300), n=40, exact=True)
    store.csr.compact_fraction = 1.0  # keep the new edges in the delta segment
    store.update_edges(insert=(rng.integers(0, 45, 20), rng.integers(0, 45, 20),
                               rng.integers(1, 9, 20)))
    assert len(store.csr.d_keys) > 0
    ref, _, _ = exact_reference(store)
    assert ExactCpuSolver(store).solve().q.tolist() == ref


@pytest.mark.parametrize("seed", range(3))
def test_exact_pi_is_within_eps_of_the_float64_solution(seed: int) -> None:
    store, links, stakes = exact_cyberlinks(seed)
    res = ExactCpuSolver(store, FocusParams(eps=1e-9)).solve().require_converged()
    ref = reference_focus(store.n, weights_from_cyberlinks(links, stakes))
    # the integer link shares floor(stake·2^24/links) differ from stake/links by < 2^-24
    # relative for these stakes; the rounding bound of the iteration is ~1e-16 here
    assert np.abs(res.pi - ref).sum() < 1e-6


# -- the CPU fast path against the general formula and the Python-integer definition ----------
TOTAL_W_MAX = (1 << 62) - 1  # Σ W of an exact store
weight = st.one_of(
    st.integers(0, 9),  # small edge weights: out_i < 2^32, no final shift
    st.integers((1 << 31) - 3, (1 << 32) + 3),  # around the 2^32 class border, out_i > 2^32
    st.integers(1 << 32, 1 << 58),  # general links (cyberlink shares of large stakes)
    st.just((1 << 32) - 1),
)


def _edge_store(n: int, edges: list[tuple[int, int, int]]) -> GraphStore:
    src, dst, w = (np.array(col, dtype=np.int64) for col in zip(*edges, strict=True))
    scale = max(1, -(-int(sum(int(v) for v in w)) // TOTAL_W_MAX))  # keep Σ W < 2^62
    return GraphStore.from_edges(src, dst, w // scale, n=n, exact=True)


def _py_gather(store: GraphStore, x: list[int]) -> list[int]:
    """y_j = Σ hi64(W'_ij·x_i) with Python integers, straight from the definition."""
    csr = store.csr
    out = [int(v) for v in csr.out_w]
    y = [0] * csr.n
    for key, w in zip(csr.keys.tolist(), csr.data.tolist(), strict=True):
        dst, src = key >> 32, key & 0xFFFFFFFF
        y[dst] += ((int(w) << (64 - out[src].bit_length())) * x[src]) >> 64
    return y


edges = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11), weight), min_size=1,
                 max_size=80)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges=edges, chunk=st.sampled_from([1, 3, 7, 64, 1 << 16]), data=st.data())
@example(edges=[(0, 1, (1 << 32) - 1), (0, 2, (1 << 32) - 1), (3, 1, 1)], chunk=1,
         data=None)
def test_fast_row_sums_are_hi64_of_every_link(edges, chunk, data) -> None:
    """Every x the iteration can produce (x < 2^61, the extremes included), every weight
    class (W < 2^32 with out_i below and above 2^32, W ≥ 2^32), rows split across chunks:
    the fast path and the general path both give Σ hi64(W'·x) exactly."""
    store = _edge_store(12, edges)
    top = (1 << 61) - 1
    if data is None:
        x = [top] * 12
    else:
        x = data.draw(st.lists(st.one_of(st.integers(0, top), st.sampled_from([0, 1, top])),
                               min_size=12, max_size=12))
    want = _py_gather(store, x)
    for fast in (True, False):
        with mock.patch.object(_exact, "CHUNK_LINKS", chunk):
            solver = ExactCpuSolver(store, fast=fast)
            solver._load()
            solver._set_pi(np.zeros(12, np.uint64))
            # _gather takes x in the solver's (hubs-first) source numbering
            got = solver._gather(np.array(x, dtype=np.uint64)[solver._order])
        assert got.tolist() == want


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges=edges, chunk=st.sampled_from([2, 5, 1 << 16]), data=st.data())
def test_fast_solver_is_the_definition(edges, chunk, data) -> None:
    """Whole iterations from random start vectors (all the mass on one particle
    included): the fast path, the general path and the Python-integer definition give
    the same π bits and residuals."""
    store = _edge_store(12, edges)
    where = data.draw(st.integers(0, 11))
    start = data.draw(st.one_of(
        st.just([MASS if i == where else 0 for i in range(12)]),
        st.lists(st.integers(0, MASS // 12), min_size=12, max_size=12)))
    ref, iterations, converged = exact_reference(store, start=np.array(start, np.uint64),
                                                 iterations_max=4)
    for fast in (True, False):
        with mock.patch.object(_exact, "CHUNK_LINKS", chunk):
            res = ExactCpuSolver(store, fast=fast).solve(
                start=np.array(start, np.uint64), iterations_max=4)
        assert res.q.tolist() == ref
        assert (res.iterations, res.converged) == (iterations, converged)


def _fresh(links: set[tuple[int, int, int]], stakes: dict[int, int], n: int) -> GraphStore:
    arr = np.array(sorted(links), dtype=np.int64).reshape(-1, 3)
    return GraphStore.from_cyberlinks(arr[:, 0], arr[:, 1], arr[:, 2], stakes, n=n, exact=True)


link = st.tuples(st.integers(0, 5), st.integers(0, 24), st.integers(0, 24))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(final=st.sets(link, min_size=1, max_size=60), extra=st.sets(link, max_size=30),
       stakes=st.lists(st.integers(0, 10**10), min_size=6, max_size=6),
       early=st.lists(st.integers(0, 10**10), min_size=6, max_size=6),
       batches=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_any_history_of_edits_gives_the_fresh_bits(final, extra, stakes, early, batches,
                                                   seed) -> None:
    """Inserts (with links later removed), restakes and removals in random batches and
    orders, through delta segment, tombstones and compactions: π bits = fresh build."""
    rng = np.random.default_rng(seed)
    n = 25
    extra = extra - final
    store = GraphStore(n, exact=True, compact_fraction=0.3)
    ins = list(final | extra)
    rng.shuffle(ins)
    for i, part in enumerate(np.array_split(np.array(ins, dtype=np.int64), batches)):
        restake = {u: early[u] for u in range(6) if (u + i) % 2 == 0}
        store.update(insert=(part[:, 0], part[:, 1], part[:, 2]), stakes=restake)
        store.csr.invariants()
    gone = list(extra)
    rng.shuffle(gone)
    for part in np.array_split(np.array(gone, dtype=np.int64).reshape(-1, 3), batches):
        store.update(remove=(part[:, 0], part[:, 1], part[:, 2]))
    store.update(stakes=dict(enumerate(stakes)))
    fresh = _fresh(final, dict(enumerate(stakes)), n)
    a = ExactCpuSolver(store).solve()
    b = ExactCpuSolver(fresh).solve()
    assert a.root == b.root and a.iterations == b.iterations
    np.testing.assert_array_equal(store.csr.out_w, fresh.csr.out_w)


def test_warm_start_pads_new_particles_within_the_mass() -> None:
    store, _, _ = exact_cyberlinks(1, n=50, m=300)
    solver = ExactCpuSolver(store)
    first = solver.solve()
    store.update(insert=([3], [55], [49]), stakes={3: 777})
    start = solver.start_vector(warm=True)
    assert len(start) == 56 and int(start.sum()) <= MASS
    assert start[:50].tolist() == first.q.tolist()
    warm = solver.solve(warm=True)
    again = ExactCpuSolver(store).solve(start=start)
    assert warm.root == again.root  # a function of the graph and the start vector
    assert padded_start(np.zeros(0, np.uint64), 3).tolist() == [MASS // 3] * 3


def test_exact_solvers_refuse_what_they_cannot_define() -> None:
    float_store = GraphStore.from_edges([0, 1], [1, 0])
    with pytest.raises(ValueError, match="exact store"):
        ExactCpuSolver(float_store)
    store = GraphStore.from_edges([0, 1], [1, 0], [2, 3], exact=True)
    with pytest.raises(ValueError, match="uniform teleport"):
        ExactCpuSolver(store, FocusParams(teleport=np.array([0.5, 0.5])))
    with pytest.raises(ValueError, match="whole-number"):
        GraphStore.from_edges([0], [1], [0.5], exact=True)
    with pytest.raises(ValueError, match="integer stakes"):
        GraphStore.from_cyberlinks([0], [0], [1], {0: 1.5}, exact=True)
    big = GraphStore(2, exact=True)
    with pytest.raises(ValueError, match="total stake"):
        big.update(stakes={0: STAKE_TOTAL_MAX, 1: 1})
    with pytest.raises(ValueError, match="start vector"):
        ExactCpuSolver(store).solve(start=np.array([MASS, 1], dtype=np.uint64))


def test_iteration_cap_is_reported_not_passed_off() -> None:
    store, _, _ = exact_cyberlinks(2, n=60, m=400)
    res = ExactCpuSolver(store).solve(iterations_max=2)
    assert not res.converged and res.iterations == 2
    with pytest.raises(Exception, match="did not converge"):
        res.require_converged()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    rank.register(parser.add_subparsers())
    args = parser.parse_args(["rank", *argv])
    return int(args.func(args))


def test_cli_exact_writes_values_and_the_json_line(tmp_path: Path, capsys) -> None:
    edges = tmp_path / "e.tsv"
    edges.write_text("n1\tQmA\tQmB\nn1\tQmB\tQmC\nn2\tQmC\tQmA\nn2\tQmA\tQmC\n")
    stakes = tmp_path / "s.tsv"
    stakes.write_text("n1\t5\nn2\t7\n")
    out = tmp_path / "pi.tsv"
    assert run_cli(str(edges), "--out", str(out), "--exact", "--backend", "cpu",
                   "--stakes", str(stakes)) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    store = GraphStore.from_cyberlinks([0, 0, 1, 1], [0, 1, 2, 0], [1, 2, 0, 2], {0: 5, 1: 7},
                                       exact=True)
    res = backend_for("cpu").exact_solver(store).solve()
    assert summary == {"pi_root": res.root.hex(), "iterations": res.iterations,
                       "backend": "cpu", "scale_bits": 60}
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    names = {"QmA": 0, "QmB": 1, "QmC": 2}
    assert [float(v) for _, v in rows] == sorted((float(v) for _, v in rows), reverse=True)
    for name, value in rows:
        assert value == f"{res.q[names[name]] / 2.0**60:.17g}"


def test_cli_exact_refuses_fractional_weights_and_bostrom(tmp_path: Path) -> None:
    edges = tmp_path / "e.tsv"
    edges.write_text("a\tb\t0.5\n")
    out = tmp_path / "pi.tsv"
    assert run_cli(str(edges), "--out", str(out), "--exact", "--backend", "cpu") == 2
    assert run_cli(str(edges), "--out", str(out), "--exact", "--semantics", "bostrom") == 2
    assert not out.exists()


edge_op = st.tuples(st.sampled_from(["insert", "remove", "reweight"]), st.integers(0, 14),
                    st.integers(0, 14), st.integers(0, 2**40))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(edge_op, min_size=1, max_size=80), batch=st.integers(1, 7))
def test_edge_mode_histories_give_the_fresh_bits(ops, batch) -> None:
    """Weighted-edge inserts (which add up), removals and reweights, in batches: the
    store's integers and π bits equal a fresh build of the resulting edge weights."""
    store = GraphStore(15, exact=True, compact_fraction=0.2)
    final: dict[tuple[int, int], int] = {}
    for start in range(0, len(ops), batch):
        chunk = ops[start:start + batch]
        kind = chunk[0][0]  # one kind per batch: a batch applies inserts, then the rest
        part = [(s, d, w) for k, s, d, w in chunk if k == kind]
        s, d, w = (np.array(c, dtype=np.int64) for c in zip(*part, strict=True))
        if kind == "insert":
            store.update_edges(insert=(s, d, w))
            for a, b, v in part:
                final[(a, b)] = final.get((a, b), 0) + v
        elif kind == "remove":
            store.update_edges(remove=(s, d))
            for a, b, _ in part:
                final.pop((a, b), None)
        else:
            store.update_edges(reweight=(s, d, w))
            for a, b, v in part:  # the last value wins; absent edges stay absent
                if (a, b) in final:
                    final[(a, b)] = v
        store.csr.invariants()
    pairs = sorted(final)
    fresh = GraphStore.from_edges([p[0] for p in pairs], [p[1] for p in pairs],
                                  np.array([final[p] for p in pairs], dtype=np.int64),
                                  n=15, exact=True)
    np.testing.assert_array_equal(store.csr.out_w, fresh.csr.out_w)
    assert ExactCpuSolver(store).solve().root == ExactCpuSolver(fresh).solve().root
