"""``focusflow status``: the live view of a running node (read-only).

focusflow status [--home H | --config C | --url http://127.0.0.1:26660] [--consensus] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def config_path(args: Any) -> Path:
    """node.toml from --config, else <--home or the default home>/config/node.toml."""
    from focusflow.node.config import default_home

    if getattr(args, "config", None):
        return Path(args.config)
    return (Path(args.home) if getattr(args, "home", None) else default_home()) / "config" / "node.toml"


def load_node_settings(args: Any) -> Any:
    """The node's Settings from --config/--home; exits with one clear line when the home
    or its config is missing or wrong."""
    from focusflow.node.config import ConfigError, load_settings

    path = config_path(args)
    if not path.exists():
        home = path.parent.parent
        raise SystemExit(f"error: no node home at {home} (no {path.relative_to(home)}); "
                         f"create one with: focusflow init --home {home}")
    try:
        return load_settings(path)
    except ConfigError as exc:
        why = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
        raise SystemExit(f"error: {why}") from exc


def node_url(args: Any) -> str:
    """The node's HTTP base URL from --url, or from the [http] listen of its config."""
    if getattr(args, "url", None):
        return str(args.url).rstrip("/")
    host, port = load_node_settings(args).http_listen
    return f"http://{host}:{port}"


def add_json_arg(p: argparse.ArgumentParser) -> None:
    """``--json`` (one JSON document on stdout; text is the default), and ``--output
    text|json``, its deprecated spelling, kept so existing scripts keep working."""
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--output", choices=("text", "json"), default="text", help=argparse.SUPPRESS)


def wants_json(args: Any) -> bool:
    """Whether ``--json`` (or the deprecated ``--output json``) was given."""
    return bool(getattr(args, "json", False) or getattr(args, "output", "text") == "json")


def add_target_args(p: argparse.ArgumentParser) -> None:
    """--home / --config / --url / --json, shared by the read-only commands."""
    p.add_argument("--home", help="node home (default $FOCUSFLOW_HOME or ~/.focusflow)")
    p.add_argument("--config", help="path of node.toml")
    p.add_argument("--url", help="HTTP base URL of the node (overrides --home/--config)")
    add_json_arg(p)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f} ms"


def _red(text: str) -> str:
    """``text`` in red on a terminal (plain when piped: the word STALLED says it)."""
    return f"\033[31m{text}\033[0m" if sys.stdout.isatty() else text


def stall_line(stall: dict[str, Any]) -> str:
    """One line for the stall verdict (``node.explain.StallRule``)."""
    if "stalled" not in stall:
        return f"chain: unknown ({stall.get('error', 'no verdict')})"
    if stall["stalled"]:
        return _red(f"chain: STALLED: {stall['reason']}")
    return f"chain: moving, {stall['reason']}"


def _who(t: dict[str, Any] | None) -> str:
    if t is None:
        return "-"
    return (f"seen {','.join(t['seen']) or '-'}  missing {','.join(t['missing']) or '-'}  "
            f"(stake {t['stake_seen']}/{t['stake_needed']})")


def print_consensus(c: dict[str, Any]) -> None:
    """``status --consensus`` as text: one fact a line, validators by name."""
    member = "" if c["validator"] is None else f", validator {c['validator']}"
    print(f"node {c['node']}{member}: mode {c['mode']}"
          + (f" ({c['mode_reason']})" if c["mode_reason"] else ""))
    print(stall_line(c["stall"]))
    last = c["last_commit"]
    print(f"last commit: height {last['height']}, {last['age_ms'] / 1000:.1f} s ago")
    core = c["consensus"]
    if core is None:
        print("consensus core: not running (this node does not sign)")
    else:
        lead = core["leader"]
        leader = ("-" if lead is None else f"{lead['validator']} "
                  f"({'certificate held' if lead['certified'] else 'no certificate yet'})")
        print(f"round {core['round']} ({core['path']} path, {core['consecutive_timeouts']} "
              f"leader timeouts in a row), leader: {leader}")
        print(f"  votes on our header   {_who(core['header_votes'])}")
        print(f"  round certificates    {_who(core['certificates'])}")
        bv = core["block_votes"]
        print(f"  block {bv['height']} shares  {_who(bv)}" if bv else
              "  block shares          none pending (no block built above the last finalized)")
        print(f"  last decided slot {core['last_decided_slot']}, built height "
              f"{core['built_height']}, pending txs {core['pending_txs']}")
    print("peers:")
    for p in c["peers"]:
        age = p["last_message_age_ms"]
        heard = "never heard" if age is None else f"last message {age / 1000:.1f} s ago"
        print(f"  {p['name']:12} {'validator' if p['validator'] else 'peer':9} {heard}")


def _run(args: Any) -> int:
    from focusflow.node import client

    try:
        st = client.get(node_url(args), "/v1/consensus" if args.consensus else "/status")
    except client.NodeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if wants_json(args):
        print(json.dumps(st))
        return 0
    if args.consensus:
        print_consensus(st)
        return 0
    v = st.get("validator", {})
    print(f"node {st['node']} ({st['role']}, chain {st['chain_id']}), p2p {st['p2p']}")
    print(f"mode {v.get('mode')}  height {v.get('finalized_height')}  state height "
          f"{v.get('state_height')}  round {v.get('round')}  links {v.get('links_committed')}")
    print(stall_line(st.get("stall", {})))
    samples = v.get("finality_samples")
    print(f"finality p50 {_ms(v.get('finality_ms_p50'))}  p99 {_ms(v.get('finality_ms_p99'))}"
          + (" (no samples yet: none of the txs submitted here committed)" if not samples else
             f" ({samples} samples)"))
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
    p.add_argument("--consensus", action="store_true",
                   help="the consensus view: round, leader, votes seen and missing, peers")
    p.set_defaults(func=_run)
