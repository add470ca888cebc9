"""The extended data square: 2D RS extension, row/column NMT roots, data root, proofs.

Celestia's 2D scheme: the k x k original square Q0 is extended row by row (Q1 = parity of
each row), then column by column over all 2k columns (Q2 under Q0, Q3 under Q1). Each of
the 2k rows and 2k columns is committed by an NMT whose leaf ``i`` is ``ns || share``:
``ns`` is the share's own namespace in Q0 and the parity namespace everywhere else. The
data root is the RFC 6962 root over the 2k row roots followed by the 2k column roots.

Samples are proven against a row root, and the row root against the data root, so a light
node needs only the header's data root and width. Namespace queries are verified against
the data availability header (all 4k roots), which is what makes them *complete*: every
row whose range covers the namespace must be answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from focusflow.actors.da.erasure import codec_for
from focusflow.actors.da.merkle import MerkleTree, merkle_root, verify_merkle_proof
from focusflow.actors.da.nmt import (
    HashName,
    NamespacedMerkleTree,
    NmtHasher,
    NmtProof,
    verify_inclusion,
    verify_namespace,
)
from focusflow.actors.da.share import NAMESPACE_SIZE, PARITY_NAMESPACE, SHARE_SIZE

__all__ = [
    "DataAvailabilityHeader",
    "ExtendedDataSquare",
    "NamespaceRowProof",
    "Sample",
    "axis_leaves",
    "axis_root",
    "extend_square",
    "hasher_for",
    "square_axis_leaves",
    "verify_namespace_rows",
    "verify_sample",
]

Square = npt.NDArray[np.uint8]


def hasher_for(hash_name: HashName) -> NmtHasher:
    """The NMT hasher every DA tree uses (29-byte namespaces, parity ignored in max)."""
    return NmtHasher(namespace_size=NAMESPACE_SIZE, hash=hash_name, ignore_max_namespace=True)


def extend_square(original: Square, *, fast: bool = True) -> Square:
    """(k, k, 512) -> (2k, 2k, 512): rows first, then all 2k columns, each in one batch.

    ``fast`` picks the bit-sliced encoder; ``fast=False`` uses zfec (same bytes, slower).
    """
    k, k2, size = original.shape
    assert k == k2 and size == SHARE_SIZE, original.shape
    codec = codec_for(k)
    encode = codec.encode_fast if fast else codec.encode_zfec
    eds = np.empty((2 * k, 2 * k, size), dtype=np.uint8)
    eds[:k, :k] = original
    # Rows: input block j is column j of Q0 across all k rows (codewords = rows x bytes).
    row_blocks = np.ascontiguousarray(original.transpose(1, 0, 2)).reshape(k, k * size)
    eds[:k, k:] = encode(row_blocks).reshape(k, k, size).transpose(1, 0, 2)
    # Columns: input block j is row j of the top half (codewords = 2k columns x bytes).
    col_blocks = eds[:k].reshape(k, 2 * k * size)
    eds[k:] = encode(col_blocks).reshape(k, 2 * k, size)
    return eds


def axis_leaves(shares: Sequence[bytes], *, axis_index: int, k: int) -> list[bytes]:
    """NMT leaves ``ns || share`` of one row or column (Q0 keeps its namespace)."""
    assert len(shares) == 2 * k
    leaves = []
    for i, share in enumerate(shares):
        in_q0 = axis_index < k and i < k
        leaves.append((bytes(share[:NAMESPACE_SIZE]) if in_q0 else PARITY_NAMESPACE) + bytes(share))
    return leaves


def square_axis_leaves(shares: Square) -> npt.NDArray[np.uint8]:
    """The NMT leaves of every axis of an extended square: (4k, 2k, 29 + 512), the 2k rows
    then the 2k columns, each leaf as :func:`axis_leaves` makes it."""
    width = shares.shape[0]
    k = width // 2
    leaves = np.empty((2, width, width, NAMESPACE_SIZE + SHARE_SIZE), dtype=np.uint8)
    leaves[0, :, :, NAMESPACE_SIZE:] = shares
    leaves[1, :, :, NAMESPACE_SIZE:] = shares.transpose(1, 0, 2)
    leaves[:, :, :, :NAMESPACE_SIZE] = np.frombuffer(PARITY_NAMESPACE, dtype=np.uint8)
    leaves[:, :k, :k, :NAMESPACE_SIZE] = leaves[:, :k, :k, NAMESPACE_SIZE : 2 * NAMESPACE_SIZE]
    return leaves.reshape(2 * width, width, NAMESPACE_SIZE + SHARE_SIZE)


def axis_tree(
    shares: Sequence[bytes], *, axis_index: int, k: int, hash_name: HashName
) -> NamespacedMerkleTree:
    """The NMT of one axis. Raises NmtError if Q0 namespaces are out of order."""
    tree = NamespacedMerkleTree(NAMESPACE_SIZE, hash_name, True)
    for leaf in axis_leaves(shares, axis_index=axis_index, k=k):
        tree.push(leaf)
    return tree


def axis_root(shares: Sequence[bytes], *, axis_index: int, k: int, hash_name: HashName) -> bytes:
    """NMT root of one axis. Raises NmtError if Q0 namespaces are out of order."""
    return hasher_for(hash_name).root_of(axis_leaves(shares, axis_index=axis_index, k=k))


@dataclass(frozen=True)
class DataAvailabilityHeader:
    """The 2k row roots and 2k column roots; :meth:`data_root` goes in the block header."""

    row_roots: tuple[bytes, ...]
    col_roots: tuple[bytes, ...]
    hash_name: HashName = "blake3"

    def __post_init__(self) -> None:
        width = len(self.row_roots)
        if width < 2 or width != len(self.col_roots) or width & (width - 1) or width > 256:
            raise ValueError(
                f"need 2k row and 2k column roots with k a power of two <= 128, got {width}"
            )

    @property
    def width(self) -> int:
        """2k."""
        return len(self.row_roots)

    def roots(self) -> tuple[bytes, ...]:
        """Row roots then column roots: the leaves of the data root."""
        return self.row_roots + self.col_roots

    def data_root(self) -> bytes:
        """RFC 6962 root over row roots then column roots."""
        return merkle_root(self.roots(), hash=self.hash_name)


@dataclass(frozen=True)
class Sample:
    """One share with its NMT proof to its row root and the row root's proof to the data root."""

    row: int
    col: int
    share: bytes
    proof: NmtProof
    row_root: bytes
    row_root_proof: tuple[bytes, ...]


