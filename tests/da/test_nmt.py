"""NMT: Celestia's published examples (SHA-256 mode) and properties of proofs (both hashes)."""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.da.nmt import (
    BLAKE3_NMT_CONTEXT,
    NamespacedMerkleTree,
    NmtError,
    NmtHasher,
    NmtProof,
    split_point,
    verify_inclusion,
    verify_namespace,
)

# celestiaorg/nmt docs/spec/nmt.md, Figure 1: 1-byte namespaces, SHA-256, leaves "leaf_i".
FIGURE1_LEAVES = [b"\x00leaf_0", b"\x00leaf_1", b"\x01leaf_2", b"\x03leaf_3"]


def figure1_tree() -> NamespacedMerkleTree:
    tree = NamespacedMerkleTree(namespace_size=1, hash="sha256", ignore_max_namespace=True)
    for leaf in FIGURE1_LEAVES:
        tree.push(leaf)
    return tree


def test_figure1_nodes_match_the_celestia_spec_figure() -> None:
    tree = figure1_tree()
    # The spec prints ns, ns and the first 7 hex digits of each digest.
    assert tree.root().hex()[:11] == "0003b1c2cc5"
    assert [h.hex()[:11] for h in tree.leaf_hashes] == [
        "00005fa0c9c",
        "000052385a0",
        "010171ca46a",
        "0303b4a2792",
    ]
    assert tree.prove_namespace(b"\x00").nodes[0].hex()[:11] == "010352c7c03"


def test_namespace_proof_matches_the_published_proof_bytes() -> None:
    # celestiaorg/nmt docs/proof-format.md: the proof of namespace 1 in Figure 1, full bytes.
    proof = figure1_tree().prove_namespace(b"\x01")
    assert (proof.start, proof.end) == (2, 3)
    assert [base64.b64encode(n).decode() for n in proof.nodes] == [
        "AADq2NJYUYcOTntejk0QCS30laDXOvb+w3Cax5+mM49Xrg==",
        "AwO0onki2V6R1KVmqq3O31AmtiACJxWRCjVBhMCvOE4UQA==",
    ]
    assert proof.is_max_namespace_ignored


def test_absence_proof_matches_the_spec_example() -> None:
    tree = figure1_tree()
    proof = tree.prove_namespace(b"\x02")
    assert proof.is_absence() and (proof.start, proof.end) == (3, 4)
    assert proof.leaf_hash.hex()[:11] == "0303b4a2792"
    assert [n.hex()[:11] for n in proof.nodes] == ["0000ead8d25", "010171ca46a"]
    assert verify_namespace(tree.hasher, proof, b"\x02", [], tree.root(), leaf_count=4)


def test_empty_proof_for_a_namespace_outside_the_root_range() -> None:
    tree = figure1_tree()
    proof = tree.prove_namespace(b"\x06")
    assert proof.is_empty()
    assert verify_namespace(tree.hasher, proof, b"\x06", [], tree.root(), leaf_count=4)
    # ...but an empty proof for a namespace inside the range is a lie.
    assert not verify_namespace(tree.hasher, proof, b"\x01", [], tree.root(), leaf_count=4)


def test_sha256_leaf_and_node_hashes_follow_the_spec_formula() -> None:
    h = NmtHasher(namespace_size=2, hash="sha256", ignore_max_namespace=False)
    leaf = b"\x00\x01payload"
    assert h.hash_leaf(leaf) == b"\x00\x01\x00\x01" + hashlib.sha256(b"\x00" + leaf).digest()
    left = b"\x00\x00\x00\x00" + b"\x01" * 32
    right = b"\x01\x01\x01\x01" + b"\x01" * 32
    want = b"\x00\x00\x01\x01" + hashlib.sha256(b"\x01" + left + right).digest()
    assert h.hash_node(left, right) == want


