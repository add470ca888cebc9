"""Devnet benchmark: committed links/s and finality p50 of live validator processes on
loopback, next to the same workload shape under the deterministic consensus simulator.

* **devnet**: ``focusflow.topology.devnet``: n validator processes (mutual TLS over
  loopback, Cap'n Proto frames, durable SQLite block log and state), fed signed cyberlink
  transactions over the HTTP client API at a fixed rate, round robin. Figures are wall
  clock on this machine (all processes share its cores).
* **simulator (baseline)**: ``focusflow.actors.consensus.harness`` with the same n, the
  same transaction rate and one link per transaction, loopback-like latency (1 ms) and
  virtual time (3 s quick, 6 s full: every simulated round costs wall time): what the
  protocol gives when CPU is free.

Both runs use one link per transaction (the simulator's workload shape); the full run adds
the devnet with 40 links per transaction (the devnet's default batching).

π per block (issue 8/9 follow-up): the devnet at ``make demo``'s shape (100 tx/s x 40
links) twice, side by side: validators committing π with every block, and the same with
``commit_pi = false`` (headers carry zeros: the behaviour before), for links/s, finality
p50 and the π time per block the validators report. Then the π commitment alone on
synthetic graphs of growing size: the node's canonical path (``node.focus.FocusState``:
rebuild the CSR in canonical order, solve from the committed π, verify) next to the
kernels' incremental path the simulator's executor uses (``GraphStore.update`` + warm
``CpuSolver``), which is cheaper but not reproducible after a restart.

π in the state (W3): block h + 1 writes π of block h into ``/graph/pi`` (only the shards
that changed). Its extra cost per block is measured on the node's ``Ledger`` alone, side
by side in one run: the same signed blocks at the demo's shape (2000 particles, 40-link
transactions, ~28 a block) executed by a ledger with π in the state and one without
(``pi_in_state=False``: headers still commit π), block by block alternately, ms per
block, slices and bytes written; the devnet π runs also report the slices the live
validators wrote.

Event-loop stall (issue 8 follow-up): the devnet at the demo's shape twice, side by side:
validators with ``offload_io = true`` (SQLite commits with fsync in a worker thread) and
``offload_io = false`` (every commit on the event loop: the behaviour before). Each node
runs a 10 ms ticker task (``node.app.LoopMonitor``); its lateness is the loop's stall.
Reported: the worst node's max and p99 stall, ticks later than 50 ms, links/s, finality
p50/p99, the worker's queue depth and ms per job. ``--stall-only`` runs just this pair.

``--quick`` (about 80 s on 2 quiet cores): one devnet run of 8 s, the simulator, the two
π runs of 4 s, the stall pair of 6 s, the synthetic π cost at 2·10^4 links and the
π-in-state cost over 30 blocks.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from focusflow.actors.consensus.harness import Scenario, run
from focusflow.actors.state.core import LinkDeltas
from focusflow.kernels import CpuSolver, FocusParams, GraphStore
from focusflow.node.chain import Ledger
from focusflow.node.focus import FocusState
from focusflow.supervisor import open_file_database
from focusflow.topology.devnet import Devnet, Workload, run_workload


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False)
    return out.stdout.strip() or "unknown"


def devnet(n: int, duration_s: float, rate: int, links_per_tx: int, *,
           commit_pi: bool = True, offload_io: bool = True) -> dict[str, Any]:
    """One devnet run; its summary plus wall time, loop stall and worker queue figures."""
    root = Path(tempfile.mkdtemp(prefix="bench-devnet-"))
    t0 = time.monotonic()
    net = Devnet(root, validators=n, commit_pi=commit_pi, offload_io=offload_io)
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        report = run_workload(net, duration_s=duration_s, rate_txs=rate,
                              workload=Workload(chain_id=net.chain_id, links_per_tx=links_per_tx))
        statuses = [net.status(i) for i in net.alive()]
        pis = [st["validator"]["pi"] for st in statuses]
    finally:
        net.stop()
        shutil.rmtree(root, ignore_errors=True)
    out = report.summary()
    out["wall_s"] = round(time.monotonic() - t0, 1)
    out["pi_slices_written"] = max(int(p.get("slices_written", 0)) for p in pis)
    out["pi_slice_bytes_written"] = max(int(p.get("slice_bytes_written", 0)) for p in pis)
    loops = [st.get("loop", {}) for st in statuses]
    ios = [st["validator"].get("io", {}) for st in statuses]
    out["stall_ms_max"] = max(float(x.get("stall_ms_max") or 0) for x in loops)
    out["stall_ms_p99"] = max(float(x.get("stall_ms_p99") or 0) for x in loops)
    out["stalls_over_50ms"] = sum(int(x.get("stalls_over_50ms") or 0) for x in loops)
    out["io_queued_max"] = max(int(x.get("queued_max") or 0) for x in ios)
    out["io_job_ms_p50"] = max(float(x.get("batch_ms_p50") or 0) for x in ios)
    out["io_thread_ms_p50"] = max(float(x.get("thread_ms_p50") or 0) for x in ios)
    out["io_drains"] = sum(int(st["validator"]["counters"].get("io_drains", 0)) for st in statuses)
    return out


def stall_pair(n: int, duration_s: float) -> None:
    """The devnet at the demo's shape with SQLite commits off and on the loop, side by side."""
    print(f"\nevent-loop stall: devnet at the demo's shape (100 tx/s x 40 links, "
          f"{duration_s:.0f} s), SQLite commits in a worker thread vs on the loop, side by side")
    print(f"{'run':30} {'links/s':>9} {'final p50':>10} {'p99 ms':>8} {'stall max':>10} "
          f"{'stall p99':>10} {'>50ms':>6} {'q max':>6} {'batch ms':>9} {'in thread':>10} "
          f"{'drains':>7} {'agree':>6}")
    pair = [("offload_io = true (after)", devnet(n, duration_s, 100, 40, offload_io=True)),
            ("offload_io = false (before)", devnet(n, duration_s, 100, 40, offload_io=False))]
    for name, r in pair:
        print(f"{name:30} {r['links_per_second']:9.1f} {r['finality_ms_p50'] or 0:10.1f} "
              f"{r['finality_ms_p99'] or 0:8.1f} {r['stall_ms_max']:10.1f} {r['stall_ms_p99']:10.1f} "
              f"{r['stalls_over_50ms']:6d} {r['io_queued_max']:6d} {r['io_job_ms_p50']:9.2f} "
              f"{r['io_thread_ms_p50']:10.2f} "
              f"{r['io_drains']:7d} {r['agreement']!s:>6}")
    on, off = pair[0][1], pair[1][1]
    print(f"after / before: stall max x{on['stall_ms_max'] / max(off['stall_ms_max'], 1e-9):.2f}, "
          f"stall p99 x{on['stall_ms_p99'] / max(off['stall_ms_p99'], 1e-9):.2f}, "
          f"links/s x{on['links_per_second'] / max(off['links_per_second'], 1e-9):.2f}, "
          f"finality p50 x{(on['finality_ms_p50'] or 0) / max(off['finality_ms_p50'] or 1e-9, 1e-9):.2f}")


