"""What a client can do to a live validator (issue 16, findings 3, 4 and 12), in-process.

* a valid transaction over ``TX_BYTES_MAX`` is refused at the door (413, "oversized"),
  never admitted to crash the validator in the consensus codec (finding 3);
* every query path and argument gets an answer below 500, the validator actor is never
  restarted by one (finding 4), and a malformed ``Query`` sent to the actor directly gets
  an error reply;
* an admission refusal names the state core's reason; a refusal at execution (nonce gap)
  reaches the client through ``/v1/tx`` and ``focusflow link`` (finding 12).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx, tx_hash_of
from focusflow.cli import main as cli_main
from focusflow.limits import TX_BYTES_MAX
from focusflow.node import client
from focusflow.node.query import KINDS
from tests.node.live import CHAIN, committee_homes, live_nodes

pytestmark = pytest.mark.timeout(120)


def fetch(url: str) -> tuple[int, Any]:
    """GET: (status, JSON or text)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def validator_restarts(url: str) -> int:
    _, actors = fetch(url + "/actors")
    return int(next(a["restarts"] for a in actors if a["path"] == "/user/node/validator"))


@pytest.fixture(scope="module")
def lone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Validator a of a two-validator genesis whose b stays down: it admits but never
    finalizes (enough for the door's checks)."""
    configs = committee_homes(tmp_path_factory.mktemp("lone"), ["a", "b"])
    with live_nodes(configs[:1]) as urls:
        yield urls[0]


def link_tx(neuron: Neuron, nonce: int, n_links: int = 1, *, chain: str = CHAIN) -> bytes:
    links = [(cid_of(f"s{nonce}-{i}".encode()), cid_of(f"d{nonce}-{i}".encode()))
             for i in range(n_links)]
    return make_tx(neuron, chain_id=chain, nonce=nonce, kind=TxKind.LINK, links=links)


# ------------------------------------------------------------------ finding 3


def test_a_valid_tx_over_the_limit_is_refused_at_the_door_with_its_reason(lone: str) -> None:
    alice = Neuron.from_seed(b"\x01" * 32)
    big = link_tx(alice, 0, n_links=60)  # signed and valid, but over 4 KiB
    assert len(big) > TX_BYTES_MAX
    reply = client.submit(lone, [big], [1000])
    assert reply["accepted"] == 0 and reply["http_status"] == 413
    assert reply["reason"].startswith("invalid: oversized") and str(TX_BYTES_MAX) in reply["reason"]
    fits = link_tx(alice, 0, n_links=40)
    assert len(fits) <= TX_BYTES_MAX and client.submit(lone, [fits], [1000])["accepted"] == 1
    assert fetch(lone + "/status")[1]["validator"]["mode"] == "consensus"
    assert validator_restarts(lone) == 0


# ------------------------------------------------------------------ finding 12 (door)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda n: link_tx(n, 0, chain="another-chain"), "invalid: wrong_chain"),
    (lambda n: link_tx(n, 0)[:-8] + bytes(8), "invalid: "),  # signature or encoding broken
    (lambda n: b"\x00" * 16, "invalid: malformed"),
])
def test_an_admission_refusal_names_the_state_cores_reason(lone: str, make: Any, reason: str) -> None:
    reply = client.submit(lone, [make(Neuron.from_seed(b"\x02" * 32))], [10])
    assert reply["http_status"] == 400 and reply["reason"].startswith(reason)
    assert "admission check failed" not in reply["reason"]


def test_a_bad_signature_is_named(lone: str) -> None:
    tx = bytearray(link_tx(Neuron.from_seed(b"\x03" * 32), 0))
    sig_at = bytes(tx).index(bytes(tx[-96:-32]))  # signature bytes inside the envelope
    tx[sig_at] ^= 1
    reply = client.submit(lone, [bytes(tx)], [10])
    assert reply["http_status"] == 400 and reply["reason"].startswith("invalid: bad_signature")


# ------------------------------------------------------------------ finding 4


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/v1/links?arg=00", 400, "not a particle id"),
    ("/v1/links?arg=" + "00" * 36, 400, "CID is not v1"),
    ("/v1/block?arg=99999999999999999999", 400, "block height"),
    ("/v1/blocks?arg=1:99999999999999999999", 400, "blocks end"),
    ("/v1/state_roots?arg=-99999999999999999999:1", 400, "state_roots start"),
    ("/v1/pi_roots?arg=1:99999999999999999999", 400, "pi_roots end"),
    ("/v1/balance?arg=00", 400, "20 bytes"),
    ("/v1/balance?arg=" + "00" * 64, 400, "20 bytes"),
    ("/v1/top?arg=%C2%B2", 400, "decimal"),
    ("/v1/nosuchquery", 404, "unknown query kind"),
    ("/v1/tx?arg=zz", 400, "hex"),
])
def test_bad_queries_are_4xx_with_a_reason_and_crash_nothing(lone: str, path: str, status: int,
                                                               words: str) -> None:
    got, body = fetch(lone + path)
    assert got == status and words in body["error"], body
    assert validator_restarts(lone) == 0


