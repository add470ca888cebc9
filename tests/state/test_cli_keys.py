"""``focusflow keys``: new/show round trip and the CID of a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusflow.actors.state.ids import address_from_text
from focusflow.cli import main


def test_keys_new_then_show_prints_the_same_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "alice.key"
    assert main(["keys", "new", "--out", str(key)]) == 0
    address = capsys.readouterr().out.strip()
    assert len(address_from_text(address)) == 20
    assert key.stat().st_mode & 0o777 == 0o600
    assert main(["keys", "show", str(key)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == address
    assert main(["keys", "new", "--out", str(key)]) == 1  # never overwrites a key


def test_keys_cid_of_an_empty_file_is_the_published_vector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert main(["keys", "cid", str(empty)]) == 0
    assert (
        capsys.readouterr().out.strip()
        == "bafkr4ifpcne3t5pzugtkaqcn5i3nzskjtpfslsnnyejlpte2spfoihzsmi"
    )
