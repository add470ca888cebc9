"""Block records as a light client sees them: quorum signatures, parent, da_root."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.blocks import merkle_da_root
from focusflow.actors.consensus.crypto import DOMAIN_BLOCK, Ed25519Verifier, Signer, digest
from focusflow.actors.consensus.types import BlockHeader, Committee, LocalBug, Validator
from focusflow.node.chain import BlockLog, ChainError, block_data_root, verify_record
from focusflow.node.messages import BlockRecord
from focusflow.supervisor import open_file_database

SIGNERS = [Signer(bytes([i + 1]) * 32) for i in range(4)]
COMMITTEE = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(SIGNERS)))


def make_record(height: int, parent: bytes, txs: tuple[bytes, ...], voters: list[int], *,
                da_root: bytes | None = None) -> BlockRecord:
    header = BlockHeader(height=height, parent=parent, state_root=bytes(32),
                         da_root=block_data_root(txs) if da_root is None else da_root,
                         pi_root=bytes(32), anchor=bytes(32), anchor_round=2 * height)
    raw = codec.encode_block_header(header)
    return BlockRecord(height, raw, digest(DOMAIN_BLOCK, raw), txs, tuple(voters),
                       tuple(SIGNERS[i].sign(raw) for i in voters))


def test_a_block_with_quorum_signatures_that_extends_the_tip_verifies() -> None:
    rec = make_record(1, bytes(32), (b"tx1", b"tx2"), [0, 1, 2])
    header = verify_record(rec, parent=bytes(32), committee=COMMITTEE, verifier=Ed25519Verifier())
    assert header.height == 1


@pytest.mark.parametrize("da_root", [b"\x07" * 32, merkle_da_root((b"tx1", b"tx2"))])
def test_a_quorum_signed_block_whose_data_root_is_not_its_squares_is_refused(da_root: bytes) -> None:
    """A follower recomputes the NMT data root of the block's erasure-coded square from
    its txs: a header committing another root (a forged one, or the pre-issue-15 tx-digest
    Merkle root) is refused even with every signature valid (issue 15 item 2)."""
    rec = make_record(1, bytes(32), (b"tx1", b"tx2"), [0, 1, 2, 3], da_root=da_root)
    with pytest.raises(ChainError, match="block 1: the data root of its transactions' square "
                                         "differs from the header's da_root"):
        verify_record(rec, parent=bytes(32), committee=COMMITTEE, verifier=Ed25519Verifier())


def test_the_data_root_is_the_nmt_root_of_the_blocks_square() -> None:
    """The header's data root is ``actors.da``'s (one NMT, one square layout), and a
    block too large for one square falls back to the tx-digest root deterministically."""
    from focusflow.actors.da.block import commit_block

    txs = (b"a" * 300, b"b" * 5000, b"")
    assert block_data_root(txs) == commit_block(list(txs)).data_root
    assert block_data_root(txs) != merkle_da_root(txs)
    huge = tuple(bytes([i % 251]) * 100_000 for i in range(90))  # 9 MB > a 128 x 128 square
    assert block_data_root(huge) == merkle_da_root(huge)


@pytest.mark.parametrize("tamper", ["below_quorum", "forged_sig", "other_parent", "txs", "digest"])
def test_tampered_or_underwritten_blocks_are_refused(tamper: str) -> None:
    rec = make_record(1, bytes(32), (b"tx1",), [0, 1, 2])
    parent = bytes(32)
    if tamper == "below_quorum":
        rec = make_record(1, bytes(32), (b"tx1",), [0, 1])
    elif tamper == "forged_sig":
        rec = BlockRecord(1, rec.header, rec.digest, rec.txs, rec.signers,
                          (rec.signatures[0], rec.signatures[1], bytes(64)))
    elif tamper == "other_parent":
        parent = b"\x01" * 32
    elif tamper == "txs":
        rec = BlockRecord(1, rec.header, rec.digest, (b"tx-evil",), rec.signers, rec.signatures)
    else:
        rec = BlockRecord(1, rec.header, b"\x00" * 32, rec.txs, rec.signers, rec.signatures)
    with pytest.raises(ChainError):
        verify_record(rec, parent=parent, committee=COMMITTEE, verifier=Ed25519Verifier())


@pytest.mark.parametrize("voters", [[], [1, 2], [0, 0, 1]])
def test_a_validators_block_log_refuses_an_under_signed_record(tmp_path: Path,
                                                               voters: list[int]) -> None:
    """The write path's door (issue 16 nemesis finding): a record without the quorum
    stake of signers never becomes durable, so the node's next start cannot refuse its
    own log."""
    log = BlockLog(open_file_database(tmp_path / "blocks.sqlite"), committee=COMMITTEE)
    with pytest.raises(LocalBug, match="block 1: refusing to log a record signed by"):
        log.append(make_record(1, bytes(32), (b"a",), voters), 0)
    assert log.height == 0 and log.record(1) is None
    log.append(make_record(1, bytes(32), (b"a",), [0, 2, 3]), 0)
    assert log.height == 1


def test_block_log_is_durable_and_gapless_across_reopen(tmp_path: Path) -> None:
    log = BlockLog(open_file_database(tmp_path / "blocks.sqlite"))
    r1 = make_record(1, bytes(32), (b"a",), [0, 1, 2])
    r2 = make_record(2, r1.digest, (b"b",), [1, 2, 3])
    log.append(r1, 5)
    log.append(r2, 7)
    log.close()
    again = BlockLog(open_file_database(tmp_path / "blocks.sqlite"))
    assert again.height == 2 and again.links == 12 and again.tip_digest == r2.digest
    assert again.record(2) == r2
    assert [h for h, _ in again.digests(1, 2)] == [1, 2]
