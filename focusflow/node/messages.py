"""Message types of the node's actors (schema: ``node.capnp``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from focusflow.wire import load_schema, message

schema: Any = load_schema(Path(__file__).with_name("node.capnp"))


@message(schema.ConsensusFrame)
class ConsensusFrame:
    """One consensus hop between validator actors (sender = the authenticated node)."""

    data: bytes


@message(schema.CoreTick)
class CoreTick:
    """The consensus core's timer fired."""

    seq: int = 0


@message(schema.SyncTick)
class SyncTick:
    """Time to check whether we are behind and ask a peer for blocks."""

    seq: int = 0


@message(schema.SubmitTxs)
class SubmitTxs:
    """Client transactions (SignedTx bytes) and their focus tags, index-aligned."""

    txs: tuple[bytes, ...]
    focus: tuple[int, ...]


@message(schema.SubmitReply)
class SubmitReply:
    """How many of a submission were admitted to the mempool."""

    accepted: int
    rejected: int
    reason: str = ""


@message(schema.BlocksFrom)
class BlocksFrom:
    """Ask for finalized blocks from ``height`` on (at most ``count_max``)."""

    height: int
    count_max: int


@message(schema.BlockRecord)
class BlockRecord:
    """A finalized block with the shares that notarised it."""

    height: int
    header: bytes
    digest: bytes
    txs: tuple[bytes, ...]
    signers: tuple[int, ...]
    signatures: tuple[bytes, ...]


@message(schema.Blocks)
class Blocks:
    """Answer to ``BlocksFrom``."""

    records: tuple[BlockRecord, ...]
    tip: int


@message(schema.OfferedBlock)
class OfferedBlock:
    """Our share of a block signed before a restart, with the block (``node/catchup.py``)."""

    record: BlockRecord


@message(schema.Query)
class Query:
    """A read-only question (see ``Validator.query``)."""

    kind: str
    arg: str = ""


@message(schema.QueryReply)
class QueryReply:
    """JSON text answer of a ``Query``."""

    json: str


@message(schema.IoDone)
class IoDone:
    """A worker thread finished the validator's oldest blocking job (see ``Validator``)."""

    seq: int = 0
