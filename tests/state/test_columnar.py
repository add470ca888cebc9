"""The columnar executor against the per-link one it replaced (issue 18).

``StateCore.prepare_block_reference`` is the executor as it was before the columnar path;
it stays only as this oracle and as the baseline of ``benchmarks/bench_executor.py``.
For random blocks (valid and invalid txs, repeated and undecodable bytes, several txs of
one neuron in a block, links that exist, unlinks of links never made) both must give the
same receipts, writes, link deltas and state root, block after block.
"""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from focusflow.actors.state import SqliteStore, StateCore, TxKind, cid_of, commit, make_tx
from focusflow.actors.state.core import BlockResult, decode_block
from focusflow.actors.state.ids import Neuron

CHAIN = "columnar"
PEOPLE = [Neuron.from_seed(bytes([0x70 + i]) * 32) for i in range(3)]
CIDS = [cid_of(b"%d" % i) for i in range(4)]

tx_strategy = st.tuples(
    st.sampled_from(
        ["link", "link", "link", "unlink", "transfer", "garbage", "repeat", "self", "badcid"]
    ),
    st.integers(0, 2),  # who
    st.integers(-1, 1),  # nonce offset from the next nonce the block has seen so far
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), min_size=1, max_size=4),
    st.integers(0, 2),  # transfer recipient
    st.integers(0, 1200),  # amount (above the balance sometimes)
)


def _fresh() -> tuple[SqliteStore, StateCore]:
    store = SqliteStore.open_simulated(chain_id=CHAIN)
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=-1, fee_min=1)
    commit(store, core, core.genesis(balances={p.address: 1000 for p in PEOPLE}))
    return store, core


def _same(a: BlockResult, b: BlockResult) -> None:
    assert a.root == b.root
    assert a.receipts == b.receipts
    assert a.writes == b.writes
    assert a.overlay == b.overlay
    for name in ("neuron", "src", "dst", "sign"):
        x, y = getattr(a.deltas, name), getattr(b.deltas, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(tx_strategy, max_size=8), min_size=1, max_size=4))
def test_columnar_block_equals_the_per_link_oracle(blocks: list) -> None:
    ref_store, ref = _fresh()
    new_store, new = _fresh()
    nonce = {p.address: 0 for p in PEOPLE}
    for block in blocks:
        raws: list[bytes] = []
        for kind, who, off, pairs, to, amount in block:
            if kind == "garbage":
                raws.append(b"\x00not a tx" * (who + 1))
                continue
            if kind == "repeat":
                if raws:
                    raws.append(raws[who % len(raws)])
                continue
            p = PEOPLE[who]
            links = [(CIDS[a], CIDS[(a + d) % 4]) for a, d in pairs]
            if kind == "self":  # undecodable for a reason only the link columns show
                kind, links = "link", [*links, (CIDS[1], CIDS[1])]
            if kind == "badcid":  # a CID that is not v1/raw/BLAKE3 (with a self link: both)
                bad = b"\x01" * 36
                kind, links = "link", [*links, (bad, CIDS[2] if off else bad)]
            n = max(0, nonce[p.address] + off)
            nonce[p.address] = max(nonce[p.address], n + 1)
            kw = (
                {"to": PEOPLE[to].address, "amount": amount}
                if kind == "transfer"
                else {"links": links}
            )
            raws.append(make_tx(p, chain_id=CHAIN, nonce=n, kind=TxKind(kind), fee=1, **kw))  # type: ignore[arg-type]
        a = ref.prepare_block_reference(ref.height + 1, raws)
        b = new.prepare_block(new.height + 1, raws, decoded=decode_block(raws))
        _same(a, b)
        for r in b.receipts:
            event(r.reason.value if r.reason else "ok")
        commit(ref_store, ref, a)
        commit(new_store, new, b)
        nonce = {p.address: new.next_nonce(p.address) for p in PEOPLE}
    assert ref.root == new.root
