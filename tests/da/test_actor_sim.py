"""The DA sampler and share server actors under the deterministic simulator."""

from __future__ import annotations

from typing import Any

import numpy as np

from focusflow.actors.da.actor import (
    DaSamplerActor,
    PruneShares,
    Published,
    PublishSquare,
    ShareServerActor,
    Verdict,
    VerdictQuery,
)
from focusflow.actors.da.codec import (
    DaHeader,
    DahRequest,
    DahResponse,
    FraudProofNotice,
    NamespaceRequest,
    NamespaceResponse,
    SampleRequest,
    SampleResponse,
)
from focusflow.actors.da.core import SamplerConfig
from focusflow.actors.da.pinning import PinningPolicy
from focusflow.actors.da.reconstruct import BadEncodingError, repair
from focusflow.actors.da.share import build_square, graph_namespace, parse_shares, rollup_namespace
from focusflow.actors.da.square import ExtendedDataSquare, verify_namespace_rows, verify_sample
from focusflow.sim import LinkConfig, Simulation
from focusflow.supervisor import Actor, ActorRef, Node
from focusflow.wire import decode_message, encode_message

K = 4


def original_square(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    square = build_square([(graph_namespace(f"b{i}"), rng.bytes(1_200)) for i in range(5)])
    assert square.shape[0] == K
    return square


def world(
    seed: int,
    *,
    link: LinkConfig | None = None,
    withhold: dict[int, np.ndarray] | None = None,
    config: SamplerConfig | None = None,
) -> tuple[Simulation, dict[str, Node]]:
    sim = Simulation(seed, link=link) if link is not None else Simulation(seed)
    nodes = {name: sim.add_node(name) for name in ("producer", "light1", "light2")}
    nodes["producer"].spawn(ShareServerActor, None, withhold, name="da-server")
    server = nodes["light1"].ref("producer", "/user/da-server")
    for name in ("light1", "light2"):
        nodes[name].spawn(DaSamplerActor, (server,), config, name="sampler")
    return sim, nodes


def ask(sim: Simulation, node: Node, path_node: str, path: str, msg: Any) -> Any:
    return sim.run_until_complete(node.ask(node.ref(path_node, path), msg, timeout_ms=60_000))


def publish(sim: Simulation, nodes: dict[str, Node], height: int, square: np.ndarray) -> DaHeader:
    reply = ask(
        sim,
        nodes["producer"],
        "producer",
        "/user/da-server",
        PublishSquare(height, 0, square.shape[0], square.tobytes()),
    )
    assert isinstance(reply, Published)
    return reply.header


def announce(sim: Simulation, nodes: dict[str, Node], header: DaHeader) -> None:
    for name in ("light1", "light2"):
        node = nodes[name]
        sim.run_until_complete(node.tell(node.ref(name, "/user/sampler"), header))


def verdicts(sim: Simulation, nodes: dict[str, Node], height: int) -> list[Verdict]:
    return [
        ask(sim, nodes[n], n, "/user/sampler", VerdictQuery(height)) for n in ("light1", "light2")
    ]


def test_an_available_block_is_accepted_by_every_light_node() -> None:
    sim, nodes = world(1)
    header = publish(sim, nodes, 1, original_square(1))
    assert header.data_root == ExtendedDataSquare.extend(original_square(1)).data_root()
    announce(sim, nodes, header)
    sim.run(for_ms=1_000)
    for v in verdicts(sim, nodes, 1):
        assert v.decided and v.available and v.samples_verified == 16, v


def test_withholding_that_blocks_reconstruction_is_detected() -> None:
    square = original_square(2)
    eds = ExtendedDataSquare.extend(square)
    mask = np.zeros((2 * K, 2 * K), dtype=bool)
    mask[: K + 1, : K + 1] = True  # (k+1)^2 withheld: unrecoverable
    sim, nodes = world(2, withhold={1: mask}, config=SamplerConfig(timeout_ms=200, retries_max=1))
    header = publish(sim, nodes, 1, square)
    announce(sim, nodes, header)
    sim.run(for_ms=5_000)
    for v in verdicts(sim, nodes, 1):
        assert v.decided and not v.available and "refused" in v.reason, v
    assert eds.width == 2 * K


def test_lossy_network_still_reaches_a_verdict_through_retries() -> None:
    link = LinkConfig(latency_ms=5.0, jitter_ms=3.0, loss=0.2, duplicate=0.05, reorder=0.1)
    sim, nodes = world(3, link=link, config=SamplerConfig(timeout_ms=100, retries_max=6))
    header = publish(sim, nodes, 1, original_square(3))
    announce(sim, nodes, header)
    sim.run(for_ms=10_000)
    for v in verdicts(sim, nodes, 1):
        assert v.decided and v.available, v


def test_a_gossiped_fraud_proof_marks_the_block_unavailable() -> None:
    square = original_square(4)
    eds = ExtendedDataSquare.extend(square)
    bad_shares = eds.shares.copy()
    bad_shares[1, 1, 100] ^= 1
    bad = ExtendedDataSquare(bad_shares)
    try:
        repair(bad_shares, np.ones((2 * K, 2 * K), dtype=bool), bad.dah())
        raise AssertionError("bad square repaired")
    except BadEncodingError as err:
        assert err.proof is not None
        proof = err.proof
    sim, nodes = world(4)
    header = DaHeader(7, bad.data_root(), bad.width)
    announce(sim, nodes, header)  # nobody serves it: sampling would time out anyway
    node = nodes["light1"]
    sim.run_until_complete(
        node.tell(node.ref("light1", "/user/sampler"), FraudProofNotice(7, proof))
    )
    sim.run(for_ms=50)
    v = ask(sim, node, "light1", "/user/sampler", VerdictQuery(7))
    assert v.decided and not v.available and "bad encoding" in v.reason


def test_same_seed_same_trace() -> None:
    hashes = []
    for _ in range(2):
        sim, nodes = world(5, link=LinkConfig(latency_ms=2.0, jitter_ms=1.0, loss=0.05))
        announce(sim, nodes, publish(sim, nodes, 1, original_square(5)))
        sim.run(for_ms=2_000)
        hashes.append(sim.trace_hash())
    assert hashes[0] == hashes[1]


def test_messages_round_trip_through_the_wire() -> None:
    eds = ExtendedDataSquare.extend(original_square(6))
    for msg in (
        SampleResponse(3, 1, 2, eds.sample(1, 2)),
        SampleResponse(3, 1, 2, None),
        DaHeader(3, eds.data_root(), eds.width),
        Published(DaHeader(3, eds.data_root(), eds.width)),
        DahResponse(3, eds.dah()),
        DahResponse(3, None),
        NamespaceResponse(
            3, graph_namespace("b1"), tuple(eds.prove_namespace(graph_namespace("b1")))
        ),
        NamespaceResponse(3, graph_namespace("b1"), None),
        NamespaceRequest(3, graph_namespace("b1")),
    ):
        assert decode_message(*encode_message(msg)) == msg


RECEIVED: list[Any] = []


class Fetcher(Actor):
    """Test helper: forwards requests to a server, records every answer in ``RECEIVED``."""

    def __init__(self, server: ActorRef) -> None:
        self.server = server

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, SampleRequest | DahRequest | NamespaceRequest):
            await self.ctx.tell(self.server, msg)
        else:
            RECEIVED.append(msg)
        return None


