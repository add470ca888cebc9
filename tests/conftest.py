"""Suite-wide pytest configuration: anyio runs on both backends; logging stays per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every ``@pytest.mark.anyio`` test runs on asyncio and on trio."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    """A test that runs a command's main in-process (``focusflow node``, ``rank``, …)
    configures structlog to print to the stream it saw: pytest's capture of that test,
    closed afterwards. Restore the configuration, or a later test's log line (a
    transport's, on the same worker) fails with "I/O operation on closed file"."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
