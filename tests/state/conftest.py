"""Fixtures of the state tests: a fresh store + core with funded neurons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from focusflow.actors.state import Neuron, SqliteStore, StateCore, commit, open_state

CHAIN = "focusflow-test"


def neurons(n: int) -> list[Neuron]:
    return [Neuron.from_seed(bytes([i + 1]) * 32) for i in range(n)]


@pytest.fixture
def state(tmp_path: Path) -> Iterator[tuple[SqliteStore, StateCore, list[Neuron]]]:
    store, core = open_state(tmp_path / "state.db", chain_id=CHAIN, fee_min=1)
    people = neurons(4)
    commit(store, core, core.genesis(balances={p.address: 1000 for p in people[:3]}))
    yield store, core, people
    store.close()
