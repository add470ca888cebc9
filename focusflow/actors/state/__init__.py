"""Cybergraph state (issue 4): identities, signed transactions, one authenticated root over
``/graph``, ``/token`` and ``/kv``, and a durable SQLite store.

The core (:mod:`.core`, :mod:`.smt`, :mod:`.tx`) is sans-IO; :mod:`.store` is the embedded
SQLite store; the actor shell lives in :mod:`.actor`. See ``docs/state.md``.
"""

from __future__ import annotations

from focusflow.actors.state.core import (
    BlockResult,
    FocusSlice,
    LinkDeltas,
    Receipt,
    StateCore,
)
from focusflow.actors.state.ids import (
    Neuron,
    address_from_text,
    address_of,
    address_to_text,
    cid_from_text,
    cid_of,
    cid_to_text,
)
from focusflow.actors.state.smt import Proof, SparseMerkleTree, verify_proof
from focusflow.actors.state.store import (
    SqliteStore,
    StoreError,
    commit,
    open_state,
)
from focusflow.actors.state.tx import Reject, TxKind, decode_tx, make_tx, verify_signatures

__all__ = [
    "BlockResult",
    "FocusSlice",
    "LinkDeltas",
    "Neuron",
    "Proof",
    "Receipt",
    "Reject",
    "SparseMerkleTree",
    "SqliteStore",
    "StateCore",
    "StoreError",
    "TxKind",
    "address_from_text",
    "address_of",
    "address_to_text",
    "cid_from_text",
    "cid_of",
    "cid_to_text",
    "commit",
    "decode_tx",
    "make_tx",
    "open_state",
    "verify_proof",
    "verify_signatures",
]
