"""Shard workers as supervised actors under the simulator: delays, reordering, kills."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from focusflow.actors.rank.actor import Placement, RankTopology
from focusflow.actors.rank.simrun import Kill, NetworkFaults, sharded_focus
from focusflow.cli import rank as rank_cli
from focusflow.kernels import FocusParams
from focusflow.sim.scenarios import run_scenario

from ._graphs import BOUND_L1, random_edges, real_edges, single, store_of

FAULTY = NetworkFaults(latency_ms=3.0, jitter_ms=2.5, reorder=0.3, duplicate=0.05, loss=0.02)


@pytest.mark.parametrize("shards", [1, 2, 4, 8])
def test_sharded_pi_under_delays_and_reordering_equals_the_single_kernel(shards: int) -> None:
    store = store_of(random_edges(20 + shards, n=400, m=2500), shards)
    out, run = sharded_focus(store, seed=shards, faults=FAULTY)
    net = run.sim.statistics()["network"]
    if shards > 1:
        assert net["reordered"] > 0 and net["sent"] > 0  # the messages crossed a rough net
    assert out.converged and out.epochs == 1
    assert np.abs(out.pi - single(store)).sum() < 1e-12


@pytest.mark.parametrize("shards", [2, 8])
def test_real_graph_sharded_over_fewer_hosts_than_shards(shards: int) -> None:
    store = store_of(real_edges(), shards)
    out, run = sharded_focus(store, seed=3, hosts=2, faults=FAULTY)
    assert len(run.topology.hosts) == 2
    assert out.converged and np.abs(out.pi - single(store)).sum() < 1e-12


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chaos_kills_shard_workers_mid_computation_and_the_committed_pi_is_right(
        seed: int) -> None:
    store = store_of(random_edges(seed, n=500, m=3000), 4)
    kills = [Kill(4.0, seed % 4, "kill"), Kill(9.0, (seed + 1) % 4, "gpu"),
             Kill(15.0, (seed + 2) % 4, "crash"), Kill(22.0, seed % 4, "kill")]
    out, run = sharded_focus(store, seed=seed, faults=FAULTY, kills=kills)
    assert len(run.kills_done) == 4
    restarts = sum(n["restarts"] for n in run.sim.statistics()["nodes"].values())
    assert restarts == 4  # each failed worker came back under its supervisor
    assert out.epochs > 1  # the computation was really interrupted
    assert out.converged and np.abs(out.pi - single(store, eps=1e-13)).sum() < BOUND_L1
    assert out.verdict is not None and out.verdict.accepted
    assert not run.journal.penalties
    assert run.placement.demoted == {k.shard for k in kills}  # restarted on the CPU path
    assert run.sim.check_invariants()


def test_a_killed_coordinator_restarts_and_recomputes_the_block() -> None:
    store = store_of(random_edges(3, n=500, m=3000), 4)
    out, run = sharded_focus(store, seed=2, faults=FAULTY,
                             kills=[Kill(6.0, -1, "kill"), Kill(12.0, 2, "kill")])
    assert len(run.kills_done) == 2
    assert run.journal.epoch_high >= 3  # epochs stay monotonic across coordinators
    assert out.epochs == 2  # the new coordinator's epoch, then the worker restart's
    assert out.converged and np.abs(out.pi - single(store, eps=1e-13)).sum() < BOUND_L1


def test_placement_spreads_shards_over_gpus_and_demotes_a_restarted_worker() -> None:
    p = Placement(gpus=2)
    assert [p.device_for(s) for s in range(4)] == [0, 1, 0, 1]
    assert p.device_for(1) is None and 1 in p.demoted  # second start: CPU path
    assert p.device_for(1) is None
    assert Placement(gpus=0).device_for(0) is None


def test_topology_places_shard_k_on_host_k_mod_h() -> None:
    t = RankTopology(5, ("a", "b"))
    assert [t.host_of(s) for s in range(5)] == ["a", "b", "a", "b", "a"]
    assert t.shards_on("b") == [1, 3] and t.host_of(-1) == "a"


def test_gpu_path_runs_when_cupy_and_a_device_exist() -> None:
    cupy = pytest.importorskip("cupy")
    if cupy.cuda.runtime.getDeviceCount() < 1:
        pytest.skip("no CUDA device")
    store = store_of(random_edges(4), 2)
    out, run = sharded_focus(store, gpus=cupy.cuda.runtime.getDeviceCount())
    assert all(b.startswith("cuda") for b in run.journal.coordinator.backends.values())
    assert np.abs(out.pi - single(store)).sum() < 1e-9


def test_capped_run_under_the_simulator_is_penalised_and_the_chain_goes_on() -> None:
    store = store_of(random_edges(2), 2)
    out, run = sharded_focus(store, params=FocusParams(iterations_max=2))
    assert not out.converged and run.journal.penalties
    assert run.journal.committed[-1].converged is False


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    rank_cli.register(parser.add_subparsers())
    args = parser.parse_args(["rank", *argv])
    return int(args.func(args))


def test_cli_rank_shards_writes_the_same_pi_as_the_single_kernel(tmp_path: Path) -> None:
    s, d, w, _n = random_edges(30, n=120, m=600)
    edges = tmp_path / "e.tsv"
    edges.write_text("".join(f"n{a}\tn{b}\t{float(x)!r}\n" for a, b, x in zip(s, d, w, strict=True)))
    one, four = tmp_path / "one.tsv", tmp_path / "four.tsv"
    assert _cli(str(edges), "--out", str(one), "--backend", "cpu", "--quiet") == 0
    assert _cli(str(edges), "--out", str(four), "--backend", "cpu", "--quiet",
                "--shards", "4") == 0
    a = {k: float(v) for k, v in (ln.split("\t") for ln in one.read_text().splitlines())}
    b = {k: float(v) for k, v in (ln.split("\t") for ln in four.read_text().splitlines())}
    assert a.keys() == b.keys() and sum(abs(a[k] - b[k]) for k in a) < 1e-12
    assert _cli(str(edges), "--out", str(four), "--backend", "cpu", "--quiet",
                "--shards", "5000") == 2


def test_sim_cli_option_shards_selects_the_rank_scenario() -> None:
    from focusflow.cli import sim as sim_cli

    parser = argparse.ArgumentParser()
    sim_cli.register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["sim", "--shards", "3"]).scenario == "rank"
    assert parser.parse_args(["sim", "--scenario", "demo", "--shards", "3"]).scenario == "demo"


def test_rank_scenario_keeps_the_chain_going_with_kills_and_stores_delta_rank() -> None:
    summary = run_scenario("rank", 5, duration_ms=8_500.0, options={"shards": 3})
    assert summary["ok"], summary["invariants"]
    rank = summary["rank"]
    assert rank["blocks_committed"] >= 5 and rank["kills"] >= 2 and rank["restarts"] >= 2
    assert rank["graph_writes"] == 2 and rank["graph_focus_checked"] is True
    assert rank["error_l1_max"] <= rank["error_bound"]
    again = run_scenario("rank", 5, duration_ms=8_500.0, options={"shards": 3})
    assert again["trace_hash"] == summary["trace_hash"]  # deterministic from the seed
