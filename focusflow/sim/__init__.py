"""The deterministic simulator (``Simulation``): see ``docs/sim.md``.

Production code paths never import this package.
"""

from focusflow.sim._disk import SimDisk
from focusflow.sim._feed import NodeFeed
from focusflow.sim._network import LinkConfig, SimNetwork
from focusflow.sim._sim import InvariantViolation, SimRuntime, Simulation, derive_seed

__all__ = [
    "InvariantViolation",
    "LinkConfig",
    "NodeFeed",
    "SimDisk",
    "SimNetwork",
    "SimRuntime",
    "Simulation",
    "derive_seed",
]
