"""Narwhal-style DAG mempool core with focus-weighted QoS (``core.py``, ``qos.py``); see docs/consensus.md."""
