"""Loading Cap'n Proto schema files (``*.capnp``) shipped inside the package."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import capnp

# pycapnp installs an import hook that makes ``import foo_capnp`` load schemas from
# sys.path; we load explicitly by path instead, so the hook is never needed.
capnp.remove_import_hook()

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def load_schema(path: str | Path) -> Any:
    """Load (once per process) and return the Cap'n Proto module at ``path``.

    Components keep their schemas next to their code and call this with
    ``Path(__file__).with_name("x.capnp")``. Loading is cached by resolved path because
    pycapnp would otherwise build a second, incompatible set of struct types.

    Raises:
        FileNotFoundError: the schema file does not exist.
        capnp.KjException: the schema does not parse (a local bug).
    """
    resolved = str(Path(path).resolve())
    with _lock:
        module = _loaded.get(resolved)
        if module is None:
            if not Path(resolved).is_file():
                raise FileNotFoundError(resolved)
            imports = [str(SCHEMA_DIR)]
            module = capnp.load(resolved, imports=imports)
            _loaded[resolved] = module
        return module


def runtime_schema() -> Any:
    """The runtime's own schema (envelope and system messages)."""
    return load_schema(SCHEMA_DIR / "runtime.capnp")


def schema_file_of(display_name: str) -> Path | None:
    """The path of a loaded schema file, by the display name pycapnp gave it."""
    with _lock:
        for path, module in _loaded.items():
            if str(module.schema.node.displayName) == display_name:
                return Path(path)
    return None


_generated_dir: list[Path] = []
_import_dirs: list[str] = [str(SCHEMA_DIR)]
#: File name → text of every generated schema loaded in this process.
generated_texts: dict[str, str] = {}


def _private_dir() -> Path:
    """This process's directory for generated schema files, removed at its exit.

    A forked child shares its parent's directory (pycapnp has the loaded files open by
    path and directory handle, so a copy elsewhere would be a second, conflicting schema);
    only the process that made it removes it.

    Raises:
        RuntimeError: the directory is gone (a forked child whose parent has exited),
            so no new message type can be generated here (pycapnp would abort).
    """
    if not _generated_dir:
        made = Path(tempfile.mkdtemp(prefix="focusflow-schemas-"))
        owner = os.getpid()

        def remove() -> None:
            if os.getpid() == owner:  # not in a forked child that inherited the path
                shutil.rmtree(made, ignore_errors=True)

        atexit.register(remove)
        _generated_dir.append(made)
    directory = _generated_dir[0]
    if not directory.is_dir():
        raise RuntimeError(
            f"{directory} (generated message schemas) was removed by the process that made "
            "it, which has exited; define @message classes at import time, before forking")
    return directory


def load_generated(name: str, text: str, import_dirs: list[str]) -> Any:
    """Load a generated schema (``focusflow.wire._generate``) from its text.

    pycapnp parses files only, so the text is written to a directory private to this
    process (the file name is the struct id, so one name is one schema); later generated
    files import it from there by ``/name``.

    Raises:
        capnp.KjException: the text does not parse (a bug in the generator).
    """
    with _lock:
        path = _private_dir() / name
        for extra in import_dirs:
            if extra not in _import_dirs:
                _import_dirs.append(extra)
        module = _loaded.get(str(path))
        if module is None:
            path.write_text(text, encoding="utf-8")
            module = capnp.load(str(path), imports=[str(path.parent), *_import_dirs])
            _loaded[str(path)] = module
            generated_texts[name] = text
        return module
