"""RFC 6962 binary merkle tree: the data root over a square's row roots then column roots.

Leaf ``H(0x00 || leaf)``, inner node ``H(0x01 || left || right)``, split at the largest
power of two strictly below ``n``, empty tree ``H("")``. With SHA-256 this is
Tendermint's ``merkle.HashFromByteSlices``, which Celestia uses for its data root; with
BLAKE3 the digest runs in derive-key mode under its own context (domain separation from
the NMT and from every other BLAKE3 use).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import blake3

from focusflow.actors.da.nmt import HashName, split_point

__all__ = [
    "BLAKE3_MERKLE_CONTEXT",
    "MerkleTree",
    "merkle_proof",
    "merkle_root",
    "verify_merkle_proof",
]

BLAKE3_MERKLE_CONTEXT = "focusflow 2026-11 da data-root merkle v1"
_blake3_base = blake3.blake3(derive_key_context=BLAKE3_MERKLE_CONTEXT)
#: A data root covers at most 2 * 256 axis roots; proofs deeper than this are rejected.
proof_depth_max = 32


def _digest(hash_name: HashName, data: bytes) -> bytes:
    if hash_name == "sha256":
        return hashlib.sha256(data).digest()
    return _blake3_base.copy().update(data).digest()


def _leaf(hash_name: HashName, leaf: bytes) -> bytes:
    return _digest(hash_name, b"\x00" + leaf)


def _inner(hash_name: HashName, left: bytes, right: bytes) -> bytes:
    return _digest(hash_name, b"\x01" + left + right)


class MerkleTree:
    """An RFC 6962 tree kept level by level, so each audit path is a lookup, not a rehash."""

    def __init__(self, leaves: Sequence[bytes], *, hash: HashName = "blake3") -> None:
        self.hash_name: HashName = hash
        self.count = len(leaves)
        self._layers: list[list[bytes]] = [[_leaf(hash, bytes(x)) for x in leaves]]
        while len(self._layers[-1]) > 1:
            below = self._layers[-1]
            above = [_inner(hash, below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])  # an odd last node is carried: same shape as RFC 6962
            self._layers.append(above)

    def root(self) -> bytes:
        """The root (``H("")`` for no leaves)."""
        if self.count == 0:
            return _digest(self.hash_name, b"")
        return self._layers[-1][0]

    def _subtree(self, lo: int, hi: int) -> bytes:
        level = (hi - lo - 1).bit_length()
        return self._layers[level][lo >> level]

    def proof(self, index: int) -> tuple[bytes, ...]:
        """Audit path (siblings, leaf to root). Raises IndexError if out of range."""
        if not 0 <= index < self.count:
            raise IndexError(f"leaf {index} outside tree of {self.count}")
        siblings: list[bytes] = []
        lo, hi = 0, self.count
        while hi - lo > 1:
            k = split_point(hi - lo)
            if index < lo + k:
                siblings.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                siblings.append(self._subtree(lo, lo + k))
                lo = lo + k
        assert len(siblings) <= proof_depth_max
        return tuple(reversed(siblings))


def merkle_root(leaves: Sequence[bytes], *, hash: HashName = "blake3") -> bytes:
    """RFC 6962 root of ``leaves``."""
    return MerkleTree(leaves, hash=hash).root()


def merkle_proof(
    leaves: Sequence[bytes], index: int, *, hash: HashName = "blake3"
) -> tuple[bytes, ...]:
    """Audit path (siblings, leaf to root) of ``leaves[index]``. Raises IndexError if out of range."""
    return MerkleTree(leaves, hash=hash).proof(index)


def verify_merkle_proof(
    root: bytes,
    leaf: bytes,
    index: int,
    total: int,
    aunts: Sequence[bytes],
    *,
    hash: HashName = "blake3",
) -> bool:
    """True if ``leaf`` is leaf ``index`` of a ``total``-leaf tree with ``root``."""
    if not 0 <= index < total or len(aunts) > proof_depth_max:
        return False
    computed = _climb(_leaf(hash, bytes(leaf)), index, total, list(aunts), hash)
    return computed is not None and computed == root


def _climb(
    node: bytes, index: int, total: int, aunts: list[bytes], hash_name: HashName
) -> bytes | None:
    """Recompute the root from the leaf upward (aunts listed leaf to root)."""
    if total == 1:
        return node if not aunts else None
    if not aunts:
        return None
    k = split_point(total)
    if index < k:
        left = _climb(node, index, k, aunts[:-1], hash_name)
        return None if left is None else _inner(hash_name, left, aunts[-1])
    right = _climb(node, index - k, total - k, aunts[:-1], hash_name)
    return None if right is None else _inner(hash_name, aunts[-1], right)
