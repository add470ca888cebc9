"""Every transaction a mempool admitted is committed exactly once or explicitly rejected.

Regression test for issue 6: ``DagCore.propose`` replaced its own header while it was
still uncertified (it had gathered the quorum stake of others' certificates first), so
that header's transactions vanished with no ``Reject``. Driven through the deterministic
harness (consensus cores over a fake wire, virtual time, no runtime): clients stop
submitting early enough for the pipeline to drain, then every submitted transaction must
have reached a finalized block at the validator it was submitted to (the harness itself
raises on a second finalization) or come back as a ``Reject``.
"""

from __future__ import annotations

import random

import pytest

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import CachingVerifier, Signer
from focusflow.actors.consensus.harness import Harness, Scenario
from focusflow.actors.consensus.types import SKIP, Broadcast, ClientTx, Committee, Send, Validator
from focusflow.actors.mempool.core import DagCore


def _accounted(sc: Scenario) -> tuple[Harness, set[bytes]]:
    h = Harness(sc)
    r = h.run()
    assert r.agreement and r.validity, sc.repro()
    lost = set(h.submitted) - r.rejected_txs - h.finalized_txs
    return h, lost


@pytest.mark.parametrize(("seed", "jitter_ms"), [(1, 20.0), (2, 20.0), (3, 80.0)])
def test_every_admitted_transaction_is_committed_once_or_rejected(seed: int, jitter_ms: float) -> None:
    # Lost votes (5% drops) make a validator often hold the quorum stake of others'
    # round-r certificates before its own header is certified: it then proposes r+1.
    # Without the fix these seeds lose 41, 53 and 25 of 600 transactions (27, 31 and 26
    # with votes to the author only).
    sc = Scenario(
        validators=4,
        seed=seed,
        latency_ms=50.0,
        jitter_ms=jitter_ms,
        drop_rate=0.05,
        duration_ms=5000,
        submit_until_ms=2000,
        tx_rate_per_s=300,
        header_txs_max=64,
    )
    h, lost = _accounted(sc)
    assert h.result.links_committed > 300, sc.repro()
    assert not (h.finalized_txs & h.result.rejected_txs), "a rejected tx was committed"
    assert not lost, f"{len(lost)} of {len(h.submitted)} admitted txs neither committed nor rejected; {sc.repro()}"


def test_an_uncertified_header_hands_its_transactions_to_the_next_one() -> None:
    """The mechanism, on one DagCore: votes for our round-1 header never arrive, the round
    moves on (others certified), and our round-2 header carries the round-1 batch."""
    signers = [Signer(bytes([i + 3]) * 32) for i in range(4)]
    com = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(signers)))
    v = CachingVerifier()
    dags = [DagCore(committee=com, me=i, signer=signers[i], verifier=v,
                    admit_batch=lambda ps: [True] * len(ps)) for i in range(4)]
    rng = random.Random(5)
    txs = [ClientTx(rng.randbytes(40), 1000 + i, 0) for i in range(5)]
    assert dags[0].submit(txs) == []
    first = dags[0].propose(1, SKIP, 0)
    assert isinstance(first[0], Broadcast)
    # Everyone else certifies round 1 among themselves; validator 0 gets their certificates.
    queue = [(i, e) for i in (1, 2, 3) for e in dags[i].propose(1, SKIP, 0)]
    while queue:
        src, e = queue.pop(0)
        targets = [e.to] if isinstance(e, Send) else [j for j in range(4) if j != src]
        for j in targets:
            if j == 0 and isinstance(e, Send):
                continue  # no vote ever reaches validator 0's own header
            sender, msg = codec.decode_message(e.data)
            handler = {"SignedHeader": dags[j].on_header, "Vote": dags[j].on_vote,
                       "Certificate": dags[j].on_certificate}[type(msg).__name__]
            queue += [(j, x) for x in handler(sender, msg) if isinstance(x, (Send, Broadcast))]
    assert dags[0].quorum_at(1) and dags[0].own is not None
    assert dags[0].own.digest not in dags[0].certs, "our round-1 header stayed uncertified"
    dags[0].propose(2, SKIP, 1)
    assert dags[0].own is not None
    carried = {p for b in dags[0].own.header.batches for p in b.payloads}
    assert carried == {t.payload for t in txs}
