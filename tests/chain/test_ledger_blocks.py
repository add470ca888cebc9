"""Block execution without consensus, on the one executor (``node.chain.Ledger``): what the
simulator's old ``BlockExecutor`` tests checked, moved to the Ledger when economics joined
it (issue 15 item 2 (c)) and that executor was deleted."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from focusflow.actors.chain.workload import LinkWorkload, WorkloadConfig
from focusflow.actors.state import Neuron, TxKind, cid_of, make_tx
from focusflow.actors.state.tx import tx_hash_of
from focusflow.node.chain import Ledger
from focusflow.supervisor import open_file_database

CHAIN = "focusflow-sim"


def _ledger(path: Path, genesis: dict[bytes, int]) -> Ledger:
    return Ledger(open_file_database(path), chain_id=CHAIN, genesis_balances=genesis,
                  da_samples=1)


def _blocks(tmp: Path, seed: int, count: int,
            per_block: int = 30) -> tuple[LinkWorkload, list[list[bytes]]]:
    """Blocks of workload txs, each block's results fed back as if finalized."""
    wl = LinkWorkload(WorkloadConfig(neurons=24, particles=200, invalid_share=0.1), seed=seed)
    rng = random.Random(seed)
    probe = _ledger(tmp / "probe.sqlite", wl.genesis_balances())
    blocks = []
    for b in range(count):
        txs = [s.payload for s in wl.make(per_block, b * 10**9, rng)]
        probe.execute(txs)
        hashes = [tx_hash_of(t) for t in txs]
        wl.on_finalized([h for h in hashes if (probe.tx_outcome(h) or (0, "x"))[1] == ""], hashes)
        blocks.append(txs)
    probe.close()
    return wl, blocks


@pytest.mark.parametrize("seed", [1, 2])
def test_validators_executing_the_same_blocks_get_identical_roots(tmp_path: Path,
                                                                  seed: int) -> None:
    """One validator verified every signature at admission (``verified``), the other
    checks them at execution: the same state (economics included) and π roots."""
    wl, blocks = _blocks(tmp_path, seed, 6)
    a = _ledger(tmp_path / "a.sqlite", wl.genesis_balances())
    b = _ledger(tmp_path / "b.sqlite", wl.genesis_balances())
    ra = [a.execute(txs) for txs in blocks]
    rb = [b.execute(txs, verified=frozenset(tx_hash_of(t) for t in txs)) for txs in blocks]
    assert ra == rb
    assert len({r[0] for r in ra}) == len(ra), "every block moves the state root"
    reasons = [b.tx_outcome(tx_hash_of(t)) for txs in blocks for t in txs]
    assert any(r is not None and r[1].startswith("replayed") for r in reasons), \
        "the workload's stale txs were refused"


def test_rejected_txs_are_recorded_by_reason_and_change_nothing(tmp_path: Path) -> None:
    alice = Neuron.from_seed(b"\x01" * 32)
    bob = Neuron.from_seed(b"\x02" * 32)  # not funded
    ledger = _ledger(tmp_path / "state.sqlite", {alice.address: 10**6})
    link = [(cid_of(b"a"), cid_of(b"b"))]
    good = make_tx(alice, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, fee=10, links=link)
    txs = [
        good,
        good,  # the same bytes twice in one block
        make_tx(alice, chain_id="other", nonce=1, kind=TxKind.LINK, fee=10,
                links=[(cid_of(b"c"), cid_of(b"d"))]),
        make_tx(alice, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, fee=10,
                links=[(cid_of(b"e"), cid_of(b"f"))]),
        make_tx(alice, chain_id=CHAIN, nonce=5, kind=TxKind.LINK, fee=10,
                links=[(cid_of(b"g"), cid_of(b"h"))]),
        make_tx(bob, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, fee=10,
                links=[(cid_of(b"i"), cid_of(b"j"))]),
    ]
    tampered = bytearray(make_tx(alice, chain_id=CHAIN, nonce=1, kind=TxKind.LINK, fee=10,
                                 links=[(cid_of(b"k"), cid_of(b"l"))]))
    tampered[-70] ^= 1  # inside the signature
    txs.append(bytes(tampered))
    ledger.execute(txs)
    outcomes = [ledger.tx_outcome(tx_hash_of(t)) for t in txs]
    assert [o[1].split(":")[0] if o else None for o in outcomes] == [
        "", "", "wrong_chain", "replayed", "nonce_gap", "insufficient_balance", "bad_signature"]
    # (the repeat of ``good`` shares its hash: its first execution's row wins)
    rec = ledger.last_econ
    assert rec is not None and rec.gas_h == 10, "only the applied tx paid gas"
    assert ledger.last_links == 1 and ledger.focus.n == 2
    assert ledger.core.balance(alice.address) == 10**6 - 10 + rec.rebates_h
    assert ledger.core.next_nonce(alice.address) == 1
    assert ledger.core.balance(bob.address) == 0
    assert ledger.econ.violations(ledger.reader.get) == []
    ledger.close()
