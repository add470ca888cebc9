"""Benchmark: the state executor alone, today's per-link path vs the columnar one (issue 18).

Blocks of 10^4 and 10^5 links: 1,000 signed link transactions of 10 links, and 2,000 of
50 links (the issue asks for 1,000 of 100, but ``TX_BYTES_MAX`` = 4,096 bytes caps a tx
at 56 links; the block holds the same 10^5 links). Each neuron sends one tx per block. Both paths run on the same blocks in the same
process, one after the other, each on its own in-memory state (a dict that folds every
committed block's writes, so SQLite is not measured):

* ``reference``: :meth:`StateCore.prepare_block_reference` (decode inside, one Python step
  per link, the node-by-node SMT update) + ``block_committed`` on a tree whose ``apply``
  is the old per-entry loop: the executor as it was at 9e7c772;
* ``columnar``: :func:`decode_block` once, then :meth:`StateCore.prepare_block` with the
  decoded txs + ``block_committed``; ``cold`` when no tx was decoded before (a block from
  sync), ``admitted`` when each was decoded at mempool admission (untimed, like the
  signature check) and execution finds it in ``decode_tx``'s memo.

Signatures count as verified (the validator checks each tx once, at mempool admission),
so neither path verifies them here. Every block's root must be identical on both paths;
the script asserts it.

``--ledger`` measures the live node's one executor instead (issue 15 item 2): per block,
``Ledger.execute`` (state core, SQLite commit, π) and then the header's data root as the
tree under test defines it: ``Ledger.da_root_of`` (the NMT root of the block's
erasure-coded square, built inside ``execute``, plus 16 sampled shares checked against
it) where the ledger has it, else the consensus core's ``merkle_da_root`` (a BLAKE3 Merkle
root of tx digests: the tree before). Run it against an older tree with
``PYTHONPATH=<tree>``; the script uses only what both trees have. ``square`` is
``commit_block`` alone on the same txs (RS extension + NMT roots), for scale.

    .venv/bin/python benchmarks/bench_executor.py            # 3 blocks of each size
    .venv/bin/python benchmarks/bench_executor.py --blocks 5
    .venv/bin/python benchmarks/bench_executor.py --ledger --blocks 3
    cd /tmp && <tree>/.venv/bin/python <tree>/benchmarks/bench_executor.py \\
        --baseline <base tree> [--ledger]       # both trees side by side, with the ratio

The default mode also times ``commit_block`` (the block's DA square and NMT data root) per
block; ``block`` is then the links/s of the admitted columnar path plus that square: the
block path a producer runs, without SQLite and pi.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import focusflow
from focusflow.actors.da.block import commit_block
from focusflow.actors.state import tx as tx_mod
from focusflow.actors.state.core import BlockResult, StateCore, decode_block
from focusflow.actors.state.ids import CID_PREFIX, Neuron
from focusflow.actors.state.smt import Overlay, SparseMerkleTree
from focusflow.actors.state.tx import TxKind, decode_tx, make_tx, tx_hash_of

CHAIN = "bench-executor"


class DictReader:
    """Committed values in a dict; :meth:`fold` applies a committed block's writes."""

    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}

    def get(self, keypath: bytes) -> bytes | None:
        return self.values.get(keypath)

    def fold(self, result: BlockResult) -> None:
        for k, v in result.writes.items():
            if v is None:
                self.values.pop(k, None)
            else:
                self.values[k] = v


