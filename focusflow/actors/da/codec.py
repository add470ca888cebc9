"""Cap'n Proto encoding of the DA messages (schema: ``da.capnp``), paired with limits.

Decoders never trust a length they read: every list and blob is bounded before it is
used, so a peer cannot make us allocate or hash more than a 2k = 256 wide square allows.
Malformed bytes raise :class:`DecodeError` (the peer's fault).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import capnp  # type: ignore[import-untyped]

from focusflow.actors.da.nmt import NmtProof
from focusflow.actors.da.reconstruct import Axis, BadEncodingFraudProof, FraudShare
from focusflow.actors.da.share import NAMESPACE_SIZE, SHARE_SIZE
from focusflow.actors.da.square import DataAvailabilityHeader, NamespaceRowProof, Sample
from focusflow.wire import load_schema, message

__all__ = [
    "DaHeader",
    "DahRequest",
    "DahResponse",
    "DecodeError",
    "FraudProofNotice",
    "NamespaceRequest",
    "NamespaceResponse",
    "SampleRequest",
    "SampleResponse",
    "decode_befp",
    "decode_header",
    "decode_request",
    "decode_response",
    "encode_befp",
    "encode_header",
    "encode_request",
    "encode_response",
]

T = TypeVar("T")
schema: Any = load_schema(Path(__file__).with_name("da.capnp"))

#: One DA message; a 128-wide fraud proof is ~200 KiB, a sample ~1.5 KiB.
message_bytes_max = 1 << 20
#: Proof nodes: an NMT path over 256 leaves has 8, a range proof at most 2 * 8.
proof_nodes_max = 64
#: Node bytes: 2 * 29 namespace + 32 digest.
node_bytes_max = 90
width_max = 256


class DecodeError(ValueError):
    """Bytes from a peer that are not a well-formed DA message within limits."""


@message(schema.DaHeader)
class DaHeader:
    """What the sampler needs from a block header."""

    height: int
    data_root: bytes
    width: int


@message(schema.SampleRequest)
class SampleRequest:
    """Ask for cell (row, col) of block ``height``."""

    height: int
    row: int
    col: int


@message(schema.SampleResponse)
class SampleResponse:
    """The answer to a :class:`SampleRequest`; ``sample`` is None when the peer lacks it."""

    height: int
    row: int
    col: int
    sample: Sample | None

    def _to_builder(self, builder: Any) -> None:
        _fill_response(builder, self)

    @classmethod
    def _from_reader(cls, reader: Any) -> SampleResponse:
        return _read_response(reader)


@message(schema.BadEncodingFraudProof)
class FraudProofNotice:
    """A bad-encoding fraud proof for block ``height``, as gossiped between nodes."""

    height: int
    proof: BadEncodingFraudProof

    def _to_builder(self, builder: Any) -> None:
        _fill_befp(builder, self.height, self.proof)

    @classmethod
    def _from_reader(cls, reader: Any) -> FraudProofNotice:
        height, proof = _read_befp(reader)
        return cls(height, proof)


@message(schema.DahRequest)
class DahRequest:
    """Ask for the data availability header (all 4k roots) of block ``height``."""

    height: int


@message(schema.DahResponse)
class DahResponse:
    """The roots, or ``dah=None`` when the peer does not have the block."""

    height: int
    dah: DataAvailabilityHeader | None

    def _to_builder(self, builder: Any) -> None:
        builder.height = self.height
        builder.found = self.dah is not None
        if self.dah is not None:
            for name, roots in (("rowRoots", self.dah.row_roots), ("colRoots", self.dah.col_roots)):
                out = builder.init(name, len(roots))
                for i, root in enumerate(roots):
                    out[i] = root

    @classmethod
    def _from_reader(cls, reader: Any) -> DahResponse:
        if not reader.found:
            return cls(int(reader.height), None)
        rows = _blobs(reader.rowRoots, count_max=width_max, bytes_max=node_bytes_max)
        cols = _blobs(reader.colRoots, count_max=width_max, bytes_max=node_bytes_max)
        # hash_name is local configuration: the receiver re-checks the roots against its header.
        return cls(int(reader.height), DataAvailabilityHeader(rows, cols))


@message(schema.NamespaceRequest)
class NamespaceRequest:
    """Ask for every share of ``namespace`` in block ``height``, with proofs."""

    height: int
    namespace: bytes


@message(schema.NamespaceResponse)
class NamespaceResponse:
    """Per-row namespace proofs, or ``rows=None`` when the peer does not hold them."""

    height: int
    namespace: bytes
    rows: tuple[NamespaceRowProof, ...] | None

    def _to_builder(self, builder: Any) -> None:
        builder.height, builder.namespace = self.height, self.namespace
        builder.found = self.rows is not None
        rows = self.rows or ()
        assert len(rows) <= width_max
        out = builder.init("rows", len(rows))
        for i, row in enumerate(rows):
            out[i].row = row.row
            shares = out[i].init("shares", len(row.shares))
            for j, share in enumerate(row.shares):
                shares[j] = share
            _fill_proof(out[i].init("proof"), row.proof)

    @classmethod
    def _from_reader(cls, reader: Any) -> NamespaceResponse:
        namespace = bytes(reader.namespace)
        if len(namespace) != NAMESPACE_SIZE or len(reader.rows) > width_max:
            raise DecodeError("malformed namespace response")
        if not reader.found:
            return cls(int(reader.height), namespace, None)
        rows = []
        for r in reader.rows:
            shares = _blobs(r.shares, count_max=width_max, bytes_max=SHARE_SIZE)
            if any(len(share) != SHARE_SIZE for share in shares) or r.row >= width_max:
                raise DecodeError("malformed namespace row")
            rows.append(NamespaceRowProof(int(r.row), shares, _read_proof(r.proof)))
        return cls(int(reader.height), namespace, tuple(rows))


def _decode(struct: Any, data: bytes, read: Callable[[Any], T]) -> T:
    """Parse ``data`` as ``struct`` within limits and convert it with ``read``."""
    if len(data) > message_bytes_max:
        raise DecodeError(f"frame of {len(data)} bytes over message_bytes_max")
    try:
        with struct.from_bytes(
            data, traversal_limit_in_words=message_bytes_max // 8 + 1024, nesting_limit=16
        ) as reader:
            return read(reader)
    except DecodeError:
        raise
    except (capnp.KjException, ValueError) as exc:
        raise DecodeError(f"not a valid {struct}: {exc}") from exc


def _blobs(reader: Any, *, count_max: int, bytes_max: int) -> tuple[bytes, ...]:
    if len(reader) > count_max:
        raise DecodeError(f"{len(reader)} entries over {count_max}")
    out = tuple(bytes(x) for x in reader)
    if any(len(x) > bytes_max for x in out):
        raise DecodeError(f"an entry exceeds {bytes_max} bytes")
    return out


def _check_cell(row: int, col: int) -> None:
    if not (0 <= row < width_max and 0 <= col < width_max):
        raise DecodeError(f"cell ({row}, {col}) outside any square")


def _fill_proof(b: Any, proof: NmtProof) -> None:
    assert len(proof.nodes) <= proof_nodes_max
    b.start = proof.start
    b.end = proof.end
    nodes = b.init("nodes", len(proof.nodes))
    for i, node in enumerate(proof.nodes):
        nodes[i] = node
    b.leafHash = proof.leaf_hash
    b.maxNamespaceIgnored = proof.is_max_namespace_ignored


def _read_proof(r: Any) -> NmtProof:
    nodes = _blobs(r.nodes, count_max=proof_nodes_max, bytes_max=node_bytes_max)
    leaf_hash = bytes(r.leafHash)
    if len(leaf_hash) > node_bytes_max or r.start > r.end or r.end > width_max:
        raise DecodeError("malformed NMT proof")
    return NmtProof(int(r.start), int(r.end), nodes, leaf_hash, bool(r.maxNamespaceIgnored))


def _fill_sample(b: Any, s: Sample) -> None:
    b.row, b.col, b.share = s.row, s.col, s.share
    _fill_proof(b.init("proof"), s.proof)
    b.rowRoot = s.row_root
    aunts = b.init("rowRootProof", len(s.row_root_proof))
    for i, aunt in enumerate(s.row_root_proof):
        aunts[i] = aunt


def _read_sample(r: Any) -> Sample:
    _check_cell(r.row, r.col)
    share, row_root = bytes(r.share), bytes(r.rowRoot)
    if len(share) != SHARE_SIZE or len(row_root) > node_bytes_max:
        raise DecodeError("malformed sample")
    aunts = _blobs(r.rowRootProof, count_max=proof_nodes_max, bytes_max=32)
    return Sample(int(r.row), int(r.col), share, _read_proof(r.proof), row_root, aunts)


def encode_header(h: DaHeader) -> bytes:
    """DaHeader -> bytes."""
    assert len(h.data_root) == 32 and 2 <= h.width <= width_max
    return bytes(
        schema.DaHeader.new_message(height=h.height, dataRoot=h.data_root, width=h.width).to_bytes()
    )


def decode_header(data: bytes) -> DaHeader:
    """bytes -> DaHeader. Raises DecodeError."""
    return _decode(schema.DaHeader, data, _read_header)


def _read_header(r: Any) -> DaHeader:
    root = bytes(r.dataRoot)
    if len(root) != 32 or not 2 <= r.width <= width_max:
        raise DecodeError("malformed DA header")
    return DaHeader(int(r.height), root, int(r.width))


def encode_request(req: SampleRequest) -> bytes:
    """SampleRequest -> bytes."""
    assert 0 <= req.row < width_max and 0 <= req.col < width_max
    return bytes(
        schema.SampleRequest.new_message(height=req.height, row=req.row, col=req.col).to_bytes()
    )


def decode_request(data: bytes) -> SampleRequest:
    """bytes -> SampleRequest. Raises DecodeError."""
    return _decode(schema.SampleRequest, data, _read_request)


def _read_request(r: Any) -> SampleRequest:
    _check_cell(r.row, r.col)
    return SampleRequest(int(r.height), int(r.row), int(r.col))


def encode_response(resp: SampleResponse) -> bytes:
    """SampleResponse -> bytes."""
    msg = schema.SampleResponse.new_message()
    _fill_response(msg, resp)
    return bytes(msg.to_bytes())


def _fill_response(msg: Any, resp: SampleResponse) -> None:
    msg.height, msg.row, msg.col = resp.height, resp.row, resp.col
    if resp.sample is None:
        msg.missing = None
    else:
        _fill_sample(msg.init("sample"), resp.sample)


def decode_response(data: bytes) -> SampleResponse:
    """bytes -> SampleResponse. Raises DecodeError."""
    return _decode(schema.SampleResponse, data, _read_response)


def _read_response(r: Any) -> SampleResponse:
    _check_cell(r.row, r.col)
    sample = _read_sample(r.sample) if r.which() == "sample" else None
    return SampleResponse(int(r.height), int(r.row), int(r.col), sample)


def encode_befp(height: int, proof: BadEncodingFraudProof) -> bytes:
    """(height, fraud proof) -> bytes."""
    msg = schema.BadEncodingFraudProof.new_message()
    _fill_befp(msg, height, proof)
    return bytes(msg.to_bytes())


def _fill_befp(msg: Any, height: int, proof: BadEncodingFraudProof) -> None:
    assert len(proof.shares) <= width_max // 2
    msg.height, msg.axis, msg.index, msg.width = height, proof.axis, proof.index, proof.width
    msg.axisRoot = proof.axis_root
    aunts = msg.init("axisRootProof", len(proof.axis_root_proof))
    for i, aunt in enumerate(proof.axis_root_proof):
        aunts[i] = aunt
    shares = msg.init("shares", len(proof.shares))
    for i, item in enumerate(proof.shares):
        b = shares[i]
        b.position, b.share, b.orthRoot = item.position, item.share, item.orth_root
        _fill_proof(b.init("proof"), item.proof)
        orth = b.init("orthRootProof", len(item.orth_root_proof))
        for j, aunt in enumerate(item.orth_root_proof):
            orth[j] = aunt


def decode_befp(data: bytes) -> tuple[int, BadEncodingFraudProof]:
    """bytes -> (height, fraud proof). Raises DecodeError; validity is :func:`verify_befp`'s job."""
    return _decode(schema.BadEncodingFraudProof, data, _read_befp)


def _read_befp(r: Any) -> tuple[int, BadEncodingFraudProof]:
    if not 2 <= r.width <= width_max or r.index >= r.width or len(r.shares) > r.width // 2:
        raise DecodeError("malformed fraud proof header")
    items = []
    for s in r.shares:
        share, orth_root = bytes(s.share), bytes(s.orthRoot)
        if len(share) != SHARE_SIZE or len(orth_root) > node_bytes_max or s.position >= r.width:
            raise DecodeError("malformed fraud proof share")
        aunts = _blobs(s.orthRootProof, count_max=proof_nodes_max, bytes_max=32)
        items.append(FraudShare(int(s.position), share, _read_proof(s.proof), orth_root, aunts))
    axis_root = bytes(r.axisRoot)
    if len(axis_root) > node_bytes_max:
        raise DecodeError("malformed fraud proof axis root")
    axis_aunts = _blobs(r.axisRootProof, count_max=proof_nodes_max, bytes_max=32)
    axis: Axis = "row" if str(r.axis) == "row" else "col"
    proof = BadEncodingFraudProof(
        axis, int(r.index), int(r.width), axis_root, axis_aunts, tuple(items)
    )
    return int(r.height), proof
