"""Consensus: shared types, schema, codec, blocks, the validator core, actor shell, harness.

Import the modules directly (``node``, ``types``, ``harness``, ...): this package imports
nothing itself, because the sub-cores (``focusflow.actors.mempool`` etc.) import its codec.
"""
