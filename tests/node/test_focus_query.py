"""The verifiable focus query without a network: a ledger commits π into the state, a
quorum signs the headers, and a light client (``verify_focus_answer``, the ``focusflow
query focus`` command) accepts the honest answer and refuses every kind of tampering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import DOMAIN_BLOCK, Ed25519Verifier, Signer, digest
from focusflow.actors.consensus.types import BlockHeader, Committee, Validator
from focusflow.actors.state.ids import cid_of
from focusflow.cli import main as cli_main
from focusflow.kernels import dequantize
from focusflow.node import client
from focusflow.node.chain import (
    BlockLog,
    ChainError,
    Ledger,
    block_data_root,
    focus_answer,
    verify_focus_answer,
)
from focusflow.node.config import CommitteeEntry, write_genesis
from focusflow.node.messages import BlockRecord
from focusflow.supervisor import open_file_database
from tests.node.test_focus import CHAIN, CIDS, link_txs

SIGNERS = [Signer(bytes([i + 1]) * 32) for i in range(4)]
COMMITTEE = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(SIGNERS)))


def signed_chain(tmp_path: Path, heights: int) -> tuple[Ledger, BlockLog, list[np.ndarray]]:
    """A ledger and a block log of ``heights`` blocks signed by 3 of 4 validators; the
    committed π (fixed point, particle order) of every block."""
    rng = np.random.default_rng(21)
    ledger = Ledger(open_file_database(tmp_path / "state.sqlite"), chain_id=CHAIN)
    blocks = BlockLog(open_file_database(tmp_path / "blocks.sqlite"))
    pis = [ledger.focus.q.copy()]
    for h in range(1, heights + 1):
        txs = link_txs(h, rng)
        state_root, pi_root = ledger.execute(txs)
        pis.append(ledger.focus.q.copy())
        header = codec.encode_block_header(BlockHeader(
            h, blocks.tip_digest, state_root, block_data_root(txs),
            pi_root, bytes(32), h))
        blocks.append(BlockRecord(h, header, digest(DOMAIN_BLOCK, header), tuple(txs), (0, 1, 3),
                                  tuple(SIGNERS[i].sign(header) for i in (0, 1, 3))), 0)
    return ledger, blocks, pis


def test_a_focus_answer_verifies_and_is_the_pi_the_previous_header_committed(tmp_path: Path) -> None:
    ledger, blocks, pis = signed_chain(tmp_path, 6)
    for pid in (0, 5, len(pis[5]) - 1):
        cid = ledger.focus.cids[pid]
        got = verify_focus_answer(focus_answer(ledger, blocks, cid), COMMITTEE,
                                  Ed25519Verifier(), cid)
        assert (got.state_height, got.pi_height) == (6, 5)
        assert got.q == int(pis[5][pid]) and got.q > 0  # π of block 5, bit for bit
        assert got.focus == float(dequantize(pis[5][pid:pid + 1])[0])
    new = ledger.focus.cids[len(pis[5]):]  # first linked in block 6: no π in the state yet
    unseen = cid_of(b"never linked")
    for cid in [*new[:1], unseen]:
        got = verify_focus_answer(focus_answer(ledger, blocks, cid), COMMITTEE,
                                  Ed25519Verifier(), cid)
        assert got.q is None and got.focus is None and got.pi_height == 5
    ledger.close()
    blocks.close()


def tampered(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ways a lying or broken node can change an answer."""
    raw = bytearray(bytes.fromhex(answer["value"]))
    raw[-1] ^= 1  # the last value of the slice, one bit
    proof = bytearray(bytes.fromhex(answer["proof"]))
    proof[-1] ^= 1
    return {
        "slice value": dict(answer, value=raw.hex()),
        "slice dropped": dict(answer, value=None),
        "proof": dict(answer, proof=proof.hex()),
        "truncated proof": dict(answer, proof=answer["proof"][:-2]),
        "claimed q": dict(answer, q=answer["q"] + 1),
        "claimed height": dict(answer, pi_height=answer["pi_height"] - 1),
        "under-signed block": dict(answer, block=dict(
            answer["block"], signers=answer["block"]["signers"][:2],
            signatures=answer["block"]["signatures"][:2])),
        "forged signature": dict(answer, block=dict(
            answer["block"], signatures=[bytes(64).hex(), *answer["block"]["signatures"][1:]])),
        "missing field": {k: v for k, v in answer.items() if k != "proof"},
    }


def test_a_tampered_focus_answer_is_refused(tmp_path: Path) -> None:
    ledger, blocks, _ = signed_chain(tmp_path, 4)
    cid = ledger.focus.cids[0]
    answer = focus_answer(ledger, blocks, cid)
    assert verify_focus_answer(answer, COMMITTEE, Ed25519Verifier(), cid).q is not None
    for what, bad in tampered(answer).items():
        with pytest.raises(ChainError):
            verify_focus_answer(bad, COMMITTEE, Ed25519Verifier(), cid)
            pytest.fail(f"accepted a tampered answer ({what})")
    other = next(c for c in CIDS if ledger.core.focus_shard(c) != ledger.core.focus_shard(cid))
    with pytest.raises(ChainError):  # the answer for another particle's slice
        verify_focus_answer(answer, COMMITTEE, Ed25519Verifier(), other)
    ledger.close()
    blocks.close()


def test_query_focus_command_prints_the_verified_value_and_refuses_a_forgery(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ledger, blocks, pis = signed_chain(tmp_path, 3)
    genesis = tmp_path / "genesis.json"
    write_genesis(genesis, CHAIN, [CommitteeEntry(f"node{i}", s.public_key, 1)
                                   for i, s in enumerate(SIGNERS)])
    cid = ledger.focus.cids[1]
    served = {"answer": focus_answer(ledger, blocks, cid)}
    monkeypatch.setattr(client, "get", lambda base, path, **kw: served["answer"])
    argv = ["query", "focus", cid.hex(), "--url", "http://node", "--genesis", str(genesis)]
    assert cli_main([*argv, "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["q"] == int(pis[2][1]) and out["pi_height"] == 2 and out["verified"]
    assert cli_main(argv) == 0
    assert "committed at block 2" in capsys.readouterr().out
    served["answer"] = dict(served["answer"], q=served["answer"]["q"] * 2, focus=0.5)
    assert cli_main(argv) == 3
    assert "refused" in capsys.readouterr().err
    ledger.close()
    blocks.close()
