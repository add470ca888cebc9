"""``focusflow keys``: neuron keys and particle ids (argument handling and output only).

focusflow keys new --out alice.key      # 32-byte Ed25519 seed, hex, mode 0600
focusflow keys show alice.key           # public key and neuron1... address
focusflow keys cid FILE                 # the particle (CIDv1 raw/BLAKE3) of a file
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def _new(args: Any) -> int:
    from focusflow.actors.state.ids import Neuron, address_to_text

    neuron = Neuron.generate()
    seed = bytes(neuron.signing_key).hex()
    out = Path(args.out)
    if out.exists():
        print(f"error: {out} exists; refusing to overwrite a key", file=sys.stderr)
        return 1
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(seed + "\n")
    info = {"address": address_to_text(neuron.address), "public_key": neuron.public_key.hex(),
            "key_file": str(out)}
    print(json.dumps(info) if args.json else info["address"])
    return 0


def _show(args: Any) -> int:
    from focusflow.actors.state.ids import IdentityError, Neuron, address_to_text

    try:
        neuron = Neuron.from_seed(bytes.fromhex(Path(args.key).read_text().strip()))
    except (OSError, ValueError, IdentityError) as exc:
        print(f"error: cannot read key {args.key}: {exc}", file=sys.stderr)
        return 1
    info = {"address": address_to_text(neuron.address), "public_key": neuron.public_key.hex()}
    print(json.dumps(info) if args.json else f"{info['address']}\npublic key {info['public_key']}")
    return 0


def _cid(args: Any) -> int:
    from focusflow.actors.state.ids import cid_of, cid_to_text

    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    raw = cid_of(data)
    print(json.dumps({"cid": cid_to_text(raw), "hex": raw.hex()}) if args.json
          else cid_to_text(raw))
    return 0


def register(subparsers: Any) -> None:
    """Add ``keys new|show|cid``."""
    parser = subparsers.add_parser("keys", help="neuron keys (Ed25519) and particle CIDs")
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    new = sub.add_parser("new", help="generate a neuron key; prints its address")
    new.add_argument("--out", required=True, help="key file to create (hex seed, mode 0600)")
    new.add_argument("--json", action="store_true")
    new.set_defaults(func=_new)
    show = sub.add_parser("show", help="print a key file's address and public key")
    show.add_argument("key")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)
    cid = sub.add_parser("cid", help="print the CIDv1 (raw, BLAKE3) of a file ('-' = stdin)")
    cid.add_argument("file")
    cid.add_argument("--json", action="store_true")
    cid.set_defaults(func=_cid)
    parser.set_defaults(func=lambda _args: (parser.print_help(sys.stderr), 2)[1])
