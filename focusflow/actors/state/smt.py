"""Compacted sparse Merkle tree: one authenticated root over every keyspace.

Why this shape: a sparse Merkle tree over 256-bit keys gives both inclusion and absence
proofs, and with compaction (a subtree holding exactly one leaf is represented by that
leaf, as in Diem's Jellyfish Merkle tree) it is only ~log2(n) deep instead of 256. A batch
update re-hashes only the ancestors of changed keys, so its cost is O(changed x log n),
independent of the state size.

Hashing (all BLAKE3 in keyed mode; each role has its own key derived from a context
string, so a leaf can never be confused with an inner node, a key or a value):

* ``key = H_key(keypath)``: 32-byte tree key of a full key path such as ``/token/balance/..``.
* ``vh = H_value(value)``: value hash.
* ``leaf = H_node(0x00 || key || vh)``; ``inner = H_node(0x01 || left || right)``.
* the empty subtree hashes to 32 zero bytes; a one-leaf subtree hashes to its leaf hash;
  any other subtree to ``inner(left, right)``.

Nodes are addressed by their *path*: the int ``(1 << depth) | prefix`` (root = 1, children
``2p`` and ``2p+1``), stored in a plain mapping ``path -> entry`` where an entry is the
32-byte inner hash or the 96-byte leaf record ``leaf_hash || key || vh``. Updates write
into an overlay (``path -> entry | None``) so a block is applied to memory only after the
store made it durable.

:func:`verify_proof` is a pure function of (root, keypath, value, proof): a light client
needs nothing else.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

import blake3

HASH_LEN = 32
EMPTY = bytes(HASH_LEN)
LEAF_ENTRY_LEN = 3 * HASH_LEN
KEY_BITS = 256
_NODE_KEY = blake3.blake3(b"", derive_key_context="focusflow 2026 smt node v1").digest()
KEYPATH_KEY = blake3.blake3(b"", derive_key_context="focusflow 2026 smt keypath v1").digest()
_VALUE_KEY = blake3.blake3(b"", derive_key_context="focusflow 2026 smt value v1").digest()
_LEAF_TAG = b"\x00"
_INNER_TAG = b"\x01"

# Keyed BLAKE3 states, tags absorbed, copied per hash: a copy is ~15-25% cheaper than a
# keyed constructor call (which parses its keyword and key every time), and a state update
# is ~5 hashes per written key (issue 18).
_LEAF_STATE = blake3.blake3(key=_NODE_KEY).update(_LEAF_TAG)
_INNER_STATE = blake3.blake3(key=_NODE_KEY).update(_INNER_TAG)
#: ``new_keypath_hasher().update(keypath).digest()`` is :func:`tree_key`, for inlining.
new_keypath_hasher = blake3.blake3(key=KEYPATH_KEY).copy
_new_value_hasher = blake3.blake3(key=_VALUE_KEY).copy
_new_leaf_hasher = _LEAF_STATE.copy
_new_inner_hasher = _INNER_STATE.copy

Entry = bytes  # 32-byte inner hash or 96-byte leaf record
Overlay = dict[int, Entry | None]


def tree_key(keypath: bytes) -> bytes:
    """32-byte tree key of a full key path (domain-separated BLAKE3)."""
    return new_keypath_hasher().update(keypath).digest()


def value_hash(value: bytes) -> bytes:
    """32-byte hash of a stored value (domain-separated BLAKE3)."""
    return _new_value_hasher().update(value).digest()


def leaf_hash(key: bytes, vh: bytes) -> bytes:
    """Hash of a leaf holding tree key ``key`` with value hash ``vh``."""
    return _new_leaf_hasher().update(key + vh).digest()


def inner_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an inner node from its children's hashes (EMPTY for an empty child)."""
    return _new_inner_hasher().update(left + right).digest()


def leaf_entry(key: bytes, vh: bytes) -> Entry:
    """The 96-byte leaf record stored in the node map."""
    kv = key + vh
    return _new_leaf_hasher().update(kv).digest() + kv


