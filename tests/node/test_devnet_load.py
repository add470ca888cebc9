"""Under a burst above what the validators commit per round, every admitted transaction
still reaches a finalized block exactly once (the shell re-offers what the mempool
dropped), all validators agree, and a light client verifies a committed link (and a
forged answer fails) against a quorum-signed state root."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from focusflow.actors.consensus.crypto import Ed25519Verifier
from focusflow.actors.consensus.types import Committee, Validator
from focusflow.actors.state.keys import link_key
from focusflow.actors.state.tx import decode_tx
from focusflow.node import client
from focusflow.node.chain import ChainError, verify_state_answer
from focusflow.node.config import read_genesis
from focusflow.topology.devnet import Devnet, Workload, check_agreement

pytestmark = pytest.mark.timeout(120)


def test_every_admitted_transaction_of_a_burst_is_committed_once(tmp_path: Path) -> None:
    net = Devnet(tmp_path, validators=4)
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        work = Workload(chain_id=net.chain_id, seed=11, links_per_tx=10)
        accepted = 0
        sample = b""
        for k in range(24):
            txs, tags = work.txs(50)
            sample = sample or txs[0]
            accepted += int(client.submit(net.nodes[k % 4].url, txs, tags)["accepted"])
            time.sleep(0.05)
        # QoS may shed some, at once or later, always with a Reject (counted): the rest
        # must all commit, each exactly once
        assert accepted >= 600, accepted
        deadline = time.monotonic() + 90
        while True:
            views = [net.status(i)["validator"] for i in range(4)]
            shed = sum(v["counters"]["rejected"] for v in views)
            expected = (1200 - shed) * 10
            links = [v["links_committed"] for v in views]
            if min(links) >= expected:
                break
            assert time.monotonic() < deadline, f"links {links} < {expected} (shed {shed})"
            time.sleep(0.5)
        assert max(links) == expected  # each exactly once (distinct neurons, nonce 0)
        verdict = check_agreement(net, [0, 1, 2, 3])
        assert verdict.agree, verdict.describe()
        light_client_checks(net, sample)
    finally:
        net.stop()


def proof_answer(net: Devnet, keypath: bytes) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        answer: dict[str, Any] = client.get(net.nodes[1].url, f"/v1/proof?arg={keypath.hex()}")
        if not answer.get("retry"):
            return answer
        assert time.monotonic() < deadline, "state never at a finalized height"
        time.sleep(0.05)


def light_client_checks(net: Devnet, signed_tx: bytes) -> None:
    """A light client verifies a link and an absence against quorum-signed state roots."""
    _, committee_entries = read_genesis(net.nodes[0].home / "config" / "genesis.json")
    committee = Committee(tuple(Validator(i, e.public_key, e.stake)
                                for i, e in enumerate(committee_entries)))
    tx = decode_tx(signed_tx)
    present = link_key(tx.neuron, bytes(tx.froms[0]), bytes(tx.tos[0]))
    answer = proof_answer(net, present)
    assert verify_state_answer(answer, committee, Ed25519Verifier(), present) is not None
    absent = link_key(tx.neuron, bytes(tx.tos[0]), bytes(tx.froms[0]))  # reversed: not made
    answer_absent = proof_answer(net, absent)
    if answer_absent["value"] is None:
        assert verify_state_answer(answer_absent, committee, Ed25519Verifier(), absent) is None
    forged = dict(answer, value=(b"\x00" * 8).hex())  # a lying node
    with pytest.raises(ChainError):
        verify_state_answer(forged, committee, Ed25519Verifier(), present)
    unsigned = dict(answer, block=dict(answer["block"], signers=[0], signatures=answer["block"]["signatures"][:1]))
    with pytest.raises(ChainError):
        verify_state_answer(unsigned, committee, Ed25519Verifier(), present)
