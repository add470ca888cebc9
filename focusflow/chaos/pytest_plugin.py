"""pytest plugin: ``--sim-seeds A-B`` and the ``sim_seed`` / ``chaos_sim`` fixtures.

Enable it with ``pytest -p focusflow.chaos.pytest_plugin`` or
``pytest_plugins = ["focusflow.chaos.pytest_plugin"]`` in a ``conftest.py``. A test that
takes ``sim_seed`` (or ``chaos_sim``, a fresh ``Simulation`` of that seed) runs once per
seed of ``--sim-seeds`` (default 0-4). For the decorator form see ``focusflow.testing``.
"""

from __future__ import annotations

from typing import Any

import pytest

SEEDS_DEFAULT = "0-4"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--sim-seeds``."""
    parser.addoption("--sim-seeds", default=SEEDS_DEFAULT,
                     help=f"seeds for simulation tests, A-B or N (default {SEEDS_DEFAULT})")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests that use ``sim_seed`` (directly or via ``chaos_sim``)."""
    from focusflow.chaos.campaign import parse_seeds

    if "sim_seed" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else ""
        if "sim_seed" in (names.split(",") if isinstance(names, str) else names):
            return  # focusflow.testing.sim_test chose the seeds already
    seeds = list(parse_seeds(metafunc.config.getoption("--sim-seeds")))
    metafunc.parametrize("sim_seed", seeds, ids=[f"seed={s}" for s in seeds])


@pytest.fixture
def chaos_sim(sim_seed: int) -> Any:
    """A fresh ``Simulation`` of the seed; its invariants are checked at teardown."""
    from focusflow.sim import Simulation

    sim = Simulation(sim_seed)
    yield sim
    sim.check_invariants()
    assert not sim.violations, f"seed {sim_seed}: {sim.violations[0]}"
