"""``focusflow status``: the live view of a running node (read-only).

focusflow status [--home H | --config C | --url http://127.0.0.1:26660] [--output json]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def node_url(args: Any) -> str:
    """The node's HTTP base URL from --url, or from the [http] listen of its config."""
    if getattr(args, "url", None):
        return str(args.url).rstrip("/")
    from pathlib import Path

    from focusflow.node.config import ConfigError, default_home, load_settings

    path = Path(args.config) if args.config else (
        Path(args.home) if args.home else default_home()) / "config" / "node.toml"
    try:
        host, port = load_settings(path).http_listen
    except ConfigError as exc:
        raise SystemExit(f"error: {path}: {exc}") from exc
    return f"http://{host}:{port}"


def add_target_args(p: argparse.ArgumentParser) -> None:
    """--home / --config / --url / --output, shared by the read-only commands."""
    p.add_argument("--home", help="node home (default $FOCUSFLOW_HOME or ~/.focusflow)")
    p.add_argument("--config", help="path of node.toml")
    p.add_argument("--url", help="HTTP base URL of the node (overrides --home/--config)")
    p.add_argument("--output", choices=("text", "json"), default="text")


def _run(args: Any) -> int:
    from focusflow.node import client

    try:
        st = client.get(node_url(args), "/status")
    except client.NodeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(st))
        return 0
    v = st.get("validator", {})
    print(f"node {st['node']} ({st['role']}, chain {st['chain_id']}), p2p {st['p2p']}")
    print(f"mode {v.get('mode')}  height {v.get('finalized_height')}  state height "
          f"{v.get('state_height')}  round {v.get('round')}  links {v.get('links_committed')}")
    print(f"finality p50 {v.get('finality_ms_p50')} ms  p99 {v.get('finality_ms_p99')} ms")
    print(f"peers connected: {', '.join(st['peers_connected']) or '-'}")
    for name, p in sorted(st["peers"].items()):
        print(f"  {name:12} {'up' if p['connected'] else 'down':4} sent {p['frames_sent']} "
              f"recv {p['frames_received']} dropped {p['dropped_queue_full']} "
              f"forged {p['forged']} {p['last_error']}")
    print("actors:")
    for a in st["actors"]:
        print(f"  {'  ' * a['depth']}{a['path']:40} {a['class']:16} mailbox "
              f"{a['mailbox_depth']:5} restarts {a['restarts']} {a['last_death']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow status``."""
    p = subparsers.add_parser("status", help="show a running node: tree, height, peers")
    add_target_args(p)
    p.set_defaults(func=_run)
