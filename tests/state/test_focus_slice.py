"""The ``/graph/pi`` slice encoding read back whole (what a light client proving a
particle's focus decodes), and the shard function a client without a state core uses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.state import keys as K
from focusflow.actors.state.core import StateCore, focus_shard_of
from focusflow.actors.state.ids import CID_LEN, cid_of
from focusflow.actors.state.smt import SparseMerkleTree


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**31))
def test_a_decoded_slice_is_the_encoded_one_sorted(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cids = np.unique(rng.integers(0, 256, size=(n, CID_LEN), dtype=np.uint8), axis=0)
    rng.shuffle(cids)
    values = rng.integers(0, 2**63, size=len(cids), dtype=np.uint64)
    raw = K.encode_focus_slice(cids, values)
    got_cids, got_values = K.decode_focus_slice(raw)
    order = np.lexsort(cids.T[::-1])
    assert np.array_equal(got_cids, cids[order]) and np.array_equal(got_values, values[order])
    for row, value in zip(cids, values, strict=True):
        assert K.focus_in_slice(raw, row.tobytes()) == int(value)


def test_a_malformed_slice_is_refused() -> None:
    cids = np.stack([np.frombuffer(cid_of(bytes([i])), np.uint8) for i in range(3)])
    raw = K.encode_focus_slice(cids, np.arange(3, dtype=np.uint64))
    with pytest.raises(ValueError, match="does not hold"):
        K.decode_focus_slice(raw[:-1])
    with pytest.raises(ValueError, match="no count"):
        K.decode_focus_slice(b"\x01")
    swapped = raw[:4] + raw[4 + CID_LEN:4 + 2 * CID_LEN] + raw[4:4 + CID_LEN] + raw[4 + 2 * CID_LEN:]
    with pytest.raises(ValueError, match="not strictly sorted"):
        K.decode_focus_slice(swapped)


def test_the_shard_function_is_the_state_cores() -> None:
    core = StateCore(chain_id="x", reader=_Empty(), tree=SparseMerkleTree(), height=-1)
    cids = [cid_of(bytes([i, 1])) for i in range(200)]
    assert [focus_shard_of(c) for c in cids] == [core.focus_shard(c) for c in cids]
    assert len({focus_shard_of(c) for c in cids}) == core.focus_shards  # all shards used


class _Empty:
    def get(self, keypath: bytes) -> bytes | None:
        return None