@dataclass(frozen=True)
class NamespaceRowProof:
    """A namespace's shares in one row (or an absence proof), with the NMT proof."""

    row: int
    shares: tuple[bytes, ...]
    proof: NmtProof


def verify_sample(sample: Sample, *, data_root: bytes, width: int, hash_name: HashName) -> bool:
    """True if ``sample`` is the share at (row, col) of the square committed by ``data_root``."""
    k = width // 2
    if not (0 <= sample.row < width and 0 <= sample.col < width) or len(sample.share) != SHARE_SIZE:
        return False
    if sample.proof.start != sample.col or sample.proof.end != sample.col + 1:
        return False
    if not verify_merkle_proof(
        data_root, sample.row_root, sample.row, 2 * width, sample.row_root_proof, hash=hash_name
    ):
        return False
    in_q0 = sample.row < k and sample.col < k
    ns = sample.share[:NAMESPACE_SIZE] if in_q0 else PARITY_NAMESPACE
    return verify_inclusion(
        hasher_for(hash_name), sample.proof, [ns + sample.share], sample.row_root, leaf_count=width
    )


def verify_namespace_rows(
    dah: DataAvailabilityHeader, namespace: bytes, rows: Sequence[NamespaceRowProof]
) -> bool:
    """True if ``rows`` hold *every* share of ``namespace`` in the square of ``dah``.

    Each row whose root range covers the namespace must be answered (with its shares or an
    absence proof), and every answer must verify: a withheld row or share fails.
    """
    hasher = hasher_for(dah.hash_name)
    n = NAMESPACE_SIZE
    needed = [
        r
        for r in range(dah.width)
        if dah.row_roots[r][:n] <= namespace <= dah.row_roots[r][n : 2 * n]
    ]
    by_row = {p.row: p for p in rows}
    if len(by_row) != len(rows) or sorted(by_row) != needed:
        return False
    for r in needed:
        p = by_row[r]
        leaves = [namespace + bytes(share) for share in p.shares]
        if not verify_namespace(
            hasher, p.proof, namespace, leaves, dah.row_roots[r], leaf_count=dah.width
        ):
            return False
    return True


