"""The block executor against the components it wires together, without consensus."""

from __future__ import annotations

import random

import numpy as np
import pytest

from focusflow.actors.chain.executor import (
    GENESIS_PARENT,
    BlockExecutor,
    ChainConfig,
    ChainFault,
    SignatureCache,
    admit_txs,
)
from focusflow.actors.chain.workload import LinkWorkload, WorkloadConfig
from focusflow.actors.state import (
    FocusSlice,
    Neuron,
    SqliteStore,
    StateCore,
    TxKind,
    cid_of,
    commit,
    make_tx,
)
from focusflow.actors.state.tx import tx_hash_of
from focusflow.kernels import GraphStore, verify

CHAIN = "focusflow-sim"


def _blocks(seed: int, count: int, per_block: int = 30) -> tuple[LinkWorkload, list[list[bytes]]]:
    """Blocks of workload txs, each block's results fed back as if finalized."""
    wl = LinkWorkload(WorkloadConfig(neurons=24, particles=200, invalid_share=0.1), seed=seed)
    rng = random.Random(seed)
    probe = BlockExecutor(genesis_balances=wl.genesis_balances())
    blocks = []
    for b in range(count):
        txs = [s.payload for s in wl.make(per_block, b * 10**9, rng)]
        probe.execute(probe.root if probe.height else GENESIS_PARENT, txs)
        o = probe.outcome(b + 1)
        assert o is not None
        wl.on_finalized(o.applied_hashes, [tx_hash_of(t) for t in txs])
        blocks.append(txs)
    return wl, blocks


def _run(ex: BlockExecutor, blocks: list[list[bytes]]) -> list[tuple[bytes, bytes]]:
    return [ex.execute(ex.root if ex.height else GENESIS_PARENT, txs) for txs in blocks]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_validators_executing_the_same_blocks_get_identical_roots(seed: int) -> None:
    wl, blocks = _blocks(seed, 6)
    a = BlockExecutor(genesis_balances=wl.genesis_balances())
    b = BlockExecutor(genesis_balances=wl.genesis_balances(), signatures=SignatureCache())
    ra, rb = _run(a, blocks), _run(b, blocks)
    assert ra == rb
    assert len({r[0] for r in ra}) == len(ra), "every block with applied txs moves the state root"
    assert a.rejected_total["replayed"] > 0, "the workload's stale txs were refused"


