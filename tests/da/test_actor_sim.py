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
from focusflow.actors.da.codec import DaHeader, FraudProofNotice, SampleRequest, SampleResponse
from focusflow.actors.da.core import SamplerConfig
from focusflow.actors.da.pinning import PinningPolicy
from focusflow.actors.da.reconstruct import BadEncodingError, repair
from focusflow.actors.da.share import build_square, graph_namespace, rollup_namespace
from focusflow.actors.da.square import ExtendedDataSquare, Sample, verify_sample
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
    ):
        assert decode_message(*encode_message(msg)) == msg


class Fetcher(Actor):
    """Test helper: tells sample requests to a server and keeps what comes back."""

    def __init__(self, server: ActorRef) -> None:
        self.server = server
        self.got: dict[tuple[int, int], Sample | None] = {}

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, SampleRequest):
            await self.ctx.tell(self.server, msg)
        elif isinstance(msg, SampleResponse):
            self.got[(msg.row, msg.col)] = msg.sample
        elif isinstance(msg, VerdictQuery):  # reused as "report": one cell per query
            row, col = divmod(msg.height, 1_000)
            sample = self.got.get((row, col))
            ok = sample is not None
            return Verdict(msg.height, b"", (row, col) in self.got, ok, int(ok), "")
        return None


def test_archived_graph_shares_are_still_served_with_proofs() -> None:
    rng = np.random.default_rng(8)
    graph, other = graph_namespace("bucket:g"), rollup_namespace("rollup:r")
    square = build_square([(graph, rng.bytes(1_000)), (other, rng.bytes(1_000))])
    eds = ExtendedDataSquare.extend(square)
    sim = Simulation(8)
    producer, light = sim.add_node("producer"), sim.add_node("light")
    producer.spawn(
        ShareServerActor,
        PinningPolicy(graph_pin_epochs=10, prune_window_epochs=1),
        name="da-server",
    )
    fetcher = light.spawn(Fetcher, light.ref("producer", "/user/da-server"), name="fetcher")
    header = publish(sim, {"producer": producer}, 1, square)
    sim.run_until_complete(
        producer.tell(producer.ref("producer", "/user/da-server"), PruneShares(5))
    )
    sim.run(for_ms=10)
    k = eds.k
    cells = {(r, c): eds.share(r, c)[:29] for r in range(k) for c in range(k)}
    graph_cell = next(cell for cell, ns in cells.items() if ns == graph)
    other_cell = next(cell for cell, ns in cells.items() if ns == other)
    parity_cell = (2 * k - 1, 2 * k - 1)
    for cell in (graph_cell, other_cell, parity_cell):
        sim.run_until_complete(light.tell(fetcher, SampleRequest(1, *cell)))
    sim.run(for_ms=100)
    for cell, served in ((graph_cell, True), (other_cell, False), (parity_cell, False)):
        v = sim.run_until_complete(light.ask(fetcher, VerdictQuery(cell[0] * 1_000 + cell[1])))
        assert v.decided and v.available is served, (cell, v)
    actor_got = sim.run_until_complete(
        light.ask(fetcher, VerdictQuery(graph_cell[0] * 1_000 + graph_cell[1]))
    )
    assert actor_got.available
    # the served share's proof checks against the header's data root
    sample = eds.sample(*graph_cell)
    assert verify_sample(sample, data_root=header.data_root, width=header.width, hash_name="blake3")
