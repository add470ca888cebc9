"""Benchmark: applying link blocks to a large cybergraph state (issue 4).

For a state of N links (bulk-built: random links, tree built bottom-up, SQLite loaded with
sorted bulk inserts) it applies blocks of B new links as real signed transactions
(10^4 links per tx) and reports, per block:

* ``prepare``: decode + signature check + validation (one SQLite point read per link) +
  root update, i.e. ``StateCore.prepare_block``;
* ``root update``: the incremental tree update alone (``SparseMerkleTree.update`` on the
  block's writes, tree keys included);
* ``commit``: ``SqliteStore.commit_block`` without a tree checkpoint (leaves with their
  height, link index, block row, head in one transaction; WAL, synchronous=FULL);
* ``ckpt``: ``SqliteStore.checkpoint`` writing that block's changed tree nodes (a node
  normally does this every ``tree_checkpoint_blocks`` blocks, for all blocks since the
  last one, so the per-block share is smaller: upper tree levels are shared);
* baseline ``naive root``: recomputing the root from every leaf (tree keys given, so the
  baseline is not charged for hashing key paths), measured in the same run.

Usage: python benchmarks/bench_state.py [--quick] [--links N] [--blocks 10000,100000]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from focusflow.actors.state import keys as K
from focusflow.actors.state.core import StateCore
from focusflow.actors.state.ids import CID_PREFIX, Neuron
from focusflow.actors.state.smt import (
    SparseMerkleTree,
    build_nodes,
    compute_root,
    tree_key,
    value_hash,
)
from focusflow.actors.state.store import SqliteStore, _path_blob
from focusflow.actors.state.tx import TxKind, make_tx

CHAIN = "bench"
LINKS_PER_TX = 10_000


def _random_cids(rng: np.random.Generator, n: int) -> np.ndarray:
    digests = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    prefix = np.broadcast_to(np.frombuffer(CID_PREFIX, np.uint8), (n, 4))
    return np.ascontiguousarray(np.concatenate([prefix, digests], axis=1))


def build_state(
    db: Path, n_links: int, neurons: list[Neuron], seed: int
) -> tuple[SqliteStore, StateCore, list[tuple[bytes, bytes]], dict[str, float]]:
    """Bulk-build a state of ``n_links`` links spread over ``neurons`` (plus balances).

    Memory-lean so that 10^7 links fit: leaves are generated per neuron in address order
    (so leaf rows arrive globally sorted and go straight into SQLite), all link leaves
    share one value-hash object, the tree is built bottom-up in one pass, and SQLite builds
    the link index with its own external sort.
    """
    t = dict.fromkeys(("generate_s", "key_hash_s", "tree_build_s", "sqlite_load_s"), 0.0)
    rng = np.random.default_rng(seed)
    store = SqliteStore.open(db, chain_id=CHAIN)
    c = store.db._conn  # a bulk load below the Database API (one huge transaction)
    c.execute("DROP INDEX link_by_dst")  # rebuilt after the load: one sort, not 10^7 seeks
    c.execute("DROP INDEX leaf_by_height")
    c.execute("BEGIN IMMEDIATE")
    one = K.u64(0)
    vh_cache: dict[bytes, bytes] = {}
    leaves: list[tuple[bytes, bytes]] = []
    per = n_links // len(neurons)
    for i, nr in enumerate(sorted(neurons, key=lambda n: n.address)):
        t0 = time.perf_counter()
        count = per if i < len(neurons) - 1 else n_links - per * (len(neurons) - 1)
        lkeys = sorted(K.link_keys(nr.address, _random_cids(rng, count), _random_cids(rng, count)))
        rows = [(k, one, 0) for k in lkeys]
        rows += [
            (K.count_key(nr.address), K.u64(count), 0),
            (K.balance_key(nr.address), K.u64(10**12), 0),
        ]
        t["generate_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        for k, v, _ in rows:
            vh = vh_cache.setdefault(v, value_hash(v))
            leaves.append((tree_key(k), vh))
        t["key_hash_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        c.executemany("INSERT INTO leaf VALUES (?, ?, ?)", rows)
        t["sqlite_load_s"] += time.perf_counter() - t0
        del rows, lkeys
    t0 = time.perf_counter()
    root, nodes = build_nodes(leaves)
    t["tree_build_s"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    node_rows = sorted((_path_blob(p), e) for p, e in nodes.items())
    c.executemany("INSERT INTO node VALUES (?, ?)", node_rows)
    del node_rows
    c.execute(
        "INSERT INTO link_index SELECT substr(key, 33, 36), substr(key, 69, 36), "
        "substr(key, 13, 20) FROM leaf WHERE key >= ? AND key < ? ORDER BY 1, 2, 3",
        (K.LINK, K.LINK[:-1] + b"0"),
    )
    c.execute("INSERT INTO block VALUES (0, ?, 0, 0)", (root,))
    c.execute("UPDATE head SET height = 0, root = ?, tree_height = 0", (root,))
    c.execute("COMMIT")
    c.execute("CREATE INDEX link_by_dst ON link_index (dst)")
    c.execute("CREATE INDEX leaf_by_height ON leaf (height)")
    store.height, store.root, store.tree_height = 0, root, 0
    store.tree_checkpoint_blocks = 10**9  # checkpoints are timed separately, per block
    t["sqlite_load_s"] += time.perf_counter() - t0
    core = StateCore(chain_id=CHAIN, reader=store, tree=SparseMerkleTree(nodes), height=0)
    assert core.root == root
    return store, core, leaves, t


def make_block(
    neurons: list[Neuron], core: StateCore, n_links: int, rng: np.random.Generator
) -> list[bytes]:
    txs = []
    for i in range(0, n_links, LINKS_PER_TX):
        nr = neurons[(i // LINKS_PER_TX) % len(neurons)]
        m = min(LINKS_PER_TX, n_links - i)
        src, dst = _random_cids(rng, m), _random_cids(rng, m)
        nonce = core.next_nonce(nr.address) + sum(
            1
            for j in range(0, i, LINKS_PER_TX)
            if neurons[(j // LINKS_PER_TX) % len(neurons)] is nr
        )
        txs.append(
            make_tx(
                nr,
                chain_id=CHAIN,
                nonce=nonce,
                kind=TxKind.LINK,
                fee=1,
                links=list(zip((bytes(r) for r in src), (bytes(r) for r in dst), strict=True)),
            )
        )
    return txs


def _amortized_checkpoint(
    store: SqliteStore,
    core: StateCore,
    neurons: list[Neuron],
    rng: np.random.Generator,
    b: int,
    k: int,
) -> None:
    """k blocks committed without tree nodes, then one checkpoint: the per-block share."""
    commit_s = 0.0
    for _ in range(k):
        result = core.prepare_block(core.height + 1, make_block(neurons, core, b, rng))
        t0 = time.perf_counter()
        store.commit_block(result)
        commit_s += time.perf_counter() - t0
        core.block_committed(result)
    t0 = time.perf_counter()
    n = store.checkpoint()
    ckpt_ms = (time.perf_counter() - t0) * 1e3
    print(
        f"checkpoint every {k} blocks of {b:,} links: commit {commit_s / k * 1e3:.0f} ms/block, "
        f"one checkpoint {ckpt_ms:.0f} ms for {n:,} nodes = {ckpt_ms / k:.0f} ms/block; "
        f"total {commit_s / k * 1e3 + ckpt_ms / k:.0f} ms/block"
    )


def run(n_links: int, block_sizes: list[int], *, naive: bool, ckpt_blocks: int = 0) -> None:
    neurons = [Neuron.from_seed(bytes([i + 1]) * 32) for i in range(16)]
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        t0 = time.perf_counter()
        store, core, leaves, t = build_state(Path(tmp) / "bench.db", n_links, neurons, seed=1)
        build_s = time.perf_counter() - t0
        gc.collect()
        gc.freeze()  # the bulk state never becomes garbage: keep the cyclic GC off it
        size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
        print(
            f"state: {n_links:,} links ({len(core.tree.nodes):,} tree nodes), built in {build_s:.1f} s "
            + " ".join(f"{k}={v:.1f}" for k, v in t.items())
            + f"; db {size_mb:.0f} MB"
        )
        rng = np.random.default_rng(2)
        print(
            f"{'block links':>12} {'prepare ms':>11} {'root upd ms':>12} {'commit ms':>10} "
            f"{'ckpt ms':>8} {'naive root ms':>14} {'naive/incr':>10} {'nodes':>9}"
        )
        for b in block_sizes:
            txs = make_block(neurons, core, b, rng)
            gc.collect()
            t0 = time.perf_counter()
            result = core.prepare_block(core.height + 1, txs)
            prepare_ms = (time.perf_counter() - t0) * 1e3
            assert all(r.ok for r in result.receipts), result.receipts[:2]
            t0 = time.perf_counter()
            changes = {
                tree_key(k): (None if v is None else value_hash(v))
                for k, v in result.writes.items()
            }
            root, _ = core.tree.update(changes)
            update_ms = (time.perf_counter() - t0) * 1e3
            assert root == result.root
            t0 = time.perf_counter()
            store.commit_block(result)
            commit_ms = (time.perf_counter() - t0) * 1e3
            core.block_committed(result)
            t0 = time.perf_counter()
            n_nodes = store.checkpoint()  # this block's tree nodes (normally every N blocks)
            ckpt_ms = (time.perf_counter() - t0) * 1e3
            leaves.extend(
                (tree_key(k), value_hash(v))
                for k, v in result.writes.items()
                if k.startswith(K.LINK)
            )
            naive_ms = float("nan")
            if naive:
                gc.collect()
                t0 = time.perf_counter()
                # all link leaves (the count/balance leaves changed too: recompute over the
                # current full leaf set would be the same size up to 16 rows)
                compute_root(leaves)
                naive_ms = (time.perf_counter() - t0) * 1e3
            print(
                f"{b:>12,} {prepare_ms:>11.0f} {update_ms:>12.0f} {commit_ms:>10.0f} "
                f"{ckpt_ms:>8.0f} {naive_ms:>14.0f} {naive_ms / update_ms:>10.1f} {n_nodes:>9,}"
            )
        if ckpt_blocks:
            _amortized_checkpoint(store, core, neurons, rng, block_sizes[0], ckpt_blocks)
        if naive:  # the baseline computes the same root when fed the real leaf set
            full = [(tree_key(k), value_hash(v)) for k, v in store.leaves()]
            assert compute_root(full) == core.root
        store.close()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS {rss_gb:.1f} GB")


def run_memory_only(n_links: int, block_sizes: list[int]) -> None:
    """Tree only (no SQLite, no tx validation): the root update vs the naive recompute at
    sizes whose SQLite file would not fit the time budget of a 2-core box."""
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    vh = value_hash(K.u64(0))
    neuron = Neuron.from_seed(b"\x01" * 32).address
    leaves: list[tuple[bytes, bytes]] = []
    chunk = 1_000_000
    for start in range(0, n_links, chunk):
        m = min(chunk, n_links - start)
        keys = K.link_keys(neuron, _random_cids(rng, m), _random_cids(rng, m))
        leaves.extend((tree_key(k), vh) for k in keys)
        del keys
    hash_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    root, nodes = build_nodes(leaves)
    tree = SparseMerkleTree(nodes)
    build_s = time.perf_counter() - t0
    gc.collect()
    gc.freeze()
    print(
        f"state (tree only): {n_links:,} links, {len(nodes):,} tree nodes; key hashing "
        f"{hash_s:.1f} s, bottom-up build {build_s:.1f} s"
    )
    print(f"{'block links':>12} {'root upd ms':>12} {'naive root ms':>14} {'naive/incr':>10}")
    for b in block_sizes:
        keys = K.link_keys(neuron, _random_cids(rng, b), _random_cids(rng, b))
        changes = {tree_key(k): vh for k in keys}
        t0 = time.perf_counter()
        new_root, overlay = tree.update(changes)
        update_ms = (time.perf_counter() - t0) * 1e3
        tree.apply(overlay)
        leaves.extend(changes.items())
        t0 = time.perf_counter()
        assert compute_root(leaves) == new_root != root
        naive_ms = (time.perf_counter() - t0) * 1e3
        print(f"{b:>12,} {update_ms:>12.0f} {naive_ms:>14.0f} {naive_ms / update_ms:>10.1f}")
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS {rss_gb:.1f} GB")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small state (10^5 links), < 60 s")
    ap.add_argument("--links", type=int, default=1_000_000)
    ap.add_argument("--blocks", default="10000,100000")
    ap.add_argument("--no-naive", action="store_true", help="skip the O(n) baseline")
    ap.add_argument(
        "--ckpt-blocks", type=int, default=8, help="amortized checkpoint run: N blocks, 1 ckpt"
    )
    ap.add_argument(
        "--memory-only", action="store_true", help="tree only: root update vs naive, no SQLite"
    )
    args = ap.parse_args()
    n_links = 100_000 if args.quick else args.links
    blocks = [1_000, 10_000] if args.quick else [int(x) for x in args.blocks.split(",")]
    print(
        f"machine: {platform.platform()} | {platform.processor() or platform.machine()} | "
        f"cpus={os.cpu_count()} | python {platform.python_version()}"
    )
    if args.memory_only:
        run_memory_only(n_links, blocks)
    else:
        run(n_links, blocks, naive=not args.no_naive, ckpt_blocks=args.ckpt_blocks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
