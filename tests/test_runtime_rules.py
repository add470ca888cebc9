"""ARCHITECTURE rules 1 and 7 as checks (issue 15, item 6).

* Code under ``focusflow/actors/`` and ``focusflow/node/`` reaches the clock, randomness,
  threads, event loops, sockets, SQLite and fsync only through the Runtime
  (``ctx.now_ns``, ``ctx.random``, ``ctx.run_blocking``, ``ctx.storage``,
  ``ctx.database``, ...). An import of such a module, or a call of ``os.fsync``, is an
  error unless its line carries ``# runtime-ok: <why>`` (a process main, a test harness,
  a driver outside actor code).
* The files actor shells run do no raw file I/O either (``open``, ``Path.read_bytes``,
  ...): their storage is the Runtime's, which the simulator can crash.
* Production paths (the node, the topology, the transport and every actor shell) load
  neither the simulator nor the chaos harness (checked in a fresh interpreter).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "focusflow"
SCANNED = ("actors", "node")
MARKER = "# runtime-ok"
FORBIDDEN_MODULES = frozenset({
    "time", "random", "threading", "asyncio", "trio", "anyio", "socket", "selectors",
    "sqlite3", "aiosqlite", "multiprocessing", "concurrent", "_thread",
})
FORBIDDEN_OS = frozenset({"fsync", "fdatasync", "open", "write"})
FILE_IO_METHODS = frozenset({"read_bytes", "read_text", "write_bytes", "write_text"})
#: Files actor shells run (beyond every actors/*/actor.py, core.py and store.py).
SHELL_FILES = ("node/validator.py", "node/chain.py", "node/focus.py")


def _violations(path: Path, *, file_io: bool, root: Path = ROOT) -> list[str]:
    text = path.read_text()
    lines = text.splitlines()
    found = []

    def bad(node: ast.AST, what: str) -> None:
        line = lines[node.lineno - 1]  # type: ignore[attr-defined]
        if MARKER not in line:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {what}")  # type: ignore[attr-defined]

    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    bad(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in FORBIDDEN_MODULES:
                bad(node, f"from {node.module} import ...")
            if top == "os" and any(a.name in FORBIDDEN_OS for a in node.names):
                bad(node, "from os import fsync/open/write")
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "os" and node.attr in FORBIDDEN_OS):
            bad(node, f"os.{node.attr}")
        if file_io and isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id == "open":
                bad(node, "open(...)")
            if isinstance(fn, ast.Attribute) and fn.attr in FILE_IO_METHODS:
                bad(node, f".{fn.attr}(...)")
    return found


def _is_shell_file(path: Path) -> bool:
    rel = path.relative_to(PACKAGE).as_posix()
    return rel in SHELL_FILES or (rel.startswith("actors/")
                                  and path.name in ("actor.py", "core.py", "store.py"))


def test_actor_and_node_code_reaches_nondeterminism_only_through_the_runtime() -> None:
    found = []
    for sub in SCANNED:
        for path in sorted((PACKAGE / sub).rglob("*.py")):
            found += _violations(path, file_io=_is_shell_file(path))
    assert not found, ("use the Runtime (ctx.now_ns, ctx.random, ctx.run_blocking, "
                       f"ctx.storage, ctx.database) or mark the line '{MARKER}: why':\n"
                       + "\n".join(found))


@pytest.mark.parametrize("source", [
    "import time\n",
    "import threading as t\n",
    "from sqlite3 import connect\n",
    "def f():\n    import anyio\n",
    "import os\nos.fsync(3)\n",
    "from random import Random\n",
    "from pathlib import Path\nPath('x').write_bytes(b'')\n",
    "f = open('x')\n",
])
def test_the_check_flags_each_forbidden_use(tmp_path: Path, source: str) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert _violations(path, file_io=True, root=tmp_path)
    path.write_text("\n".join(f"{line}  {MARKER}: test" if line.strip() else line
                              for line in source.splitlines()) + "\n")
    assert not _violations(path, file_io=True, root=tmp_path)


def _actor_shells() -> list[str]:
    return sorted(
        "focusflow." + p.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        for p in (PACKAGE / "actors").glob("*/actor.py"))


def test_production_paths_load_neither_the_simulator_nor_the_chaos_harness() -> None:
    modules = ["focusflow.node", "focusflow.node.app", "focusflow.node.validator",
               "focusflow.topology", "focusflow.topology.node_tree",
               "focusflow.topology.rollnet_node", "focusflow.topology.devnet",
               "focusflow.net", *_actor_shells()]
    assert len(modules) > 12
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'focusflow.sim' or "
            "m.startswith('focusflow.sim.') or (m.startswith('focusflow.chaos.') "
            "and m != 'focusflow.chaos.points'))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
