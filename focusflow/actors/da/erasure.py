"""RS(2k, k) erasure coding over GF(2^8): zfec as the reference, a bit-sliced fast path.

zfec's code is a systematic Vandermonde code: the ``k`` primary blocks pass through and
parity block ``p`` is ``sum_j E[p, j] * data[j]`` over GF(2^8) (polynomial 0x11d), applied
independently at every byte position. We read ``E`` out of zfec itself (one encode of the
identity), so the fast path computes *exactly* zfec's parity; tests prove it byte for byte.

Why a second encoder: zfec multiplies byte by byte through a 64 KiB table, so extending a
128x128 square (3.2e9 multiply-adds) takes ~1.5 s of CPU whatever the batching. Multiplication by
a constant in GF(2^8) is linear over GF(2), so the whole parity computation is a GF(2)
matrix product. We bit-slice the data (bit ``b`` of 8 consecutive codewords in one byte,
via an 8x8 bit transpose on uint64 words) and apply the matrix with the "method of four
Russians": for each input block, a 256-entry table of XOR combinations of its 8 bit-planes,
then one gather + XOR per output bit-plane. All of it is numpy over whole arrays: no
per-share Python loop; 2-3x less CPU than zfec at k = 128 here (``benchmarks/bench_da.py``).

Decoding (reconstruction from any ``k`` of ``2k`` blocks) stays on zfec, the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import zfec

__all__ = [
    "ErasureCodec",
    "codec_for",
    "decode_axis",
    "k_max",
]

Bytes2D = npt.NDArray[np.uint8]

#: Largest original width: zfec's m = 2k must stay <= 256.
k_max = 128
#: Bit-planes are processed in column chunks so the (8k x chunk) accumulator stays ~512 KiB:
#: with the gathered rows beside it and the table, one chunk's working set then stays in a
#: 2 MiB L2 (1 MiB chunks spilled it: k = 128 extension 1.15 -> 0.8-0.95 s CPU, issue 18).
_accumulator_bytes = 1 << 19

_M1 = np.uint64(0x00AA00AA00AA00AA)
_M2 = np.uint64(0x0000CCCC0000CCCC)
_M3 = np.uint64(0x00000000F0F0F0F0)
_S7, _S14, _S28 = np.uint64(7), np.uint64(14), np.uint64(28)


def _transpose8x8(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Transpose the 8x8 bit matrix held in each uint64 (self-inverse, Hacker's Delight 7-3).

    In place on a copy of ``x`` with one scratch array: the squares' 16 MiB arrays made
    a fresh temporary per operator before (issue 18).
    """
    x = x.copy()
    t = np.empty_like(x)
    for shift, mask in ((_S7, _M1), (_S14, _M2), (_S28, _M3)):
        np.right_shift(x, shift, out=t)
        t ^= x
        t &= mask
        x ^= t
        t <<= shift
        x ^= t
    return x


