"""Supervisor trees that make a node (validator, full node) and the local devnet."""

from focusflow.topology.node_tree import NodeSupervisor, node_tree

__all__ = ["NodeSupervisor", "node_tree"]
