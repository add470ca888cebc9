"""Child process of the kill -9 test: commits blocks forever, reporting each commit.

Usage: python crash_child.py DB_PATH. Prints ``committed <height> <root hex>`` after each
``commit`` returns (i.e. after SQLite's fsync), then starts the next block at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from focusflow.actors.state import commit, open_state
from tests.state.workload import CHAIN, block_txs, genesis_balances


def main() -> None:
    # tree nodes every 4 blocks: kills land in plain blocks, checkpoints, and replays
    store, core = open_state(sys.argv[1], chain_id=CHAIN, tree_checkpoint_blocks=4)
    if core.height < 0:
        commit(store, core, core.genesis(balances=genesis_balances()))
        print(f"committed 0 {core.root.hex()}", flush=True)
    while True:
        h = core.height + 1
        result = core.prepare_block(h, block_txs(core, h))
        commit(store, core, result)
        print(f"committed {h} {core.root.hex()}", flush=True)


if __name__ == "__main__":
    main()
