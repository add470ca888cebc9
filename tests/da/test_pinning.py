"""Pinning: /graph shares outlive the pruning window, served with proofs that still verify."""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.actors.da.pinning import PinningPolicy, ShareStore
from focusflow.actors.da.share import build_square, graph_namespace, parse_shares, rollup_namespace
from focusflow.actors.da.square import ExtendedDataSquare, verify_namespace_rows, verify_sample

GRAPH = graph_namespace("bucket:physics")
ROLLUP = rollup_namespace("rollup:chess")


@pytest.fixture(scope="module")
def eds() -> ExtendedDataSquare:
    rng = np.random.default_rng(5)
    return ExtendedDataSquare.extend(
        build_square([(GRAPH, rng.bytes(1_500)), (ROLLUP, rng.bytes(1_500))])
    )


def cells_of(eds: ExtendedDataSquare, ns: bytes) -> list[tuple[int, int]]:
    return [(r, c) for r in range(eds.k) for c in range(eds.k) if eds.share(r, c)[:29] == ns]


def test_policy_validates_and_computes_horizons() -> None:
    policy = PinningPolicy(graph_pin_epochs=10, prune_window_epochs=3)
    assert policy.full_until(5) == 8 and policy.pinned_until(5) == 15
    with pytest.raises(ValueError):
        PinningPolicy(graph_pin_epochs=1, prune_window_epochs=2)


def test_lifecycle_full_then_archived_then_dropped(eds: ExtendedDataSquare) -> None:
    store = ShareStore(PinningPolicy(graph_pin_epochs=10, prune_window_epochs=2))
    store.add_block(7, epoch=100, eds=eds)
    root, width = eds.data_root(), eds.width
    parity = (eds.width - 1, eds.width - 1)
    graph_cell, rollup_cell = cells_of(eds, GRAPH)[0], cells_of(eds, ROLLUP)[0]

    assert store.prune(102).archived == ()  # inside the window: everything served
    for cell in (parity, graph_cell, rollup_cell):
        sample = store.sample(7, *cell)
        assert sample is not None and verify_sample(
            sample, data_root=root, width=width, hash_name="blake3"
        )

    report = store.prune(103)
    assert report.archived == (7,) and report.dropped == ()
    assert store.sample(7, *parity) is None and store.sample(7, *rollup_cell) is None
    assert store.namespace(7, ROLLUP) is None
    for cell in cells_of(eds, GRAPH):  # archived shares are still served with proofs
        sample = store.sample(7, *cell)
        assert sample is not None and verify_sample(
            sample, data_root=root, width=width, hash_name="blake3"
        )
    rows = store.namespace(7, GRAPH)
    assert rows is not None and verify_namespace_rows(eds.dah(), GRAPH, rows)
    assert parse_shares([s for r in rows for s in r.shares])[0][0] == GRAPH
    assert store.statistics()["shares_pinned"] == len(cells_of(eds, GRAPH))

    assert store.prune(110).dropped == ()
    assert store.prune(111).dropped == (7,)
    assert store.sample(7, *graph_cell) is None and store.statistics()["blocks_archived"] == 0


def test_store_limits(eds: ExtendedDataSquare) -> None:
    store = ShareStore(
        PinningPolicy(prune_window_epochs=0), full_blocks_max=1, archived_blocks_max=2
    )
    store.add_block(1, epoch=0, eds=eds)
    with pytest.raises(ValueError):
        store.add_block(1, epoch=0, eds=eds)
    with pytest.raises(ValueError):
        store.add_block(2, epoch=0, eds=eds)
    dropped: list[int] = []
    for height in range(2, 5):  # archive four blocks in turn; only the newest two archives stay
        dropped += store.prune(height).dropped
        store.add_block(height, epoch=height, eds=eds)
    dropped += store.prune(10).dropped
    assert dropped == [1, 2] and store.statistics()["blocks_archived"] == 2


def test_blocks_without_graph_data_are_dropped_at_the_window() -> None:
    rng = np.random.default_rng(6)
    eds = ExtendedDataSquare.extend(build_square([(ROLLUP, rng.bytes(100))]))
    store = ShareStore(PinningPolicy(graph_pin_epochs=50, prune_window_epochs=0))
    store.add_block(1, epoch=0, eds=eds)
    report = store.prune(1)
    assert report.archived == (1,) and report.dropped == (1,)