def fetch(sim: Simulation, light: Node, fetcher: ActorRef, *requests: Any) -> list[Any]:
    RECEIVED.clear()
    for request in requests:
        sim.run_until_complete(light.tell(fetcher, request))
    sim.run(for_ms=100)
    return list(RECEIVED)


def test_namespace_data_is_fetched_verified_and_outlives_pruning_only_for_graph() -> None:
    rng = np.random.default_rng(8)
    graph, other = graph_namespace("bucket:g"), rollup_namespace("rollup:r")
    blobs = {graph: rng.bytes(1_000), other: rng.bytes(1_000)}
    square = build_square(list(blobs.items()))
    eds = ExtendedDataSquare.extend(square)
    sim = Simulation(8)
    producer, light = sim.add_node("producer"), sim.add_node("light")
    policy = PinningPolicy(graph_pin_epochs=10, prune_window_epochs=1)
    producer.spawn(ShareServerActor, policy, name="da-server")
    fetcher = light.spawn(Fetcher, light.ref("producer", "/user/da-server"), name="fetcher")
    header = publish(sim, {"producer": producer}, 1, square)

    def retrieve(ns: bytes) -> bytes | None:
        (dah_reply,) = fetch(sim, light, fetcher, DahRequest(1))
        assert isinstance(dah_reply, DahResponse) and dah_reply.dah is not None
        assert dah_reply.dah.data_root() == header.data_root  # the roots are the header's
        (ns_reply,) = fetch(sim, light, fetcher, NamespaceRequest(1, ns))
        assert isinstance(ns_reply, NamespaceResponse)
        if ns_reply.rows is None:
            return None
        assert verify_namespace_rows(dah_reply.dah, ns, ns_reply.rows)
        return parse_shares([s for row in ns_reply.rows for s in row.shares])[0][1]

    assert retrieve(graph) == blobs[graph] and retrieve(other) == blobs[other]
    sim.run_until_complete(
        producer.tell(producer.ref("producer", "/user/da-server"), PruneShares(5))
    )
    sim.run(for_ms=10)
    assert retrieve(graph) == blobs[graph]  # archived, still served with complete proofs
    assert retrieve(other) is None

    k = eds.k
    cells = {(r, c): eds.share(r, c)[:29] for r in range(k) for c in range(k)}
    graph_cell = next(cell for cell, ns in cells.items() if ns == graph)
    other_cell = next(cell for cell, ns in cells.items() if ns == other)
    parity_cell = (2 * k - 1, 2 * k - 1)
    replies = fetch(
        sim, light, fetcher, *(SampleRequest(1, *c) for c in (graph_cell, other_cell, parity_cell))
    )
    served = {(r.row, r.col): r.sample for r in replies}
    assert served[other_cell] is None and served[parity_cell] is None
    sample = served[graph_cell]
    assert sample is not None
    assert verify_sample(sample, data_root=header.data_root, width=header.width, hash_name="blake3")
    sim.run_until_complete(
        producer.tell(producer.ref("producer", "/user/da-server"), PruneShares(12))
    )
    sim.run(for_ms=10)
    (gone,) = fetch(sim, light, fetcher, DahRequest(1))
    assert gone.dah is None


