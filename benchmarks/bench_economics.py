"""Economics block settlement: O(1) tenure book vs a naive per-account loop, side by side.

Prints absolute figures (blocks per second), the baseline measured in the same run, the
ratio, and the machine. Also times the whole core (``apply_block`` with gas payments,
a swap and focus gains) for an absolute blocks-per-second figure.

    .venv/bin/python benchmarks/bench_economics.py --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time

from focusflow.actors.economics.core import BlockInput, EconGenesis, EconomicsCore, Stake, Swap
from focusflow.actors.economics.ledger import CYB, MemoryLedger
from focusflow.actors.economics.rewards import TenureBook, naive_tenure_block

RAMP = 2_160
REWARD = 10**12


def bench_tenure(stakers: int, blocks_book: int, blocks_naive: int) -> dict[str, float]:
    """Same stakers, same per-block reward: the O(1) book vs the O(N) loop."""
    rng = random.Random(1)
    stakes = {f"s{i}": (rng.randrange(1, 10**12), rng.randrange(0, 3 * RAMP)) for i in range(stakers)}
    start_h = 3 * RAMP + 1
    book = TenureBook(RAMP)
    for account, (amount, since) in sorted(stakes.items(), key=lambda kv: kv[1][1]):
        book.mature(since)
        book.add(account, amount, since)
    book.mature(start_h - 1)  # untimed: the steady state has old stakes already mature
    matured = 0
    t0 = time.perf_counter()
    for h in range(start_h, start_h + blocks_book):
        matured += book.mature(h)
        book.distribute(h, REWARD)
    book_s = time.perf_counter() - t0
    owed: dict[str, int] = {}
    t0 = time.perf_counter()
    for h in range(start_h, start_h + blocks_naive):
        naive_tenure_block(stakes, h, REWARD, RAMP, owed)
    naive_s = time.perf_counter() - t0
    # Cross-check on the common prefix: a fresh book over blocks_naive blocks pays at least
    # what the naive loop pays (the loop floors every block), and never more than funded.
    check = TenureBook(RAMP)
    for account, (amount, since) in sorted(stakes.items(), key=lambda kv: kv[1][1]):
        check.mature(since)
        check.add(account, amount, since)
    for h in range(start_h, start_h + blocks_naive):
        check.mature(h)
        check.distribute(h, REWARD)
    paid = {a: check.settle(a) for a in stakes}
    assert all(paid[a] >= owed.get(a, 0) for a in stakes), "book paid less than the naive loop"
    assert sum(paid.values()) <= REWARD * blocks_naive, "book paid more than was funded"
    return {
        "book_blocks_per_s": blocks_book / book_s,
        "naive_blocks_per_s": blocks_naive / naive_s,
        "matured": matured,
    }


def bench_core(stakers: int, blocks: int, gas_per_block: int) -> float:
    """Whole ``apply_block`` with ``gas_per_block`` payments, one swap and 32 focus gains."""
    u = 10**6
    balances = {f"u{i}": (10**6 * u, 10**5 * u) for i in range(stakers)}
    balances["trader"] = (10**9 * u, 0)
    core = EconomicsCore(
        MemoryLedger(),
        EconGenesis(balances=balances, pool=(10**8 * u, 10**8 * u), treasury_cyb=10**8 * u),
    )
    core.apply_block(BlockInput(1, tuple(Stake(f"u{i}", 10**5 * u) for i in range(stakers))))
    rng = random.Random(2)
    t0 = time.perf_counter()
    for h in range(2, blocks + 2):
        gas = tuple((f"u{rng.randrange(stakers)}", 10 * u) for _ in range(gas_per_block))
        gains = tuple((f"u{rng.randrange(stakers)}", rng.randrange(1, 100)) for _ in range(32))
        core.apply_block(BlockInput(h, (Swap("trader", CYB, 1000 * u),), gas, gains))
    elapsed = time.perf_counter() - t0
    assert core.violations() == []
    return blocks / elapsed


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s on 2 cores)")
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    print(f"machine: {platform.platform()} | {platform.processor() or platform.machine()} | cpus={os.cpu_count()}")
    print(f"python: {platform.python_version()}")
    print("tenure settlement per block (ramp 2160 blocks, positions of mixed age)")
    print("(stakes aged 0..3 ramps; the book's time includes the ~1/3 that cross into maturity)")
    print(f"{'stakers':>9} {'book blk/s':>12} {'naive blk/s':>12} {'ratio':>9} {'matured':>9}")
    for n in sizes:
        r = bench_tenure(n, blocks_book=2_000, blocks_naive=max(5, 200_000 // n))
        ratio = r["book_blocks_per_s"] / r["naive_blocks_per_s"]
        print(
            f"{n:>9} {r['book_blocks_per_s']:>12.0f} {r['naive_blocks_per_s']:>12.1f} "
            f"{ratio:>8.0f}x {r['matured']:>9.0f}"
        )
    print("whole core apply_block (1 swap, 32 focus gains, N gas payments per block)")
    stakers = 1_000 if args.quick else 10_000
    for gas in (10, 100, 1_000):
        bps = bench_core(stakers, blocks=100 if args.quick else 300, gas_per_block=gas)
        print(f"  stakers={stakers} gas_payments={gas:>5}: {bps:8.0f} blocks/s ({bps * gas:9.0f} gas payments/s)")


if __name__ == "__main__":
    main()