def test_good_queries_still_answer(lone: str) -> None:
    assert fetch(lone + "/v1/blocks")[0] == 200
    assert fetch(lone + "/v1/pi_roots?arg=0:0")[1][0][0] == 0
    addr = Neuron.from_seed(b"\x04" * 32).address.hex()
    assert fetch(lone + f"/v1/balance?arg={addr}")[1]["next_nonce"] == 0
    assert fetch(lone + "/v1/tx?arg=" + "00" * 32)[1]["status"] == "unknown"


_ARGS = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.tuples(st.integers(-(10**25), 10**25), st.integers(-(10**25), 10**25)).map(
        lambda t: f"{t[0]}:{t[1]}"),
    st.binary(max_size=80).map(bytes.hex),
    st.sampled_from(["", ":", "0", "00", "1:", ":1", "²", "1_0", " 1", "0x1"]),
)


@given(kind=st.one_of(st.sampled_from(KINDS), st.text(max_size=12)), arg=_ARGS,
       key=st.sampled_from(["arg", "cid"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_query_path_or_argument_gets_a_5xx_or_restarts_the_validator(
        lone: str, kind: str, arg: str, key: str) -> None:
    from urllib.parse import quote

    status, _ = fetch(f"{lone}/v1/{quote(kind, safe='')}?{key}={quote(arg, safe='')}")
    assert status < 500, (kind, arg)


def test_after_the_fuzzing_the_validator_never_restarted(lone: str) -> None:
    """Runs after the property test (file order): nothing restarted the actor."""
    assert validator_restarts(lone) == 0
    assert fetch(lone + "/status")[1]["validator"]["mode"] == "consensus"


# ------------------------------------------------------------------ finding 12 (execution)


def test_a_tx_refused_at_execution_reaches_the_client(tmp_path: Path) -> None:
    """A nonce gap passes admission (stateless) but the block refuses it: ``/v1/tx`` and
    ``focusflow link`` report it, with the state core's reason and the height."""
    configs = committee_homes(tmp_path, ["a", "b"])
    key = tmp_path / "alice.key"
    key.write_text((b"\x05" * 32).hex())
    alice = Neuron.from_seed(b"\x05" * 32)
    with live_nodes(configs) as urls:
        a = urls[0]
        good, gap = link_tx(alice, 0), link_tx(alice, 7)
        assert client.submit(a, [good, gap], [100, 100])["accepted"] == 2
        done = client.wait_for_tx(a, tx_hash_of(good), timeout_s=30)
        assert done["status"] == "committed" and done["height"] >= 1, done
        refused = client.wait_for_tx(a, tx_hash_of(gap), timeout_s=30)
        assert refused["status"] == "rejected" and refused["reason"].startswith("nonce_gap"), refused
        out = io.StringIO()
        argv = ["link", "--key", str(key), "--from", cid_of(b"x").hex(), "--to", cid_of(b"y").hex(),
                "--nonce", "9", "--url", a, "--wait-s", "30"]
        with contextlib.redirect_stdout(out):
            t0 = time.monotonic()
            assert cli_main(argv) == 1  # admitted, then refused by the block
        assert time.monotonic() - t0 < 30
        text = out.getvalue()
        assert "accepted 1" in text and "rejected at height" in text and "nonce_gap" in text, text


@pytest.mark.anyio
async def test_a_malformed_query_sent_to_the_actor_directly_gets_an_error_reply(tmp_path: Path) -> None:
    """The validator checks a ``Query`` itself too (a peer or a local caller may send one
    that never went through the HTTP door): an error reply, no crash."""
    from focusflow.node.app import validator_settings
    from focusflow.node.config import load_settings
    from focusflow.node.messages import Query, QueryReply
    from focusflow.node.validator import VALIDATOR_PATH
    from focusflow.supervisor import ActorSystem
    from focusflow.topology.node_tree import node_tree

    settings = load_settings(committee_homes(tmp_path, ["a", "b"])[0])
    async with ActorSystem("a", storage_dir=settings.data_dir) as system:
        root = system.spawn_spec(node_tree(validator_settings(settings)))
        await system.wait_started(root)
        validator = system.node.ref("a", VALIDATOR_PATH)
        incarnation = system.node.incarnation(validator)
        for kind, arg in (("links", "00"), ("block", "9" * 30), ("blocks", "1:" + "9" * 30),
                          ("nosuch", ""), ("top", "-1"), ("balance", "zz")):
            reply = await system.ask(validator, Query(kind, arg), timeout_ms=5_000)
            assert isinstance(reply, QueryReply)
            answer = json.loads(reply.json)
            assert answer["status"] in (400, 404) and answer["error"], (kind, answer)
        reply = await system.ask(validator, Query("status", ""), timeout_ms=5_000)
        assert json.loads(reply.json)["mode"] == "consensus"
        assert system.node.incarnation(validator) == incarnation  # never restarted
        await system.shutdown()