def _bit(kint: int, depth: int) -> int:
    return (kint >> (KEY_BITS - 1 - depth)) & 1


def _is_leaf(entry: Entry | None) -> bool:
    return entry is not None and len(entry) == LEAF_ENTRY_LEN


def _hash_of(entry: Entry | None) -> bytes:
    return EMPTY if entry is None else entry[:HASH_LEN]


def _right_start(path: int, depth: int) -> int:
    """Smallest key int that falls in the right child of the node at ``path``."""
    prefix = path ^ (1 << depth)
    return ((prefix << 1) | 1) << (KEY_BITS - 1 - depth)


@dataclass(frozen=True, slots=True)
class Proof:
    """Path from the root towards ``tree_key(keypath)``.

    ``siblings[d]`` is the sibling hash at depth ``d + 1`` on the key's path (top-down).
    ``leaf`` is the (key, value hash) of the leaf that ends the path, or None when the path
    ends in an empty subtree. Inclusion: ``leaf.key`` is the queried key. Absence: no leaf,
    or a leaf with another key sharing the first ``len(siblings)`` bits.
    """

    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None

    def to_bytes(self) -> bytes:
        """Compact encoding: u16 depth, u8 has-leaf, siblings, then key || vh if present."""
        head = len(self.siblings).to_bytes(2, "little") + (b"\x01" if self.leaf else b"\x00")
        tail = self.leaf[0] + self.leaf[1] if self.leaf else b""
        return head + b"".join(self.siblings) + tail

    @classmethod
    def from_bytes(cls, raw: bytes) -> Proof:
        """Inverse of :meth:`to_bytes`; raises ValueError on any length inconsistency."""
        if len(raw) < 3:
            raise ValueError("proof too short")
        n = int.from_bytes(raw[:2], "little")
        has_leaf = raw[2]
        if n > KEY_BITS or has_leaf not in (0, 1):
            raise ValueError("proof header out of range")
        want = 3 + n * HASH_LEN + (2 * HASH_LEN if has_leaf else 0)
        if len(raw) != want:
            raise ValueError(f"proof length {len(raw)} != {want}")
        sibs = tuple(raw[3 + i * HASH_LEN : 3 + (i + 1) * HASH_LEN] for i in range(n))
        off = 3 + n * HASH_LEN
        leaf = (raw[off : off + HASH_LEN], raw[off + HASH_LEN :]) if has_leaf else None
        return cls(siblings=sibs, leaf=leaf)


def verify_proof(root: bytes, keypath: bytes, value: bytes | None, proof: Proof) -> bool:
    """True iff ``proof`` shows ``keypath -> value`` (or absence, when value is None).

    Pure: needs no store. Never raises on a malformed proof; it just returns False.
    """
    try:
        if len(root) != HASH_LEN or len(proof.siblings) > KEY_BITS:
            return False
        if any(len(s) != HASH_LEN for s in proof.siblings):
            return False
        key = tree_key(keypath)
        kint = int.from_bytes(key, "big")
        depth = len(proof.siblings)
        if value is not None:
            if proof.leaf is None or proof.leaf != (key, value_hash(value)):
                return False
        elif proof.leaf is not None:
            other_key, _ = proof.leaf
            if len(other_key) != HASH_LEN or other_key == key:
                return False
            other = int.from_bytes(other_key, "big")
            if depth and (other >> (KEY_BITS - depth)) != (kint >> (KEY_BITS - depth)):
                return False
        if proof.leaf is not None and len(proof.leaf[1]) != HASH_LEN:
            return False
        node = EMPTY if proof.leaf is None else leaf_hash(*proof.leaf)
        for d in range(depth - 1, -1, -1):
            sib = proof.siblings[d]
            node = inner_hash(sib, node) if _bit(kint, d) else inner_hash(node, sib)
        return node == root
    except (TypeError, ValueError, AttributeError):
        return False


