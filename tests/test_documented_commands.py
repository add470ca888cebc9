"""Every ``focusflow ...`` command shown in README.md and docs/*.md exists, and every flag
it shows is in that command's ``--help``: documented commands cannot drift from the code.

Commands are taken from inline code spans and fenced code blocks (prose is not parsed).
A command's path is its leading words that name subcommands (``focusflow keys new``); its
flags are the ``--words`` after it. Each distinct path is run with ``--help`` in-process
(the real parser, the real help text), and the flags must appear in that text.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import re
import shlex
import warnings
from pathlib import Path

import pytest

from focusflow.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Subcommands the docs may show before their code is merged (other branches land them):
#: subcommand → why. Their invocations are reported as a warning, not checked; once the
#: subcommand exists, the entry makes the test fail (remove it, the flags get checked).
NOT_YET_MERGED: dict[str, str] = {}

_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_FLAG = re.compile(r"--[a-z][a-z0-9-]*")
#: What follows ``focusflow`` in an invocation: a subcommand-like word or a flag (so a
#: name such as the hash domain "focusflow 2026-11 da" is not taken for a command).
_INVOCATION = re.compile(r"^focusflow(\s+(-|[a-z][a-z-]*(\s|$))|$)")


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    return build_parser()


def _commands_in(text: str) -> list[str]:
    """The ``focusflow ...`` invocations in a Markdown file's code."""
    found: list[str] = []
    blocks = _FENCE.findall(text)
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"^\s*(\$\s+)?", "", line.split(" #", 1)[0])
            for part in re.split(r"\s*(?:&&|;|\s\|\s)\s*", line):
                part = re.sub(r"^(\.venv/bin/|\S+=\S+\s+)*", "", part)
                if _INVOCATION.match(part):
                    found.append(part)
    prose = _FENCE.sub("", text)
    for span in _SPAN.findall(prose):
        for part in re.split(r"\s*(?:&&|;)\s*", span):
            if _INVOCATION.match(part):
                found.append(part)
    return found


def _documented() -> list[tuple[str, str]]:
    """(file, command) for every documented invocation."""
    return [(doc.relative_to(ROOT).as_posix(), cmd)
            for doc in DOCS for cmd in _commands_in(doc.read_text(encoding="utf-8"))]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _choices(parser: argparse.ArgumentParser) -> list[str] | None:
    """The choices of a command's first positional argument (``actors {list,get}``)."""
    for action in parser._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            return None if action.choices is None else [str(c) for c in action.choices]
    return None


def _path_and_flags(command: str) -> tuple[list[str], list[str]]:
    """Split a documented command into its subcommand path (with the choice of a first
    positional, as in ``query top``) and the flags it shows."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    parser, path = _parser(), []
    for word in words[1:]:
        sub = _subcommands(parser)
        if word.startswith("-") or word not in sub:
            break
        path.append(word)
        parser = sub[word]
    if not path and len(words) > 1 and not words[1].startswith("-"):
        path.append(words[1])  # an unknown subcommand: reported by the test
    rest = words[1 + len(path):]
    choices = _choices(parser) if path else None
    if choices is not None and rest and re.fullmatch(r"[a-z_]+", rest[0]):
        path.append(rest.pop(0))  # checked against the choices by the test
    return path, _FLAG.findall(" ".join(rest))


def _parser_of(path: list[str]) -> argparse.ArgumentParser:
    parser = _parser()
    for word in path:
        parser = _subcommands(parser)[word]
    return parser


def _command_path(path: list[str]) -> list[str]:
    """The subcommand words of a path (without a positional choice at its end)."""
    parser, out = _parser(), []
    for word in path:
        sub = _subcommands(parser)
        if word not in sub:
            break
        parser = sub[word]
        out.append(word)
    return out


def _help(path: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    with (contextlib.redirect_stdout(out), contextlib.redirect_stderr(err),
          pytest.raises(SystemExit) as exited):
        _parser().parse_args([*path, "--help"])
    assert exited.value.code == 0, (path, err.getvalue())
    return out.getvalue()


def test_the_docs_show_commands_at_all() -> None:
    """The extractor finds what it should (so an empty list cannot pass silently)."""
    commands = [c for _, c in _documented()]
    assert len(commands) > 40
    assert any(c.startswith("focusflow keys new") for c in commands)
    assert "focusflow node --home H" in commands
    for subcommand in NOT_YET_MERGED:
        assert subcommand not in _subcommands(_parser()), (
            f"focusflow {subcommand} is merged now; remove it from NOT_YET_MERGED")


def _problems(documented: list[tuple[str, str]]) -> list[str]:
    """What is wrong with each documented (file, command): an unknown subcommand or
    positional choice, or a flag that its ``--help`` does not list."""
    helps: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    known = _subcommands(_parser())
    for doc, command in documented:
        path, flags = _path_and_flags(command)
        if path and path[0] in NOT_YET_MERGED:
            warnings.warn(f"{doc}: `{command}` not checked: {NOT_YET_MERGED[path[0]]}",
                          stacklevel=1)
            continue
        if path and path[0] not in known:
            problems.append(f"{doc}: `{command}`: no subcommand {path[0]!r}")
            continue
        key = tuple(path)
        command_path = _command_path(path)
        if len(command_path) < len(path):
            choices = _choices(_parser_of(command_path)) or []
            if path[-1] not in choices:
                problems.append(f"{doc}: `{command}`: {path[-1]!r} is not one of {choices}")
                continue
        if key not in helps:
            helps[key] = _help(command_path)
        for flag in flags:
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[key]):
                problems.append(f"{doc}: `{command}`: {flag} is not in "
                                f"`focusflow {' '.join(command_path)} --help`")
    return problems


def test_the_checker_catches_drift() -> None:
    found = _problems([("x.md", "focusflow sim --seed 1 --no-such-flag"),
                       ("x.md", "focusflow nosuch --json"),
                       ("x.md", "focusflow actors frobnicate"),
                       ("x.md", "focusflow keys new --out k --json-ish")])
    assert len(found) == 4, found
    assert "--no-such-flag" in found[0] and "'nosuch'" in found[1]
    assert "frobnicate" in found[2] and "--json-ish" in found[3]


def test_every_documented_command_and_flag_is_in_its_help() -> None:
    problems = _problems(_documented())
    assert not problems, "\n".join(problems)
