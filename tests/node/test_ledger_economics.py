"""Economics inside the one executor (issue 15 item 2 (c)): ``Ledger.execute`` moves each
block's fees through the economics core's split, the economics ledger and state live in
``/token`` under the state root, and a validator reopened from its database continues
with the same economics (docs/chain.md, "Economics in the block")."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focusflow.actors.economics import CYB, H
from focusflow.actors.economics.core import GAS_ACCOUNT, POL_ACCOUNT
from focusflow.actors.economics.kvledger import balance_key, balance_prefix
from focusflow.actors.economics.onchain import (
    CORE_KEY,
    FOCUS_PREFIX,
    GENESIS_POOL,
    GENESIS_TREASURY_CYB,
)
from focusflow.actors.economics.split import divide_gas
from focusflow.actors.economics.statedoc import encode_core
from focusflow.actors.state import keys as K
from focusflow.actors.state.core import StateCore
from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.smt import compute_root, tree_key, value_hash, verify_proof
from focusflow.actors.state.store import SqliteStore, commit
from focusflow.actors.state.tx import TxKind, make_tx
from focusflow.node.chain import ChainError, Ledger
from focusflow.supervisor import open_file_database

CHAIN = "focusflow-test"
NEURONS = [Neuron.from_seed(bytes([i + 1]) * 32) for i in range(5)]
FUNDS = 10**6
GENESIS = {n.address: FUNDS for n in NEURONS}


def _ledger(path: Path, **kw: object) -> Ledger:
    path.parent.mkdir(parents=True, exist_ok=True)
    return Ledger(open_file_database(path), chain_id=CHAIN, genesis_balances=GENESIS,
                  **kw)  # type: ignore[arg-type]


def _links_block(h: int, fee: int = 100, per: int = 3, nonce: int | None = None) -> list[bytes]:
    """Every neuron links ``per`` new sources to a few shared targets (π moves)."""
    nonce = h - 1 if nonce is None else nonce
    return [make_tx(n, chain_id=CHAIN, nonce=nonce, kind=TxKind.LINK, fee=fee,
                    links=[(cid_of(b"s%d.%d.%d" % (h, i, j)), cid_of(b"t%d" % ((h + i + j) % 7)))
                           for j in range(per)])
            for i, n in enumerate(NEURONS)]


def _h_held(ledger: Ledger) -> int:
    """Σ H over every holder, read from the committed keys themselves (not the core)."""
    neurons = sum(K.read_u64(v) for _, v in ledger.reader.scan(K.BALANCE))
    module = sum(K.read_u64(v) for _, v in ledger.reader.scan(balance_prefix(H)))
    return neurons + module


def test_a_blocks_fees_move_through_the_economics_split(tmp_path: Path) -> None:
    """The tx pass debits each fee; the same H is the block's gas, divided by the split
    (buyback-and-burn, liquidity, rewards with rebates back to the payers); nothing of
    it is burned as H and the gas account ends empty."""
    ledger = _ledger(tmp_path / "state.sqlite")
    fee = 1000
    ledger.execute(_links_block(1, fee))
    rec = ledger.last_econ
    assert rec is not None and rec.height == 1
    assert rec.gas_h == fee * len(NEURONS)
    burn, rewards, liquidity = divide_gas(rec.gas_h, rec.split_ppb)
    assert (rec.rewards_h, rec.liquidity_h) == (rewards, liquidity) and 0 < rec.buyback_h <= burn
    assert rec.burned_cyb > 0 and rec.rebates_h > 0
    paid_back = sum(ledger.core.balance(n.address) for n in NEURONS) - (FUNDS - fee) * len(NEURONS)
    assert paid_back == rec.rebates_h, "the payers got their rebates into /token/balance"
    get = ledger.reader.get
    assert K.read_u64(get(balance_key(GAS_ACCOUNT, H))) == 0
    assert ledger.econ.violations(get) == []
    assert ledger.econ.core.ledger.supply(H) == FUNDS * len(NEURONS) + GENESIS_POOL[1]
    assert ledger.econ.core.ledger.supply(CYB) == (GENESIS_POOL[0] + GENESIS_TREASURY_CYB
                                                   - rec.burned_cyb)
    ledger.execute(_links_block(2, fee))
    assert ledger.last_econ is not None and ledger.last_econ.focus_h > 0, (
        "block 2 pays focus rewards for the Δπ block 1's links gained")


def test_the_state_root_binds_the_economics_state(tmp_path: Path) -> None:
    """Every economics key is a leaf of the state root: changing one econ balance changes
    the root, and a proof of an ``/token/econ/`` key verifies against the root the block
    committed (what its header carries)."""
    ledger = _ledger(tmp_path / "state.sqlite")
    for h in range(1, 8):
        root, _ = ledger.execute(_links_block(h))
    key = balance_key(POL_ACCOUNT, H)
    value, proof = ledger.core.prove(key)
    assert value is not None and verify_proof(root, key, value, proof)
    assert not verify_proof(root, key, K.u64(K.read_u64(value) + 1), proof)
    core_value, core_proof = ledger.core.prove(CORE_KEY)
    assert core_value is not None and verify_proof(root, CORE_KEY, core_value, core_proof)
    assert ledger.reader.scan(FOCUS_PREFIX), "pending focus rewards are keys too"
    leaves = dict(ledger.store.leaves())
    assert compute_root((tree_key(k), value_hash(v)) for k, v in leaves.items()) == root
    leaves[key] = K.u64(K.read_u64(value) + 1)
    assert compute_root((tree_key(k), value_hash(v)) for k, v in leaves.items()) != root


def _econ_state(ledger: Ledger) -> tuple[bytes, list[tuple[str, int]], list[tuple[str, int]]]:
    econ = ledger.econ
    return (encode_core(econ.core, {"focus_seq": econ.next_seq}),
            list(econ.core.focus.pending.items()), list(ledger.gains))


def test_a_validator_reopened_from_its_database_continues_with_the_same_economics(
        tmp_path: Path) -> None:
    """One ledger runs 14 blocks (two focus settlements); another is closed and reopened
    (as after SIGKILL: only SQLite survives) after every block, one more executes with
    deferred writes flushed from the loop: every root and the economics state agree."""
    blocks = [_links_block(h, nonce=h - 1 - h // 5) if h % 5 else [] for h in range(1, 15)]
    steady = _ledger(tmp_path / "a.sqlite")
    deferred = _ledger(tmp_path / "c.sqlite")
    want = []
    for txs in blocks:
        want.append(steady.execute(txs))
        assert deferred.execute(txs, defer=True) == want[-1]
        deferred.flush_all()
    assert steady.last_econ is not None and steady.last_econ.gas_h > 0
    assert steady.econ.core.focus.pending, "rewards accrued since the settlement at 12"
    path = tmp_path / "b.sqlite"
    _ledger(path).close()
    for h, txs in enumerate(blocks, start=1):
        again = _ledger(path)
        assert again.core.height == h - 1
        if h > 1:
            assert again.core.root == want[h - 2][0]
        assert again.execute(txs) == want[h - 1], f"block {h}"
        again.close()
    final = _ledger(path)
    assert _econ_state(final) == _econ_state(steady) == _econ_state(deferred)
    assert final.econ.violations(final.reader.get) == []
    for led in (steady, deferred, final):
        led.close()


def test_a_state_without_economics_is_refused_at_reopen(tmp_path: Path) -> None:
    """A state file written before economics joined the executor has no ``/token/econ``:
    the node says so instead of running a chain whose economics starts from nothing."""
    path = tmp_path / "state.sqlite"
    store = SqliteStore.open(path, chain_id=CHAIN)  # the state core alone, as before
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=store.height)
    commit(store, core, core.genesis(balances=GENESIS))
    store.close()
    with pytest.raises(ChainError, match="economics"):
        _ledger(path)


_tx = st.tuples(
    st.integers(0, len(NEURONS) - 1),  # sender
    st.sampled_from(["link", "transfer", "stale"]),
    st.integers(0, 3000),  # fee
    st.integers(0, 50_000),  # transfer amount
    st.integers(0, len(NEURONS) - 1),  # recipient
    st.integers(0, 20),  # link target
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_tx, max_size=8), min_size=1, max_size=7))
def test_total_supply_is_conserved_over_random_blocks(blocks: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    """Over random blocks (links, transfers, stale nonces, fees up to whole balances) the
    supplies move only by journaled mints and burns: H (neurons' ``/token/balance`` and
    every module account) stays at genesis, CYB falls by exactly the buyback burns, the
    balances sum to the recorded supply, and the core's invariants hold."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger = _ledger(Path(tmp) / "state.sqlite", da_samples=1)
        nonces = [0] * len(NEURONS)
        burned = 0
        for h, spec in enumerate(blocks, start=1):
            txs = []
            for i, (who, kind, fee, amount, to, target) in enumerate(spec):
                n = NEURONS[who]
                if kind == "stale":
                    txs.append(make_tx(n, chain_id=CHAIN, nonce=max(0, nonces[who] - 1),
                                       kind=TxKind.LINK, fee=fee,
                                       links=[(cid_of(b"x%d" % i), cid_of(b"y%d" % target))]))
                    continue
                if kind == "link":
                    txs.append(make_tx(n, chain_id=CHAIN, nonce=nonces[who], kind=TxKind.LINK,
                                       fee=fee, links=[(cid_of(b"s%d.%d" % (h, i)),
                                                        cid_of(b"t%d" % target))]))
                else:
                    txs.append(make_tx(n, chain_id=CHAIN, nonce=nonces[who], kind=TxKind.TRANSFER,
                                       fee=fee, to=NEURONS[to].address, amount=amount))
                nonces[who] += 1
            ledger.execute(txs)
            rec = ledger.last_econ
            assert rec is not None
            burned += rec.burned_cyb
            for who, n in enumerate(NEURONS):  # resync the nonces the chain accepted
                nonces[who] = ledger.core.next_nonce(n.address)
            get = ledger.reader.get
            assert ledger.econ.violations(get) == []
            supply = ledger.econ.core.ledger
            assert supply.supply(H) == FUNDS * len(NEURONS) + GENESIS_POOL[1] == _h_held(ledger)
            assert supply.supply(CYB) == GENESIS_POOL[0] + GENESIS_TREASURY_CYB - burned
        ledger.close()


def test_a_genesis_whose_h_supply_overflows_is_refused_clearly(tmp_path: Path) -> None:
    """Genesis mints the neurons' H plus the protocol pool's: a total past u64 is the
    operator's error, said as such (not an assertion inside the economics)."""
    with pytest.raises(ChainError, match="genesis economics: SupplyOverflow"):
        Ledger(open_file_database(tmp_path / "state.sqlite"), chain_id=CHAIN,
               genesis_balances={NEURONS[0].address: 2**64 - 1})
