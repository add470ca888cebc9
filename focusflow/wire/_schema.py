"""Loading Cap'n Proto schema files (``*.capnp``) shipped inside the package."""

from __future__ import annotations

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
