"""Snowball fallback core (``core.py``) deciding stalled anchors; see docs/consensus.md."""