class SparseMerkleTree:
    """The tree over a node map. Reads go through an optional overlay (pending block)."""

    def __init__(self, nodes: MutableMapping[int, Entry] | None = None) -> None:
        self.nodes: MutableMapping[int, Entry] = nodes if nodes is not None else {}

    # ------------------------------------------------------------------ reading

    def root(self, overlay: Mapping[int, Entry | None] | None = None) -> bytes:
        """Current root hash (EMPTY for an empty tree)."""
        return _hash_of(self._get(1, overlay))

    def _get(self, path: int, overlay: Mapping[int, Entry | None] | None) -> Entry | None:
        if overlay is not None and path in overlay:
            return overlay[path]
        return self.nodes.get(path)

    def prove(self, keypath: bytes, overlay: Overlay | None = None) -> Proof:
        """Inclusion or absence proof for ``keypath`` against :meth:`root`."""
        kint = int.from_bytes(tree_key(keypath), "big")
        path, siblings = 1, list[bytes]()
        for depth in range(KEY_BITS + 1):
            entry = self._get(path, overlay)
            if entry is None:
                return Proof(tuple(siblings), None)
            if _is_leaf(entry):
                return Proof(tuple(siblings), (entry[32:64], entry[64:96]))
            child = (path << 1) | _bit(kint, depth)
            siblings.append(_hash_of(self._get(child ^ 1, overlay)))
            path = child
        raise AssertionError("tree deeper than the key length: corrupt node map")

    # ------------------------------------------------------------------ writing

    def update(self, changes: Mapping[bytes, bytes | None]) -> tuple[bytes, Overlay]:
        """Apply ``{tree_key: value_hash or None (delete)}``; return (new root, overlay).

        The tree itself is not modified: call :meth:`apply` with the overlay once the
        block is durable. Cost: O(len(changes) x depth) hashes and map reads.

        The same recursion as :meth:`update_reference` with its per-node overheads cut
        (issue 18): a fresh subtree is built without a call per empty side or per leaf
        (:func:`_build_fast`), and an existing leaf that a new key pushes down keeps its
        96-byte entry instead of being hashed again (same key and value hash: the same
        bytes). Same root and same overlay, entry for entry (a hypothesis test compares).
        A level-by-level rewrite over arrays was measured slower than this on CPython
        3.11: the hashes are one call per node either way, and list/dict passes per
        level cost more than the cheap recursive calls.
        """
        items = sorted((int.from_bytes(k, "big"), k, vh) for k, vh in changes.items())
        assert set(map(len, changes)) <= {HASH_LEN}  # C-level: no Python step per key
        overlay: Overlay = {}
        if items:
            kints = [kint for kint, _, _ in items]
            self._update_fast(1, 0, items, kints, 0, len(items), overlay)
        return self.root(overlay), overlay

    def update_reference(self, changes: Mapping[bytes, bytes | None]) -> tuple[bytes, Overlay]:
        """:meth:`update` as it was before issue 18, node by node: the test oracle."""
        items = sorted((int.from_bytes(k, "big"), k, vh) for k, vh in changes.items())
        assert all(len(k) == HASH_LEN for _, k, _ in items)
        overlay: Overlay = {}
        if items:
            kints = [kint for kint, _, _ in items]
            self._update(1, 0, items, kints, 0, len(items), overlay)
        return self.root(overlay), overlay

    def apply(self, overlay: Overlay) -> None:
        """Make an overlay from :meth:`update` part of the tree.

        One C-level ``update`` for the (many) written entries, then the (few) deletions:
        a Python step per entry cost a microsecond per changed key.
        """
        nodes = self.nodes
        gone = [path for path, entry in overlay.items() if entry is None]
        nodes.update(overlay)  # type: ignore[arg-type]  # the Nones go just below
        for path in gone:
            del nodes[path]

    def _update_fast(
        self,
        path: int,
        depth: int,
        items: list[tuple[int, bytes, bytes | None]],
        kints: list[int],
        lo: int,
        hi: int,
        ov: Overlay,
    ) -> Entry | None:
        """:meth:`_update` with :func:`_build_fast` below the existing tree."""
        entry = ov[path] if path in ov else self.nodes.get(path)
        if hi - lo == 1 and (entry is None or len(entry) == LEAF_ENTRY_LEN):
            # the commonest ends of a walk, without the general case's lists and sort:
            # one key into an empty subtree, or beside (or onto) one existing leaf
            item = items[lo]
            kint, key, vh = item
            if vh is None and entry is None:
                return None
            if vh is not None:
                if entry is not None:
                    ov[path] = None
                    ekey = entry[32:64]
                    if ekey != key:
                        old = (int.from_bytes(ekey, "big"), ekey, entry)
                        pair = (old, item) if old[0] < kint else (item, old)
                        return _build_pair(path, depth, pair[0], pair[1], ov)
                new = leaf_entry(key, vh)
                ov[path] = new
                return new
        if entry is None or len(entry) == LEAF_ENTRY_LEN:
            # a leaf tuple's third item may be a kept 96-byte leaf entry (see _build_fast)
            leaves: list[tuple[int, bytes, bytes | None]] = [
                it for it in items[lo:hi] if it[2] is not None
            ]
            if entry is not None:
                ov[path] = None
                ekey = entry[32:64]
                ekint = int.from_bytes(ekey, "big")
                pos = bisect_left(kints, ekint, lo, hi)
                if pos == hi or kints[pos] != ekint:  # untouched existing leaf stays
                    leaves.append((ekint, ekey, entry))
                    leaves.sort(key=_first)
            n = len(leaves)
            if n == 0:
                return None
            if n == 1:
                _, key, vh = leaves[0]
                assert vh is not None
                new = vh if len(vh) == LEAF_ENTRY_LEN else leaf_entry(key, vh)
                ov[path] = new
                return new
            return _build_fast(path, depth, leaves, [it[0] for it in leaves], 0, n, ov)
        assert depth < KEY_BITS
        prefix = path ^ (1 << depth)
        mid = bisect_left(kints, ((prefix << 1) | 1) << (KEY_BITS - 1 - depth), lo, hi)
        lp, rp = path << 1, (path << 1) | 1
        left = (
            self._update_fast(lp, depth + 1, items, kints, lo, mid, ov)
            if lo < mid
            else (ov[lp] if lp in ov else self.nodes.get(lp))
        )
        right = (
            self._update_fast(rp, depth + 1, items, kints, mid, hi, ov)
            if mid < hi
            else (ov[rp] if rp in ov else self.nodes.get(rp))
        )
        if left is None or right is None:  # may compact: the recursion's rule
            return _combine(path, lp, left, rp, right, ov)
        h = _new_inner_hasher().update(left[:HASH_LEN] + right[:HASH_LEN]).digest()
        ov[path] = h
        return h

    def _update(
        self,
        path: int,
        depth: int,
        items: list[tuple[int, bytes, bytes | None]],
        kints: list[int],
        lo: int,
        hi: int,
        ov: Overlay,
    ) -> Entry | None:
        entry = self._get(path, ov)
        if entry is None or _is_leaf(entry):
            leaves = [(kint, k, vh) for kint, k, vh in items[lo:hi] if vh is not None]
            if entry is not None:
                ov[path] = None
                ekey = entry[32:64]
                ekint = int.from_bytes(ekey, "big")
                pos = bisect_left(kints, ekint, lo, hi)
                if pos == hi or kints[pos] != ekint:  # untouched existing leaf stays
                    leaves.append((ekint, ekey, entry[64:96]))
                    leaves.sort()
            lkints = [kint for kint, _, _ in leaves]
            return _build(path, depth, leaves, lkints, 0, len(leaves), ov)
        assert depth < KEY_BITS
        mid = bisect_left(kints, _right_start(path, depth), lo, hi)
        lp, rp = path << 1, (path << 1) | 1
        left = (
            self._update(lp, depth + 1, items, kints, lo, mid, ov)
            if lo < mid
            else self._get(lp, ov)
        )
        right = (
            self._update(rp, depth + 1, items, kints, mid, hi, ov)
            if mid < hi
            else self._get(rp, ov)
        )
        return _combine(path, lp, left, rp, right, ov)


