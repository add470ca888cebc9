"""Supervisor trees declared as data: in code (``ChildSpec``) or in TOML.

TOML form (``tomllib``; classes by ``"module:Class"``)::

    [supervisor]
    id = "root"
    strategy = "one_for_all"      # OTP flags; defaults: one_for_one, 1 in 5000 ms
    intensity = 3
    period_ms = 5000

    [[supervisor.children]]
    id = "store"
    start = "myapp.actors:Store"
    restart = "permanent"
    shutdown_ms = 2000
    kwargs = { path = "/var/lib/x" }

    [[supervisor.children]]       # a nested supervisor
    id = "workers"
    strategy = "rest_for_one"
    children = [ { id = "w1", start = "myapp.actors:Worker" } ]
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from focusflow.supervisor._strategy import ChildSpec, SupervisorFlags
from focusflow.supervisor._supervisor import supervisor_spec

TREE_DEPTH_MAX = 32
_FLAG_KEYS = ("strategy", "intensity", "period_ms", "backoff_ms_base", "backoff_ms_max")
_CHILD_KEYS = ("id", "start", "args", "kwargs", "restart", "shutdown_ms",
               "mailbox_depth_max", "overflow")


def tree_from_dict(data: Mapping[str, Any], *, _depth: int = 0) -> ChildSpec:
    """A ``ChildSpec`` (of a ``Supervisor``) from a parsed mapping.

    Raises:
        ValueError: unknown keys, bad values, or nesting deeper than TREE_DEPTH_MAX.
    """
    if _depth > TREE_DEPTH_MAX:
        raise ValueError(f"supervisor tree deeper than {TREE_DEPTH_MAX}")
    allowed = {"id", "children", "restart", *_FLAG_KEYS}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"unknown supervisor keys {unknown}")
    flags = SupervisorFlags(**{k: data[k] for k in _FLAG_KEYS if k in data})
    children = [_child(c, _depth) for c in data.get("children", [])]
    return supervisor_spec(str(data.get("id", "root")), children, flags=flags,
                           restart=str(data.get("restart", "permanent")))


def _child(data: Mapping[str, Any], depth: int) -> ChildSpec:
    if not isinstance(data, Mapping):
        raise ValueError(f"a child must be a table, got {data!r}")
    if "children" in data:
        return tree_from_dict(data, _depth=depth + 1)
    unknown = sorted(set(data) - set(_CHILD_KEYS))
    if unknown:
        raise ValueError(f"unknown child keys {unknown} in {data.get('id')!r}")
    if "start" not in data or "id" not in data:
        raise ValueError("a child needs 'id' and 'start'")
    fields = {k: data[k] for k in _CHILD_KEYS if k in data}
    fields["args"] = tuple(fields.get("args", ()))
    fields["kwargs"] = dict(fields.get("kwargs", {}))
    return ChildSpec(**fields)


def tree_from_toml(text: str) -> ChildSpec:
    """Parse a ``[supervisor]`` table from TOML text (see the module docstring).

    Raises:
        ValueError: invalid TOML or an invalid tree (tomllib.TOMLDecodeError is a ValueError).
    """
    doc = tomllib.loads(text)
    if "supervisor" not in doc:
        raise ValueError("TOML tree needs a [supervisor] table")
    return tree_from_dict(doc["supervisor"])
