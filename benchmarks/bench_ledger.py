"""Benchmark: CPU of ``Ledger.execute`` (the one executor) for a block of 10^4 links.

One process, one validator, a file database in a temp dir. ``--neurons`` neurons each
sign one tx of ``--links-per-tx`` links per block (fee 100: every tx pays gas, so
the economics splits it among that many payers, with rebates and focus rewards); ``--warm`` blocks build the graph first, then
``--blocks`` measured blocks each add 10^4 new links. Signatures count as verified at
admission (``verified``), as in a validator, so Ed25519 is not in the figure. Reports
process CPU per block (``time.process_time``: the median and the minimum) and what the
block did.

``--compare REV`` runs the same measurement side by side on the tree of git revision
``REV`` (exported with ``git archive`` into a temp dir and put first on ``PYTHONPATH``)
and on this tree, in one command, and prints the ratio. The script uses only the API
both sides share (``Ledger(db, chain_id=, genesis_balances=)``, ``execute(txs,
verified=)``).

    .venv/bin/python benchmarks/bench_ledger.py --quick          # 10^3 links, seconds
    .venv/bin/python benchmarks/bench_ledger.py                  # this tree only
    .venv/bin/python benchmarks/bench_ledger.py --compare main   # REV vs this tree
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _measure(neurons: int, links_per_tx: int, warm: int, blocks: int) -> dict[str, object]:
    from focusflow.actors.state.ids import Neuron, cid_of
    from focusflow.actors.state.tx import TxKind, make_tx, tx_hash_of
    from focusflow.node.chain import Ledger
    from focusflow.supervisor import open_file_database

    chain = "focusflow-bench"
    people = [Neuron.from_seed(i.to_bytes(4, "little") * 8) for i in range(neurons)]
    sources = [cid_of(b"source %d" % i) for i in range(neurons)]
    targets = [cid_of(b"target %d" % i) for i in range(max(64, neurons // 4))]

    def block(h: int) -> list[bytes]:
        # A fixed particle pool, new (neuron, from, to) links every block, all to the
        # block's few targets: those gain focus and the economics pays focus rewards
        # (with 10^4 new particles a block, every old particle's π falls: no gains).
        return [make_tx(n, chain_id=chain, nonce=h - 1, kind=TxKind.LINK, fee=100,
                        links=[(sources[(i + 613 * j) % neurons],
                                targets[(h * links_per_tx + j) % len(targets)])
                               for j in range(links_per_tx)])
                for i, n in enumerate(people)]

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(open_file_database(Path(tmp) / "state.sqlite"), chain_id=chain,
                        genesis_balances={n.address: 10**9 for n in people})
        cpu = []
        for h in range(1, warm + blocks + 1):
            txs = block(h)
            verified = frozenset(tx_hash_of(t) for t in txs)
            t0 = time.process_time()
            ledger.execute(txs, verified=verified)
            if h > warm:
                cpu.append(time.process_time() - t0)
            assert ledger.last_links == neurons * links_per_tx, (h, ledger.last_links)
        econ = getattr(ledger, "last_econ", None)
        out: dict[str, object] = {
            "ms_median": round(1000 * statistics.median(cpu), 1),
            "ms_min": round(1000 * min(cpu), 1),
            "links_per_block": neurons * links_per_tx,
            "particles": ledger.focus.n,
            "economics": None if econ is None else {
                "gas_h": econ.gas_h, "burned_cyb": econ.burned_cyb, "focus_h": econ.focus_h,
                "rebates_h": econ.rebates_h},
        }
        ledger.close()
    return out


def _compare(rev: str, argv: list[str], rounds: int) -> None:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev, "focusflow"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        results: dict[str, list[dict[str, float]]] = {rev: [], "this tree": []}
        for _ in range(rounds):  # alternate, so load on a shared machine hits both alike
            for name, path in ((rev, tmp), ("this tree", str(root))):
                env = {**os.environ, "PYTHONPATH": path}
                done = subprocess.run([sys.executable, __file__, "--json", *argv], env=env,
                                      capture_output=True, text=True, check=True)
                results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{name:>12}: {results[name][-1]}")
    before, after = ({k: min(r[k] for r in results[name]) for k in ("ms_median", "ms_min")}
                     for name in (rev, "this tree"))
    print(f"best of {rounds} rounds, ratio this tree / {rev}: median {after['ms_median'] / before['ms_median']:.3f}, "
          f"min {after['ms_min'] / before['ms_min']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=2500)
    ap.add_argument("--links-per-tx", type=int, default=4)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="a small run (10^3 links, 1 + 2 blocks: `make bench`)")
    ap.add_argument("--compare", metavar="REV", help="also run on git revision REV, side by side")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs per side (--compare)")
    ap.add_argument("--json", action="store_true", help="print one JSON line (for --compare)")
    args = ap.parse_args()
    if args.quick:
        args.neurons, args.warm, args.blocks = 250, 1, 2
    argv = ["--neurons", str(args.neurons), "--links-per-tx", str(args.links_per_tx),
            "--warm", str(args.warm), "--blocks", str(args.blocks)]
    if args.compare:
        _compare(args.compare, argv, args.rounds)
        return
    result = _measure(args.neurons, args.links_per_tx, args.warm, args.blocks)
    print(json.dumps(result) if args.json else f"Ledger.execute, CPU per block: {result}")


if __name__ == "__main__":
    main()
