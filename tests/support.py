"""Helpers shared by the test modules."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

import pytest

from focusflow.topology.netns import Fabric, unavailable


def require_tool(name: str) -> str:
    """Return the path of a system tool, or skip (fail under CI's FOCUSFLOW_REQUIRE_SYSDEPS)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("FOCUSFLOW_REQUIRE_SYSDEPS") == "1":
            pytest.fail(f"{name} is required in CI but not installed")
        pytest.skip(f"{name} not installed")
    return path


@contextlib.contextmanager
def netns_fabric(nodes: int) -> Iterator[Fabric]:
    """A namespace fabric for ``nodes`` validators, removed on exit; skips when not root or
    when namespaces cannot be made (CI runs as root with iproute2, so it runs there)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    require_tool("ip")
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    fab = Fabric(nodes)
    try:
        fab.up()
        yield fab
    finally:
        fab.down()
