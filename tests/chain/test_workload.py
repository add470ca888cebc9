"""The signed-link workload: state-format txs, one in flight per neuron, power-law particles."""

from __future__ import annotations

import random
from collections import Counter

from focusflow.actors.chain.workload import LinkWorkload, WorkloadConfig
from focusflow.actors.state import TxKind, decode_tx, verify_signatures
from focusflow.actors.state.tx import tx_hash_of


def test_txs_are_signed_link_batches_of_funded_neurons() -> None:
    wl = LinkWorkload(WorkloadConfig(neurons=8, invalid_share=0.0), seed=1)
    subs = wl.make(8, 0, random.Random(1))
    txs = [decode_tx(s.payload) for s in subs]
    assert len(txs) == 8 and all(verify_signatures(txs))
    funded = wl.genesis_balances()
    for tx in txs:
        assert tx.kind is TxKind.LINK and 1 <= tx.n_links <= wl.config.links_per_tx_max
        assert tx.neuron in funded and tx.nonce == 0 and tx.fee == wl.config.fee
        assert not (tx.froms == tx.tos).all(axis=1).any()


def test_one_tx_in_flight_per_neuron_and_nonces_follow_finalized_results() -> None:
    wl = LinkWorkload(WorkloadConfig(neurons=4, invalid_share=0.0, resubmit_ms=1000), seed=2)
    rng = random.Random(2)
    first = wl.make(10, 0, rng)
    assert len(first) == 4, "only idle neurons send"
    assert wl.make(10, 1, rng) == []
    hashes = [tx_hash_of(s.payload) for s in first]
    # neuron of first[0] applied, first[1] included but rejected, the rest still pending
    wl.on_finalized([hashes[0]], hashes[:2])
    wl.on_finalized([hashes[0]], hashes[:2])  # every validator reports it: idempotent
    again = wl.make(10, 2, rng)
    by_neuron = {s.neuron: decode_tx(s.payload).nonce for s in again}
    assert by_neuron == {first[0].neuron: 1, first[1].neuron: 0}
    resent = wl.make(0, 1_000_000_001, rng)  # the first two are 1 s old, the new ones not quite
    assert {s.neuron for s in resent if s.resend} == {first[2].neuron, first[3].neuron}
    assert all(s.payload in {f.payload for f in first} for s in resent if s.resend), "same bytes"


def test_particles_follow_a_power_law() -> None:
    wl = LinkWorkload(WorkloadConfig(neurons=400, particles=2000, invalid_share=0.0), seed=3)
    subs = wl.make(400, 0, random.Random(3))
    counts: Counter[bytes] = Counter()
    for s in subs:
        tx = decode_tx(s.payload)
        counts.update(bytes(r) for r in tx.froms)
        counts.update(bytes(r) for r in tx.tos)
    total = sum(counts.values())
    top = sum(c for _, c in counts.most_common(20))
    assert top / total > 0.25, "1% of the particles draw a quarter of the endpoints"
    assert counts[wl.particles[0]] > counts[wl.particles[1000]]


def test_stale_share_reuses_a_spent_nonce() -> None:
    wl = LinkWorkload(WorkloadConfig(neurons=50, invalid_share=0.5), seed=4)
    rng = random.Random(4)
    first = wl.make(50, 0, rng)
    assert not any(s.stale for s in first), "no nonce spent yet"
    hashes = [tx_hash_of(s.payload) for s in first]
    wl.on_finalized(hashes, hashes)
    second = wl.make(50, 1, rng)
    stale = [s for s in second if s.stale]
    assert 10 < len(stale) < 40
    assert all(decode_tx(s.payload).nonce == 0 for s in stale)
