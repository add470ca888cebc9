"""Particles (CIDv1 raw/BLAKE3, base32) and neuron addresses (bech32) against known vectors."""

from __future__ import annotations

import base64

import pytest

from focusflow.actors.state.ids import (
    IdentityError,
    Neuron,
    address_from_text,
    address_of,
    address_to_text,
    bech32_decode,
    bech32_encode,
    cid_from_digest,
    cid_from_text,
    cid_of,
    cid_to_text,
    convert_bits,
)


def test_cid_of_empty_bytes_matches_published_blake3_raw_cid() -> None:
    # BLAKE3("") as CIDv1/raw/blake3-256, as published by multiformats users (Streamplace).
    assert cid_to_text(cid_of(b"")) == "bafkr4ifpcne3t5pzugtkaqcn5i3nzskjtpfslsnnyejlpte2spfoihzsmi"


def test_cid_of_fixed_digest_matches_published_vector() -> None:
    assert (
        cid_to_text(cid_from_digest(bytes([0xAB] * 32)))
        == "bafkr4iflvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvm"
    )


def test_cid_framing_matches_a_sha256_raw_vector() -> None:
    # Same version/codec/varint/base32 framing with sha2-256 (0x12): a well-known CID.
    digest = bytes.fromhex("FAE8D07F50DBBCD3FDD65610ADCD6C3DF2171B31AE97041B1E222506E78DFD94")
    text = "b" + base64.b32encode(bytes([1, 0x55, 0x12, 32]) + digest).decode().lower().rstrip("=")
    assert text == "bafkreih25dih6ug3xtj73vswccw423b56ilrwmnos4cbwhrceudopdp5sq"


def test_cid_text_round_trips_and_foreign_cids_are_refused() -> None:
    raw = cid_of(b"hello")
    assert cid_from_text(cid_to_text(raw)) == raw
    with pytest.raises(IdentityError):
        cid_from_text("bafkreih25dih6ug3xtj73vswccw423b56ilrwmnos4cbwhrceudopdp5sq")  # sha256
    with pytest.raises(IdentityError):
        cid_from_text("zQmfoo")
    with pytest.raises(IdentityError):
        cid_to_text(b"\x01\x55\x12\x20" + bytes(32))


def test_bech32_matches_bip173_segwit_vector() -> None:
    program = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    text = bech32_encode("bc", [0, *convert_bits(program, 8, 5, pad=True)])
    assert text == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    hrp, data = bech32_decode(text)
    assert hrp == "bc" and bytes(convert_bits(data[1:], 5, 8, pad=False)) == program


def test_neuron_address_round_trips_and_typos_are_caught() -> None:
    neuron = Neuron.from_seed(bytes(range(32)))
    addr = neuron.address
    assert addr == address_of(neuron.public_key) and len(addr) == 20
    text = address_to_text(addr)
    assert text.startswith("neuron1")
    assert address_from_text(text) == addr
    typo = text[:-1] + ("q" if text[-1] != "q" else "p")
    with pytest.raises(IdentityError):
        address_from_text(typo)
    with pytest.raises(IdentityError):
        address_from_text(bech32_encode("cosmos", convert_bits(addr, 8, 5, pad=True)))


def test_distinct_keys_give_distinct_addresses() -> None:
    addrs = {Neuron.from_seed(bytes([i]) * 32).address for i in range(50)}
    assert len(addrs) == 50
