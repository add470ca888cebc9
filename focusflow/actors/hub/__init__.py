"""The supply-rank hub (issue 11): merges the rollups' Δ-rank claims into the global
focus snapshot after their challenge windows, adjudicates fraud proofs, slashes, and
redistributes fees by demand; regional hubs forward to a global hub.

:mod:`.core` is the sans-IO merger; :mod:`.actor` the shell. See ``docs/rollups.md``.
"""

from __future__ import annotations

from focusflow.actors.hub.core import HubCore

__all__ = ["HubCore"]