def _machine() -> str:
    tree = Path(focusflow.__file__).resolve().parents[1]  # the imported tree's commit
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=tree).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{platform.platform()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, commit {commit}")


def make_blocks(n_txs: int, links_per_tx: int, blocks: int, seed: int
                ) -> tuple[dict[bytes, int], list[list[bytes]]]:
    """Genesis balances and ``blocks`` blocks of ``n_txs`` link txs (nonce = block index)."""
    rng = random.Random(seed)
    neurons = [Neuron.from_seed(rng.randbytes(32)) for _ in range(n_txs)]
    genesis = {n.address: 10**9 for n in neurons}
    out = []
    for b in range(blocks):
        block = []
        for n in neurons:
            links = [(CID_PREFIX + rng.randbytes(32), CID_PREFIX + rng.randbytes(32))
                     for _ in range(links_per_tx)]
            block.append(make_tx(n, chain_id=CHAIN, nonce=b, kind=TxKind.LINK, fee=1,
                                 links=links))
        out.append(block)
    return genesis, out


class ReferenceTree(SparseMerkleTree):
    """The tree with ``apply`` as it was before issue 18 (one Python step per entry), so
    the reference path's ``block_committed`` is today's too."""

    def apply(self, overlay: Overlay) -> None:
        for path, entry in overlay.items():
            if entry is None:
                self.nodes.pop(path, None)
            else:
                self.nodes[path] = entry


def _core(genesis: dict[bytes, int], *, reference: bool) -> tuple[StateCore, DictReader]:
    reader = DictReader()
    tree = ReferenceTree() if reference else SparseMerkleTree()
    core = StateCore(chain_id=CHAIN, reader=reader, tree=tree, height=-1)
    g = core.genesis(balances=genesis)
    reader.fold(g)
    core.block_committed(g)
    return core, reader


def run(n_txs: int, links_per_tx: int, blocks: int, seed: int) -> dict[str, float]:
    """Links per second of the three paths over ``blocks`` blocks of this shape, by wall
    clock and by this process's CPU time (the box is shared: CPU time is the steadier
    figure). ``cold``: no tx was decoded before its block (a block from sync);
    ``admitted``: every tx was decoded at mempool admission (outside the timing, like the
    signature check), so execution finds it in ``decode_tx``'s memo."""
    genesis, data = make_blocks(n_txs, links_per_tx, blocks, seed)
    cores = {"ref": _core(genesis, reference=True), "cold": _core(genesis, reference=False),
             "admitted": _core(genesis, reference=False)}
    wall = dict.fromkeys([*cores, "square"], 0.0)
    cpu = dict.fromkeys([*cores, "square"], 0.0)
    links = 0
    for block in data:
        w0, c0 = time.perf_counter(), time.process_time()
        commit_block(block)  # the block's DA square and data root (not memoized)
        wall["square"] += time.perf_counter() - w0
        cpu["square"] += time.process_time() - c0
        sig_ok = [True] * len(block)
        roots = set()
        for name, (core, reader) in cores.items():
            tx_mod._decoded.clear()
            if name == "admitted":
                for raw in block:
                    decode_tx(raw)
            w0, c0 = time.perf_counter(), time.process_time()
            if name == "ref":
                r = core.prepare_block_reference(core.height + 1, block, signatures_ok=sig_ok)
            else:
                decoded = decode_block(block)
                r = core.prepare_block(core.height + 1, block, signatures_ok=sig_ok,
                                       decoded=decoded)
            reader.fold(r)
            core.block_committed(r)
            wall[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0
            assert all(x.ok for x in r.receipts)
            roots.add(r.root)
        assert len(roots) == 1, "roots differ"
        links += n_txs * links_per_tx
    readers = [reader.values for _, reader in cores.values()]
    assert all(values == readers[0] for values in readers)
    out = {}
    for name in cores:
        out[f"{name}_wall"] = links / wall[name]
        out[f"{name}_cpu"] = links / cpu[name]
    for kind, times in (("wall", wall), ("cpu", cpu)):
        out[f"square_{kind}"] = links / times["square"]
        out[f"block_{kind}"] = links / (times["admitted"] + times["square"])
    return out


def run_ledger(n_txs: int, links_per_tx: int, blocks: int, seed: int) -> dict[str, float]:
    """Milliseconds per block (CPU and wall) of ``Ledger.execute``, of the header's data
    root after it, and of ``commit_block`` alone (see the module docstring)."""
    from focusflow.actors.consensus.blocks import merkle_da_root
    from focusflow.actors.da.block import commit_block
    from focusflow.node.chain import Ledger
    from focusflow.supervisor import open_file_database

    genesis, data = make_blocks(n_txs, links_per_tx, blocks, seed)
    extra = {"rng": random.Random(seed)} if "rng" in inspect.signature(Ledger).parameters else {}
    totals = dict.fromkeys(("execute_wall", "execute_cpu", "root_wall", "root_cpu",
                            "square_wall", "square_cpu"), 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(open_file_database(Path(tmp) / "state.sqlite"), chain_id=CHAIN,
                        genesis_balances=genesis, **extra)
        da_root_of = getattr(ledger, "da_root_of", merkle_da_root)
        for block in data:
            verified = {tx_hash_of(t) for t in block}  # checked at admission (untimed)
            w0, c0 = time.perf_counter(), time.process_time()
            ledger.execute(block, verified=verified)
            w1, c1 = time.perf_counter(), time.process_time()
            root = da_root_of(block)
            w2, c2 = time.perf_counter(), time.process_time()
            square = commit_block(block)
            w3, c3 = time.perf_counter(), time.process_time()
            assert len(root) == 32 and len(square.data_root) == 32
            totals["execute_wall"] += w1 - w0
            totals["execute_cpu"] += c1 - c0
            totals["root_wall"] += w2 - w1
            totals["root_cpu"] += c2 - c1
            totals["square_wall"] += w3 - w2
            totals["square_cpu"] += c3 - c2
        ledger.close()
    out = {k: 1000 * v / blocks for k, v in totals.items()}
    links = n_txs * links_per_tx
    for kind in ("wall", "cpu"):
        out[f"links_{kind}"] = 1000 * links / (out[f"execute_{kind}"] + out[f"root_{kind}"])
    out["kind"] = 1.0 if da_root_of is not merkle_da_root else 0.0
    return out


def main_ledger(args: argparse.Namespace) -> None:
    """``--ledger``: the one executor's block, with the header's data root."""
    print(f"machine: {_machine()}")
    print("ms/block, CPU | wall; links/s of execute + data root")
    print(f"{'block':>24} {'data root':>12} {'execute':>16} {'data root':>16} {'links/s':>18}"
          f" {'commit_block':>16}")
    for spec in args.shapes:
        n_txs, lpt = (int(x) for x in spec.split("x"))
        r = run_ledger(n_txs, lpt, args.blocks, args.seed)
        kind = "NMT+sample" if r["kind"] else "tx merkle"

        def pair(key: str, r: dict[str, float] = r) -> str:
            return f"{r[f'{key}_cpu']:>7,.1f} {r[f'{key}_wall']:>8,.1f}"

        print(f"{f'{n_txs} txs x {lpt} links':>24} {kind:>12} {pair('execute')} {pair('root')} "
              f"{r['links_cpu']:>8,.0f} {r['links_wall']:>9,.0f} {pair('square')}", flush=True)


def measure(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Every shape's figures in this process (:func:`run`, or :func:`run_ledger`)."""
    out = {}
    for spec in args.shapes:
        n_txs, lpt = (int(x) for x in spec.split("x"))
        out[spec] = (run_ledger if args.ledger else run)(n_txs, lpt, args.blocks, args.seed)
    return out


def side_by_side(args: argparse.Namespace) -> None:
    """``--baseline TREE``: this script under ``TREE`` and under this tree, alternately,
    each in a fresh process started from /tmp (so the cwd cannot shadow ``PYTHONPATH``);
    prints each process's imported ``focusflow``, both figures and their ratio."""
    this_tree = str(Path(__file__).resolve().parents[1])
    argv = [sys.executable, str(Path(__file__).resolve()), "--json", "--blocks",
            str(args.blocks), "--seed", str(args.seed), "--shapes", *args.shapes]
    argv += ["--ledger"] if args.ledger else []
    runs: dict[str, list[dict[str, dict[str, float]]]] = {"base": [], "new": []}
    for _ in range(args.rounds):
        for name, tree in (("base", args.baseline), ("new", this_tree)):
            env = {**os.environ, "PYTHONPATH": tree}
            proc = subprocess.run(argv, cwd="/tmp", env=env, capture_output=True, text=True,
                                  check=True)
            report = json.loads(proc.stdout.splitlines()[-1])
            assert report["focusflow"].startswith(tree), (name, report["focusflow"])
            print(f"{name}: {report['focusflow']}  ({report['machine']})", flush=True)
            runs[name].append(report["shapes"])
    keys = (["execute", "root", "square", "links"] if args.ledger
            else ["ref", "cold", "admitted", "square", "block"])
    unit = "ms/block" if args.ledger else "links/s"
    print(f"best of {args.rounds} rounds per tree, CPU | wall ({unit}; links/s for 'links'"
          " and 'block' = admitted + square)")
    print(f"{'block':>12} {'figure':>10} {'base':>21} {'new':>21} {'new/base (CPU)':>15}")
    for spec in args.shapes:
        for key in keys:
            lower = args.ledger and key != "links"  # milliseconds: less is better
            pick = min if lower else max
            cells = {}
            for name in runs:
                cells[name] = tuple(pick(r[spec][f"{key}_{kind}"] for r in runs[name])
                                    for kind in ("cpu", "wall"))
            ratio = cells["new"][0] / cells["base"][0]
            ratio = 1 / ratio if lower else ratio  # > 1: the new tree is faster
            print(f"{spec:>12} {key:>10} {cells['base'][0]:>10,.0f} {cells['base'][1]:>10,.0f}"
                  f" {cells['new'][0]:>10,.0f} {cells['new'][1]:>10,.0f} {ratio:>14.2f}x",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shapes", nargs="*", default=["1000x10", "2000x50"],
                    help="TXSxLINKS per block (a tx holds at most 56 links: TX_BYTES_MAX)")
    ap.add_argument("--ledger", action="store_true",
                    help="the live node's Ledger.execute + the header's data root instead")
    ap.add_argument("--baseline", metavar="TREE",
                    help="also run under PYTHONPATH=TREE (e.g. a git worktree of the base "
                         "commit) and print both side by side with the ratio")
    ap.add_argument("--rounds", type=int, default=2,
                    help="with --baseline: alternating runs per tree (the best is shown)")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline:
        side_by_side(args)
        return
    if args.json:  # one line for side_by_side
        print(json.dumps({"focusflow": focusflow.__file__, "machine": _machine(),
                          "shapes": measure(args)}))
        return
    if args.ledger:
        main_ledger(args)
        return
    print(f"machine: {_machine()}")
    print(f"{'':>24} {'links/s (CPU | wall)':>56}   {'ratio to reference':>22}")
    print(f"{'block':>24} {'reference':>18} {'columnar, cold':>18} {'columnar, admitted':>18}"
          f"   {'cold':>10} {'admitted':>11} {'+ square (CPU)':>15}")
    for spec, r in measure(args).items():
        n_txs, lpt = (int(x) for x in spec.split("x"))
        shape = f"{n_txs} txs x {lpt} links"
        cells = " ".join(f"{r[f'{k}_cpu']:>8,.0f} {r[f'{k}_wall']:>9,.0f}"
                         for k in ("ref", "cold", "admitted"))
        ratios = " ".join(f"{r[f'{k}_cpu'] / r['ref_cpu']:>4.2f}x {r[f'{k}_wall'] / r['ref_wall']:>4.2f}x"
                          for k in ("cold", "admitted"))
        print(f"{shape:>24} {cells}   {ratios} {r['block_cpu']:>15,.0f}", flush=True)


if __name__ == "__main__":
    main()
