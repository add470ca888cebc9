"""The chain: consensus wired to real block execution (issues 4, 5, 6, 9, 10 together).

:mod:`.executor` is the deterministic block executor that consensus calls as its
``StateTransition`` (state core -> SMT root, kernels -> π root, economics -> fees as
gas; the data root and DA sampling are the live ledger's, ``node.chain``); :mod:`.workload` generates signed cyberlinks in the state's tx
format; :mod:`.scenario` registers the ``network`` scenario of ``focusflow sim``.
See ``docs/chain.md``.
"""

from __future__ import annotations

from focusflow.actors.chain.executor import (
    BlockExecutor,
    BlockOutcome,
    ChainConfig,
    ChainFault,
    SignatureCache,
    admit_txs,
)
from focusflow.actors.chain.workload import LinkWorkload, Submission, WorkloadConfig

__all__ = [
    "BlockExecutor",
    "BlockOutcome",
    "ChainConfig",
    "ChainFault",
    "LinkWorkload",
    "SignatureCache",
    "Submission",
    "WorkloadConfig",
    "admit_txs",
]