class ExtendedDataSquare:
    """A committed 2k x 2k square: shares, roots, samples and namespace proofs."""

    def __init__(self, shares: Square, *, hash_name: HashName = "blake3") -> None:
        width, width2, size = shares.shape
        if width != width2 or size != SHARE_SIZE or width < 2 or width & (width - 1):
            raise ValueError(f"an extended square is (2k, 2k, {SHARE_SIZE}), got {shares.shape}")
        self.shares = shares
        self.width = width
        self.k = width // 2
        self.hash_name: HashName = hash_name
        self._row_trees: dict[int, NamespacedMerkleTree] = {}
        self._col_trees: dict[int, NamespacedMerkleTree] = {}
        self._dah: DataAvailabilityHeader | None = None
        self._root_tree: MerkleTree | None = None

    @classmethod
    def extend(
        cls, original: Square, *, hash_name: HashName = "blake3", fast: bool = True
    ) -> ExtendedDataSquare:
        """Extend an original (k, k, 512) square and wrap it."""
        return cls(extend_square(original, fast=fast), hash_name=hash_name)

    def share(self, row: int, col: int) -> bytes:
        """The 512 bytes at (row, col)."""
        return self.shares[row, col].tobytes()

    def row_shares(self, row: int) -> list[bytes]:
        """The 2k shares of a row."""
        flat = self.shares[row].tobytes()
        return [flat[i * SHARE_SIZE : (i + 1) * SHARE_SIZE] for i in range(self.width)]

    def col_shares(self, col: int) -> list[bytes]:
        """The 2k shares of a column."""
        flat = np.ascontiguousarray(self.shares[:, col]).tobytes()
        return [flat[i * SHARE_SIZE : (i + 1) * SHARE_SIZE] for i in range(self.width)]

    def row_tree(self, row: int) -> NamespacedMerkleTree:
        """The (cached) NMT of a row."""
        if row not in self._row_trees:
            self._row_trees[row] = axis_tree(
                self.row_shares(row), axis_index=row, k=self.k, hash_name=self.hash_name
            )
        return self._row_trees[row]

    def col_tree(self, col: int) -> NamespacedMerkleTree:
        """The (cached) NMT of a column."""
        if col not in self._col_trees:
            self._col_trees[col] = axis_tree(
                self.col_shares(col), axis_index=col, k=self.k, hash_name=self.hash_name
            )
        return self._col_trees[col]

    def dah(self) -> DataAvailabilityHeader:
        """Row and column roots (computed once, all 4k trees together: see
        :meth:`NmtHasher.roots_of_array`)."""
        if self._dah is None:
            roots = hasher_for(self.hash_name).roots_of_array(square_axis_leaves(self.shares))
            width = self.width
            self._dah = DataAvailabilityHeader(
                tuple(roots[:width]), tuple(roots[width:]), self.hash_name
            )
        return self._dah

    def data_root(self) -> bytes:
        """The data root."""
        return self._roots_tree().root()

    def _roots_tree(self) -> MerkleTree:
        if self._root_tree is None:
            self._root_tree = MerkleTree(self.dah().roots(), hash=self.hash_name)
        return self._root_tree

    def sample(self, row: int, col: int) -> Sample:
        """The share at (row, col) with its proofs. Raises IndexError if out of the square."""
        if not (0 <= row < self.width and 0 <= col < self.width):
            raise IndexError(f"({row}, {col}) outside a {self.width}-wide square")
        tree = self.row_tree(row)
        return Sample(
            row,
            col,
            self.share(row, col),
            tree.prove(col),
            tree.root(),
            self._roots_tree().proof(row),
        )

    def col_proof(self, row: int, col: int) -> NmtProof:
        """Proof of the share at (row, col) against its column root."""
        return self.col_tree(col).prove(row)

    def axis_root_proof(self, index: int) -> tuple[bytes, ...]:
        """Merkle proof of root ``index`` (rows 0..2k-1, columns 2k..4k-1) to the data root."""
        return self._roots_tree().proof(index)

    def prove_namespace(self, namespace: bytes) -> list[NamespaceRowProof]:
        """All shares of ``namespace``: one proof per original row whose range covers it."""
        if len(namespace) != NAMESPACE_SIZE:
            raise ValueError(f"namespace must be {NAMESPACE_SIZE} bytes")
        dah = self.dah()
        n = NAMESPACE_SIZE
        out = []
        for r in range(self.width):
            root = dah.row_roots[r]
            if not root[:n] <= namespace <= root[n : 2 * n]:
                continue
            tree = self.row_tree(r)
            proof = tree.prove_namespace(namespace)
            shares = (
                tuple(self.share(r, c) for c in range(proof.start, proof.end))
                if not proof.is_absence()
                else ()
            )
            out.append(NamespaceRowProof(r, shares, proof))
        return out
