"""Deterministic block workload shared by the store tests and the kill -9 child."""

from __future__ import annotations

import random

from focusflow.actors.state import Neuron, StateCore, TxKind, cid_of, make_tx

CHAIN = "focusflow-crash"
N_NEURONS = 5


def people() -> list[Neuron]:
    return [Neuron.from_seed(bytes([0x40 + i]) * 32) for i in range(N_NEURONS)]


def genesis_balances() -> dict[bytes, int]:
    return {p.address: 10**6 for p in people()}


def block_txs(core: StateCore, height: int, *, links_per_tx: int = 20) -> list[bytes]:
    """Txs for ``height`` given the committed state in ``core`` (deterministic per height)."""
    rng = random.Random(height)
    txs = []
    for p in people():
        if rng.random() < 0.3:
            continue
        nonce = core.next_nonce(p.address)
        if rng.random() < 0.2:
            to = people()[rng.randrange(N_NEURONS)].address
            txs.append(
                make_tx(
                    p,
                    chain_id=CHAIN,
                    nonce=nonce,
                    kind=TxKind.TRANSFER,
                    to=to,
                    amount=rng.randrange(100),
                    fee=1,
                )
            )
            continue
        links = []
        for i in range(links_per_tx):
            links.append(
                (
                    cid_of(b"p%d" % rng.randrange(200)),
                    cid_of(b"q%d.%d.%d" % (height, i, rng.randrange(10**9))),
                )
            )
        txs.append(make_tx(p, chain_id=CHAIN, nonce=nonce, kind=TxKind.LINK, links=links, fee=1))
    return txs
