"""Helpers shared by the test modules."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Return the path of a system tool, or skip (fail under CI's FOCUSFLOW_REQUIRE_SYSDEPS)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("FOCUSFLOW_REQUIRE_SYSDEPS") == "1":
            pytest.fail(f"{name} is required in CI but not installed")
        pytest.skip(f"{name} not installed")
    return path
