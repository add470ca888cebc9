"""Chaos campaigns for focusflow: fault plans, fault points, invariants, shrinking, replay.

See ``docs/chaos.md``. The package is imported lazily: ``focusflow.chaos.points`` (the
BUGGIFY fault points that production code may call) loads nothing else, and the rest of
the harness (which needs the simulator) loads on first use of a name below.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "buggify": "focusflow.chaos.points",
    "accelerated": "focusflow.chaos.points",
    "Fault": "focusflow.chaos.faults",
    "fault_kind": "focusflow.chaos.faults",
    "register_byzantine": "focusflow.chaos.faults",
    "fault_from_dict": "focusflow.chaos.faults",
    "FaultPlan": "focusflow.chaos.plan",
    "load_plan": "focusflow.chaos.plan",
    "register_invariant": "focusflow.chaos.invariants",
    "provide": "focusflow.chaos.world",
    "ChaosWorld": "focusflow.chaos.world",
    "run_seed": "focusflow.chaos.campaign",
    "run_campaign": "focusflow.chaos.campaign",
    "shrink": "focusflow.chaos.shrink",
    "replay_trace": "focusflow.chaos.replay",
    "diff_traces": "focusflow.chaos.replay",
    "InputRecorder": "focusflow.chaos.record",
    "replay_recording": "focusflow.chaos.record_replay",
    "diff_recordings": "focusflow.chaos.record_replay",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'focusflow.chaos' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
