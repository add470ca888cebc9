"""From a block's transactions to its committed square: the hook for block production.

A block producer calls :func:`commit_block` with the block's transactions and puts the
returned ``data_root`` (and ``width``) in the block header; validators and light nodes
sample that root before notarising (``DaSamplerActor``). Transactions are grouped by
namespace (``namespace_of``; default: everything in one ``txs`` namespace) and each group
travels as one blob of length-prefixed transactions, so small transactions share shares
instead of taking 512 bytes each.

:func:`block_transactions` inverts it: a full node that rebuilt the square (or a light node
that fetched a namespace) gets the transactions back, in block order within a namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from focusflow.actors.da.nmt import HashName
from focusflow.actors.da.share import (
    SHARE_SIZE,
    Blob,
    build_square,
    make_namespace,
    parse_shares,
)
from focusflow.actors.da.square import ExtendedDataSquare

__all__ = [
    "TXS_NAMESPACE",
    "CommittedBlock",
    "block_transactions",
    "commit_block",
    "pack_txs",
    "unpack_txs",
]

#: Default namespace for a block's transactions.
TXS_NAMESPACE = make_namespace(b"txs\x00", "block transactions")
#: A transaction longer than this cannot be length-prefixed with a u32 (and never fits anyway).
tx_bytes_max = (1 << 32) - 1


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    """A block's extended square and what goes in its header."""

    data_root: bytes
    width: int
    eds: ExtendedDataSquare


def pack_txs(txs: Sequence[bytes]) -> bytes:
    """``u32 BE length || tx`` for each transaction, concatenated."""
    out = bytearray()
    for tx in txs:
        if len(tx) > tx_bytes_max:
            raise ValueError("transaction too large")
        out += len(tx).to_bytes(4, "big") + tx
    return bytes(out)


def unpack_txs(blob: bytes) -> list[bytes]:
    """Inverse of :func:`pack_txs`. Raises ValueError on a truncated blob."""
    txs = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated transaction length")
        size = int.from_bytes(blob[offset : offset + 4], "big")
        offset += 4
        if offset + size > len(blob):
            raise ValueError("truncated transaction")
        txs.append(blob[offset : offset + size])
        offset += size
    return txs


def commit_block(
    txs: Sequence[bytes],
    *,
    namespace_of: Callable[[bytes], bytes] | None = None,
    hash_name: HashName = "blake3",
) -> CommittedBlock:
    """Lay out, extend and commit a block's transactions.

    Raises SquareFullError when they need more than a 128 x 128 square (the producer must
    cut the block earlier), ValueError on a bad namespace.
    """
    groups: dict[bytes, list[bytes]] = {}
    for tx in txs:
        ns = TXS_NAMESPACE if namespace_of is None else namespace_of(tx)
        groups.setdefault(ns, []).append(tx)
    blobs: list[Blob] = [(ns, pack_txs(group)) for ns, group in groups.items()]
    eds = ExtendedDataSquare.extend(build_square(blobs), hash_name=hash_name)
    return CommittedBlock(eds.data_root(), eds.width, eds)


def block_transactions(eds: ExtendedDataSquare) -> dict[bytes, list[bytes]]:
    """The transactions of a committed block, by namespace (in block order within each)."""
    k = eds.k
    shares = [eds.shares[r, c].tobytes() for r in range(k) for c in range(k)]
    assert all(len(s) == SHARE_SIZE for s in shares)
    out: dict[bytes, list[bytes]] = {}
    for ns, blob in parse_shares(shares):
        out.setdefault(ns, []).extend(unpack_txs(blob))
    return out
