"""The ``focusflow`` command.

Each subcommand lives in its own module of this package (``focusflow/cli/<name>.py``)
and exposes ``register(subparsers) -> None``, which adds its parser and sets
``func=<callable(args) -> int>``. Modules hold argument handling and output only;
the work itself is done by the library they call. Discovery is by module listing, so
adding a command never means editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from focusflow import __version__


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand module found in this package."""
    parser = argparse.ArgumentParser(
        prog="focusflow",
        description="focusflow: a focus-flow network of supervised actors.",
    )
    parser.add_argument("--version", action="version", version=f"focusflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
