"""Benchmark: the full network (real block execution) vs consensus on the toy transition.

Side by side in one run, under the deterministic simulator (virtual time):

* ``consensus`` scenario: validators order signed 168-byte links; execution is the
  harness's hash chain (``toy_state_transition``);
* ``network`` scenario: the same validators, same options, but each runs the live node's
  tree, whose ``node.chain.Ledger`` executes blocks (state core + SMT root, π, the DA
  square's NMT data root sampled before signing) and txs are state-format signed link
  batches (1..4 links each).

Figures per configuration: committed txs per virtual second (the consensus summary's
``links_per_second``: one tx = one link in the toy workload; the network's
``txs_per_second``: 1..4 links each), links applied to the graph per virtual second
(the network's ``links_per_second``), finality p50/p99 (virtual
ms), wall seconds per virtual second, and the network/toy ratios. Then the simulator's
``BlockExecutor`` alone (state, π, economics; no DA path since issue 15 item 2): ms per
block of 100 txs against the toy transition on the same txs (one validator, no shared
caches).

    .venv/bin/python benchmarks/bench_chain.py --quick      # < 60 s on 2 cores
    .venv/bin/python benchmarks/bench_chain.py              # 4, 7, 10 validators, 10 s each
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from focusflow.actors.chain.workload import LinkWorkload, WorkloadConfig
from focusflow.actors.consensus.harness import toy_state_transition
from focusflow.actors.state.tx import tx_hash_of
from focusflow.node.chain import Ledger
from focusflow.sim.scenarios import run_scenario
from focusflow.supervisor import open_file_database


def _machine() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = "?"
    return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, commit {commit}")


def _row(name: str, s: dict[str, Any]) -> dict[str, Any]:
    virtual = s["virtual_seconds"] or 1.0
    chain = s.get("chain", {})
    return {
        "scenario": name,
        "ok": s["ok"],
        "height": s["finalized_height"],
        "txs_per_s": s.get("txs_per_second", s["links_per_second"]),
        "graph_links_per_s": s["links_per_second"] if "txs_per_second" in s else None,
        "p50": s["finality_ms_p50"],
        "p99": s["finality_ms_p99"],
        "wall_per_virtual_s": round(s["wall_seconds"] / virtual, 2),
        "rejected": chain.get("rejected"),
    }


def _compare(validators: int, byzantine: int, rate: float, duration_ms: float, seed: int) -> None:
    opts = {"validators": validators, "byzantine": byzantine, "latency": 50.0, "tx_rate": rate,
            "seed": seed, "neurons": 1024}
    toy = _row("consensus (toy)", run_scenario("consensus", seed, duration_ms=duration_ms, options=opts))
    net = _row("network (real)", run_scenario("network", seed, duration_ms=duration_ms, options=opts))
    print(f"\n{validators} validators, {byzantine} Byzantine, 50 ms latency, offered {rate:.0f} tx/s, "
          f"{duration_ms / 1000:.0f} virtual s, seed {seed}")
    print(f"  {'':18} {'ok':>5} {'height':>6} {'tx/s':>7} {'links/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'wall/virt':>9}")
    for r in (toy, net):
        links = "-" if r["graph_links_per_s"] is None else f"{r['graph_links_per_s']:.0f}"
        print(f"  {r['scenario']:18} {r['ok']!s:>5} {r['height']:>6} {r['txs_per_s']:>7.1f} {links:>8} "
              f"{r['p50'] or 0:>8.0f} {r['p99'] or 0:>8.0f} {r['wall_per_virtual_s']:>9.2f}")
    ratio = net["txs_per_s"] / toy["txs_per_s"] if toy["txs_per_s"] else float("nan")
    p50 = (net["p50"] or 0) / (toy["p50"] or 1)
    wall = net["wall_per_virtual_s"] / max(toy["wall_per_virtual_s"], 1e-9)
    print(f"  ratio network/toy: tx/s {ratio:.2f}, finality p50 {p50:.2f}, wall per virtual s {wall:.2f}"
          f"; state rejections {net['rejected']}")


def _executor_only(blocks: int, per_block: int) -> None:
    wl = LinkWorkload(WorkloadConfig(neurons=max(per_block, 256), invalid_share=0.0), seed=1)
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(open_file_database(Path(tmp) / "state.sqlite"), chain_id=wl.config.chain_id,
                        genesis_balances=wl.genesis_balances())
        real = toy = 0.0
        links = 0
        parent = bytes(32)
        for b in range(blocks):
            txs = [s.payload for s in wl.make(per_block, b, rng)]
            t0 = time.perf_counter()
            ledger.execute(txs)
            t1 = time.perf_counter()
            parent, _ = toy_state_transition(parent, txs)
            t2 = time.perf_counter()
            real += t1 - t0
            toy += t2 - t1
            links += ledger.last_links
            hashes = [tx_hash_of(t) for t in txs]
            wl.on_finalized([h for h in hashes if (ledger.tx_outcome(h) or (0, "x"))[1] == ""], hashes)
        particles = ledger.focus.n
        ledger.close()
    print(f"\nexecutor alone, {blocks} blocks x {per_block} txs ({links} links, {particles} particles "
          f"at the end), one validator, no shared caches:")
    print(f"  Ledger             {1000 * real / blocks:8.1f} ms/block  {blocks * per_block / real:8.0f} tx/s  "
          f"{links / real:8.0f} links/s")
    print(f"  toy transition     {1000 * toy / blocks:8.3f} ms/block  {blocks * per_block / toy:8.0f} tx/s")
    print(f"  ratio real/toy per block: {real / toy:.0f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run (< 60 s on 2 cores)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {_machine()}")
    started = time.perf_counter()
    if args.quick:
        _compare(4, 0, 200.0, 4000.0, args.seed)
        _compare(7, 1, 200.0, 3000.0, args.seed)
        _executor_only(10, 100)
    else:
        for n, f in ((4, 0), (4, 1), (7, 2), (10, 3)):
            _compare(n, f, 200.0, 10_000.0, args.seed)
        _compare(4, 0, 600.0, 10_000.0, args.seed)
        _executor_only(40, 100)
        _executor_only(10, 1000)
    print(f"\ntotal wall {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
