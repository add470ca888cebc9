"""``focusflow query``: read a node's chain and state (text, or JSON with ``--json``).

focusflow query status|blocks [A:B]|block H|links CID|balance ADDRHEX|top [N]|finality
focusflow query state_roots|pi_roots [A:B]
focusflow query proof KEYPATHHEX   # value + proof + the signed block (light clients)
focusflow query focus CID [--genesis genesis.json]   # verified: value + height, or refused

A particle (CID) is its CIDv1 text (``b…``, ``B…``, ``z…``) or its 72 hex digits; answers
show it as ``b…`` text. Something that does not exist (``query block 99999``) prints
``error: not found: …`` and exits 4.

``focus`` is checked here like a light client would, trusting only the genesis committee
(``--genesis``, else the node home's ``config/genesis.json``): the quorum signatures on the
block, the sparse-Merkle proof of the particle's ``/graph/pi`` slice from its state root,
and the node's claimed value against the proven one. A refused answer exits 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from focusflow.cli.status import add_target_args, node_url, wants_json
from focusflow.node.query import KINDS

EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
RETRIES_MAX = 20


def _run(args: Any) -> int:
    from urllib.parse import quote

    from focusflow.node import client

    if args.kind == "focus":
        return _focus(args)
    arg = args.arg or ""
    if args.kind == "links":
        arg = _parse_cid(arg).hex()
    try:
        data = client.get(node_url(args), f"/v1/{args.kind}?arg={quote(arg)}")
    except client.NodeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(data, dict) and "error" in data:
        print(f"error: {data['error']}", file=sys.stderr)
        return 1
    if data is None:  # one thing asked for (a block) that does not exist
        print(f"error: not found: {args.kind} {args.arg}".rstrip(), file=sys.stderr)
        return EXIT_NOT_FOUND
    print(json.dumps(data) if wants_json(args) else _text(data))
    return 0


def _text(data: Any) -> str:
    """A plain rendering: one row per line, ``key: value`` for objects."""
    if isinstance(data, dict):
        return "\n".join(f"{k}: {json.dumps(v) if isinstance(v, dict | list) else v}"
                         for k, v in data.items())
    if isinstance(data, list):
        return "\n".join(
            "  ".join(str(x) for x in row) if isinstance(row, list) else
            "  ".join(f"{k}={v}" for k, v in row.items()) if isinstance(row, dict) else str(row)
            for row in data) or "(none)"
    return str(data)


def _genesis_path(args: Any) -> Path:
    """``--genesis``, else the genesis the node config (``--config``/``--home``) names."""
    if args.genesis:
        return Path(args.genesis)
    from focusflow.node.config import ConfigError, default_home, load_settings

    path = Path(args.config) if args.config else (
        Path(args.home) if args.home else default_home()) / "config" / "node.toml"
    try:
        return load_settings(path).genesis
    except ConfigError as exc:
        raise SystemExit(f"error: {path}: {exc} (or pass --genesis)") from exc


def _parse_cid(text: str) -> bytes:
    """A particle id in any form ``cid_from_text`` accepts; exits 2 with why if not."""
    from focusflow.actors.state.ids import IdentityError, cid_from_text

    try:
        return cid_from_text(text)
    except IdentityError as exc:
        raise SystemExit(f"error: {text!r} is not a particle id: {exc}") from exc


def _focus(args: Any) -> int:
    """Fetch ``/v1/focus`` and verify it against the genesis committee."""
    import time

    from focusflow.actors.consensus.crypto import Ed25519Verifier
    from focusflow.actors.consensus.types import Committee, Validator
    from focusflow.actors.state.ids import cid_to_text
    from focusflow.node import client
    from focusflow.node.chain import ChainError, verify_focus_answer
    from focusflow.node.config import ConfigError, read_genesis

    cid = _parse_cid(args.arg)
    try:
        _, entries = read_genesis(_genesis_path(args))
    except (ConfigError, OSError) as exc:
        print(f"error: genesis: {exc}", file=sys.stderr)
        return 1
    committee = Committee(tuple(Validator(i, e.public_key, e.stake) for i, e in enumerate(entries)))
    for _ in range(RETRIES_MAX):  # the state may be a block ahead of finality for a moment
        try:
            answer = client.get(node_url(args), f"/v1/focus?arg={cid.hex()}")
        except client.NodeUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if not (isinstance(answer, dict) and answer.get("retry")):
            break
        time.sleep(0.1)
    if not isinstance(answer, dict) or "error" in answer or answer.get("retry"):
        why = answer.get("error", "state not at a finalized height") if isinstance(answer, dict) else answer
        print(f"error: {why}", file=sys.stderr)
        return 1
    try:
        got = verify_focus_answer(answer, committee, Ed25519Verifier(), cid)
    except ChainError as exc:
        print(f"refused: the node's answer does not verify: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    out = {"cid": cid_to_text(cid), "focus": got.focus, "q": got.q, "pi_height": got.pi_height,
           "state_height": got.state_height, "verified": True}
    if wants_json(args):
        print(json.dumps(out))
    elif got.q is None:
        print(f"{out['cid']}: no committed focus as of block {got.pi_height} (proven absent "
              f"against the signed state root of block {got.state_height})")
    else:
        print(f"{out['cid']}: focus {got.focus:.12g} (q {got.q} / 2^60) committed at block "
              f"{got.pi_height}, verified against the signed state root of block "
              f"{got.state_height}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow query``."""
    p = subparsers.add_parser("query", help="query a node: blocks, links, balance, top, "
                                            "verified focus, ...")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("arg", nargs="?", default="")
    p.add_argument("--genesis", help="genesis.json the focus answer is verified against "
                                     "(default: the node home's)")
    add_target_args(p)
    p.set_defaults(func=_run)
