"""The one executor commits the block's data (issue 15 item 2): ``Ledger.execute`` builds the
block's erasure-coded square, the header's data root is its NMT root, and ``da_root_of``
(the consensus core's hook, before signing) samples the square through the DA sampler's
sans-IO core."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from focusflow.actors.consensus.types import LocalBug
from focusflow.actors.da.block import commit_block
from focusflow.actors.da.square import Sample
from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx
from focusflow.node.chain import Ledger, block_data_root
from focusflow.supervisor import open_file_database

CHAIN = "focusflow-test"
ALICE = Neuron.from_seed(bytes([1]) * 32)


def _ledger(tmp_path: Path, **kw: object) -> Ledger:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return Ledger(open_file_database(tmp_path / "state.sqlite"), chain_id=CHAIN,
                  genesis_balances={ALICE.address: 10**6}, **kw)  # type: ignore[arg-type]


def _block(nonce: int, links: int = 40) -> list[bytes]:
    return [make_tx(ALICE, chain_id=CHAIN, nonce=nonce, kind=TxKind.LINK, fee=1,
                    links=[(cid_of(b"s%d" % (nonce * 100 + i)), cid_of(b"t%d" % i))
                           for i in range(links)])]


def test_execute_commits_the_nmt_root_and_samples_before_signing(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, rng=random.Random(7))
    for nonce in range(3):
        txs = _block(nonce)
        ledger.execute(txs)
        assert ledger.last_square is not None
        assert ledger.last_data_root == commit_block(txs).data_root == block_data_root(txs)
        assert ledger.da_root_of(txs) == ledger.last_data_root
        verdict = ledger.sampler.verdict(ledger.core.height)
        assert verdict is not None and verdict.available
        assert verdict.samples_verified == min(16, ledger.last_square.width ** 2)
    assert ledger.da_blocks_sampled == 3 and ledger.da_samples_verified > 0
    ledger.execute([])  # an empty block has a (2 x 2) square too
    assert ledger.da_root_of([]) == commit_block([]).data_root


def test_the_sampled_cells_come_from_the_runtime_random(tmp_path: Path) -> None:
    """Two validators with different Runtime random draw different cells of one square;
    the same seed (the simulator's replay) draws the same ones."""
    asked: dict[int, list[tuple[int, int]]] = {}
    for run, seed in enumerate((1, 2, 1)):
        ledger = _ledger(tmp_path / str(run), rng=random.Random(seed))
        txs = _block(0, links=50)
        ledger.execute(txs)
        square = ledger.last_square
        assert square is not None
        cells: list[tuple[int, int]] = []
        original = square.eds.sample

        def spy(row: int, col: int, cells: list[tuple[int, int]] = cells,
                original: object = original) -> Sample:
            cells.append((row, col))
            return original(row, col)  # type: ignore[operator]

        square.eds.sample = spy  # type: ignore[method-assign]
        try:
            ledger.da_root_of(txs)
        finally:
            del square.eds.sample  # the memo shares this square: restore the method
        asked[run] = cells
    assert asked[0] == asked[2] and asked[0] != asked[1]


def test_a_share_that_does_not_verify_stops_the_signature(tmp_path: Path) -> None:
    """A sample of our own square that fails its NMT proof is a local bug: the hook raises
    before the consensus core signs (it never signs a root it could not sample)."""
    ledger = _ledger(tmp_path, rng=random.Random(3))
    txs = _block(0)
    ledger.execute(txs)
    square = ledger.last_square
    assert square is not None
    original = square.eds.sample

    def corrupt(row: int, col: int) -> Sample:
        good = original(row, col)
        return Sample(good.row, good.col, bytes([good.share[0] ^ 1]) + good.share[1:],
                      good.proof, good.row_root, good.row_root_proof)

    square.eds.sample = corrupt  # type: ignore[method-assign]
    try:
        with pytest.raises(LocalBug, match="sampling our own square failed"):
            ledger.da_root_of(txs)
    finally:
        del square.eds.sample


def test_da_root_of_other_txs_is_a_local_bug(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.execute(_block(0))
    with pytest.raises(LocalBug, match="not those of block 1"):
        ledger.da_root_of(_block(1))