def test_empty_root_is_zero_namespaces_and_hash_of_nothing() -> None:
    tree = NamespacedMerkleTree(namespace_size=8, hash="sha256")
    assert tree.root() == b"\x00" * 16 + hashlib.sha256(b"").digest()


def test_ignore_max_namespace_keeps_parity_out_of_the_max() -> None:
    for ignore, want_max in ((True, b"\x05"), (False, b"\xff")):
        tree = NamespacedMerkleTree(namespace_size=1, hash="sha256", ignore_max_namespace=ignore)
        for leaf in (b"\x01a", b"\x05b", b"\xffp", b"\xffq"):
            tree.push(leaf)
        assert tree.root()[1:2] == want_max
    only_parity = NamespacedMerkleTree(namespace_size=1, hash="sha256")
    only_parity.push(b"\xffx")
    only_parity.push(b"\xffy")
    assert only_parity.root()[:2] == b"\xff\xff"


def test_unordered_siblings_are_rejected() -> None:
    h = NmtHasher(namespace_size=2, hash="sha256")
    with pytest.raises(NmtError):
        h.hash_node(b"\x00\x00\x02\x02" + b"\x00" * 32, b"\x01\x01\x03\x03" + b"\x00" * 32)
    tree = NamespacedMerkleTree(namespace_size=1)
    tree.push(b"\x05x")
    with pytest.raises(NmtError):
        tree.push(b"\x04y")
    with pytest.raises(NmtError):
        tree.push(b"")


def test_rfc6962_split_is_largest_power_of_two_below_n() -> None:
    assert [split_point(n) for n in range(2, 10)] == [1, 2, 2, 4, 4, 4, 4, 8]


def test_blake3_and_sha256_trees_differ_and_blake3_is_the_default() -> None:
    a, b = NamespacedMerkleTree(), NamespacedMerkleTree(hash="sha256")
    for t in (a, b):
        t.push(b"\x00" * 29 + b"x")
    assert a.hasher.hash_name == "blake3"
    assert a.root()[58:] != b.root()[58:]
    assert a.root()[:58] == b.root()[:58]


def test_root_of_fast_path_equals_push_then_root() -> None:
    for hash_name in ("sha256", "blake3"):
        tree = NamespacedMerkleTree(namespace_size=1, hash=hash_name)  # type: ignore[arg-type]
        leaves = [
            bytes([ns]) + bytes([i]) for i, ns in enumerate([0, 0, 1, 3, 3, 7, 255, 255, 255])
        ]
        for leaf in leaves:
            tree.push(leaf)
        assert tree.hasher.root_of(leaves) == tree.root()


namespaces = st.lists(st.integers(0, 255), min_size=1, max_size=24).map(sorted)


@pytest.mark.parametrize("hash_name", ["sha256", "blake3"])
def test_namespaces_above_the_root_max_but_within_the_parity_leaves_get_celestias_proofs(
    hash_name: str,
) -> None:
    """Finding 14: with ``ignore_max_namespace`` the root's max is 3 here, yet the tree has
    parity leaves (255). Celestia gives 7 an absence proof (first parity leaf) and 255 an
    inclusion proof of the parity leaves; we gave both the empty proof."""
    tree, leaves = build([1, 1, 3, 255, 255, 255], hash_name)
    root = tree.root()
    assert root[1:2] == b"\x03"  # the parity namespace stays out of the root's range
    absent = tree.prove_namespace(b"\x07")
    assert absent.is_absence() and (absent.start, absent.end) == (3, 4)
    assert absent.leaf_hash == tree.leaf_hashes[3]
    assert verify_namespace(tree.hasher, absent, b"\x07", [], root, leaf_count=6)
    parity = tree.prove_namespace(b"\xff")
    assert not parity.is_empty() and (parity.start, parity.end) == (3, 6)
    assert verify_namespace(tree.hasher, parity, b"\xff", leaves[3:], root, leaf_count=6)
    assert tree.prove_namespace(b"\x00").is_empty()  # below every leaf: still empty