def _combine(
    path: int,
    lp: int,
    left: Entry | None,
    rp: int,
    right: Entry | None,
    ov: MutableMapping[int, Entry | None],
) -> Entry | None:
    """Entry for ``path`` from its children's entries, compacting single leaves upward."""
    if left is None and right is None:
        ov[path] = None
        return None
    if left is None and _is_leaf(right):
        ov[rp] = None
        ov[path] = right
        return right
    if right is None and _is_leaf(left):
        ov[lp] = None
        ov[path] = left
        return left
    entry = inner_hash(_hash_of(left), _hash_of(right))
    ov[path] = entry
    return entry


def _build(
    path: int,
    depth: int,
    leaves: Sequence[tuple[int, bytes, bytes | None]],
    kints: Sequence[int],
    lo: int,
    hi: int,
    ov: MutableMapping[int, Entry | None],
) -> Entry | None:
    """Write a fresh subtree for sorted ``leaves[lo:hi]`` (the subtree at ``path`` is empty)."""
    n = hi - lo
    if n == 0:
        return None
    if n == 1:
        _, key, vh = leaves[lo]
        assert vh is not None
        entry = leaf_entry(key, vh)
        ov[path] = entry
        return entry
    assert depth < KEY_BITS, "two leaves share a 256-bit key"
    mid = bisect_left(kints, _right_start(path, depth), lo, hi)
    lp, rp = path << 1, (path << 1) | 1
    left = _build(lp, depth + 1, leaves, kints, lo, mid, ov)
    right = _build(rp, depth + 1, leaves, kints, mid, hi, ov)
    # n >= 2: a side holding them all is an inner node, so _combine never collapses here.
    return _combine(path, lp, left, rp, right, ov)


