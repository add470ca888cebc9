"""Namespaced Merkle tree (NMT): Celestia's construction, BLAKE3 by default, SHA-256 on request.

Every node is ``min_ns || max_ns || digest``. A leaf over namespaced data ``d`` (its first
``namespace_size`` bytes are its namespace) is ``ns(d) || ns(d) || H(0x00 || d)``; an inner
node over children ``l, r`` is ``min(l.min, r.min) || max' || H(0x01 || l || r)`` where
``max'`` follows the *ignore max namespace* rule: when the right child starts at the maximum
namespace (all 0xFF, the parity namespace) it is left out of the parent's range, so parity
shares never widen a row's namespace range. The tree shape is RFC 6962's (split at the
largest power of two strictly below ``n``). With ``hash="sha256"`` roots and proofs are byte
for byte those of ``github.com/celestiaorg/nmt`` (tests check the published examples and
Celestia's namespace-proof rule: which of empty, absence or inclusion proof a query gets
follows the leaves' namespace range, not the root's).

With ``hash="blake3"`` the digest is BLAKE3 in derive-key mode under a focusflow context
string, on top of the same 0x00/0x01 prefixes, so NMT digests can never collide with any
other BLAKE3 use in the project (domain separation), nor leaves with inner nodes.

Proofs list, in in-order, the roots of the maximal subtrees outside the proven range
``[start, end)``. Verification here needs the tree's leaf count (every DA tree's width is
known from the header), which pins the tree shape: a proof cannot be replayed at another
position by padding or trimming its node list.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import blake3
import numpy as np
import numpy.typing as npt

__all__ = [
    "BLAKE3_NMT_CONTEXT",
    "HashName",
    "NamespacedMerkleTree",
    "NmtError",
    "NmtHasher",
    "NmtProof",
    "split_point",
    "verify_inclusion",
    "verify_leaf_hashes",
    "verify_namespace",
]

HashName = Literal["blake3", "sha256"]

#: BLAKE3 derive-key context for NMT digests (domain separation, never reuse elsewhere).
BLAKE3_NMT_CONTEXT = "focusflow 2026-11 da nmt node v1"
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: Default cap on leaves per tree (a 2k-wide DA axis has at most 256).
leaves_max_default = 1 << 16


class NmtError(ValueError):
    """Malformed input to the tree (the caller's fault): bad size, out-of-order namespace."""


def split_point(n: int) -> int:
    """RFC 6962 split: the largest power of two strictly less than ``n`` (n >= 2)."""
    assert n >= 2, n
    return 1 << ((n - 1).bit_length() - 1)


def _lex_less(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """``a < b`` as byte strings along the last axis (namespaces compare as bytes)."""
    differ = a != b
    first = differ.argmax(axis=-1)[..., None]
    a_first = np.take_along_axis(a, first, axis=-1)[..., 0]
    b_first = np.take_along_axis(b, first, axis=-1)[..., 0]
    return np.asarray(differ.any(axis=-1) & (a_first < b_first))


class NmtHasher:
    """The namespaced hash: leaf and inner-node digests plus the namespace range rule."""

    def __init__(
        self,
        *,
        namespace_size: int = 29,
        hash: HashName = "blake3",
        ignore_max_namespace: bool = True,
    ) -> None:
        if not 1 <= namespace_size <= 255:
            raise NmtError(f"namespace_size must be in 1..255, got {namespace_size}")
        if hash not in ("blake3", "sha256"):
            raise NmtError(f"hash must be 'blake3' or 'sha256', got {hash!r}")
        self.namespace_size = namespace_size
        self.hash_name: HashName = hash
        self.ignore_max_namespace = ignore_max_namespace
        self.max_namespace = b"\xff" * namespace_size
        self.digest_size = 32
        self.node_size = 2 * namespace_size + self.digest_size
        self._blake3_base = blake3.blake3(derive_key_context=BLAKE3_NMT_CONTEXT)

    def digest(self, data: bytes) -> bytes:
        """H(data) for the configured hash (BLAKE3 in derive-key mode, or SHA-256)."""
        if self.hash_name == "sha256":
            return hashlib.sha256(data).digest()
        return self._blake3_base.copy().update(data).digest()

    def hash_leaf(self, namespaced_data: bytes) -> bytes:
        """``ns || ns || H(0x00 || data)``. Raises NmtError if data is shorter than a namespace."""
        ns_size = self.namespace_size
        if len(namespaced_data) < ns_size:
            raise NmtError(f"leaf of {len(namespaced_data)} bytes has no {ns_size}-byte namespace")
        ns = bytes(namespaced_data[:ns_size])
        return ns + ns + self.digest(LEAF_PREFIX + bytes(namespaced_data))

    def hash_node(self, left: bytes, right: bytes) -> bytes:
        """Parent of two nodes. Raises NmtError on a malformed node or unordered siblings."""
        self.validate_node(left)
        self.validate_node(right)
        n = self.namespace_size
        left_min, left_max = left[:n], left[n : 2 * n]
        right_min, right_max = right[:n], right[n : 2 * n]
        if right_min < left_max:
            raise NmtError("siblings out of namespace order (left.max > right.min)")
        min_ns = min(left_min, right_min)
        if self.ignore_max_namespace and left_min == self.max_namespace:
            max_ns = self.max_namespace
        elif self.ignore_max_namespace and right_min == self.max_namespace:
            max_ns = left_max
        else:
            max_ns = max(left_max, right_max)
        return min_ns + max_ns + self.digest(NODE_PREFIX + left + right)

    def root_of(self, leaves: Sequence[bytes]) -> bytes:
        """Root over namespaced ``leaves`` without building a tree (the commit fast path).

        Same bytes as pushing each leaf and calling ``root()``; checks the namespace order once
        up front instead of per node. Leaves may differ in length (each is hashed on its
        own); the levels above them are :meth:`_fold`'s. Raises NmtError on a short or
        out-of-order leaf.
        """
        if not leaves:
            return self.empty_root()
        n = self.namespace_size
        namespaces = [bytes(leaf[:n]) for leaf in leaves]
        if any(len(ns) != n for ns in namespaces):
            raise NmtError(f"leaf has no {n}-byte namespace")
        if any(namespaces[i] > namespaces[i + 1] for i in range(len(namespaces) - 1)):
            raise NmtError("leaves must be in namespace order")
        level = b"".join(
            ns + ns + self.digest(LEAF_PREFIX + bytes(leaf))
            for ns, leaf in zip(namespaces, leaves, strict=True)
        )
        nodes = np.frombuffer(level, dtype=np.uint8).reshape(1, len(leaves), self.node_size)
        return self._fold(nodes)[0].tobytes()

    def roots_of_array(self, leaves: npt.NDArray[np.uint8]) -> list[bytes]:
        """Roots of ``T`` trees of ``n`` equal-length leaves each, given as one (T, n, L) array.

        Why: a DA square commits 4k trees of 2k leaves; tree by tree, every node costs a
        Python call to slice, compare and concatenate namespaces besides its hash. Here each
        level of all trees is one set of array operations (namespace ranges; siblings are
        already adjacent bytes) and one comprehension of hash calls, the only per-node Python
        left: neither hashlib nor blake3 hashes many messages per call, so those calls
        (~1 us each, 261,632 for a 256-wide square) are the floor of this path. Same bytes
        as :meth:`root_of` on each tree.

        Raises NmtError if a leaf is shorter than a namespace or a tree's leaves are out of
        namespace order.
        """
        assert leaves.ndim == 3 and leaves.dtype == np.uint8, (leaves.shape, leaves.dtype)
        trees, count, size = leaves.shape
        n = self.namespace_size
        if count == 0:
            return [self.empty_root()] * trees
        if size < n:
            raise NmtError(f"leaf of {size} bytes has no {n}-byte namespace")
        ns = leaves[:, :, :n]
        if count > 1 and _lex_less(ns[:, 1:], ns[:, :-1]).any():
            raise NmtError("leaves must be in namespace order")
        nodes = np.empty((trees, count, self.node_size), dtype=np.uint8)
        nodes[:, :, :n] = ns
        nodes[:, :, n : 2 * n] = ns
        nodes[:, :, 2 * n :] = self._digest_rows(
            LEAF_PREFIX, leaves.reshape(trees * count, size)
        ).reshape(trees, count, self.digest_size)
        return [root.tobytes() for root in self._fold(nodes)]

    def _fold(self, nodes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """(T, m, node_size) nodes of T trees' bottom level -> (T, node_size) roots.

        Pairs neighbours level by level and carries an odd last node up, which gives RFC
        6962's shape (split at the largest power of two below ``m``). The parent's range
        follows :meth:`hash_node` (children built from ordered leaves, so unchecked).
        """
        n = self.namespace_size
        node_size = self.node_size
        trees = nodes.shape[0]
        max_ns = np.frombuffer(self.max_namespace, dtype=np.uint8)
        while nodes.shape[1] > 1:
            m = nodes.shape[1]
            pairs = m // 2
            left = nodes[:, 0 : 2 * pairs : 2]
            right = nodes[:, 1 : 2 * pairs : 2]
            above = np.empty((trees, pairs + m % 2, node_size), dtype=np.uint8)
            left_min, left_max = left[:, :, :n], left[:, :, n : 2 * n]
            right_min, right_max = right[:, :, :n], right[:, :, n : 2 * n]
            above[:, :pairs, :n] = np.where(
                _lex_less(right_min, left_min)[..., None], right_min, left_min
            )
            parent_max = np.where(_lex_less(left_max, right_max)[..., None], right_max, left_max)
            if self.ignore_max_namespace:
                right_parity = (right_min == max_ns).all(-1)[..., None]
                left_parity = (left_min == max_ns).all(-1)[..., None]
                parent_max = np.where(right_parity, left_max, parent_max)
                parent_max = np.where(left_parity, max_ns, parent_max)
            above[:, :pairs, n : 2 * n] = parent_max
            # Siblings lie side by side: (T, 2p, node) viewed as (T, p, 2 node) is l || r.
            siblings = nodes[:, : 2 * pairs].reshape(trees * pairs, 2 * node_size)
            above[:, :pairs, 2 * n :] = self._digest_rows(NODE_PREFIX, siblings).reshape(
                trees, pairs, self.digest_size
            )
            if m % 2:
                above[:, pairs] = nodes[:, m - 1]
            nodes = above
        return nodes[:, 0]

    def _digest_rows(self, prefix: bytes, rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """H(prefix || row) of each row of a (N, s) array, as (N, 32): one hash call per row.

        No preimage array is built (a square's leaves are 71 MB): BLAKE3 copies a state
        that has absorbed the prefix; SHA-256 concatenates the prefix per row.
        """
        count, size = rows.shape
        view = np.ascontiguousarray(rows).reshape(-1).data
        spans = range(0, count * size, size)
        if self.hash_name == "sha256":  # hashlib's update returns None: concatenate
            sha = hashlib.sha256
            out = b"".join([sha(prefix + view[i : i + size]).digest() for i in spans])
        else:
            fresh = self._blake3_base.copy().update(prefix).copy
            out = b"".join([fresh().update(view[i : i + size]).digest() for i in spans])
        return np.frombuffer(out, dtype=np.uint8).reshape(count, self.digest_size)

    def validate_node(self, node: bytes) -> None:
        """Raise NmtError unless ``node`` is ``min || max || digest`` with min <= max."""
        if len(node) != self.node_size:
            raise NmtError(f"node is {len(node)} bytes, want {self.node_size}")
        n = self.namespace_size
        if node[:n] > node[n : 2 * n]:
            raise NmtError("node has min namespace > max namespace")

    def empty_root(self) -> bytes:
        """Root of a tree with no leaves: zero namespaces and H(empty)."""
        return b"\x00" * (2 * self.namespace_size) + self.digest(b"")

    def min_namespace(self, node: bytes) -> bytes:
        """The node's min namespace."""
        return node[: self.namespace_size]

    def max_namespace_of(self, node: bytes) -> bytes:
        """The node's max namespace."""
        return node[self.namespace_size : 2 * self.namespace_size]


@dataclass(frozen=True)
class NmtProof:
    """A range proof: leaves ``[start, end)`` plus ``nodes`` (subtree roots, in-order).

    ``leaf_hash`` is set only for an absence proof (the leaf where the namespace would be).
    ``start == end == 0`` with no nodes is the *empty* proof (namespace outside the root range).
    """

    start: int
    end: int
    nodes: tuple[bytes, ...] = field(default_factory=tuple)
    leaf_hash: bytes = b""
    is_max_namespace_ignored: bool = True

    def is_empty(self) -> bool:
        """True for the empty proof."""
        return self.start == 0 and self.end == 0 and not self.nodes

    def is_absence(self) -> bool:
        """True for an absence proof."""
        return bool(self.leaf_hash)


class NamespacedMerkleTree:
    """An append-only NMT: ``push`` leaves in namespace order, then ``root`` and ``prove_*``."""

    def __init__(
        self,
        namespace_size: int = 29,
        hash: HashName = "blake3",
        ignore_max_namespace: bool = True,
        *,
        leaves_max: int = leaves_max_default,
    ) -> None:
        self.hasher = NmtHasher(
            namespace_size=namespace_size, hash=hash, ignore_max_namespace=ignore_max_namespace
        )
        self.namespace_size = namespace_size
        self.leaves_max = leaves_max
        # Only the namespaces are kept: proofs need them, not the data (a DA server caches
        # one tree per row, and 2k copies of every share would double its memory).
        self._namespaces: list[bytes] = []
        self._leaf_hashes: list[bytes] = []
        self._layers: list[list[bytes]] | None = None

    def __len__(self) -> int:
        return len(self._namespaces)

    def push(self, namespaced_data: bytes) -> None:
        """Append a leaf. Raises NmtError if it is too short, out of order, or the tree is full."""
        n = self.namespace_size
        data = bytes(namespaced_data)
        if len(data) < n:
            raise NmtError(f"leaf of {len(data)} bytes has no {n}-byte namespace")
        if self._namespaces and data[:n] < self._namespaces[-1]:
            raise NmtError("leaves must be pushed in namespace order")
        if len(self._namespaces) >= self.leaves_max:
            raise NmtError(f"tree is full ({self.leaves_max} leaves)")
        self._namespaces.append(data[:n])
        self._leaf_hashes.append(self.hasher.hash_leaf(data))
        self._layers = None

    @property
    def leaf_hashes(self) -> tuple[bytes, ...]:
        """The leaf nodes, in order."""
        return tuple(self._leaf_hashes)

    def _build(self) -> list[list[bytes]]:
        """All levels bottom-up; an odd last node is carried up (equals the RFC 6962 shape)."""
        if self._layers is not None:
            return self._layers
        layers = [list(self._leaf_hashes)]
        hash_node = self.hasher.hash_node
        while len(layers[-1]) > 1:
            below = layers[-1]
            above = [hash_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])
            layers.append(above)
        self._layers = layers
        return layers

    def root(self) -> bytes:
        """``min_ns || max_ns || digest`` of the whole tree."""
        if not self._namespaces:
            return self.hasher.empty_root()
        return self._build()[-1][0]

    def _subtree(self, lo: int, hi: int) -> bytes:
        """Root of the RFC 6962 subtree over leaves ``[lo, hi)``."""
        level = (hi - lo - 1).bit_length()
        node = self._build()[level][lo >> level]
        return node

    def prove_range(self, start: int, end: int) -> NmtProof:
        """Proof of leaves ``[start, end)``. Raises NmtError on an empty or out-of-bounds range."""
        count = len(self._namespaces)
        if not 0 <= start < end <= count:
            raise NmtError(f"range [{start}, {end}) outside tree of {count} leaves")
        nodes: list[bytes] = []
        self._collect(0, count, start, end, nodes)
        return NmtProof(start, end, tuple(nodes), b"", self.hasher.ignore_max_namespace)

    def prove(self, index: int) -> NmtProof:
        """Inclusion proof of one leaf."""
        return self.prove_range(index, index + 1)

    def _collect(self, lo: int, hi: int, start: int, end: int, out: list[bytes]) -> None:
        if hi <= start or lo >= end:
            out.append(self._subtree(lo, hi))
            return
        if hi - lo == 1:
            return
        k = split_point(hi - lo)
        self._collect(lo, lo + k, start, end, out)
        self._collect(lo + k, hi, start, end, out)

    def namespace_range(self, namespace: bytes) -> tuple[int, int]:
        """``[start, end)`` of the leaves in ``namespace`` (empty range at its insertion point)."""
        # Leaves are in namespace order (push enforces it), so binary search is exact.
        return bisect.bisect_left(self._namespaces, namespace), bisect.bisect_right(
            self._namespaces, namespace
        )

    def prove_namespace(self, namespace: bytes) -> NmtProof:
        """Inclusion proof of all leaves of ``namespace``, an absence proof, or the empty proof.

        Celestia's rule (``ProveNamespace`` in celestiaorg/nmt): the empty proof only for a
        namespace outside the namespaces of the *leaves* (below the first, above the last).
        Not the root's range: with ``ignore_max_namespace`` the root's max leaves out the
        parity namespace, and a namespace between the root's max and the parity leaves gets
        an absence proof (the first parity leaf), the parity namespace itself an inclusion
        proof. (Using the root's range gave the empty proof there: issue 16, finding 14.)
        """
        if len(namespace) != self.namespace_size:
            raise NmtError(f"namespace must be {self.namespace_size} bytes")
        h = self.hasher
        if (
            not self._namespaces
            or namespace < self._namespaces[0]
            or namespace > self._namespaces[-1]
        ):
            return NmtProof(0, 0, (), b"", h.ignore_max_namespace)
        start, end = self.namespace_range(namespace)
        if end > start:
            return self.prove_range(start, end)
        assert 0 < start < len(self._namespaces), "an absent namespace inside the leaves' range"
        absence = self.prove_range(start, start + 1)
        return NmtProof(
            start, start + 1, absence.nodes, self._leaf_hashes[start], h.ignore_max_namespace
        )


def _recompute_root(
    hasher: NmtHasher, proof: NmtProof, leaf_hashes: Sequence[bytes], leaf_count: int
) -> tuple[bytes, list[bytes], list[bytes]] | None:
    """Root from leaf hashes and proof nodes over a tree of ``leaf_count`` leaves.

    Returns (root, left_nodes, right_nodes) or None when the proof does not fit the shape.
    """
    start, end = proof.start, proof.end
    if not 0 <= start < end <= leaf_count or len(leaf_hashes) != end - start:
        return None
    nodes = list(proof.nodes)
    leaves = list(leaf_hashes)
    left: list[bytes] = []
    right: list[bytes] = []
    cursor = {"node": 0, "leaf": 0}

    def walk(lo: int, hi: int) -> bytes:
        if hi <= start or lo >= end:
            if cursor["node"] >= len(nodes):
                raise NmtError("proof has too few nodes")
            node = nodes[cursor["node"]]
            cursor["node"] += 1
            hasher.validate_node(node)
            (left if hi <= start else right).append(node)
            return node
        if hi - lo == 1:
            leaf = leaves[cursor["leaf"]]
            cursor["leaf"] += 1
            hasher.validate_node(leaf)
            return leaf
        k = split_point(hi - lo)
        return hasher.hash_node(walk(lo, lo + k), walk(lo + k, hi))

    try:
        root = walk(0, leaf_count)
    except NmtError:
        return None
    if cursor["node"] != len(nodes):
        return None
    return root, left, right


def verify_leaf_hashes(
    hasher: NmtHasher,
    proof: NmtProof,
    leaf_hashes: Sequence[bytes],
    root: bytes,
    *,
    leaf_count: int,
) -> bool:
    """True if ``leaf_hashes`` sit at ``[proof.start, proof.end)`` under ``root``."""
    result = _recompute_root(hasher, proof, leaf_hashes, leaf_count)
    return result is not None and result[0] == root


def verify_inclusion(
    hasher: NmtHasher, proof: NmtProof, leaves: Sequence[bytes], root: bytes, *, leaf_count: int
) -> bool:
    """True if the namespaced ``leaves`` sit at ``[proof.start, proof.end)`` under ``root``."""
    try:
        hashes = [hasher.hash_leaf(leaf) for leaf in leaves]
    except NmtError:
        return False
    return verify_leaf_hashes(hasher, proof, hashes, root, leaf_count=leaf_count)


def verify_namespace(
    hasher: NmtHasher,
    proof: NmtProof,
    namespace: bytes,
    leaves: Sequence[bytes],
    root: bytes,
    *,
    leaf_count: int,
) -> bool:
    """True if ``leaves`` are *all* the leaves of ``namespace`` under ``root`` (or it has none).

    Checks inclusion and completeness: every proof node left of the range has max < ns and
    every node right of it has min > ns, so no leaf of the namespace can have been withheld.
    """
    n = hasher.namespace_size
    if len(namespace) != n or len(root) != hasher.node_size:
        return False
    if proof.is_max_namespace_ignored != hasher.ignore_max_namespace:
        return False
    root_min, root_max = root[:n], root[n : 2 * n]
    if proof.is_empty():
        outside = namespace < root_min or namespace > root_max
        return not leaves and not proof.leaf_hash and (outside or root == hasher.empty_root())
    if root == hasher.empty_root():
        return False
    if proof.is_absence():
        if leaves or proof.end != proof.start + 1 or len(proof.leaf_hash) != hasher.node_size:
            return False
        if not proof.leaf_hash[:n] > namespace:
            return False
        hashes = [proof.leaf_hash]
    else:
        if not leaves or any(bytes(leaf[:n]) != namespace for leaf in leaves):
            return False
        try:
            hashes = [hasher.hash_leaf(leaf) for leaf in leaves]
        except NmtError:
            return False
    result = _recompute_root(hasher, proof, hashes, leaf_count)
    if result is None or result[0] != root:
        return False
    _, left, right = result
    if any(node[n : 2 * n] >= namespace for node in left):
        return False
    return all(node[:n] > namespace for node in right)