def build(ns_list: list[int], hash_name: str) -> tuple[NamespacedMerkleTree, list[bytes]]:
    tree = NamespacedMerkleTree(namespace_size=1, hash=hash_name)  # type: ignore[arg-type]
    leaves = [bytes([ns]) + b"data%d" % i for i, ns in enumerate(ns_list)]
    for leaf in leaves:
        tree.push(leaf)
    return tree, leaves


@settings(max_examples=40, deadline=None)
@given(namespaces, st.sampled_from(["blake3", "sha256"]), st.integers(0, 255))
def test_every_namespace_query_verifies_and_is_complete(
    ns_list: list[int], hash_name: str, query: int
) -> None:
    tree, leaves = build(ns_list, hash_name)
    ns = bytes([query])
    proof = tree.prove_namespace(ns)
    members = [leaf for leaf in leaves if leaf[:1] == ns]
    # celestiaorg/nmt ProveNamespace: empty outside the leaves' namespaces (not the root's
    # range, which ignores the parity namespace 255), inclusion when present, else absence.
    assert proof.is_empty() == (not ns_list or query < min(ns_list) or query > max(ns_list))
    assert (not proof.is_empty() and not proof.is_absence()) == bool(members)
    if proof.is_empty() or proof.is_absence():
        shown: list[bytes] = []
    else:
        shown = leaves[proof.start : proof.end]
        assert shown == members
    assert verify_namespace(tree.hasher, proof, ns, shown, tree.root(), leaf_count=len(leaves))


@settings(max_examples=40, deadline=None)
@given(namespaces, st.sampled_from(["blake3", "sha256"]), st.data())
def test_a_withheld_share_of_the_namespace_is_detected(
    ns_list: list[int], hash_name: str, data: st.DataObject
) -> None:
    tree, leaves = build(ns_list, hash_name)
    ns = bytes([data.draw(st.sampled_from(ns_list))])
    proof = tree.prove_namespace(ns)
    if proof.is_empty() or ns == tree.hasher.max_namespace:
        # The ignored parity (max) namespace has an inclusion proof (Celestia's rule, issue
        # 16 finding 14) but no completeness: inner nodes leave it out of their max, so a
        # parity leaf to the right cannot prove that none was withheld. Parity shares are
        # checked by the erasure code, never queried as an application's namespace.
        return
    count = proof.end - proof.start
    drop_first = data.draw(st.booleans())
    # A prover hiding one share proves a shorter range: inclusion holds, completeness fails.
    if count >= 2:
        start, end = (proof.start + 1, proof.end) if drop_first else (proof.start, proof.end - 1)
        short = tree.prove_range(start, end)
        assert not verify_namespace(
            tree.hasher, short, ns, leaves[start:end], tree.root(), leaf_count=len(leaves)
        )
    # Hiding all of them behind an absence proof of a neighbour fails too.
    if proof.end < len(leaves):
        fake = tree.prove_range(proof.end, proof.end + 1)
        absence = NmtProof(proof.end, proof.end + 1, fake.nodes, tree.leaf_hashes[proof.end])
        assert not verify_namespace(
            tree.hasher, absence, ns, [], tree.root(), leaf_count=len(leaves)
        )


