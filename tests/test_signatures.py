"""The one Ed25519 helper's memo of verified triples never changes a verdict: only
successes are remembered, the bound holds, and a bad triple is checked in full even when
the good one it was made from is remembered (issue 19, item 4)."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from focusflow.memo import BoundedMemo
from focusflow.signatures import verified_memo, verify_detached, verify_detached_uncached

KEY = SigningKey(bytes(range(32)))
PK = bytes(KEY.verify_key)
OTHER_PK = bytes(SigningKey(bytes(32)).verify_key)


def _signed(msg: bytes) -> bytes:
    return bytes(KEY.sign(msg).signature)


def test_a_bad_signature_is_refused_after_the_good_one_was_remembered() -> None:
    msg = b"focusflow issue 19 item 4"
    sig = _signed(msg)
    assert verify_detached(PK, msg, sig) and verify_detached(PK, msg, sig)  # second: a hit
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify_detached(PK, msg, flipped)
    assert not verify_detached(PK, msg + b"!", sig)
    assert not verify_detached(OTHER_PK, msg, sig)
    assert not verify_detached(PK, sig[63:] + msg, sig[:63])  # shifted across the parts
    assert verify_detached(PK, msg, sig)


def test_only_successes_are_remembered() -> None:
    memo = verified_memo()
    msg = b"never signed like this"
    size = len(memo)
    assert not verify_detached(PK, msg, bytes(64))
    assert len(memo) == size
    hits = memo.hits
    assert not verify_detached(PK, msg, bytes(64))
    assert memo.hits == hits


def test_wrong_sizes_are_false_not_errors() -> None:
    sig = _signed(b"m")
    for pk, s in ((PK[:31], sig), (PK + b"\0", sig), (PK, sig[:63]), (b"", b"")):
        assert not verify_detached(pk, b"m", s)
        assert not verify_detached_uncached(pk, b"m", s)


def test_the_memo_bound_holds_and_the_least_recently_used_goes_first() -> None:
    memo: BoundedMemo[int, str] = BoundedMemo(3)
    for i in range(3):
        memo.put(i, str(i))
    assert memo.get(0) == "0"  # 0 is now the most recent
    for i in range(3, 10):
        memo.put(i, str(i))
        assert len(memo) <= 3
    assert memo.get(0) is None and memo.get(9) == "9" and len(memo) == 3


def test_get_or_compute_remembers_values_not_errors() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(4)
    calls = []

    def boom() -> int:
        calls.append(1)
        raise ValueError("malformed")

    for _ in range(2):
        with pytest.raises(ValueError):
            memo.get_or_compute("bad", boom)
    assert len(calls) == 2 and len(memo) == 0
    assert memo.get_or_compute("good", lambda: 7) == 7
    assert memo.get_or_compute("good", lambda: 8) == 7


def test_a_weighed_memo_bounds_the_bytes_it_holds() -> None:
    memo: BoundedMemo[bytes, int] = BoundedMemo(100, weigh=len, weight_max=10)
    memo.put(b"x" * 11, 1)  # heavier than the whole memo: not remembered
    assert len(memo) == 0
    for i in range(5):
        memo.put(bytes([i]) * 4, i)
        assert sum(map(len, memo._items)) <= 10
    assert len(memo) == 2 and memo.get(bytes([4]) * 4) == 4
    memo.put(bytes([4]) * 4, 5)  # the same key again weighs once
    assert len(memo) == 2 and sum(map(len, memo._items)) == 8
