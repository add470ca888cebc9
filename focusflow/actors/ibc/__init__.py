"""IBC-style ordered channels (issue 11): packets with sequence numbers, acks and
timeouts, proven against the counterparty's signed state root by inclusion (receive,
ack) and absence (timeout) proofs of the state package's sparse Merkle tree.

:mod:`.core` is the sans-IO chain/channel state machine; :mod:`.relayer` the untrusted
relayer actor. See ``docs/rollups.md``.
"""

from __future__ import annotations

from focusflow.actors.ibc.core import IbcChain, IbcError, Refused

__all__ = ["IbcChain", "IbcError", "Refused"]
