"""The chain: consensus wired to real block execution (issues 4, 5, 6, 9, 10 together).

Blocks execute in the live node's one executor, ``node.chain.Ledger`` (state core -> SMT
root with the economics under ``/token``, π root, the DA square's NMT data root), in both
runtimes; this package holds what the simulated network adds around it: :mod:`.workload`
generates signed cyberlinks in the state's tx format, :mod:`.scenario` registers the
``network`` scenario of ``focusflow sim``, :mod:`.recovery` its crash and restart checks.
See ``docs/chain.md``.
"""

from __future__ import annotations

from focusflow.actors.chain.workload import LinkWorkload, Submission, WorkloadConfig

__all__ = [
    "LinkWorkload",
    "Submission",
    "WorkloadConfig",
]