def test_retries_move_to_another_peer_when_one_withholds_everything() -> None:
    square = original_square(9)
    width = 2 * K
    everything = np.ones((width, width), dtype=bool)
    sim = Simulation(9)
    good, bad, light = sim.add_node("good"), sim.add_node("bad"), sim.add_node("light")
    good.spawn(ShareServerActor, name="da-server")
    bad.spawn(ShareServerActor, None, {1: everything}, name="da-server")
    for node in (good, bad):
        reply = sim.run_until_complete(
            node.ask(
                node.ref(node.name, "/user/da-server"), PublishSquare(1, 0, K, square.tobytes())
            )
        )
        header = reply.header
    peers = (light.ref("bad", "/user/da-server"), light.ref("good", "/user/da-server"))
    sampler = light.spawn(
        DaSamplerActor, peers, SamplerConfig(timeout_ms=50, retries_max=1), name="sampler"
    )
    sim.run_until_complete(light.tell(sampler, header))
    sim.run(for_ms=1_000)
    v = sim.run_until_complete(light.ask(sampler, VerdictQuery(1)))
    assert v.decided and v.available and v.samples_verified == 16, v
    # with the honest peer gone, the same sampler cannot accept the next block
    sim.crash_node("good")
    sim.run_until_complete(light.tell(sampler, DaHeader(2, header.data_root, header.width)))
    sim.run(for_ms=1_000)
    v2 = sim.run_until_complete(light.ask(sampler, VerdictQuery(2)))
    assert v2.decided and not v2.available, v2
