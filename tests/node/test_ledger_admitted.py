"""The ledger verifies at execution only the signatures admission did not check, and a
chain's genesis balances fund its neurons (what the simulated network's workload needs)."""

from __future__ import annotations

from pathlib import Path

from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx, tx_hash_of
from focusflow.node.chain import Ledger
from focusflow.supervisor import open_file_database

CHAIN = "focusflow-test"


def test_only_unverified_signatures_are_checked_at_execution(tmp_path: Path) -> None:
    alice = Neuron.from_seed(bytes([1]) * 32)
    ledger = Ledger(open_file_database(tmp_path / "state.sqlite"), chain_id=CHAIN, genesis_balances={alice.address: 1_000})
    assert ledger.core.balance(alice.address) == 1_000
    good = make_tx(alice, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, fee=10,
                   links=[(cid_of(b"x"), cid_of(b"y"))])
    ledger.execute([good], verified={tx_hash_of(good)})
    assert ledger.core.next_nonce(alice.address) == 1 and ledger.last_links == 1
    bad = bytearray(make_tx(alice, chain_id=CHAIN, nonce=1, kind=TxKind.LINK, fee=10,
                            links=[(cid_of(b"p"), cid_of(b"q"))]))
    bad[-1] ^= 1  # a broken signature (or key) byte: not verified by admission
    ledger.execute([bytes(bad)])
    assert ledger.core.next_nonce(alice.address) == 1, "a bad signature must not apply"