@settings(max_examples=40, deadline=None)
@given(namespaces, st.sampled_from(["blake3", "sha256"]), st.data())
def test_forged_inclusion_proofs_fail(
    ns_list: list[int], hash_name: str, data: st.DataObject
) -> None:
    tree, leaves = build(ns_list, hash_name)
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof = tree.prove(index)
    root = tree.root()
    assert verify_inclusion(tree.hasher, proof, [leaves[index]], root, leaf_count=n)
    forged_leaf = leaves[index][:1] + b"forged"
    assert not verify_inclusion(tree.hasher, proof, [forged_leaf], root, leaf_count=n)
    if n > 1:
        moved = NmtProof((index + 1) % n, (index + 1) % n + 1, proof.nodes)
        assert not verify_inclusion(tree.hasher, moved, [leaves[index]], root, leaf_count=n)
        node_i = data.draw(st.integers(0, len(proof.nodes) - 1))
        byte_i = data.draw(st.integers(0, len(proof.nodes[node_i]) - 1))
        node = bytearray(proof.nodes[node_i])
        node[byte_i] ^= 1
        tampered = list(proof.nodes)
        tampered[node_i] = bytes(node)
        bad = NmtProof(proof.start, proof.end, tuple(tampered))
        assert not verify_inclusion(tree.hasher, bad, [leaves[index]], root, leaf_count=n)
        trimmed = NmtProof(proof.start, proof.end, proof.nodes[:-1])
        assert not verify_inclusion(tree.hasher, trimmed, [leaves[index]], root, leaf_count=n)


def test_blake3_digests_are_domain_separated() -> None:
    import blake3

    from focusflow.actors.da.merkle import merkle_root

    h = NmtHasher(namespace_size=1, hash="blake3")
    leaf = b"\x07payload"
    plain = blake3.blake3(b"\x00" + leaf).digest()
    assert h.hash_leaf(leaf)[2:] != plain  # derive-key mode, not a bare hash
    assert (
        h.hash_leaf(leaf)[2:]
        == blake3.blake3(b"\x00" + leaf, derive_key_context=BLAKE3_NMT_CONTEXT).digest()
    )
    # the same bytes hashed as an NMT leaf and as a data-root leaf never coincide
    assert h.hash_leaf(leaf)[2:] != merkle_root([leaf], hash="blake3")
    # leaves and inner nodes are separated by their prefix byte
    node = h.hash_leaf(b"\x01a")
    assert h.hash_node(node, node)[2:] != h.digest(b"\x00" + node + node)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(namespaces, min_size=1, max_size=5),
    st.sampled_from(["blake3", "sha256"]),
    st.booleans(),
    st.data(),
)
def test_roots_of_array_equals_each_tree_built_node_by_node(
    trees_ns: list[list[int]], hash_name: str, ignore_max: bool, data: st.DataObject
) -> None:
    """The bulk path (all trees' levels as arrays) gives each tree's root byte for byte as
    pushing its leaves one by one does; trees share a leaf count, as a square's axes do.
    Namespace 255 (the parity namespace) exercises the ignore-max rule on both sides."""
    count = len(trees_ns[0])
    trees_ns = [(ns * count)[:count] for ns in trees_ns]
    trees_ns = [sorted(ns) for ns in trees_ns]
    payload = data.draw(st.binary(min_size=3, max_size=3))
    hasher = NmtHasher(namespace_size=1, hash=hash_name, ignore_max_namespace=ignore_max)  # type: ignore[arg-type]
    expected = []
    rows = []
    for t, ns_list in enumerate(trees_ns):
        tree = NamespacedMerkleTree(1, hash_name, ignore_max)  # type: ignore[arg-type]
        leaves = [bytes([ns, t, i]) + payload for i, ns in enumerate(ns_list)]
        for leaf in leaves:
            tree.push(leaf)
        expected.append(tree.root())
        assert hasher.root_of(leaves) == tree.root()
        rows.append([list(leaf) for leaf in leaves])
    got = hasher.roots_of_array(np.array(rows, dtype=np.uint8))
    assert got == expected


def test_roots_of_array_rejects_unordered_or_short_leaves() -> None:
    hasher = NmtHasher(namespace_size=2, hash="sha256")
    ordered = np.array([[[0, 1, 9], [0, 2, 9]], [[1, 0, 9], [1, 0, 8]]], dtype=np.uint8)
    assert len(hasher.roots_of_array(ordered)) == 2
    with pytest.raises(NmtError):
        hasher.roots_of_array(ordered[:, ::-1].copy())
    with pytest.raises(NmtError):
        hasher.roots_of_array(np.zeros((1, 2, 1), dtype=np.uint8))