def pi_state_cost(blocks: int, *, txs_per_block: int = 28, particles: int = 2000,
                  links_per_tx: int = 40) -> dict[str, float]:
    """Per-block ``Ledger.execute`` ms with π written into the state vs without, same blocks,
    alternating block by block (the two see the same machine noise)."""
    work = Workload(chain_id="bench-pi-state", seed=5, particles=particles,
                    links_per_tx=links_per_tx)
    chain = [work.txs(txs_per_block)[0] for _ in range(blocks)]
    root = Path(tempfile.mkdtemp(prefix="bench-pi-state-"))
    on = Ledger(open_file_database(root / "on.sqlite"), chain_id=work.chain_id)
    off = Ledger(open_file_database(root / "off.sqlite"), chain_id=work.chain_id, pi_in_state=False)
    t_on: list[float] = []
    t_off: list[float] = []
    slices: list[float] = []
    kb: list[float] = []
    try:
        for h, txs in enumerate(chain, start=1):
            pair = ((on, t_on), (off, t_off)) if h % 2 else ((off, t_off), (on, t_on))
            roots = []
            for ledger, times in pair:
                t0 = time.perf_counter()
                roots.append(ledger.execute(txs))
                times.append((time.perf_counter() - t0) * 1e3)
            assert roots[0][1] == roots[1][1], "π roots must not depend on π in the state"
            slices.append(on.slices.last_slices)
            kb.append(on.slices.last_bytes / 1024)
        particles_seen = on.focus.n
    finally:
        on.close()
        off.close()
        shutil.rmtree(root, ignore_errors=True)
    skip = min(3, blocks // 4)  # the first blocks number most particles: not the steady state
    a, b = np.array(t_on[skip:]), np.array(t_off[skip:])
    return {"blocks": blocks, "particles": particles_seen, "links": on.focus.links,
            "on_p50": float(np.median(a)), "off_p50": float(np.median(b)),
            "on_p99": float(np.percentile(a, 99)), "off_p99": float(np.percentile(b, 99)),
            "extra_p50": float(np.median(a - b)), "slices": float(np.mean(slices[skip:])),
            "kb": float(np.mean(kb[skip:])), "on_total_s": float(a.sum() / 1e3),
            "off_total_s": float(b.sum() / 1e3)}


def simulator(n: int, duration_s: float, rate: int) -> dict[str, Any]:
    """The consensus harness with the same n and rate (one link per tx), 1 ms latency."""
    t0 = time.monotonic()
    result = run(Scenario(validators=n, seed=1, latency_ms=1.0, jitter_ms=0.2,
                          duration_ms=int(duration_s * 1000), tx_rate_per_s=rate))
    out = result.summary()
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def synthetic_blocks(links: int, block_links: int, particles: int,
                     seed: int = 3) -> list[LinkDeltas]:
    """Link-only blocks (one fresh neuron per 40 links, Zipf targets) totalling ``links``."""
    rng = np.random.default_rng(seed)
    cids = rng.integers(0, 256, size=(particles, 36), dtype=np.uint8)
    p = 1.0 / np.arange(1, particles + 1) ** 1.1
    p /= p.sum()
    out, made = [], 0
    while made < links:
        k = min(block_links, links - made)
        src = rng.choice(particles, k, p=p)
        dst = (src + 1 + rng.choice(particles - 1, k, p=p[:-1] / p[:-1].sum())) % particles
        ids = (made + np.arange(k)) // 40
        keep = np.sort(np.unique((ids * particles + src) * particles + dst, return_index=True)[1])
        src, dst, ids, k = src[keep], dst[keep], ids[keep], len(keep)  # a link is a set member
        neuron = np.zeros((k, 20), np.uint8)
        neuron[:, :8] = ids.astype("<u8").view(np.uint8).reshape(k, 8)
        out.append(LinkDeltas(neuron, cids[src], cids[dst], np.ones(k, np.int8)))
        made += block_links
    return out


def pi_cost(links: int, *, block_links: int = 2000, particles: int = 20_000) -> dict[str, float]:
    """Per-block ms of the last 3 blocks: canonical (node) vs incremental (kernels) path."""
    blocks = synthetic_blocks(links, block_links, particles)
    bulk = LinkDeltas(*(np.concatenate([getattr(d, f) for d in blocks[:-3]])
                        for f in ("neuron", "src", "dst", "sign")))
    blocks = [bulk, *blocks[-3:]]  # build up in one block (timed only at the end)
    state = FocusState()
    state.apply(1, bulk, {})
    t_node = []
    for h, d in enumerate(blocks[-3:], start=len(blocks) - 2):
        t0 = time.perf_counter()
        state.apply(h, d, {})
        t_node.append((time.perf_counter() - t0) * 1e3)
    # the baseline: the kernels' incremental store and a solver that keeps its own π
    store, solver = GraphStore(), None
    neurons: dict[bytes, int] = {}
    pids: dict[bytes, int] = {}
    t_inc = []
    for i, d in enumerate(blocks):
        t0 = time.perf_counter()
        u = np.array([neurons.setdefault(r.tobytes(), len(neurons)) for r in d.neuron])
        s = np.array([pids.setdefault(r.tobytes(), len(pids)) for r in d.src])
        t = np.array([pids.setdefault(r.tobytes(), len(pids)) for r in d.dst])
        delta = store.update(insert=(u, s, t), stakes={int(x): 1.0 for x in np.unique(u)})
        if solver is None:
            solver = CpuSolver(store, FocusParams())
        else:
            solver.apply(delta)
        solver.solve(warm=True)
        if i >= len(blocks) - 3:
            t_inc.append((time.perf_counter() - t0) * 1e3)
    return {"links": state.links, "particles": state.n, "edges_links": state.links,
            "node_ms": float(np.median(t_node)), "incremental_ms": float(np.median(t_inc))}


def main() -> None:
    """Print the table (absolute figures, baseline, ratio, machine)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--rate", type=int, default=400, help="txs per second offered")
    ap.add_argument("--stall-only", action="store_true", help="only the event-loop stall pair")
    args = ap.parse_args()
    duration = 8.0 if args.quick else 20.0
    n = args.validators
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}; commit {_commit()}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.stall_only:
        stall_pair(n, 6.0 if args.quick else 20.0)
        return
    print(f"workload: {n} validators, {args.rate} signed link txs/s offered for {duration:.0f} s")
    rows = []
    d1 = devnet(n, duration, args.rate, 1)
    rows.append(("devnet (processes, TLS, 1 link/tx)", d1))
    sim = simulator(n, 3.0 if args.quick else 6.0, args.rate)  # virtual s; costly in wall s
    rows.append(("simulator (virtual time, 1 link/tx)", sim))
    if not args.quick:
        rows.append(("devnet (processes, TLS, 40 links/tx)", devnet(n, duration, 50, 40)))
    print(f"{'run':40} {'links/s':>9} {'final p50 ms':>13} {'p99 ms':>8} {'height':>7} "
          f"{'links':>8} {'agree':>6} {'wall s':>7}")
    for name, r in rows:
        agree = r.get("agreement", r.get("invariants", {}).get("agreement"))
        print(f"{name:40} {r['links_per_second']:9.1f} {r['finality_ms_p50'] or 0:13.1f} "
              f"{r['finality_ms_p99'] or 0:8.1f} {r['finalized_height']:7d} "
              f"{r['links_committed']:8d} {agree!s:>6} {r['wall_s']:7.1f}")
    ratio_lps = d1["links_per_second"] / sim["links_per_second"] if sim["links_per_second"] else 0
    ratio_fin = (d1["finality_ms_p50"] or 0) / sim["finality_ms_p50"] if sim["finality_ms_p50"] else 0
    print(f"devnet / simulator: links/s x{ratio_lps:.2f}, finality p50 x{ratio_fin:.2f}")
    if "submitted_txs" in d1:
        print(f"devnet submitted {d1['submitted_txs']} txs, accepted {d1['accepted_txs']}, "
              f"shed {d1['shed_txs']}")
    pi_duration = 4.0 if args.quick else 20.0
    print(f"\nπ per block: devnet at the demo's shape (100 tx/s x 40 links, {pi_duration:.0f} s), "
          f"side by side")
    print(f"{'run':34} {'links/s':>9} {'final p50 ms':>13} {'height':>7} {'particles':>9} "
          f"{'π p50 ms':>9} {'π max ms':>9} {'π total s':>10} {'π agree':>8} {'slices':>7} "
          f"{'slice MB':>9}")
    pair = [("π committed every block", devnet(n, pi_duration, 100, 40, commit_pi=True)),
            ("π off (before: zero pi_root)", devnet(n, pi_duration, 100, 40, commit_pi=False))]
    for name, r in pair:
        tot = max(r["pi_ms_total"]) / 1e3 if r["pi_ms_total"] else 0.0
        print(f"{name:34} {r['links_per_second']:9.1f} {r['finality_ms_p50'] or 0:13.1f} "
              f"{r['finalized_height']:7d} {r['pi_particles']:9d} {r['pi_ms_p50'] or 0:9.2f} "
              f"{r['pi_ms_max'] or 0:9.2f} {tot:10.2f} {r['pi_root_agreement']!s:>8} "
              f"{r['pi_slices_written']:7d} {r['pi_slice_bytes_written'] / 2**20:9.2f}")
    on, off = pair[0][1], pair[1][1]
    print(f"π on / off: links/s x{on['links_per_second'] / max(off['links_per_second'], 1e-9):.2f}, "
          f"finality p50 x{(on['finality_ms_p50'] or 0) / max(off['finality_ms_p50'] or 1e-9, 1e-9):.2f}; "
          f"π root at the common height {on['pi_root'][:16]}…")
    stall_pair(n, 6.0 if args.quick else 20.0)
    print("\nπ commitment alone, per block of 2000 new links (median of the last 3 blocks)")
    print(f"{'links':>9} {'particles':>9} {'node ms (canonical)':>20} {'kernels ms (incremental)':>25} "
          f"{'ratio':>6}")
    for links in ((20_000,) if args.quick else (10_000, 100_000, 1_000_000)):
        c = pi_cost(links)
        print(f"{c['links']:9d} {c['particles']:9d} {c['node_ms']:20.1f} "
              f"{c['incremental_ms']:25.1f} {c['node_ms'] / c['incremental_ms']:6.2f}")

    blocks = 30 if args.quick else 120
    print(f"\nπ in the state: Ledger.execute per block, {blocks} blocks of 28 txs x 40 links "
          f"(demo shape), with vs without /graph/pi slices, alternating (steady state)")
    print(f"{'particles':>9} {'links':>7} {'on p50 ms':>10} {'off p50 ms':>11} {'extra p50 ms':>13} "
          f"{'on p99':>7} {'off p99':>8} {'ratio':>6} {'slices/blk':>11} {'KB/blk':>7}")
    shapes = [(2000,)] if args.quick else [(2000,), (20_000,)]
    for (particles,) in shapes:
        c = pi_state_cost(blocks, particles=particles)
        print(f"{c['particles']:9.0f} {c['links']:7.0f} {c['on_p50']:10.2f} {c['off_p50']:11.2f} "
              f"{c['extra_p50']:13.2f} {c['on_p99']:7.1f} {c['off_p99']:8.1f} "
              f"{c['on_p50'] / c['off_p50']:6.2f} {c['slices']:11.1f} {c['kb']:7.1f}")


if __name__ == "__main__":
    main()
