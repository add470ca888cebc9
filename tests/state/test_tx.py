"""Every rejection reason, and that rejected transactions never change the state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.state import Reject, SqliteStore, StateCore, TxKind, cid_of, commit, make_tx
from focusflow.actors.state import tx as txmod
from focusflow.actors.state.ids import Neuron
from focusflow.actors.state.tx import decode_tx, encode_body, schema, sign_body, verify_signatures
from focusflow.limits import TX_BYTES_MAX

from .conftest import CHAIN

A, B, C, D = (cid_of(x) for x in (b"a", b"b", b"c", b"d"))
State = tuple[SqliteStore, StateCore, list[Neuron]]


def _run(store: SqliteStore, core: StateCore, raws: list[bytes]) -> list:
    res = core.prepare_block(core.height + 1, raws)
    commit(store, core, res)
    return [(r.ok, r.reason) for r in res.receipts]


def _link(n: Neuron, nonce: int, links: list, **kw: object) -> bytes:
    return make_tx(n, chain_id=CHAIN, nonce=nonce, kind=TxKind.LINK, links=links, fee=1, **kw)  # type: ignore[arg-type]


def test_valid_link_and_transfer_apply_and_emit_deltas(state: State) -> None:
    store, core, (alice, bob, *_) = state
    res = core.prepare_block(1, [_link(alice, 0, [(A, B), (A, C)])])
    assert [r.ok for r in res.receipts] == [True]
    assert len(res.deltas) == 2 and res.deltas.sign.tolist() == [1, 1]
    assert bytes(res.deltas.src[0]) == A and bytes(res.deltas.neuron[1]) == alice.address
    commit(store, core, res)
    assert core.has_link(alice.address, A, C) and core.link_count(alice.address) == 2
    assert core.balance(alice.address) == 999 and core.next_nonce(alice.address) == 1
    assert sorted(d for _, _, d in store.links_of(A)) == sorted([B, C])
    assert [n for n, _, _ in store.links_of(C, outgoing=False)] == [alice.address]
    t = make_tx(
        alice, chain_id=CHAIN, nonce=1, kind=TxKind.TRANSFER, to=bob.address, amount=100, fee=2
    )
    assert _run(store, core, [t]) == [(True, None)]
    assert core.balance(alice.address) == 897 and core.balance(bob.address) == 1100


def test_unlink_removes_and_emits_negative_delta(state: State) -> None:
    store, core, (alice, *_) = state
    _run(store, core, [_link(alice, 0, [(A, B)])])
    t = make_tx(alice, chain_id=CHAIN, nonce=1, kind=TxKind.UNLINK, links=[(A, B)], fee=1)
    res = core.prepare_block(core.height + 1, [t])
    assert res.receipts[0].ok and res.deltas.sign.tolist() == [-1]
    commit(store, core, res)
    assert not core.has_link(alice.address, A, B) and core.link_count(alice.address) == 0
    assert store.links_of(A) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("replay", Reject.REPLAYED),
        ("gap", Reject.NONCE_GAP),
        ("chain", Reject.WRONG_CHAIN),
        ("signature", Reject.BAD_SIGNATURE),
        ("expired", Reject.EXPIRED),
        ("garbage", Reject.MALFORMED),
        ("truncated", Reject.MALFORMED),
        ("oversized", Reject.OVERSIZED),
        ("duplicate_link", Reject.DUPLICATE_LINK),
        ("duplicate_in_batch", Reject.DUPLICATE_LINK),
        ("unknown_unlink", Reject.UNKNOWN_LINK),
        ("poor", Reject.INSUFFICIENT_BALANCE),
        ("fee", Reject.FEE_TOO_LOW),
        ("bad_cid", Reject.INVALID_CID),
        ("empty", Reject.EMPTY_BATCH),
        ("self_link", Reject.SELF_LINK),
        ("address", Reject.ADDRESS_MISMATCH),
        ("dup_tx", Reject.DUPLICATE_TX),
    ],
)
def test_each_rejection_reason_is_reported_and_changes_nothing(
    state: State, name: str, reason: Reject
) -> None:
    store, core, (alice, bob, _carol, dave) = state
    _run(store, core, [_link(alice, 0, [(A, B)])])  # alice: nonce 1, link A->B
    root_before, height_before = core.root, core.height
    good = _link(alice, 1, [(C, D)])
    block = {
        "replay": [_link(alice, 0, [(C, D)])],
        "gap": [_link(alice, 5, [(C, D)])],
        "chain": [
            make_tx(alice, chain_id="other", nonce=1, kind=TxKind.LINK, links=[(C, D)], fee=1)
        ],
        "signature": [_tamper_signature(good)],
        "expired": [_link(alice, 1, [(C, D)], expiry_height=1)],
        "garbage": [b"\x00" * 8 + b"not capnp at all"],
        "truncated": [good[:-16]],
        "oversized": [b"\x00" * (TX_BYTES_MAX + 8)],
        "duplicate_link": [_link(alice, 1, [(A, B)])],
        "duplicate_in_batch": [_link(alice, 1, [(C, D), (C, D)])],
        "unknown_unlink": [
            make_tx(alice, chain_id=CHAIN, nonce=1, kind=TxKind.UNLINK, links=[(C, D)], fee=1)
        ],
        "poor": [_link(dave, 0, [(C, D)])],
        "fee": [make_tx(alice, chain_id=CHAIN, nonce=1, kind=TxKind.LINK, links=[(C, D)], fee=0)],
        "bad_cid": [_link(alice, 1, [(b"\x01\x55\x12\x20" + bytes(32), D)])],
        "empty": [_link(alice, 1, [])],
        "self_link": [_link(alice, 1, [(C, C)])],
        "address": [_wrong_address(alice, bob)],
        "dup_tx": [good, good],
    }[name]
    res = core.prepare_block(core.height + 1, block)
    rejected = [r for r in res.receipts if not r.ok]
    assert [r.reason for r in rejected] == [reason], res.receipts
    if name == "dup_tx":
        assert res.receipts[0].ok  # the first copy applies, only the repeat is refused
        return
    assert res.writes == {} and res.root == root_before and len(res.deltas) == 0
    commit(store, core, res)
    assert core.root == root_before and core.height == height_before + 1
    assert core.next_nonce(alice.address) == 1 and core.balance(alice.address) == 999


def test_rejected_tx_in_a_block_leaves_others_applied(state: State) -> None:
    store, core, (alice, bob, *_) = state
    out = _run(
        store, core, [_link(alice, 0, [(A, B)]), _link(bob, 3, [(A, B)]), _link(bob, 0, [(A, B)])]
    )
    assert out == [(True, None), (False, Reject.NONCE_GAP), (True, None)]
    assert core.has_link(bob.address, A, B) and core.has_link(alice.address, A, B)


def _tamper_signature(raw: bytes) -> bytes:
    with schema.SignedTx.from_bytes(raw) as env:
        body, sig, pub = bytes(env.body), bytearray(env.signature), bytes(env.publicKey)
    sig[5] ^= 0x40
    return bytes(
        schema.SignedTx.new_message(body=body, signature=bytes(sig), publicKey=pub).to_bytes()
    )


def _wrong_address(signer: Neuron, claimed: Neuron) -> bytes:
    body = encode_body(
        chain_id=CHAIN, neuron=claimed.address, nonce=0, fee=1, expiry_height=99,
        kind=TxKind.LINK, froms=C, tos=D,
    )  # fmt: skip
    return sign_body(signer, body)


def test_signature_covers_body_bytes_not_a_reencoding() -> None:
    alice = Neuron.from_seed(b"\x07" * 32)
    tx = decode_tx(_link(alice, 0, [(A, B)]))
    assert verify_signatures([tx]) == [True]
    # Appending a (capnp-ignored) trailing word changes the bytes, so it must not verify.
    padded = dataclasses.replace(tx, body=tx.body + bytes(8))
    assert verify_signatures([padded]) == [False]


def test_decode_refuses_pointer_amplification() -> None:
    """Three pointers aimed at one blob (within TX_BYTES_MAX): reading them all exceeds the
    traversal limit (about the message size), so the tx is MALFORMED instead of amplifying
    work."""
    n_bytes = TX_BYTES_MAX // 4
    words = [
        3 << 48,  # root: struct right after, 0 data words, 3 pointers
        *(1 | (off << 2) | (2 << 32) | (n_bytes << 35) for off in (2, 1, 0)),  # byte lists
    ]
    segment = b"".join(w.to_bytes(8, "little") for w in words) + bytes(n_bytes)
    raw = (0).to_bytes(4, "little") + (len(segment) // 8).to_bytes(4, "little") + segment
    with pytest.raises(txmod.TxRejected) as info:
        decode_tx(raw)
    assert info.value.reason is Reject.MALFORMED
    assert "traversal" in info.value.detail


def test_links_travel_as_flat_arrays() -> None:
    alice = Neuron.from_seed(b"\x08" * 32)
    raw = _link(alice, 0, [(cid_of(bytes([i])), cid_of(bytes([i, 1]))) for i in range(50)])
    tx = decode_tx(raw)
    assert tx.n_links == 50 and isinstance(tx.froms, np.ndarray)
    assert tx.froms.shape == (50, 36) and bytes(tx.tos[3]) == cid_of(bytes([3, 1]))


_FUZZ_BASE = _link(Neuron.from_seed(b"\x09" * 32), 0, [(A, B), (C, D)])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(_FUZZ_BASE) - 1), st.integers(0, 255)), max_size=6),
    st.binary(max_size=64),
)
def test_mutated_or_random_bytes_decode_or_reject_never_crash(flips: list, junk: bytes) -> None:
    raw = bytearray(_FUZZ_BASE)
    for pos, val in flips:
        raw[pos] = val
    for candidate in (bytes(raw), junk, bytes(raw[: len(raw) // 2])):
        try:
            tx = decode_tx(candidate)
        except txmod.TxRejected as rej:
            assert isinstance(rej.reason, Reject)
        else:
            assert tx.froms.shape == tx.tos.shape and len(tx.neuron) == 20


def test_block_link_budget_refuses_the_tx_that_overflows_it(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    from focusflow.actors.state import core as coremod

    store, core, (alice, bob, carol, _) = state
    monkeypatch.setattr(coremod, "links_per_block_max", 3)
    block = [
        _link(alice, 0, [(A, B), (A, C)]),
        _link(bob, 0, [(A, B), (A, C)]),
        _link(carol, 0, [(A, D)]),
    ]
    out = _run(store, core, block)
    assert out == [(True, None), (False, Reject.OVERSIZED), (True, None)]


def test_decode_memo_returns_the_admitted_tx_and_never_a_rejection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tx decoded once (at admission) is found again by its exact bytes, by ``decode_tx``
    and by the block decode; rejections are decoded (and refused) every time; the memo is
    bounded."""
    from focusflow.actors.state.core import decode_block

    T = txmod
    alice = Neuron.from_seed(bytes([0x44]) * 32)
    raws = [
        make_tx(
            alice,
            chain_id="memo",
            nonce=i,
            kind=TxKind.LINK,
            links=[(cid_of(b"a"), cid_of(b"%d" % i))],
        )
        for i in range(6)
    ]
    first = T.decode_tx(raws[0])
    assert T.decode_tx(bytes(raws[0])) is first  # equal bytes, another object
    assert decode_block([raws[0]])[0] is first
    fresh = T.decode_tx_uncached(raws[0])
    assert (fresh.tx_hash, fresh.body, fresh.nonce) == (first.tx_hash, first.body, first.nonce)
    bad = make_tx(
        alice, chain_id="memo", nonce=9, kind=TxKind.LINK, links=[(cid_of(b"x"), cid_of(b"x"))]
    )
    for _ in range(2):
        with pytest.raises(T.TxRejected) as err:
            T.decode_tx(bad)
        assert err.value.reason is Reject.SELF_LINK
    assert bad not in T._decoded
    monkeypatch.setattr(T._decoded, "entries_max", 3)
    for raw in raws:
        T.decode_tx(raw)
    assert len(T._decoded) <= 3 and raws[-1] in T._decoded
