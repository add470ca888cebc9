"""DA wire messages: round trips through Cap'n Proto, and limits on what a peer may send."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focusflow.actors.da import codec
from focusflow.actors.da.codec import DaHeader, DecodeError, SampleRequest, SampleResponse
from focusflow.actors.da.reconstruct import BadEncodingError, repair, verify_befp
from focusflow.actors.da.share import build_square, graph_namespace
from focusflow.actors.da.square import ExtendedDataSquare, verify_sample


@pytest.fixture(scope="module")
def eds() -> ExtendedDataSquare:
    rng = np.random.default_rng(9)
    return ExtendedDataSquare.extend(
        build_square([(graph_namespace(f"n{i}"), rng.bytes(900)) for i in range(6)])
    )


def test_header_and_request_round_trip() -> None:
    header = DaHeader(7, bytes(range(32)), 16)
    assert codec.decode_header(codec.encode_header(header)) == header
    req = SampleRequest(7, 3, 15)
    assert codec.decode_request(codec.encode_request(req)) == req


def test_sample_response_round_trips_and_still_verifies(eds: ExtendedDataSquare) -> None:
    sample = eds.sample(2, eds.width - 1)
    resp = SampleResponse(4, 2, eds.width - 1, sample)
    back = codec.decode_response(codec.encode_response(resp))
    assert back == resp
    assert back.sample is not None
    assert verify_sample(
        back.sample, data_root=eds.data_root(), width=eds.width, hash_name="blake3"
    )
    missing = SampleResponse(4, 1, 1, None)
    assert codec.decode_response(codec.encode_response(missing)) == missing


def test_fraud_proof_round_trips_and_still_verifies(eds: ExtendedDataSquare) -> None:
    shares = eds.shares.copy()
    shares[0, 0, 300] ^= 0xFF
    bad = ExtendedDataSquare(shares)
    with pytest.raises(BadEncodingError) as caught:
        repair(shares, np.ones((eds.width, eds.width), dtype=bool), bad.dah())
    proof = caught.value.proof
    assert proof is not None
    height, back = codec.decode_befp(codec.encode_befp(12, proof))
    assert height == 12 and back == proof
    assert verify_befp(back, data_root=bad.data_root(), hash_name="blake3")


def test_garbage_and_oversized_input_is_the_peers_fault(eds: ExtendedDataSquare) -> None:
    with pytest.raises(DecodeError):
        codec.decode_response(b"\x00\x01garbage")
    with pytest.raises(DecodeError):
        codec.decode_header(b"\x00" * (codec.message_bytes_max + 1))
    msg = codec.schema.SampleResponse.new_message(height=1, row=0, col=0)
    sample = msg.init("sample")
    sample.share = b"short"
    with pytest.raises(DecodeError):
        codec.decode_response(bytes(msg.to_bytes()))
    msg = codec.schema.SampleRequest.new_message(height=1, row=300, col=0)
    with pytest.raises(DecodeError):
        codec.decode_request(bytes(msg.to_bytes()))
    big = codec.schema.SampleResponse.new_message(height=1, row=0, col=0)
    s = big.init("sample")
    s.share = bytes(512)
    nodes = s.init("proof").init("nodes", codec.proof_nodes_max + 1)
    for i in range(len(nodes)):
        nodes[i] = bytes(90)
    with pytest.raises(DecodeError):
        codec.decode_response(bytes(big.to_bytes()))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2_000), st.sampled_from(["header", "request", "response", "befp"]))
def test_random_bytes_never_escape_as_anything_but_decode_error(data: bytes, kind: str) -> None:
    decode = {
        "header": codec.decode_header,
        "request": codec.decode_request,
        "response": codec.decode_response,
        "befp": codec.decode_befp,
    }[kind]
    with contextlib.suppress(DecodeError):  # anything else (KjException, IndexError...) fails
        decode(data)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_sample_frames_decode_or_fail_cleanly_and_never_verify_wrongly(
    eds: ExtendedDataSquare, data: st.DataObject
) -> None:
    frame = bytearray(codec.encode_response(SampleResponse(1, 0, 1, eds.sample(0, 1))))
    i = data.draw(st.integers(0, len(frame) - 1))
    frame[i] ^= data.draw(st.integers(1, 255))
    try:
        resp = codec.decode_response(bytes(frame))
    except DecodeError:
        return
    if resp.sample is None:
        return
    s = resp.sample
    inside = 0 <= s.row < eds.width and 0 <= s.col < eds.width
    truth = eds.sample(s.row, s.col) if inside else None
    # What a verified sample vouches for: this share at (row, col) under this row root.
    # Proof fields that do not enter the hashes here (is_max_namespace_ignored when no
    # node carries the parity namespace) may change and still verify, rightly.
    if truth is None or (s.share, s.row_root) != (truth.share, truth.row_root):
        assert not verify_sample(s, data_root=eds.data_root(), width=eds.width,
                                 hash_name="blake3")


def test_da_schema_compiles_with_the_capnp_tool() -> None:
    import subprocess
    from pathlib import Path

    from tests.support import require_tool

    capnp_tool = require_tool("capnp")
    schema_path = Path(codec.__file__).with_name("da.capnp")
    subprocess.run(
        [capnp_tool, "compile", "-o-", str(schema_path)], check=True, capture_output=True
    )
