"""Message types of the semantic rollups and the hub, bound to ``rollup.capnp``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from focusflow.wire import array_field, load_schema, message

schema: Any = load_schema(Path(__file__).with_name("rollup.capnp"))

ROOT_BYTES = 32
EMPTY_ROOT = bytes(ROOT_BYTES)


@message(schema.SubmitLinks)
class SubmitLinks:
    """Links of one bucket from a client."""

    neuron: np.ndarray = array_field("<u8")
    src: np.ndarray = array_field("<u8")
    dst: np.ndarray = array_field("<u8")
    bucket_id: bytes = b""
    particle_ns: bytes = b""
    fee: int = 0


@message(schema.Submitted)
class Submitted:
    """How many links a sequencer took."""

    accepted: int
    refused: int


@message(schema.Batch)
class Batch:
    """One ordered batch of a bucket (the DA blob)."""

    bucket: bytes
    seq: int
    neuron: np.ndarray = array_field("<u8")
    src: np.ndarray = array_field("<u8")
    dst: np.ndarray = array_field("<u8")

    def __post_init__(self) -> None:
        if not len(self.neuron) == len(self.src) == len(self.dst):
            raise ValueError("batch arrays differ in length")


@message(schema.SupplyRank)
class SupplyRank:
    """A settlement claim ``SupplyRank {bucket, delta, proof, fee}``."""

    bucket: bytes
    period: int
    parent: bytes
    n_particles: int
    index: np.ndarray = array_field("<u4")
    value: np.ndarray = array_field("<u8")
    root: bytes = EMPTY_ROOT
    weight_mass: float = 0.0
    da_roots: bytes = b""
    first_batch: int = 1
    links: int = 0
    fee: int = 0
    retire: bool = False
    sequencer: bytes = b""

    def __post_init__(self) -> None:
        if len(self.index) != len(self.value):
            raise ValueError("delta index and value differ in length")
        if len(self.da_roots) % ROOT_BYTES or len(self.root) != ROOT_BYTES:
            raise ValueError("roots must be 32 bytes each")

    def batch_roots(self) -> list[bytes]:
        """The period's DA data roots, in batch order."""
        r = self.da_roots
        return [r[i:i + ROOT_BYTES] for i in range(0, len(r), ROOT_BYTES)]


@message(schema.FraudProof)
class FraudProof:
    """A compact fraud proof: names the claim; the judge re-executes from DA."""

    bucket: bytes
    period: int
    root: bytes
    residual: float
    challenger: str


@message(schema.Publish)
class Publish:
    """Publish a blob under a namespace on the DA grid."""

    namespace: bytes
    blob: bytes


@message(schema.Published)
class Published:
    """The data root of the square the blob went into."""

    data_root: bytes
    width: int


@message(schema.FetchSquare)
class FetchSquare:
    """Ask the DA grid for the original shares of a square."""

    data_root: bytes


@message(schema.Square)
class Square:
    """Original shares of a square (k*k*512 bytes) or not found."""

    found: bool
    k: int = 0
    shares: bytes = b""


@message(schema.RollupTick)
class RollupTick:
    """Timer message of the shells (kind says which timer)."""

    kind: int = 0


@message(schema.ClaimNotice)
class ClaimNotice:
    """A claim entered its challenge window at a hub."""

    claim: bytes
    hub: str
    deadline_ns: int


@message(schema.HubQuery)
class HubQuery:
    """Ask a hub for its merged state."""

    kind: int = 0


@message(schema.HubState)
class HubState:
    """A hub's merged state."""

    height: int
    root: bytes
    periods: np.ndarray = array_field("<u8")
    credits: np.ndarray = array_field("<u8")
    pi: np.ndarray = array_field("<u8")
    buckets: tuple[bytes, ...] = ()
    slashed: tuple[bytes, ...] = ()
    pool: int = 0


@message(schema.HubEvent)
class HubEvent:
    """One durable event of a hub's log."""

    kind: int
    now_ns: int
    a: bytes = b""
    b: bytes = b""
    flag: bool = False


@message(schema.ClientControl)
class ClientControl:
    """Start (``on``) or stop submitting links to a bucket (the scenario's churn)."""

    bucket: str
    on: bool


@message(schema.SequencerEvent)
class SequencerEvent:
    """One durable event of a sequencer's log (see ``SequencerActor``)."""

    kind: int
    a: bytes = b""
    n: int = 0


@message(schema.ClaimsQuery)
class ClaimsQuery:
    """Ask a hub for a bucket's claims from ``from_period`` on, or (no bucket) for the
    first pending claim of each bucket after ``after_bucket``."""

    bucket: bytes = b""
    from_period: int = 1
    after_bucket: bytes = b""


@message(schema.ClaimsAnswer)
class ClaimsAnswer:
    """A hub's claims, accepted (deadline 0) and still in their window."""

    deadlines: np.ndarray = array_field("<u8")
    claims: tuple[bytes, ...] = ()
    hub: str = ""
    truncated: bool = False


@message(schema.ProbeSquares)
class ProbeSquares:
    """A hub asks the DA grid whether it holds these squares (answered by a tell)."""

    data_roots: tuple[bytes, ...] = ()
    sent_ns: int = 0


@message(schema.SquaresHeld)
class SquaresHeld:
    """The roots of a ``ProbeSquares`` the grid holds, and the probe's send time."""

    data_roots: tuple[bytes, ...] = ()
    sent_ns: int = 0