@pytest.mark.parametrize("pi_in_state", [False, True])
def test_state_root_equals_the_state_stores_own_commit_path(pi_in_state: bool) -> None:
    """The in-memory fold gives the same root as the SQLite store + state core path; with
    ``pi_in_state`` the store path gets block h's π (rebuilt here from the executor's
    quantised vector, CID order and the state's own shard function) with block h + 1."""
    wl, blocks = _blocks(4, 5)
    ex = BlockExecutor(genesis_balances=wl.genesis_balances(),
                       config=ChainConfig(fee_min=1, pi_in_state=pi_in_state))
    roots, qs = [], []
    for txs in blocks:
        roots.append(ex.execute(ex.root if ex.height else GENESIS_PARENT, txs)[0])
        qs.append((list(ex.focus.cids), ex.focus.commitment.q.copy()))
    store = SqliteStore.open_simulated(chain_id=CHAIN)
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=store.height, fee_min=1)
    commit(store, core, core.genesis(balances=wl.genesis_balances()))
    assert core.root == ex.genesis_root
    for h, txs in enumerate(blocks, start=1):
        focus = _slices(core, *qs[h - 2]) if pi_in_state and h > 1 else []
        commit(store, core, core.prepare_block(h, txs, focus=focus))
        assert core.root == roots[h - 1]
    if pi_in_state:
        cids, q = qs[-2]
        for i in (0, len(cids) // 2, len(cids) - 1):
            assert ex.state.focus(cids[i]) == core.focus(cids[i]) == int(q[i]) > 0


def _slices(core: StateCore, cids: list[bytes], q: np.ndarray) -> list[FocusSlice]:
    by_shard: dict[int, list[int]] = {}
    for i, cid in enumerate(cids):
        by_shard.setdefault(core.focus_shard(cid), []).append(i)
    arr = np.frombuffer(b"".join(cids), np.uint8).reshape(len(cids), 36)
    return [FocusSlice(sh, arr[rows], q[rows]) for sh, rows in sorted(by_shard.items())]


def test_rejected_txs_are_counted_by_reason_and_change_nothing() -> None:
    alice = Neuron.from_seed(b"\x01" * 32)
    bob = Neuron.from_seed(b"\x02" * 32)  # not funded
    ex = BlockExecutor(genesis_balances={alice.address: 10**6})
    link = [(cid_of(b"a"), cid_of(b"b"))]
    good = make_tx(alice, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, fee=10, links=link)
    txs = [
        good,
        good,  # the same bytes twice in one block
        make_tx(alice, chain_id="other", nonce=1, kind=TxKind.LINK, fee=10, links=[(cid_of(b"c"), cid_of(b"d"))]),
        make_tx(alice, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, fee=10, links=[(cid_of(b"e"), cid_of(b"f"))]),
        make_tx(alice, chain_id=CHAIN, nonce=5, kind=TxKind.LINK, fee=10, links=[(cid_of(b"g"), cid_of(b"h"))]),
        make_tx(bob, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, fee=10, links=[(cid_of(b"i"), cid_of(b"j"))]),
        b"\x00garbage",
    ]
    tampered = bytearray(make_tx(alice, chain_id=CHAIN, nonce=1, kind=TxKind.LINK, fee=10,
                                 links=[(cid_of(b"k"), cid_of(b"l"))]))
    tampered[-70] ^= 1  # inside the signature
    txs.append(bytes(tampered))
    ex.execute(GENESIS_PARENT, txs)
    o = ex.outcome(1)
    assert o is not None and o.applied == 1 and o.links_added == 1
    assert o.rejected == {"duplicate_tx": 1, "wrong_chain": 1, "replayed": 1, "nonce_gap": 1,
                          "insufficient_balance": 1, "malformed": 1, "bad_signature": 1}
    assert ex.balance(alice.address) == 10**6 - 10 and ex.next_nonce(alice.address) == 1
    assert ex.balance(bob.address) == 0
    assert o.particles == 2, "only the applied link reached the focus graph"
    assert o.gas_h == 10 and o.supply_ok and o.econ_violations == ()


def test_pi_root_is_accepted_by_the_verifier_on_a_graph_rebuilt_from_scratch() -> None:
    """The warm-started incremental π verifies against an independently built graph."""
    wl, blocks = _blocks(5, 6)
    ex = BlockExecutor(genesis_balances=wl.genesis_balances())
    _run(ex, blocks)
    f = ex.focus
    # Rebuild the cybergraph from the committed /graph/link keys with stakes from /token.
    from focusflow.actors.state import keys as K

    neurons, src, dst = [], [], []
    for key in sorted(k for k in ex.committed.values if k.startswith(K.LINK)):
        u, s, d = K.parse_link_key(key)
        neurons.append(f.neurons[u])
        src.append(f.particles[s])
        dst.append(f.particles[d])
    stakes = {i: float(ex.balance(a)) for a, i in f.neurons.items()}
    fresh = GraphStore.from_cyberlinks(np.array(neurons), np.array(src), np.array(dst), stakes, n=f.store.n)
    assert fresh.links == f.store.links == len(src)
    verdict = verify(fresh, f.commitment, eps=ex.config.focus_eps)
    assert verdict.accepted, verdict.reason
    # A π from another graph is refused: drop a third of the links.
    keep = np.arange(len(src)) % 3 != 0
    other = GraphStore.from_cyberlinks(np.array(neurons)[keep], np.array(src)[keep], np.array(dst)[keep],
                                       stakes, n=f.store.n)
    assert not verify(other, f.commitment, eps=ex.config.focus_eps).accepted


def test_gas_goes_through_economics_and_supply_is_conserved() -> None:
    wl, blocks = _blocks(7, 4)
    ex = BlockExecutor(genesis_balances=wl.genesis_balances())
    _run(ex, blocks)
    for h in range(1, 5):
        o = ex.outcome(h)
        assert o is not None and o.supply_ok and not o.econ_violations
        assert o.gas_h == o.applied * wl.config.fee
    assert ex.econ.ledger.supply("CYB") < ex.config.econ_pool + ex.config.econ_treasury_cyb, "buyback burned CYB"
    outcomes = [ex.outcome(h) for h in range(1, 5)]
    assert sum(o.burned_cyb for o in outcomes if o) > 0
    assert all(o is not None and o.focus_h > 0 for o in outcomes), "linking neurons earn focus rewards"


def test_out_of_order_execution_is_a_local_bug_and_the_executor_stays_failed() -> None:
    wl, blocks = _blocks(8, 2)
    ex = BlockExecutor(genesis_balances=wl.genesis_balances())
    ex.execute(GENESIS_PARENT, blocks[0])
    with pytest.raises(ChainFault):
        ex.execute(bytes(range(32)), blocks[1])
    with pytest.raises(ChainFault):
        ex.execute(ex.root, blocks[1])


def test_admission_accepts_signed_state_txs_and_refuses_garbage_and_forgeries() -> None:
    _, blocks = _blocks(9, 1)
    forged = bytearray(blocks[0][0])
    forged[-70] ^= 1
    for admit in (admit_txs(), admit_txs(SignatureCache())):
        assert admit(blocks[0]) == [True] * len(blocks[0])
        assert admit([b"nope", bytes(forged), blocks[0][1]]) == [False, False, True]