def _first(item: tuple[int, bytes, bytes | None]) -> int:
    return item[0]


def _build_fast(
    path: int,
    depth: int,
    leaves: Sequence[tuple[int, bytes, bytes | None]],
    kints: Sequence[int],
    lo: int,
    hi: int,
    ov: MutableMapping[int, Entry | None],
) -> bytes:
    """:func:`_build` for ``hi - lo >= 2`` leaves; returns the subtree's inner hash.

    No call for an empty side or a single leaf, and no ``_combine``: with two or more
    leaves below, a node is always inner (never compacted), so its hash is computed here.
    A leaf whose third item is already a 96-byte entry (an existing leaf pushed down)
    is stored as it is.
    """
    if hi - lo == 2:
        return _build_pair(path, depth, leaves[lo], leaves[lo + 1], ov)
    assert depth < KEY_BITS, "two leaves share a 256-bit key"
    prefix = path ^ (1 << depth)
    mid = bisect_left(kints, ((prefix << 1) | 1) << (KEY_BITS - 1 - depth), lo, hi)
    lh = _build_side(path << 1, depth + 1, leaves, kints, lo, mid, ov)
    rh = _build_side((path << 1) | 1, depth + 1, leaves, kints, mid, hi, ov)
    h = _new_inner_hasher().update(lh + rh).digest()
    ov[path] = h
    return h


