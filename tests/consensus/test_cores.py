"""Unit tests of the sub-cores: codec, QoS, Snowball, DAG mempool over a fake wire, blocks."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from focusflow.actors.avalanche.core import AvalancheCore, Snowball, SnowballParams
from focusflow.actors.consensus import codec
from focusflow.actors.consensus.blocks import BlockConfig, BlockCore
from focusflow.actors.consensus.crypto import CachingVerifier, Signer
from focusflow.actors.consensus.harness import Workload, admit_links, toy_state_transition
from focusflow.actors.consensus.types import (
    SKIP,
    Batch,
    BlockSig,
    Broadcast,
    CertRequest,
    CertResponse,
    ClientTx,
    Commit,
    Committee,
    Finalize,
    Header,
    Misbehaviour,
    PeerFault,
    PollQuery,
    PollReply,
    Reject,
    Send,
    SettleRewards,
    Validator,
)
from focusflow.actors.mempool.core import DagConfig, DagCore
from focusflow.actors.mempool.qos import FocusQos, QosConfig, sort_by_focus
from tests.support import require_tool

SCHEMA = Path(codec.__file__).with_name("consensus.capnp")


def _keys(n: int) -> tuple[list[Signer], Committee]:
    signers = [Signer(bytes([i + 7]) * 32) for i in range(n)]
    return signers, Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(signers)))


# --------------------------------------------------------------------------- codec


def test_schema_compiles_with_the_official_tool() -> None:
    capnp = require_tool("capnp")
    subprocess.run([capnp, "compile", "-o-", str(SCHEMA)], check=True, capture_output=True)


def test_header_round_trips_and_digest_covers_the_signed_bytes() -> None:
    batch = Batch((b"a" * 10, b"", b"xyz"), (9, 5, 1))
    h = Header(3, 2, (bytes(32), b"\x01" * 32), (batch,), b"\x01" * 32)
    data = codec.encode_header(h)
    assert codec.decode_header(data) == h
    s = Signer(bytes(32))
    sh = codec.signed_header(data, s.sign(data), s.public_key)
    sender, back = codec.decode_message(codec.encode_message(2, sh))
    assert sender == 2 and back == sh


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 7, b"\xff" * 64, bytes(range(256))])
def test_malformed_frames_raise_decode_error(garbage: bytes) -> None:
    with pytest.raises(codec.DecodeError):
        codec.decode_message(garbage)


def test_poll_and_request_round_trip() -> None:
    for msg in (PollQuery(4, 9), PollReply(4, 9, b"\x02" * 32), CertRequest((b"\x03" * 32,))):
        assert codec.decode_message(codec.encode_message(1, msg)) == (1, msg)


# --------------------------------------------------------------------------- QoS


def test_sort_by_focus_is_descending_and_stable() -> None:
    focus = np.array([3, 9, 3, 1, 9], dtype=np.uint32)
    assert sort_by_focus(focus).tolist() == [1, 4, 0, 2, 3]


def test_overload_sheds_lowest_focus_and_keeps_utilisation_at_most_70_percent() -> None:
    rng = np.random.default_rng(1)
    qos = FocusQos(QosConfig(capacity_txs_per_round=100, utilisation_max=0.7, lanes_count=8))
    admitted_per_round = []
    for _ in range(20):
        focus = rng.integers(0, 1_000_000, size=300, dtype=np.uint32)  # 3x capacity
        keep = qos.admit(focus)
        admitted_per_round.append(int(keep.sum()))
        if keep.any() and (~keep).any():
            assert focus[keep].min() >= np.median(focus[~keep])  # the shed share is the low end
        qos.end_round()
    assert max(admitted_per_round) <= 70
    assert qos.open_lanes < 8 and qos.cutoff > 0


def test_light_load_sheds_nothing() -> None:
    qos = FocusQos(QosConfig(capacity_txs_per_round=100))
    for _ in range(5):
        assert qos.admit(np.arange(30, dtype=np.uint32)).all()
        qos.end_round()
    assert qos.cutoff == 0


def test_mempool_rejects_shed_and_invalid_transactions_explicitly() -> None:
    signers, com = _keys(4)
    verifier = CachingVerifier()
    dag = DagCore(
        committee=com,
        me=0,
        signer=signers[0],
        verifier=verifier,
        admit_batch=admit_links(verifier),  # type: ignore[arg-type]
        config=DagConfig(header_txs_max=10),
    )
    txs = Workload(2, 1).make(30)
    bad = txs[0].__class__(txs[0].payload[:-1] + b"\x00", txs[0].focus, 99)
    effects = dag.submit([*txs, bad])
    rejects = [e for e in effects if isinstance(e, Reject)]
    assert any(r.client == 99 and r.reason.startswith("invalid") for r in rejects)
    shed = [r for r in rejects if r.reason.startswith("shed")]
    assert len(dag.pending) == 7 and len(shed) == 23  # 70% of 10 per round
    assert min(t.focus for t in dag.pending) >= max(r.focus for r in shed)


# --------------------------------------------------------------------------- Snowball


def test_scaled_parameters_keep_majorities_and_tolerate_f_in_the_sample() -> None:
    for n in (4, 7, 10, 20, 50, 100):
        p = SnowballParams.scaled(n)
        f = (n - 1) // 3
        assert p.k == min(20, n - 1) and p.beta == 20
        assert p.alpha_pref > p.k // 2
        if p.k == n - 1:
            assert p.alpha_conf <= p.k - min(f, p.k - (p.k // 2 + 1))
    assert SnowballParams.scaled(200) == SnowballParams(20, 15, 15, 20)


def test_snowball_decides_after_beta_consecutive_confident_polls() -> None:
    params = SnowballParams(k=5, alpha_pref=4, alpha_conf=4, beta=3)
    sb = Snowball(params, preference=b"a")
    for i in range(3):
        assert sb.decided is None
        sb.record({b"b": 4, b"a": 1}, lambda v: True)
        assert sb.preference == b"b" and sb.count == i + 1
    assert sb.decided == b"b"


def test_snowball_counter_resets_on_an_inconclusive_poll() -> None:
    sb = Snowball(SnowballParams(k=5, alpha_pref=4, alpha_conf=4, beta=2), preference=b"a")
    sb.record({b"a": 4}, lambda v: True)
    sb.record({b"a": 2, b"b": 2}, lambda v: True)
    sb.record({b"a": 4}, lambda v: True)
    assert sb.decided is None and sb.count == 1


def test_pollers_over_a_fake_wire_converge_on_the_majority_preference() -> None:
    _, com = _keys(7)
    rng = random.Random(3)
    params = SnowballParams.scaled(7, beta=5)
    from focusflow.actors.avalanche.core import AvalancheConfig

    cores = [AvalancheCore(committee=com, me=i, rng=rng, config=AvalancheConfig(params=params)) for i in range(7)]
    x, y = b"x" * 32, b"y" * 32
    initial = [x] * 5 + [y] * 2
    queue: list[tuple[int, int, bytes]] = []
    for i, c in enumerate(cores):
        queue += [(e.to, i, e.data) for e in c.start(2, initial[i], 0) if isinstance(e, Send)]
    steps = 0
    while queue and steps < 20_000:
        to, sender, data = queue.pop(0)
        steps += 1
        _, msg = codec.decode_message(data)
        if isinstance(msg, PollQuery):
            pref = cores[to].preference(2) or SKIP
            queue.append((sender, to, codec.encode_message(to, PollReply(2, msg.nonce, pref))))
        else:
            assert isinstance(msg, PollReply)
            out = cores[to].on_reply(sender, msg, 0, lambda v: True)
            queue += [(e.to, to, e.data) for e in out if isinstance(e, Send)]
    assert [c.decision(2) for c in cores] == [x] * 7


# --------------------------------------------------------------------------- DAG


def _dags(n: int, **kw: object) -> list[DagCore]:
    signers, com = _keys(n)
    verifier = CachingVerifier()
    return [
        DagCore(committee=com, me=i, signer=signers[i], verifier=verifier, admit_batch=lambda ps: [True] * len(ps), **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]


def _pump(dags: list[DagCore], effects: list[tuple[int, object]], drop: set[int] | None = None) -> list[object]:
    """Deliver effects between cores until quiet; returns non-network effects."""
    other: list[object] = []
    queue = list(effects)
    while queue:
        src, e = queue.pop(0)
        if isinstance(e, Broadcast):
            targets = [j for j in range(len(dags)) if j != src]
        elif isinstance(e, Send):
            targets = [e.to]
        else:
            other.append(e)
            continue
        for j in targets:
            if drop and j in drop:
                continue
            sender, msg = codec.decode_message(e.data)
            handler = {
                "SignedHeader": dags[j].on_header,
                "Vote": dags[j].on_vote,
                "Certificate": dags[j].on_certificate,
                "CertRequest": dags[j].on_cert_request,
                "CertResponse": dags[j].on_cert_response,
            }[type(msg).__name__]
            try:
                queue += [(j, x) for x in handler(sender, msg)]  # type: ignore[operator]
            except PeerFault as fault:
                other.append(fault.to_effect())
    return other


def test_headers_gather_votes_into_certificates_and_rounds_link_a_quorum() -> None:
    dags = _dags(4)
    for r in (1, 2, 3):
        effects = [(i, e) for i, d in enumerate(dags) for e in d.propose(r, SKIP, 0)]
        _pump(dags, effects)
        for d in dags:
            assert len(d.by_round[r]) == 4 and d.quorum_at(r)
    c = dags[0].by_round[3][1]
    assert len(c.signed.header.parents) == 4 and len(c.votes) >= 3


def test_a_validator_votes_once_per_round_and_author() -> None:
    dags = _dags(4)
    signer = dags[1].signer
    a = Header(1, 1, (), ())
    b = Header(1, 1, (), (Batch((b"t",), (1,)),))
    out = []
    for h in (a, b):
        payload = codec.encode_header(h)
        out.append(dags[0].on_header(1, codec.signed_header(payload, signer.sign(payload), signer.public_key)))
    assert isinstance(out[0][0], Send | Broadcast)  # the vote (to every validator by default)
    assert isinstance(out[1][0], Misbehaviour) and out[1][0].kind == "equivocation"
    assert len(out[1][0].evidence) == 4  # both signed headers: provable to a third party


@pytest.mark.parametrize("votes_to_all", [True, False])
def test_votes_to_all_let_every_validator_certify_without_the_authors_certificate(votes_to_all: bool) -> None:
    """The latency cut of votes_to_all: with every author's certificate broadcast lost,
    each validator still assembles every round-1 certificate from the votes it saw (and
    the certificates are the same objects: same digest, quorum of valid votes)."""
    dags = _dags(4, config=DagConfig(votes_to_all=votes_to_all))
    queue = [(i, e) for i, d in enumerate(dags) for e in d.propose(1, SKIP, 0)]
    while queue:
        src, e = queue.pop(0)
        assert isinstance(e, Send | Broadcast)
        sender, msg = codec.decode_message(e.data)
        if type(msg).__name__ == "Certificate":
            continue  # lost
        targets = [e.to] if isinstance(e, Send) else [j for j in range(4) if j != src]
        for j in targets:
            handler = {"SignedHeader": dags[j].on_header, "Vote": dags[j].on_vote}[type(msg).__name__]
            queue += [(j, x) for x in handler(sender, msg)]  # type: ignore[operator]
    held = [len(d.by_round.get(1, {})) for d in dags]
    if not votes_to_all:
        assert held == [1, 1, 1, 1]  # each only its own
        return
    assert held == [4, 4, 4, 4]
    for a in range(4):
        assert len({d.by_round[1][a].digest for d in dags}) == 1
    for d in dags:
        d.invariants()


def test_forged_header_signature_is_blamed_on_the_sender() -> None:
    dags = _dags(4)
    payload = codec.encode_header(Header(1, 1, (), ()))
    forged = codec.signed_header(payload, dags[2].signer.sign(payload), dags[1].signer.public_key)
    with pytest.raises(PeerFault) as info:
        dags[0].on_header(2, forged)
    assert info.value.peer == 2 and info.value.kind == "bad-signature"


def test_missing_parents_are_synced_from_the_sender() -> None:
    dags = _dags(4)
    _pump(dags, [(i, e) for i, d in enumerate(dags) for e in d.propose(1, SKIP, 0)], drop={3})
    assert not dags[3].by_round
    # Round 2 reaches everyone; validator 3 fetches the round-1 certificates it missed.
    _pump(dags, [(i, e) for i, d in enumerate(dags[:3]) for e in d.propose(2, SKIP, 0)])
    assert len(dags[3].by_round[1]) >= 3 and len(dags[3].by_round[2]) == 3


def test_garbage_collection_drops_old_rounds() -> None:
    dags = _dags(4, config=DagConfig(gc_depth_rounds=2))
    for r in range(1, 6):
        _pump(dags, [(i, e) for i, d in enumerate(dags) for e in d.propose(r, SKIP, 0)])
    dags[0].gc(5)
    assert min(dags[0].by_round) == 4 and dags[0].gc_round == 3
    dags[0].invariants()


# --------------------------------------------------------------------------- blocks


def _blocks(n: int, **kw: object) -> list[BlockCore]:
    signers, com = _keys(n)
    v = CachingVerifier()
    return [
        BlockCore(committee=com, me=i, signer=signers[i], verifier=v, execute=toy_state_transition, **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]


def _commit(slot: int, txs: tuple[bytes, ...]) -> Commit:
    return Commit(slot, bytes([slot]) * 32, "fast", (), txs)


def test_blocks_are_notarised_by_the_quorum_stake_and_rewards_settle_deterministically() -> None:
    cores = _blocks(4, config=BlockConfig(reward_batch_blocks=2, reward_delay_blocks=1, reward_per_block=10))
    finals: dict[int, list[object]] = {i: [] for i in range(4)}
    for height in range(1, 5):
        shares = []
        for i, c in enumerate(cores):
            effects = c.on_commit(_commit(2 * height, (b"tx%d" % height, b"dup")), [0, 1, 1, 2])
            shares += [(i, e) for e in effects if isinstance(e, Broadcast)]
        for src, e in shares:
            for j, c in enumerate(cores):
                if j != src:
                    _, msg = codec.decode_message(e.data)
                    assert isinstance(msg, BlockSig)
                    finals[j] += c.on_block_sig(src, msg)
    for i in range(4):
        fin = [e for e in finals[i] if isinstance(e, Finalize)]
        assert [f.header.height for f in fin] == [1, 2, 3, 4]
        assert fin[1].txs == (b"tx2",)  # the duplicate was dropped after height 1
        rewards = [e for e in finals[i] if isinstance(e, SettleRewards)]
        assert rewards and rewards[0].payouts == ((0, 5), (1, 10), (2, 5))
    assert len({c.finalized[4] for c in cores}) == 1


def test_a_conflicting_block_share_is_evidence() -> None:
    a, b = _blocks(2)[0], _blocks(2)[1]
    a.on_commit(_commit(2, (b"x",)), [0])
    effects = b.on_commit(_commit(2, (b"y",)), [1])
    _, share = codec.decode_message(next(e for e in effects if isinstance(e, Broadcast)).data)
    assert isinstance(share, BlockSig)
    with pytest.raises(PeerFault) as info:
        a.on_block_sig(1, share)
    assert info.value.kind == "conflicting-block"


def test_a_cert_response_stays_within_its_byte_budget_and_sync_still_completes() -> None:
    """Issue 21: under `devnet --rate 2000 --links-per-tx 50` a lagging validator asked for
    missing certificates and two peers each built an 18.9 MB answer, over the wire's
    16 MiB limit: the encode raised inside both answering validators, which crashed."""
    budget = 40_000
    dags = _dags(4, config=DagConfig(sync_bytes_max=budget))
    answers: list[int] = []
    original = [d.on_cert_request for d in dags]
    for d, handler in zip(dags, original, strict=True):
        def counted(sender: int, req: CertRequest, handler=handler) -> list[object]:
            out = handler(sender, req)
            answers.extend(len(e.data) for e in out)  # type: ignore[attr-defined]
            return out
        d.on_cert_request = counted  # type: ignore[method-assign]
    tx = bytes(range(256)) * 8  # 2 KiB
    for r in range(1, 6):  # validator 3 misses rounds 1..5 of 10-tx (~20 KB) headers
        for i, d in enumerate(dags[:3]):
            d.submit([ClientTx(tx + bytes([r, i, k]), 100, 0) for k in range(10)])
        _pump(dags, [(i, e) for i, d in enumerate(dags[:3]) for e in d.propose(r, SKIP, 0)],
              drop={3})
    assert not dags[3].by_round
    for r in range(6, 12):  # then it hears again, and syncs what it missed piece by piece
        _pump(dags, [(i, e) for i, d in enumerate(dags[:3]) for e in d.propose(r, SKIP, 0)])
    assert answers and max(answers) <= budget + 2_000, answers  # one cert may go over alone
    assert len(answers) > 1  # the budget split the sync into several answers
    assert all(len(dags[3].by_round[r]) >= 3 for r in range(1, 11)), \
        {r: len(dags[3].by_round.get(r, {})) for r in range(1, 12)}
def test_a_sync_answer_whose_certificates_all_wait_asks_once_for_the_gap_below() -> None:
    """Issue 19 item 3: after a 20 s minority cut at n = 10, each certificate of a sync
    answer asked again for its parents, which were waiting themselves; every ask was
    answered with the whole ancestry, and the answers grew to gigabytes in 200 ms."""
    dags = _dags(4)
    for r in range(1, 7):  # validator 3 misses rounds 1..6
        _pump(dags, [(i, e) for i, d in enumerate(dags[:3]) for e in d.propose(r, SKIP, 0)],
              drop={3})
    held = sorted((c for c in dags[0].certs.values() if c.round >= 2), key=lambda c: (c.round, c.author))
    effects = dags[3].on_cert_response(0, CertResponse(tuple(held)))
    asks = [codec.decode_message(e.data)[1] for e in effects if isinstance(e, Send)]
    assert len(asks) == 1 and isinstance(asks[0], CertRequest)
    assert set(asks[0].digests) == {c.digest for c in dags[0].certs.values() if c.round == 1}
    assert len(dags[3].waiting) == len(held)
    # a certificate arriving again (a resend) asks for that same gap, not for its parents
    top = next(c for c in held if c.round == 6)
    again = [codec.decode_message(e.data)[1] for e in dags[3].on_certificate(1, top) if isinstance(e, Send)]
    assert [set(a.digests) for a in again] == [set(asks[0].digests)]


def test_our_header_certified_by_peers_while_we_were_cut_off_hands_its_batch_to_the_dag() -> None:
    """Chaos (network scenario, seed 3, ``isolate v3``): peers assembled our header's
    certificate from their votes to all, we fetched it as a missing parent; the batch
    it carries must leave ``own_txs`` then (it is in the DAG), as when we certify it."""
    dags = _dags(4)
    dags[3].submit([ClientTx(b"tx-of-v3", 7, 0)])
    sent = [(3, e) for e in dags[3].propose(1, SKIP, 0)]
    _pump(dags, [(i, e) for i, d in enumerate(dags[:3]) for e in d.propose(1, SKIP, 0)] + sent,
          drop={3})  # v3's header went out; nothing reaches v3
    own = dags[3].own
    assert own is not None and dags[3].own_txs and own.digest not in dags[3].certs
    assert all(own.digest in d.certs for d in dags[:3])  # certified by the others' votes
    _pump(dags, [(i, e) for i, d in enumerate(dags[:3]) for e in d.propose(2, SKIP, 0)])
    assert own.digest in dags[3].certs  # fetched as a parent of round 2
    assert not dags[3].own_txs and dags[3].own_unlinked[1][0] == own.digest
    dags[3].invariants()


@pytest.mark.parametrize(("error", "excused"), [(OSError("fsync failed"), True), (KeyError("bug"), False)])
def test_a_failed_core_is_excused_from_its_invariants_only_for_an_environment_error(
        error: BaseException, excused: bool) -> None:
    """Chaos ``fsync_fail``: the durable commit inside ``execute`` raised mid-step; the core
    refuses further input (its shell restarts) and is not checked, unless it was our bug."""
    from focusflow.actors.consensus.node import ValidatorCore

    signers, com = _keys(4)
    core = ValidatorCore(committee=com, me=0, signer=signers[0], verifier=CachingVerifier(),
                         admit_batch=lambda ps: [True] * len(ps), execute=toy_state_transition,
                         rng=random.Random(1))
    core.invariants()
    core.failed = error
    if excused:
        core.invariants()
    else:
        with pytest.raises(AssertionError, match="the core failed"):
            core.invariants()
