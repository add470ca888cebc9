"""Block transactions -> committed square -> transactions again."""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.actors.da.block import (
    TXS_NAMESPACE,
    block_transactions,
    commit_block,
    pack_txs,
    unpack_txs,
)
from focusflow.actors.da.reconstruct import repair
from focusflow.actors.da.share import SquareFullError, graph_namespace
from focusflow.actors.da.square import verify_sample


def test_transactions_round_trip_and_the_root_is_sampleable() -> None:
    rng = np.random.default_rng(1)
    txs = [rng.bytes(int(n)) for n in rng.integers(0, 300, size=200)]
    block = commit_block(txs)
    assert block.width == 2 * block.eds.k and block.data_root == block.eds.data_root()
    assert block_transactions(block.eds) == {TXS_NAMESPACE: txs}
    sample = block.eds.sample(block.width - 1, 0)
    assert verify_sample(sample, data_root=block.data_root, width=block.width, hash_name="blake3")
    # small transactions share shares: 200 txs of ~150 bytes fit in far fewer than 200 shares
    k = block.eds.k
    used = sum(block.eds.share(r, c)[:29] == TXS_NAMESPACE for r in range(k) for c in range(k))
    assert used < 200 // 2


def test_namespaces_group_transactions_and_survive_reconstruction() -> None:
    txs = [b"link:%d" % i if i % 3 else b"token:%d" % i for i in range(50)]

    def namespace_of(tx: bytes) -> bytes:
        return graph_namespace("links") if tx.startswith(b"link") else TXS_NAMESPACE

    block = commit_block(txs, namespace_of=namespace_of)
    width = block.width
    known = np.ones((width, width), dtype=bool)
    known[: width // 2, : width // 2] = False  # lose the whole original quadrant
    rebuilt = repair(
        np.where(known[..., None], block.eds.shares, 0).astype(np.uint8), known, block.eds.dah()
    )
    by_ns = block_transactions(rebuilt)
    assert by_ns[graph_namespace("links")] == [t for t in txs if t.startswith(b"link")]
    assert by_ns[TXS_NAMESPACE] == [t for t in txs if t.startswith(b"token")]


def test_empty_block_and_limits() -> None:
    empty = commit_block([])
    assert empty.width == 2 and block_transactions(empty.eds) == {}
    assert unpack_txs(pack_txs([b"", b"a", b"bc"])) == [b"", b"a", b"bc"]
    with pytest.raises(ValueError):
        unpack_txs(b"\x00\x00\x00\x05ab")
    with pytest.raises(SquareFullError):
        commit_block(
            [b"\x00" * 500] * (128 * 128 + 1),
            namespace_of=lambda tx: graph_namespace(tx[:0] + b"x"),
        )
