"""Fault plans: declarative (TOML) schedules of faults, explicit and/or generated.

A plan names the scenario to run (a ``focusflow.sim`` scenario), its options, the
duration, explicit faults, and how many random faults to *generate* per seed (from the
chaos RNG of that seed, so a seed's schedule is reproducible). Example::

    scenario = "quorum"
    duration_ms = 3000       # default: the scenario's own duration

    [options]
    bug = "quorum_off_by_one"

    [buggify]                # fault points (focusflow.chaos.points.buggify)
    enabled = true

    [generate]
    count = 6
    kinds = ["partition", "crash_node", "drop", "delay"]
    window_ms = [100, 2500]

    [[faults]]
    kind = "partition"
    at_ms = 500
    groups = [["n0", "n1"]]
    heal_after_ms = 800

The *concrete* schedule of a run (explicit plus generated faults, in time order) is what
trace files store and what shrinking reduces.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from focusflow.chaos.faults import Fault, fault_from_dict, fault_kinds
from focusflow.chaos.world import ChaosWorld

SCENARIO_DEFAULT = "quorum"
DURATION_MS_MAX = 24 * 3_600_000.0
GENERATE_COUNT_MAX = 1_000
FAULTS_MAX = 10_000
#: Kinds generated when a plan names none: safe for any scenario (no Byzantine).
GENERATE_KINDS_DEFAULT = ("partition", "isolate", "crash_node", "kill_actor", "drop",
                          "duplicate", "reorder", "delay", "clock_skew", "fsync_fail")
_TOP_KEYS = {"scenario", "duration_ms", "invariant_every", "options", "buggify", "generate",
             "faults", "settle_ms"}
#: Longest settle phase a plan may ask for (virtual ms).
SETTLE_MS_MAX = 600_000.0


class PlanError(ValueError):
    """The plan file is wrong (its author's fault); the message says where."""


@dataclasses.dataclass(frozen=True)
class FaultPlan:
    """A parsed fault plan (see the module docstring)."""

    scenario: str = SCENARIO_DEFAULT
    #: Virtual milliseconds per run; None: the scenario's own duration.
    duration_ms: float | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    generate_count: int = 0
    generate_kinds: tuple[str, ...] = GENERATE_KINDS_DEFAULT
    window_ms: tuple[float, float] | None = None
    buggify: bool = False
    buggify_enable_probability: float = 0.25
    invariant_every: int = 1
    #: After the run: heal every fault, run this long more, and require progress
    #: (``liveness.after_heal``; 0: no settle phase). See ``campaign.settle``.
    settle_ms: float = 0.0

    def __post_init__(self) -> None:
        assert 0.0 <= self.settle_ms <= SETTLE_MS_MAX, self.settle_ms
        assert self.duration_ms is None or 0 < self.duration_ms <= DURATION_MS_MAX, \
            self.duration_ms
        assert 0 <= self.generate_count <= GENERATE_COUNT_MAX, self.generate_count
        assert len(self.faults) <= FAULTS_MAX
        assert self.invariant_every >= 1
        unknown = [k for k in self.generate_kinds if k not in fault_kinds()]
        if unknown:
            raise PlanError(f"unknown fault kind(s) to generate: {', '.join(unknown)}")

    def concretize(self, world: ChaosWorld, duration_ms: float) -> list[Fault]:
        """The run's schedule: explicit faults plus ``generate_count`` random ones drawn
        from the world's chaos RNG (within ``window_ms``, default 5 %..80 % of the run's
        ``duration_ms``), sorted by time (stable)."""
        rng = world.rng
        start, end = self.window_ms or (0.05 * duration_ms, 0.8 * duration_ms)
        kinds = fault_kinds()
        generated: list[Fault] = []
        attempts = 0
        while len(generated) < self.generate_count and attempts < 4 * self.generate_count:
            attempts += 1
            kind = self.generate_kinds[rng.randrange(len(self.generate_kinds))]
            at_ms = round(rng.uniform(start, end), 3)
            try:
                generated.append(kinds[kind].random(rng, world, at_ms))
            except NotImplementedError:
                continue  # a kind this world cannot have (e.g. no Byzantine behaviour)
        return sorted([*self.faults, *generated], key=lambda f: f.at_ms)

    def with_faults(self, faults: Sequence[Fault]) -> FaultPlan:
        """The same plan with exactly ``faults`` and nothing generated (shrinking)."""
        return dataclasses.replace(self, faults=tuple(faults), generate_count=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready form (inverse of ``plan_from_dict``)."""
        out: dict[str, Any] = {"scenario": self.scenario, "invariant_every": self.invariant_every,
                               "options": dict(self.options),
                               "buggify": {"enabled": self.buggify,
                                           "enable_probability":
                                           self.buggify_enable_probability},
                               "faults": [f.to_dict() for f in self.faults]}
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        if self.settle_ms:
            out["settle_ms"] = self.settle_ms
        if self.generate_count:
            out["generate"] = {"count": self.generate_count,
                               "kinds": list(self.generate_kinds)}
            if self.window_ms is not None:
                out["generate"]["window_ms"] = list(self.window_ms)
        return out


def plan_from_dict(data: Mapping[str, Any]) -> FaultPlan:
    """Build a plan from its parsed TOML/JSON form.

    Raises:
        PlanError: unknown keys, kinds or fields, or values out of range.
    """
    extra = sorted(set(data) - _TOP_KEYS)
    if extra:
        raise PlanError(f"unknown plan key(s): {', '.join(extra)}")
    gen = dict(data.get("generate", {}))
    bug = dict(data.get("buggify", {}))
    try:
        faults = tuple(fault_from_dict(f) for f in data.get("faults", ()))
        window = gen.get("window_ms")
        return FaultPlan(
            scenario=str(data.get("scenario", SCENARIO_DEFAULT)),
            duration_ms=float(data["duration_ms"]) if "duration_ms" in data else None,
            options=dict(data.get("options", {})),
            faults=faults,
            generate_count=int(gen.get("count", 0)),
            generate_kinds=tuple(gen.get("kinds", GENERATE_KINDS_DEFAULT)),
            window_ms=(float(window[0]), float(window[1])) if window else None,
            buggify=bool(bug.get("enabled", False)),
            buggify_enable_probability=float(bug.get("enable_probability", 0.25)),
            invariant_every=int(data.get("invariant_every", 1)),
            settle_ms=float(data.get("settle_ms", 0.0)),
        )
    except (AssertionError, TypeError) as exc:
        raise PlanError(f"invalid plan: {exc or type(exc).__name__}") from exc


def load_plan(path: str | Path) -> FaultPlan:
    """Parse a TOML fault plan file.

    Raises:
        PlanError: not valid TOML, or not a valid plan.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: {exc}") from exc
    return plan_from_dict(data)


def plan_to_toml(plan: FaultPlan) -> str:
    """Write a plan as TOML (enough for the plans this package produces: shrunk ones)."""
    d = plan.to_dict()
    lines = [f"scenario = {_toml(d['scenario'])}"]
    if "duration_ms" in d:
        lines.append(f"duration_ms = {_toml(d['duration_ms'])}")
    if "settle_ms" in d:
        lines.append(f"settle_ms = {_toml(d['settle_ms'])}")
    lines += [f"invariant_every = {d['invariant_every']}", "", "[options]"]
    lines += [f"{k} = {_toml(v)}" for k, v in sorted(d["options"].items())]
    lines += ["", "[buggify]"] + [f"{k} = {_toml(v)}" for k, v in d["buggify"].items()]
    if "generate" in d:
        lines += ["", "[generate]"] + [f"{k} = {_toml(v)}" for k, v in d["generate"].items()]
    for fault in d["faults"]:
        lines += ["", "[[faults]]"] + [f"{k} = {_toml(v)}" for k, v in fault.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
