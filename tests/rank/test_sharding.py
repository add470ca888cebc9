"""Sharding: mmh3 of the CID bytes, the state actor's function, store bookkeeping, routing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.rank import RankStore, assign_shards, shard_of
from focusflow.actors.state import SparseMerkleTree, StateCore
from focusflow.kernels import GraphStore

from ._graphs import keys, random_edges, store_of


@pytest.mark.parametrize("shards", [1, 2, 3, 8, 16])
def test_shard_of_agrees_with_the_state_actors_focus_shard(shards: int) -> None:
    core = StateCore(chain_id="t", reader={}, tree=SparseMerkleTree(), height=0,  # type: ignore[arg-type]
                     focus_shards=shards)
    for cid in keys(200):
        assert shard_of(cid, shards) == core.focus_shard(cid)


def test_assign_shards_matches_shard_of_and_spreads_evenly() -> None:
    cids = keys(4000)
    got = assign_shards(cids, 8)
    assert got.tolist() == [shard_of(c, 8) for c in cids]
    counts = np.bincount(got, minlength=8)
    assert counts.min() > 4000 / 8 * 0.8 and counts.max() < 4000 / 8 * 1.2


def test_store_numbers_each_shard_in_global_order_and_only_appends() -> None:
    store = RankStore(4, GraphStore(0), [])
    first = store.admit(keys(50))
    again = store.admit(list(reversed(keys(60))))
    assert first.tolist() == list(range(50))
    assert sorted(again.tolist()) == list(range(60))
    for s in range(4):
        members = store.members(s)
        assert np.all(np.diff(members) > 0)
        assert store.local[members].tolist() == list(range(len(members)))
        assert np.all(store.shard[members] == s)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), shards=st.integers(1, 8))
def test_shard_graphs_hold_every_live_edge_once_at_its_source(seed: int, shards: int) -> None:
    s, d, w, n = random_edges(seed, n=80, m=300)
    store = store_of((s, d, w, n), shards)
    total_w = 0.0
    edges = 0
    for k in range(shards):
        g = store.shard_graph(k)
        members = store.members(k)
        assert len(members) == g.n_local
        edges += len(g.local_src) + len(g.cross_src)
        total_w += g.local_w.sum() + g.cross_w.sum()
        assert np.all(g.cross_peer != k)
        # a cross edge's destination really lives in the peer, at that local id
        for src, peer, dst in zip(g.cross_src, g.cross_peer, g.cross_dst, strict=True):
            gdst = store.members(int(peer))[dst]
            gsrc = members[src]
            assert store.graph.csr.lookup(np.array([gsrc]), np.array([gdst]))[1][0] > 0
    assert edges == len(set(zip(s.tolist(), d.tolist(), strict=True)))
    assert total_w == pytest.approx(w.sum())


def test_route_sends_each_edge_change_to_its_sources_shard_once() -> None:
    s, d, w, n = random_edges(3, n=100, m=400)
    store = store_of((s, d, w, n), 3)
    delta = store.graph.update_edges(insert=(s[:50], d[:50], np.ones(50)))
    parts = store.route(delta)
    rows = sum(len(p.local_src) + len(p.cross_src) for part in parts for p in part)
    assert rows == len(delta)
    dw = sum(p.local_dw.sum() + p.cross_dw.sum() for part in parts for p in part)
    assert dw == pytest.approx(delta.dw.sum())


def test_members_by_cid_stays_sorted_as_particles_join() -> None:
    store = RankStore(3, GraphStore(0), [])
    all_keys = keys(300)
    for lo, hi in ((0, 100), (100, 101), (101, 300)):
        store.admit(all_keys[lo:hi])
        for s in range(3):
            ids = store.members_by_cid(s)
            rows = [store.keys[g] for g in ids]
            assert rows == sorted(store.keys[g] for g in store.members(s))
            assert np.array_equal(store.key_rows[ids],
                                  np.frombuffer(b"".join(rows), np.uint8).reshape(-1, 36))


def test_store_refuses_keys_that_are_not_cids() -> None:
    with pytest.raises(ValueError):
        RankStore(2, GraphStore(0), []).admit([b"short"])
