"""One limit per quantity (issue 16, finding 3): what mempool admission accepts, every
later decoder accepts too. The consensus codec used to refuse txs over 4 KiB that the
state's ``decode_tx`` (mempool admission) accepted up to 2 MiB, and the validator that
admitted one crashed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.types import Batch
from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import Reject, TxKind, TxRejected, decode_tx, make_tx
from focusflow.limits import LINKS_PER_TX_MAX, TX_BYTES_MAX


def signed_tx(n_links: int) -> bytes:
    alice = Neuron.from_seed(b"\x09" * 32)
    links = [(cid_of(f"a{i}".encode()), cid_of(f"b{i}".encode())) for i in range(n_links)]
    return make_tx(alice, chain_id="limits", nonce=0, kind=TxKind.LINK, links=links)


def codec_accepts(payload: bytes) -> bool:
    """Whether a peer's header carrying ``payload`` in a batch decodes."""
    b = codec.schema.Batch.new_message()
    codec._fill_batch(b, Batch(payloads=(payload,), focus=(1,)))
    with codec.schema.Batch.from_bytes(b.to_bytes()) as m:
        try:
            codec._read_batch(m)
        except codec.DecodeError:
            return False
    return True


@given(n_links=st.integers(min_value=1, max_value=LINKS_PER_TX_MAX + 20))
@settings(max_examples=40, deadline=None)
def test_a_tx_admission_accepts_is_a_tx_the_consensus_codec_accepts(n_links: int) -> None:
    raw = signed_tx(n_links)
    try:
        decode_tx(raw)
        admitted = True
    except TxRejected as exc:
        assert exc.reason is Reject.OVERSIZED
        admitted = False
    assert admitted == (len(raw) <= TX_BYTES_MAX) == codec_accepts(raw)


@pytest.mark.parametrize("size", [TX_BYTES_MAX, TX_BYTES_MAX + 1, 2 * 1024 * 1024])
def test_the_byte_limit_is_the_same_number_at_admission_and_in_the_codec(size: int) -> None:
    blob = bytes(size)
    with pytest.raises(TxRejected) as info:
        decode_tx(blob)
    assert (info.value.reason is Reject.OVERSIZED) == (size > TX_BYTES_MAX)
    assert codec_accepts(blob) == (size <= TX_BYTES_MAX)
    assert np.iinfo(np.uint32).max > size
