"""A peer's claims move a validator only once a block proves them (issue 16, finding 2:
one ``Blocks((), tip=10**12)`` per validator made each leave consensus and rejoin)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import structlog

from focusflow.node.chain import BlockLog
from focusflow.node.messages import Blocks, BlocksFrom
from focusflow.node.validator import (
    BEHIND_BLOCKS_MAX,
    BEHIND_MS_MAX,
    CommitteeEntry,
    Validator,
    ValidatorSettings,
)
from focusflow.supervisor import open_file_database
from tests.node.test_chain import SIGNERS, make_record

GC_DEPTH = 60


class _Peer:
    def __init__(self, node: str) -> None:
        self.node = node
        self.path = "/user/node/validator"


class _Ctx:
    """What the validator's sync path touches: the sender, the clock, tells to peers."""

    def __init__(self) -> None:
        self.sender: Any = None
        self.now = 0
        self.told: list[tuple[str, Any]] = []
        self.log = structlog.get_logger("test")
        self._to = ""

    def now_ns(self) -> int:
        return self.now

    def ref_for(self, node: str, path: str) -> _Ctx:
        self._to = node
        return self

    def tell_nowait(self, msg: Any) -> None:
        self.told.append((self._to, msg))

    def cancel_timer(self, key: str) -> None:
        pass


def _validator(tmp_path: Path) -> tuple[Validator, _Ctx]:
    committee = tuple(CommitteeEntry(f"n{i}", s.public_key, 1) for i, s in enumerate(SIGNERS))
    v = Validator(ValidatorSettings(node_name="n0", role="validator", chain_id="c",
                                    committee=committee))
    ctx = _Ctx()
    v.ctx = ctx  # type: ignore[assignment]
    v.blocks = BlockLog(open_file_database(tmp_path / "blocks.sqlite"))
    # In consensus mode: of the core, only the DAG's round and the highest certified round
    # it saw are read here; of the ledger, only what leaving consensus drops.
    v.core = SimpleNamespace(dag=SimpleNamespace(round=5, seen_round=5, gc_round=0),  # type: ignore[assignment]
                             config=SimpleNamespace(dag=SimpleNamespace(gc_depth_rounds=GC_DEPTH)),
                             blocks=SimpleNamespace(finalized_height=0, height=0,
                                                    built_digest=lambda _h: None))
    v.ledger = SimpleNamespace(deferred={})  # type: ignore[assignment]
    v.mode = "consensus"
    return v, ctx


def _deliver(v: Validator, ctx: _Ctx, msg: Blocks, *, sender: str, at_ms: int) -> None:
    ctx.sender, ctx.now = _Peer(sender), at_ms * 1_000_000
    v._apply_synced(msg)


def test_a_claimed_tip_without_a_block_does_not_take_a_validator_out_of_consensus(
        tmp_path: Path) -> None:
    v, ctx = _validator(tmp_path)
    for t in (0, BEHIND_MS_MAX + 1, 3 * BEHIND_MS_MAX):
        _deliver(v, ctx, Blocks((), 10**12), sender="n1", at_ms=t)
    assert v.core is not None and v.mode == "consensus"
    # a block beyond "behind" with forged signatures proves nothing either
    far = BEHIND_BLOCKS_MAX + 5
    forged = make_record(far, bytes(32), (b"tx",), [0, 1, 2])
    forged = type(forged)(forged.height, forged.header, forged.digest, forged.txs,
                          forged.signers, tuple(bytes(64) for _ in forged.signers))
    for t in (4 * BEHIND_MS_MAX, 6 * BEHIND_MS_MAX):
        _deliver(v, ctx, Blocks((forged,), 10**12), sender="n1", at_ms=t)
    assert v.core is not None and v.counters["sync_refused"] == 2
    v.blocks.close()


def test_a_quorum_signed_block_past_the_bound_does(tmp_path: Path) -> None:
    v, ctx = _validator(tmp_path)
    proof = make_record(BEHIND_BLOCKS_MAX + 1, bytes(32), (b"tx",), [0, 1, 2])
    _deliver(v, ctx, Blocks((proof,), 10**12), sender="n1", at_ms=0)
    assert v.peer_tips == {"n1": BEHIND_BLOCKS_MAX + 1} and v.core is not None
    _deliver(v, ctx, Blocks((), 0), sender="n1", at_ms=BEHIND_MS_MAX + 1)
    assert v.core is None and v.mode == "follower"
    v.blocks.close()


def test_certificates_far_above_our_round_take_a_validator_out_without_any_reply(
        tmp_path: Path) -> None:
    """The nemesis partition: a validator cut off beyond DAG sync whose probes' replies are
    all dropped (its peers' queues to it full) still leaves consensus: its DAG verified
    quorum certificates more than a GC depth above its round, checked on every sync tick,
    not only when a reply arrives — at once, since DAG sync can never link it again
    (issue 19: waiting BEHIND_MS_MAX there kept a cut minority from recovering)."""
    v, ctx = _validator(tmp_path)
    v.peers = ["n1", "n2", "n3"]
    v.core.dag.seen_round = 5 + GC_DEPTH  # type: ignore[union-attr]
    for t in (0, 3 * BEHIND_MS_MAX):
        ctx.now = t * 1_000_000
        v._sync()
        assert v.core is not None  # a GC depth behind: DAG sync can still catch up
    v.core.dag.seen_round = 5 + GC_DEPTH + 1  # type: ignore[union-attr]
    ctx.now += 1_000_000
    v._sync()
    assert v.core is None and v.mode == "follower" and "rounds behind" in v.why
    assert any(isinstance(msg, BlocksFrom) for _, msg in ctx.told)  # block sync started
    v.blocks.close()


def test_a_message_over_the_wire_limit_is_logged_and_counted_not_raised(tmp_path: Path) -> None:
    """A handler never raises into an actor: a sync answer or consensus frame that cannot
    be encoded (over the wire's message limit) is our bug, logged and counted; the
    validator stays up (before, the tell raised WireError and restarted the validator)."""
    from focusflow.wire import WireError

    v, ctx = _validator(tmp_path)

    def refuse(msg: Any) -> None:
        raise WireError("Blocks encodes to 17000000 bytes > 16777216", reason="oversized")

    ctx.tell_nowait = refuse  # type: ignore[method-assign]
    v._tell_peer("n1", Blocks((), 3))
    assert v.counters["unsendable"] == 1
    v.blocks.close()