def _build_side(path: int, depth: int, leaves: Sequence[tuple[int, bytes, bytes | None]],
                kints: Sequence[int], lo: int, hi: int,
                ov: MutableMapping[int, Entry | None]) -> bytes:
    """One child of ``_build_fast``: a subtree of two or more leaves, one leaf, or empty."""
    if hi - lo >= 2:
        return _build_fast(path, depth, leaves, kints, lo, hi, ov)
    if hi - lo == 1:
        _, key, vh = leaves[lo]
        assert vh is not None
        entry = vh if len(vh) == LEAF_ENTRY_LEN else leaf_entry(key, vh)
        ov[path] = entry
        return entry[:HASH_LEN]
    return EMPTY


def _build_pair(
    path: int,
    depth: int,
    first: tuple[int, bytes, bytes | None],
    second: tuple[int, bytes, bytes | None],
    ov: MutableMapping[int, Entry | None],
) -> bytes:
    """:func:`_build_fast` of two sorted leaves in closed form (the commonest fresh subtree:
    a new key beside an existing leaf). They split one level below their longest common
    prefix; above that, each node up to ``path`` has one child and an EMPTY sibling."""
    (k1, key1, vh1), (k2, key2, vh2) = first, second
    split = KEY_BITS - (k1 ^ k2).bit_length()  # depth of the node where they part
    assert depth <= split < KEY_BITS and k1 < k2, "two leaves share a 256-bit key"
    assert vh1 is not None and vh2 is not None
    e1 = vh1 if len(vh1) == LEAF_ENTRY_LEN else leaf_entry(key1, vh1)
    e2 = vh2 if len(vh2) == LEAF_ENTRY_LEN else leaf_entry(key2, vh2)
    p1 = (1 << (split + 1)) | (k1 >> (KEY_BITS - split - 1))
    ov[p1] = e1
    ov[p1 | 1] = e2
    inner = _new_inner_hasher
    h = inner().update(e1[:HASH_LEN] + e2[:HASH_LEN]).digest()
    node = p1 >> 1
    ov[node] = h
    while node != path:
        h = inner().update(EMPTY + h if node & 1 else h + EMPTY).digest()
        node >>= 1
        ov[node] = h
    return h


def build_nodes(leaves: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, dict[int, Entry]]:
    """Bulk build from ``(tree_key, value_hash)`` pairs: (root, node map). O(n log n)."""
    items = sorted((int.from_bytes(k, "big"), k, vh) for k, vh in leaves)
    kints = [kint for kint, _, _ in items]
    assert len(set(kints)) == len(kints), "duplicate tree keys"
    out: dict[int, Entry | None] = {}
    root = _build(1, 0, items, kints, 0, len(items), out)
    del items, kints
    for path in [p for p, e in out.items() if e is None]:  # in place: no second big dict
        del out[path]
    nodes: dict[int, Entry] = out  # type: ignore[assignment]
    return _hash_of(root), nodes


def compute_root(leaves: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Naive full recompute of the root from every leaf (the benchmark's baseline)."""
    items = sorted((int.from_bytes(k, "big"), k, vh) for k, vh in leaves)
    kints = [kint for kint, _, _ in items]
    return _root_only(0, items, kints, 0, len(items))[0]


def _root_only(
    depth: int, items: list[tuple[int, bytes, bytes]], kints: list[int], lo: int, hi: int
) -> tuple[bytes, bool]:
    """(hash, is_single_leaf) of the subtree over ``items[lo:hi]`` without storing nodes."""
    n = hi - lo
    if n == 0:
        return EMPTY, False
    if n == 1:
        _, key, vh = items[lo]
        return leaf_hash(key, vh), True
    # all items share the first `depth` bits; split on the next one
    threshold = ((kints[lo] >> (KEY_BITS - depth)) << 1 | 1) << (KEY_BITS - 1 - depth)
    mid = bisect_left(kints, threshold, lo, hi)
    lh, lleaf = _root_only(depth + 1, items, kints, lo, mid)
    rh, rleaf = _root_only(depth + 1, items, kints, mid, hi)
    if mid == lo and rleaf:
        return rh, True
    if mid == hi and lleaf:
        return lh, True
    return inner_hash(lh, rh), False
