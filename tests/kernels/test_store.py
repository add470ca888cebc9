"""The incremental graph store: batches must equal a rebuild from the final link set."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.kernels import GraphStore, weights_from_cyberlinks, weights_from_edges


def dense_w(store: GraphStore) -> dict[tuple[int, int], float]:
    """Live edges of the store as {(src, dst): W}, from base and delta."""
    csr = store.csr
    out: dict[tuple[int, int], float] = {}
    dst = np.repeat(np.arange(csr.n), np.diff(csr.indptr))
    for s, d, w, c in zip(csr.indices, dst, csr.data, csr.count, strict=True):
        if c > 0:
            out[(int(s), int(d))] = float(w)
    d_dst, d_src, d_w = csr.delta_coo()
    for s, d, w, c in zip(d_src, d_dst, d_w, csr.d_count, strict=True):
        if c > 0:
            out[(int(s), int(d))] = float(w)
    return out


def assert_same_weights(a: dict, b: dict) -> None:
    keys = set(a) | set(b)
    for k in keys:
        assert abs(a.get(k, 0.0) - b.get(k, 0.0)) <= 1e-9 * max(1.0, abs(b.get(k, 0.0))), k


link = st.tuples(st.integers(0, 5), st.integers(0, 12), st.integers(0, 12))


@settings(max_examples=40, deadline=None)
@given(
    first=st.lists(link, max_size=40),
    batches=st.lists(st.tuples(st.lists(link, max_size=10), st.lists(link, max_size=10),
                               st.dictionaries(st.integers(0, 5), st.integers(0, 1000))),
                     max_size=5),
    stakes=st.dictionaries(st.integers(0, 5), st.integers(0, 1000)),
    compact=st.sampled_from([0.05, 1.0]),
)
def test_incremental_batches_equal_a_rebuild(first, batches, stakes, compact) -> None:
    store = GraphStore(0, compact_fraction=compact)
    store.csr.compact_fraction = compact
    arr = lambda ls: tuple(np.array([x[i] for x in ls], dtype=np.int64) for i in range(3))  # noqa: E731
    store.update(insert=arr(first), stakes={k: float(v) for k, v in stakes.items()})
    links = set(first)
    stakes = dict(stakes)
    for ins, rem, restake in batches:
        store.update(insert=arr(ins), remove=arr(rem),
                     stakes={k: float(v) for k, v in restake.items()})
        links = (links - set(rem)) | set(ins)
        stakes.update(restake)
        store.csr.invariants()
        assert_same_weights(dense_w(store), weights_from_cyberlinks(links, stakes))
    # out-weights follow the links exactly
    ref = weights_from_cyberlinks(links, stakes)
    out = np.zeros(store.n)
    for (i, _j), w in ref.items():
        out[i] += w
    assert np.allclose(store.csr.out_w, out, rtol=1e-9, atol=1e-9)


def test_edge_mode_insert_remove_reweight() -> None:
    store = GraphStore.from_edges([0, 1, 1, 2], [1, 2, 2, 0], [1.0, 2.0, 3.0, 4.0])
    assert dense_w(store) == {(0, 1): 1.0, (1, 2): 5.0, (2, 0): 4.0}  # duplicates sum
    store.update_edges(remove=([2], [0]), reweight=([0], [1], [7.0]), insert=([3], [0], [2.0]))
    assert_same_weights(dense_w(store), weights_from_edges([0, 1, 3], [1, 2, 0], [7.0, 5.0, 2.0]))
    assert store.n == 4 and store.csr.out_w[2] == 0.0  # 2 became dangling
    store.csr.invariants()


def test_removing_every_link_of_an_edge_leaves_no_weight_residue() -> None:
    store = GraphStore.from_cyberlinks([0, 1], [0, 0], [1, 1], {0: 1 / 3, 1: 1 / 7})
    store.update(stakes={0: 0.1})
    store.update(remove=([0, 1], [0, 0], [1, 1]))
    assert store.csr.out_w[0] == 0.0  # exactly dangling, no 1e-17 leftover
    assert dense_w(store) == {}


def test_zero_stake_neuron_links_weigh_nothing() -> None:
    store = GraphStore.from_cyberlinks([0, 1], [0, 1], [1, 0], {0: 0.0, 1: 5.0})
    assert store.csr.out_w[0] == 0.0 and store.csr.out_w[1] == 5.0


@pytest.mark.parametrize("bad", [{"weight": [-1.0]}, {"weight": [float("nan")]}])
def test_bad_weights_are_rejected(bad) -> None:
    with pytest.raises(ValueError, match="finite and non-negative"):
        GraphStore.from_edges([0], [1], **bad)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        GraphStore.from_edges([0], [-1])
    with pytest.raises(ValueError):
        GraphStore.from_cyberlinks([0], [0], [1], {0: -5.0})
    with pytest.raises(ValueError):
        GraphStore.from_edges([0, 1], [1])


@pytest.mark.parametrize("sort_rows", [False, True])
def test_hubs_first_relabel_is_a_consistent_permutation(sort_rows: bool) -> None:
    from focusflow.kernels._csr import relabel_by_out_degree

    rng = np.random.default_rng(0)
    store = GraphStore.from_edges(rng.integers(0, 60, 700), rng.integers(0, 60, 700))
    c = store.csr
    rl = relabel_by_out_degree(np, c.indptr, c.indices, c.out_deg, sort_rows=sort_rows)
    assert np.array_equal(np.sort(rl.order), np.arange(c.n))
    assert np.all(np.diff(c.out_deg[rl.order]) <= 0)  # hubs first
    rows = np.repeat(np.arange(c.n), np.diff(rl.indptr))
    old_dst = np.repeat(np.arange(c.n), np.diff(c.indptr))
    assert np.array_equal(rl.order[rows], old_dst[rl.edge_from])  # same destination
    assert np.array_equal(rl.order[rl.indices], c.indices[rl.edge_from])  # same source
    if sort_rows:
        assert all(np.all(np.diff(rl.indices[a:b]) >= 0)
                   for a, b in zip(rl.indptr[:-1], rl.indptr[1:], strict=True))


def test_merge_compaction_keeps_every_edge() -> None:
    store = GraphStore.from_edges([0, 1, 2], [1, 2, 0], [1.0, 2.0, 3.0])
    store.csr.compact_fraction = 1.0
    store.update_edges(insert=([0, 2, 1], [2, 1, 0], [4.0, 5.0, 6.0]))
    before = dense_w(store)
    assert len(store.csr.d_keys) == 3
    store.csr.compact()
    store.csr.invariants()
    assert dense_w(store) == before and len(store.csr.d_keys) == 0
