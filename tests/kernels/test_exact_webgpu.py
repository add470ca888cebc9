"""Exact focus: WebGPU (WGSL, 32-bit words; Mesa llvmpipe in CI) gives the CPU's bits."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from focusflow.cli import rank
from focusflow.kernels import BackendUnavailable, GraphStore, backend_for
from focusflow.kernels._exact import exact_reference
from tests.kernels.test_exact import exact_cyberlinks

pytestmark = pytest.mark.webgpu


@pytest.fixture(scope="module")
def webgpu():
    try:
        return backend_for("webgpu")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("seed", range(3))
def test_webgpu_gives_the_cpu_bits_on_random_graphs(webgpu, seed: int) -> None:
    store, _, _ = exact_cyberlinks(seed, n=300 + 50 * seed, m=3000)
    cpu = backend_for("cpu").exact_solver(store).solve()
    gpu = webgpu.exact_solver(store).solve()
    assert cpu.converged and gpu.converged and gpu.backend == "webgpu"
    assert gpu.root == cpu.root and gpu.residuals == cpu.residuals
    np.testing.assert_array_equal(gpu.q, cpu.q)


def test_webgpu_is_the_definition_on_extreme_weights(webgpu) -> None:
    """Weights near 2^54 and 1 side by side: every carry of the 32-bit emulation is used."""
    rng = np.random.default_rng(9)
    w = np.where(rng.random(200) < 0.5, rng.integers(1, 4, 200), rng.integers(2**53, 2**54, 200))
    store = GraphStore.from_edges(rng.integers(0, 30, 200), rng.integers(0, 30, 200), w,
                                  n=30, exact=True)
    ref, iterations, _ = exact_reference(store)
    res = webgpu.exact_solver(store).solve()
    assert res.q.tolist() == ref and res.iterations == iterations


def _edit_batches(seed: int, n: int):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(4):
        m = 150
        batches.append(dict(insert=(rng.integers(0, 12, m), rng.integers(n // 4, n, m),
                                    rng.integers(0, n, m)),
                            remove=(rng.integers(0, 12, 40), rng.integers(0, n, 40),
                                    rng.integers(0, n, 40))))
    return batches


@pytest.mark.parametrize("seed", range(2))
def test_edits_in_different_orders_give_the_same_root_on_both(webgpu, seed: int) -> None:
    """Batches of inserts + one set of removals + restakes, in two orders (through the
    delta segment, tombstones and compactions): one root on CPU and WebGPU."""
    n = 200
    batches = _edit_batches(seed, n)
    rng = np.random.default_rng(100 + seed)
    final_stakes = {u: int(rng.integers(0, 10**9)) for u in range(12)}
    roots = set()
    for order in ([0, 1, 2, 3], [3, 1, 0, 2]):
        store, _, _ = exact_cyberlinks(seed, n=n, m=1500, neurons=12)
        store.csr.compact_fraction = 0.05
        for i in order:  # inserts commute; the removals come last, in one batch
            store.update(insert=batches[i]["insert"])
        for i in order:
            store.update(remove=batches[i]["remove"])
        store.update(stakes=final_stakes)
        cpu = backend_for("cpu").exact_solver(store).solve()
        gpu = webgpu.exact_solver(store).solve()
        assert gpu.root == cpu.root
        roots.add(cpu.root)
    assert len(roots) == 1


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    rank.register(parser.add_subparsers())
    args = parser.parse_args(["rank", *argv])
    return int(args.func(args))


def test_cli_files_and_roots_are_identical(webgpu, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(4)
    edges = tmp_path / "e.tsv"
    lines = [f"Qm{a}\tQm{b}\t{w}" for a, b, w in zip(rng.integers(0, 400, 4000),
                                                  (rng.zipf(1.5, 4000) - 1) % 400,
                                                  rng.integers(1, 10**6, 4000), strict=True)]
    edges.write_text("\n".join(lines) + "\n")
    summaries, texts = [], []
    for backend in ("cpu", "webgpu"):
        out = tmp_path / f"{backend}.tsv"
        assert _cli(str(edges), "--out", str(out), "--exact", "--backend", backend,
                    "--quiet") == 0
        summaries.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
        texts.append(out.read_bytes())
    assert texts[0] == texts[1]
    assert summaries[0]["pi_root"] == summaries[1]["pi_root"]
    assert summaries[1]["backend"] == "webgpu" and summaries[1]["scale_bits"] == 60
