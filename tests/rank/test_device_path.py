"""The device (CuPy) code path of the shard cores, run on a numpy stand-in for CuPy.

No GPU here: ``cupy`` and ``cupyx.scipy.sparse`` are replaced by shims over numpy and
scipy, so these tests check the plumbing of the device path (the non-numpy branches,
device contexts, placement over two "GPUs", demotion to the CPU after a failure), not
CuPy itself; ``test_sim.py::test_gpu_path_runs_when_cupy_and_a_device_exist`` does that
where a device exists.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse

from focusflow.actors.rank import LocalRank
from focusflow.actors.rank.simrun import Kill, sharded_focus

from ._graphs import random_edges, single, store_of


class _Device:
    entered: ClassVar[list[int]] = []

    def __init__(self, device: int) -> None:
        self.device = device

    def __enter__(self) -> _Device:
        _Device.entered.append(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _FakeCupy(types.ModuleType):
    """numpy under another name: ``xp is np`` is False, so the device branches run."""

    def __init__(self) -> None:
        super().__init__("cupy")
        self.cuda = types.SimpleNamespace(
            Device=_Device,
            runtime=types.SimpleNamespace(getDeviceCount=lambda: 2))

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> Iterator[_FakeCupy]:
    fake = _FakeCupy()
    cupyx = types.ModuleType("cupyx")
    cupyx_scipy = types.ModuleType("cupyx.scipy")
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    monkeypatch.setitem(sys.modules, "cupyx.scipy", cupyx_scipy)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.sparse", scipy.sparse)
    _Device.entered.clear()
    yield fake


def test_device_cores_spread_over_two_devices_give_the_cpu_result(fake_cupy: _FakeCupy) -> None:
    edges = random_edges(12, n=400, m=2500)
    cpu = LocalRank(store_of(edges, 4)).begin()
    wire = LocalRank(store_of(edges, 4), seed=3, devices=[0, 1, 0, 1])
    out = wire.begin()
    assert [c.backend for c in wire.shards] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert set(_Device.entered) == {0, 1}  # every input ran inside its shard's device
    assert np.abs(out.pi - cpu.pi).sum() < 1e-12 and out.iterations == cpu.iterations
    wire.invariants()


def test_a_failed_device_worker_comes_back_on_the_cpu_path(fake_cupy: _FakeCupy) -> None:
    store = store_of(random_edges(13, n=400, m=2500), 4)
    out, run = sharded_focus(store, seed=2, gpus=2, kills=[Kill(6.0, 1, "gpu"),
                                                           Kill(11.0, 2, "kill")])
    backends = run.journal.coordinator.backends  # type: ignore[union-attr]
    assert backends == {0: "cuda:0", 1: "cpu", 2: "cpu", 3: "cuda:1"}
    assert out.converged and out.epochs > 1
    assert np.abs(out.pi - single(store, eps=1e-13)).sum() < 1e-5
