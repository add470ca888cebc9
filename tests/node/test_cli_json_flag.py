"""One ``--json`` flag on every command that prints data (issue 20 item 2)."""

from __future__ import annotations

import argparse

from focusflow.cli import build_parser

NO_DATA = {"node"}  # runs until SIGTERM; prints logs only


def _leaves(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: parser}
    out: dict[str, argparse.ArgumentParser] = {}
    for name, sub in subs[0].choices.items():
        out.update(_leaves(sub, f"{path} {name}".strip()))
    return out


def test_every_data_command_takes_json() -> None:
    leaves = _leaves(build_parser())
    missing = [name for name, p in leaves.items() if name.split()[0] not in NO_DATA
               and "--json" not in p._option_string_actions]
    assert not missing, f"commands without --json: {missing}"
    assert "testnet" in leaves and "query" in leaves