def _to_planes(data: Bytes2D) -> Bytes2D:
    """(K, N) bytes -> (K, 8, N/8) bit-planes: plane b, byte w holds bit b of codewords 8w..8w+7."""
    k, n = data.shape
    assert n % 8 == 0, "codeword count must be a multiple of 8"
    x = _transpose8x8(np.ascontiguousarray(data).view(np.uint64))
    return np.ascontiguousarray(x.view(np.uint8).reshape(k, n // 8, 8).transpose(0, 2, 1))


def _from_planes(planes: Bytes2D) -> Bytes2D:
    """Inverse of :func:`_to_planes`."""
    p, eight, w = planes.shape
    assert eight == 8
    x = np.ascontiguousarray(planes.transpose(0, 2, 1)).view(np.uint64).reshape(p, w)
    return _transpose8x8(x).view(np.uint8).reshape(p, w * 8)


def _gf_mul_x(a: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Multiply each element by x in GF(2^8) mod x^8+x^4+x^3+x^2+1 (zfec's field)."""
    a = a << 1
    return np.where(a & 0x100, a ^ 0x11D, a) & 0xFF


class ErasureCodec:
    """RS(2k, k) for one ``k``: ``encode_*`` returns the k parity blocks, ``decode`` the k originals.

    Build through :func:`codec_for` (cached); instances are immutable after construction.
    """

    def __init__(self, k: int) -> None:
        if not 1 <= k <= k_max:
            raise ValueError(f"k must be in 1..{k_max}, got {k}")
        self.k = k
        self._encoder = zfec.Encoder(k, 2 * k)
        self._decoder = zfec.Decoder(k, 2 * k)
        self._parity_nums = tuple(range(k, 2 * k))
        self.matrix = self._extract_matrix()
        self._gather_index = self._build_gather_index(self.matrix)

    def _extract_matrix(self) -> npt.NDArray[np.int64]:
        """Read zfec's parity matrix E (k x k): encode the identity, column j = unit vector j."""
        k = self.k
        eye = np.eye(k, dtype=np.uint8)
        out = self._encoder.encode([eye[j].tobytes() for j in range(k)], self._parity_nums)
        matrix = np.stack([np.frombuffer(b, dtype=np.uint8) for b in out]).astype(np.int64)
        assert matrix.shape == (k, k)
        assert (matrix != 0).all(), "an MDS parity matrix has no zero entry"
        return matrix

    @staticmethod
    def _build_gather_index(matrix: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """Row ``8p+o`` of the GF(2) matrix, restricted to input j, packed as a byte (a table index).

        Bit ``b`` of entry (8p+o, j) is bit ``o`` of ``E[p, j] * x^b``.
        """
        p_count, k = matrix.shape
        powers = np.empty((8, p_count, k), dtype=np.int64)
        c = matrix.copy()
        for b in range(8):
            powers[b] = c
            c = _gf_mul_x(c)
        index = np.zeros((p_count, 8, k), dtype=np.int64)
        for o in range(8):
            for b in range(8):
                index[:, o, :] |= ((powers[b] >> o) & 1) << b
        return np.ascontiguousarray(index.reshape(8 * p_count, k).T).astype(np.intp)

    def encode_zfec(self, data: Bytes2D) -> Bytes2D:
        """Parity of ``data`` (k, n) with zfec: one call for all codewords (the reference)."""
        data = np.ascontiguousarray(data, dtype=np.uint8)
        assert data.ndim == 2 and data.shape[0] == self.k, data.shape
        out = self._encoder.encode([data[j] for j in range(self.k)], self._parity_nums)
        return np.stack([np.frombuffer(b, dtype=np.uint8) for b in out])

    def encode_fast(self, data: Bytes2D) -> Bytes2D:
        """Parity of ``data`` (k, n), identical to :meth:`encode_zfec`, bit-sliced (n % 8 == 0)."""
        k = self.k
        data = np.ascontiguousarray(data, dtype=np.uint8)
        assert data.ndim == 2 and data.shape[0] == k, data.shape
        planes = _to_planes(data)
        width = planes.shape[2]
        out = np.empty((8 * k, width), dtype=np.uint8)
        chunk = max(64, _accumulator_bytes // (8 * k))
        for start in range(0, width, chunk):
            stop = min(width, start + chunk)
            out[:, start:stop] = self._encode_chunk(planes[:, :, start:stop])
        result = _from_planes(out.reshape(k, 8, width))
        assert result.shape == data.shape
        return result

    def _encode_chunk(self, planes: Bytes2D) -> Bytes2D:
        """Four-Russians GF(2) product for one column chunk of the bit-planes.

        Works on uint64 words when the chunk allows (fewer, wider XORs), else on bytes.
        """
        k, _, w = planes.shape
        word = np.uint64 if w % 8 == 0 else np.uint8
        words = np.ascontiguousarray(planes).view(word)
        width = words.shape[2]
        table = np.empty((256, width), dtype=word)
        gathered = np.empty((8 * k, width), dtype=word)
        acc = np.zeros((8 * k, width), dtype=word)
        for j in range(k):
            table[0] = 0
            plane = words[j]
            for b in range(8):
                h = 1 << b
                np.bitwise_xor(table[:h], plane[b], out=table[h : 2 * h])
            np.take(table, self._gather_index[j], axis=0, out=gathered)
            acc ^= gathered
        return acc.view(np.uint8)

    def decode(self, blocks: Mapping[int, bytes | Bytes2D]) -> Bytes2D:
        """The k original blocks from any k of the 2k (block number -> bytes), via zfec.

        Raises ValueError (the caller's fault) if fewer than k blocks or bad numbers are given.
        """
        k = self.k
        nums = sorted(blocks)[:k]
        if len(nums) < k:
            raise ValueError(f"need {k} blocks to decode, got {len(nums)}")
        if nums[0] < 0 or nums[-1] >= 2 * k:
            raise ValueError(f"block numbers must be in 0..{2 * k - 1}")
        bufs = [_as_bytes(blocks[i]) for i in nums]
        size = len(bufs[0])
        if any(len(b) != size for b in bufs):
            raise ValueError("blocks differ in length")
        out = self._decoder.decode(bufs, nums)
        return np.stack([np.frombuffer(b, dtype=np.uint8) for b in out])

    def extend(self, data: Bytes2D, *, fast: bool = True) -> Bytes2D:
        """The 2k blocks (originals then parity) of ``data`` (k, n)."""
        parity = self.encode_fast(data) if fast else self.encode_zfec(data)
        return np.concatenate([np.asarray(data, dtype=np.uint8), parity])


def _as_bytes(block: bytes | Bytes2D) -> bytes:
    if isinstance(block, bytes | bytearray | memoryview):
        return bytes(block)
    return np.ascontiguousarray(block, dtype=np.uint8).tobytes()


@lru_cache(maxsize=k_max)
def codec_for(k: int) -> ErasureCodec:
    """The (cached, immutable) codec for original width ``k``."""
    return ErasureCodec(k)


def decode_axis(k: int, known: Sequence[tuple[int, Bytes2D]]) -> Bytes2D:
    """Convenience: full 2k blocks of an axis from ``(position, block)`` pairs (>= k of them)."""
    codec = codec_for(k)
    originals = codec.decode(dict(known))
    return codec.extend(originals)
