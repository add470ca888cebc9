"""Fast-path BFT commit rule over the DAG mempool (``core.py``); see docs/consensus.md."""
