"""focusflow init and node.toml: files written, refusals, errors that name the key."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from focusflow.cli import main
from focusflow.node.config import ConfigError, default_home, init_home, load_settings

TABLES = ("node", "keys", "store", "p2p", "http", "consensus", "transport", "log")


def test_init_writes_a_commented_config_and_separate_key_files(tmp_path: Path) -> None:
    res = init_home(tmp_path, name="alpha")
    cfg = tmp_path / "config" / "node.toml"
    text = cfg.read_text()
    data = tomllib.loads(text)
    assert data["version"] == 1
    assert all(t in data for t in TABLES)
    assert sum(1 for line in text.splitlines() if line.startswith("#")) >= 30
    for name in ("node_key.pem", "validator_key.json"):
        mode = (tmp_path / "config" / name).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600, name
    assert (tmp_path / "config" / "node_cert.pem").exists()
    assert (tmp_path / "data").is_dir()
    s = load_settings(cfg)
    assert s.name == "alpha" and s.identity.public_key == res.node_public_key
    assert s.data_dir == (tmp_path / "data").resolve()
    assert s.commit_pi  # π in every header unless a chain opts out (benchmark switch)
    init_home(tmp_path, name="alpha", overwrite=True, commit_pi=False)
    assert not load_settings(cfg).commit_pi


def test_init_refuses_to_overwrite_without_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = init_home(tmp_path, name="alpha")
    with pytest.raises(ConfigError, match="--overwrite"):
        init_home(tmp_path, name="alpha")
    assert main(["init", "--home", str(tmp_path), "--name", "alpha"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    second = init_home(tmp_path, name="alpha", overwrite=True)
    assert second.node_public_key != first.node_public_key


def test_home_comes_from_focusflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCUSFLOW_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    assert main(["init", "--name", "beta", "--output", "json"]) == 0
    assert (tmp_path / "h" / "config" / "node.toml").exists()


@pytest.mark.parametrize(("edit", "key", "found"), [
    (('listen = "127.0.0.1:26660"', "listen = 5"), "http.listen", "5"),
    (('listen = "127.0.0.1:26656"', 'listen = "nowhere"'), "p2p.listen", "'nowhere'"),
    (('role = "validator"', 'role = "boss"'), "node.role", "'boss'"),
    (("leader_timeout_ms = 1000", "leader_timeout_ms = -3"), "consensus.leader_timeout_ms", "-3"),
    (("version = 1", "version = 7"), "version", "7"),
    (("actors_write = false", "actors_writ = false"), "http.actors_writ", "False"),
    (("dead_after_ms = 3000", "dead_after_ms = 100"), "transport.ping_interval_ms", "500"),
    (("commit_pi = true", 'commit_pi = "yes"'), "consensus.commit_pi", "'yes'"),
    (('last_signed_state = "data/last_signed_state.json"',
      'last_signed_state = "elsewhere/guard.json"'), "keys.last_signed_state", "guard.json"),
])
def test_config_errors_name_the_key_the_expected_and_the_found_value(
        tmp_path: Path, edit: tuple[str, str], key: str, found: str) -> None:
    init_home(tmp_path, name="alpha")
    cfg = tmp_path / "config" / "node.toml"
    text = cfg.read_text()
    assert edit[0] in text
    cfg.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    msg = str(err.value)
    assert msg.startswith(key + ":") and "expected" in msg and found in msg, msg


def test_a_peer_whose_certificate_is_not_its_key_is_a_config_error(tmp_path: Path) -> None:
    a = init_home(tmp_path / "a", name="a")
    init_home(tmp_path / "b", name="b")
    peers = tmp_path / "a" / "config" / "peers"
    peers.mkdir()
    (peers / "b.pem").write_bytes((tmp_path / "b" / "config" / "node_cert.pem").read_bytes())
    cfg = tmp_path / "a" / "config" / "node.toml"
    cfg.write_text(cfg.read_text() + '\n[[p2p.peers]]\nname = "b"\naddress = "127.0.0.1:1"\n'
                   f'public_key = "{a.node_public_key.hex()}"\ncert = "config/peers/b.pem"\n')
    with pytest.raises(ConfigError, match=r"p2p.peers\[0\].cert: expected a certificate of key"):
        load_settings(cfg)
