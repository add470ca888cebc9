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

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import blake3

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
    "SquareCache",
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


class SquareCache:
    """Memo of :func:`commit_block` by the BLAKE3 of the block's txs (a pure function).

    Why: the producer, its DA sampling and block sync's verification all need the square
    of the same txs, and in one simulator process every validator builds the same square;
    building it once per distinct tx list keeps that affordable. ``entries_max`` bounds
    the memory (a 128 x 128 square is 32 MiB of shares).
    """

    def __init__(self, entries_max: int = 64) -> None:
        assert entries_max >= 1
        self.entries_max = entries_max
        self._blocks: OrderedDict[bytes, CommittedBlock] = OrderedDict()

    def commit(self, txs: Sequence[bytes]) -> CommittedBlock:
        """The committed square of ``txs`` (computed once per distinct tx list).

        Raises SquareFullError as :func:`commit_block` does (nothing is remembered then).
        """
        key = txs_digest(txs)
        block = self._blocks.get(key)
        if block is None:
            block = commit_block(list(txs))
            self._blocks[key] = block
            while len(self._blocks) > self.entries_max:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(key)
        return block


def txs_digest(txs: Sequence[bytes]) -> bytes:
    """BLAKE3 of a tx list, each length-prefixed (the memo key of :class:`SquareCache`)."""
    h = blake3.blake3(derive_key_context="focusflow 2026 chain block txs v1")
    for t in txs:
        h.update(len(t).to_bytes(4, "little"))
        h.update(t)
    return h.digest()
