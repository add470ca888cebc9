"""The state core against a plain-Python model: random blocks of valid and invalid txs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.state import (
    SqliteStore,
    StateCore,
    TxKind,
    cid_of,
    commit,
    make_tx,
    verify_proof,
)
from focusflow.actors.state import keys as K
from focusflow.actors.state.ids import Neuron

CHAIN = "model"
PEOPLE = [Neuron.from_seed(bytes([0x90 + i]) * 32) for i in range(3)]
CIDS = [cid_of(b"%d" % i) for i in range(4)]

tx_strategy = st.tuples(
    st.sampled_from(["link", "unlink", "transfer"]),
    st.integers(0, 2),  # who
    st.integers(-1, 1),  # nonce offset from the model's next nonce
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=3),
    st.integers(0, 2),  # transfer recipient
    st.integers(0, 700),  # amount
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(tx_strategy, max_size=5), min_size=1, max_size=5))
def test_random_blocks_match_model_and_root_matches_full_recompute(blocks: list) -> None:
    store = SqliteStore.open_simulated(chain_id=CHAIN)
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=-1, fee_min=1)
    commit(store, core, core.genesis(balances={p.address: 1000 for p in PEOPLE}))
    bal = {p.address: 1000 for p in PEOPLE}
    nonce = {p.address: 0 for p in PEOPLE}
    links: set[tuple[bytes, bytes, bytes]] = set()
    for block in blocks:
        raws, expect = [], []
        pending_nonce = dict(nonce)
        for kind, who, off, pairs, to, amount in block:
            p = PEOPLE[who]
            n = max(0, pending_nonce[p.address] + off)
            lk = [(CIDS[a], CIDS[b]) for a, b in pairs]
            kw = (
                {"to": PEOPLE[to].address, "amount": amount}
                if kind == "transfer"
                else {"links": lk}
            )
            raws.append(make_tx(p, chain_id=CHAIN, nonce=n, kind=TxKind(kind), fee=1, **kw))  # type: ignore[arg-type]
            ok = _model_apply(
                kind, p.address, n, lk, PEOPLE[to].address, amount, bal, pending_nonce, links
            )
            expect.append(ok)
        res = core.prepare_block(core.height + 1, raws)
        assert [r.ok for r in res.receipts] == expect, res.receipts
        assert all(r.reason is not None for r in res.receipts if not r.ok)
        commit(store, core, res)
        nonce = pending_nonce
        for p in PEOPLE:
            assert core.balance(p.address) == bal[p.address]
            assert core.next_nonce(p.address) == nonce[p.address]
            mine = {(s, d) for n_, s, d in links if n_ == p.address}
            assert core.link_count(p.address) == len(mine)
        for c in CIDS:
            assert set(store.links_of(c)) == {lk for lk in links if lk[1] == c}
        assert store.verify_full()
        key = K.balance_key(PEOPLE[0].address)
        value, proof = core.prove(key)
        assert verify_proof(core.root, key, value, proof)


def _model_apply(kind, who, n, lk, to, amount, bal, nonce, links) -> bool:  # type: ignore[no-untyped-def]
    if n != nonce[who]:
        return False
    cost = 1 + (amount if kind == "transfer" else 0)
    if cost > bal[who]:
        return False
    if kind != "transfer":
        if any(s == d for s, d in lk) or len(set(lk)) != len(lk):
            return False
        rows = {(who, s, d) for s, d in lk}
        if kind == "link" and rows & links:
            return False
        if kind == "unlink" and not rows <= links:
            return False
        links |= rows if kind == "link" else set()
        links -= rows if kind == "unlink" else set()
    else:
        bal[to] += amount
        bal[who] -= amount
    bal[who] -= 1
    nonce[who] += 1
    return True
