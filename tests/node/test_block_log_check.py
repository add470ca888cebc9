"""A starting node verifies its block log before serving it (issue 16, finding 9): a
block's digest edited in ``blocks.sqlite`` used to go unnoticed and be served."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from focusflow.actors.consensus.crypto import Ed25519Verifier
from focusflow.node.chain import BlockLog, ChainError, verify_block_log
from focusflow.node.messages import BlockRecord
from focusflow.supervisor import open_file_database
from focusflow.wire import encode_message
from tests.node.test_chain import COMMITTEE, make_record

QUORUM = [0, 1, 2]


def write_log(path: Path, n: int, *, weak: set[int] = frozenset()) -> list[BlockRecord]:  # type: ignore[assignment]
    """``n`` chained blocks; those in ``weak`` signed below the quorum."""
    log = BlockLog(open_file_database(path))
    parent, out = bytes(32), []
    for h in range(1, n + 1):
        rec = make_record(h, parent, (f"tx{h}".encode(),), [0] if h in weak else QUORUM)
        log.append(rec, 1)
        out.append(rec)
        parent = rec.digest
    log.close()
    return out


def edit(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(str(path))
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def test_an_intact_log_verifies_and_a_missing_one_is_empty(tmp_path: Path) -> None:
    write_log(tmp_path / "blocks.sqlite", 20)
    assert verify_block_log(tmp_path / "blocks.sqlite", COMMITTEE, Ed25519Verifier()) == 20
    assert verify_block_log(tmp_path / "none.sqlite", COMMITTEE, Ed25519Verifier()) == 0


def test_an_edited_digest_column_is_found_with_its_height(tmp_path: Path) -> None:
    path = tmp_path / "blocks.sqlite"
    write_log(path, 20)
    edit(path, "UPDATE block SET digest = ? WHERE height = 7", b"\x01" * 32)
    with pytest.raises(ChainError, match="block 7: stored digest"):
        verify_block_log(path, COMMITTEE, Ed25519Verifier())


def test_an_edited_record_breaks_the_hash_chain_far_below_the_signed_suffix(tmp_path: Path) -> None:
    path = tmp_path / "blocks.sqlite"
    recs = write_log(path, 20)
    forged = make_record(3, recs[1].digest, (b"other",), QUORUM)  # re-signed, other txs
    _, data = encode_message(forged)
    edit(path, "UPDATE block SET digest = ?, record = ? WHERE height = 3", forged.digest, data)
    with pytest.raises(ChainError, match="block 4: does not extend"):
        verify_block_log(path, COMMITTEE, Ed25519Verifier(), signed_max=2)


def test_signatures_below_quorum_at_the_tip_are_found_and_the_bound_is_the_suffix(
        tmp_path: Path) -> None:
    path = tmp_path / "blocks.sqlite"
    write_log(path, 20, weak={5, 19})
    with pytest.raises(ChainError, match="block 19: signatures below the quorum"):
        verify_block_log(path, COMMITTEE, Ed25519Verifier(), signed_max=4)
    path2 = tmp_path / "b2.sqlite"
    write_log(path2, 20, weak={5})  # below the checked suffix: the documented bound
    assert verify_block_log(path2, COMMITTEE, Ed25519Verifier(), signed_max=4) == 20
    with pytest.raises(ChainError, match="block 5"):
        verify_block_log(path2, COMMITTEE, Ed25519Verifier(), signed_max=20)


def test_a_node_whose_log_was_edited_refuses_to_start_and_names_the_block(tmp_path: Path) -> None:
    """A real two-validator chain; one block's digest edited while a is down."""
    import time

    from focusflow.node import client
    from focusflow.node.app import run_node
    from focusflow.node.config import load_settings
    from tests.node.live import committee_homes, live_nodes

    configs = committee_homes(tmp_path, ["a", "b"])
    with live_nodes(configs) as urls:
        deadline = time.monotonic() + 30
        while client.get(urls[0], "/status")["validator"]["finalized_height"] < 3:
            assert time.monotonic() < deadline, "no blocks"
            time.sleep(0.1)
    settings = load_settings(configs[0])
    path = settings.data_dir / "blocks.sqlite"
    edit(path, "UPDATE block SET digest = ? WHERE height = 2", b"\x02" * 32)

    async def start() -> None:
        with anyio.fail_after(10):
            await run_node(settings, stop=anyio.Event())

    with pytest.raises(ChainError, match="block 2: stored digest"):
        anyio.run(start)


def test_certified_round_counts_only_certificates_with_quorum_votes() -> None:
    """What a validator without its guard trusts of the network's round (finding 10)."""
    from focusflow.actors.consensus import codec
    from focusflow.actors.consensus.crypto import DOMAIN_VOTE
    from focusflow.actors.consensus.types import Certificate, CertResponse, Header
    from focusflow.node.chain import certified_round
    from tests.node.test_chain import SIGNERS

    def cert(round_: int, voters: list[int]) -> Certificate:
        payload = codec.encode_header(Header(round=round_, author=1, parents=(), batches=()))
        signed = codec.signed_header(payload, SIGNERS[1].sign(payload), SIGNERS[1].public_key)
        return Certificate(signed, tuple((v, SIGNERS[v].sign(DOMAIN_VOTE + signed.digest))
                                         for v in voters))

    v = Ed25519Verifier()
    assert certified_round(codec.encode_message(1, cert(9, QUORUM)), COMMITTEE, v) == 9
    assert certified_round(codec.encode_message(1, cert(9, [0, 1])), COMMITTEE, v) == 0
    forged = cert(12, QUORUM)
    bad = Certificate(forged.signed, ((0, forged.votes[0][1]), (1, forged.votes[0][1]),
                                      (2, forged.votes[0][1])))
    assert certified_round(codec.encode_message(1, bad), COMMITTEE, v) == 0
    both = CertResponse((cert(5, QUORUM), cert(7, QUORUM)))
    assert certified_round(codec.encode_message(1, both), COMMITTEE, v) == 7
    assert certified_round(codec.encode_message(1, both), COMMITTEE, v, above=7) == 0
    assert certified_round(b"\x00" * 40, COMMITTEE, v) == 0
