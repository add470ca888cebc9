"""Full-node reconstruction of a square from a partial one, and bad-encoding fraud proofs.

Reconstruction is Celestia's iterative 2D repair: any row or column holding at least k of
its 2k shares is decoded (zfec, the reference decoder), re-encoded, and its NMT root
checked against the committed root before its shares are trusted for the other axis.
Rounds repeat until the square is complete or no axis can progress (then the square is
unrecoverable: the producer withheld at least (k+1)^2 shares, which sampling detects).

An axis whose decoded shares do not match its committed root proves the producer
committed to something that is not a Reed-Solomon extension. The
:class:`BadEncodingFraudProof` carries k shares of that axis, each proven against its
*orthogonal* root (so the shares are the committed data, not the accuser's), every root
proven against the data root. Anyone holding only the data root and width re-decodes the
axis from those k shares and checks that its NMT root differs from the committed one.
Size: k shares + k NMT proofs (log2 2k nodes each) + k+1 merkle paths, never the square.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from focusflow.actors.da.erasure import codec_for
from focusflow.actors.da.merkle import MerkleTree, verify_merkle_proof
from focusflow.actors.da.nmt import HashName, NmtError, NmtProof, verify_inclusion
from focusflow.actors.da.share import NAMESPACE_SIZE, PARITY_NAMESPACE, SHARE_SIZE
from focusflow.actors.da.square import (
    DataAvailabilityHeader,
    ExtendedDataSquare,
    axis_root,
    hasher_for,
)

__all__ = [
    "Axis",
    "BadEncodingError",
    "BadEncodingFraudProof",
    "FraudShare",
    "UnrecoverableSquareError",
    "repair",
    "verify_befp",
]

Axis = Literal["row", "col"]
#: Each round decodes at least one new axis, so 2 * 256 rounds bound any repair.
repair_rounds_max = 512


class UnrecoverableSquareError(Exception):
    """Too few shares to rebuild the square (the producer or the network withheld data)."""


@dataclass(frozen=True)
class FraudShare:
    """One share of the accused axis, proven against its orthogonal root."""

    position: int
    share: bytes
    proof: NmtProof
    orth_root: bytes
    orth_root_proof: tuple[bytes, ...]


@dataclass(frozen=True)
class BadEncodingFraudProof:
    """Axis ``index`` does not decode to its committed root; see the module docstring."""

    axis: Axis
    index: int
    width: int
    axis_root: bytes
    axis_root_proof: tuple[bytes, ...]
    shares: tuple[FraudShare, ...]


class BadEncodingError(Exception):
    """The square is badly encoded; ``proof`` convinces others (None if not yet provable)."""

    def __init__(self, axis: Axis, index: int, proof: BadEncodingFraudProof | None) -> None:
        super().__init__(f"{axis} {index} does not decode to its committed root")
        self.axis = axis
        self.index = index
        self.proof = proof


def _cell(axis: Axis, index: int, position: int) -> tuple[int, int]:
    return (index, position) if axis == "row" else (position, index)


def verify_befp(
    proof: BadEncodingFraudProof, *, data_root: bytes, hash_name: HashName, width: int | None = None
) -> bool:
    """True if ``proof`` shows the square under ``data_root`` is badly encoded.

    Pass the header's ``width`` when known: the proof's own width is then not trusted.
    """
    if width is not None and width != proof.width:
        return False
    width = proof.width
    k = width // 2
    if (
        width < 2
        or width & (width - 1)
        or not 0 <= proof.index < width
        or proof.axis not in ("row", "col")
    ):
        return False
    roots_total = 2 * width
    axis_leaf = proof.index if proof.axis == "row" else width + proof.index
    if not verify_merkle_proof(
        data_root, proof.axis_root, axis_leaf, roots_total, proof.axis_root_proof, hash=hash_name
    ):
        return False
    positions = [s.position for s in proof.shares]
    if (
        len(positions) != k
        or len(set(positions)) != k
        or not all(0 <= p < width for p in positions)
    ):
        return False
    hasher = hasher_for(hash_name)
    blocks: dict[int, bytes] = {}
    for item in proof.shares:
        row, col = _cell(proof.axis, proof.index, item.position)
        orth_leaf = width + col if proof.axis == "row" else row
        if not verify_merkle_proof(
            data_root, item.orth_root, orth_leaf, roots_total, item.orth_root_proof, hash=hash_name
        ):
            return False
        if (
            len(item.share) != SHARE_SIZE
            or item.proof.start != proof.index
            or item.proof.end != proof.index + 1
        ):
            return False
        ns = item.share[:NAMESPACE_SIZE] if row < k and col < k else PARITY_NAMESPACE
        if not verify_inclusion(
            hasher, item.proof, [ns + item.share], item.orth_root, leaf_count=width
        ):
            return False
        blocks[item.position] = item.share
    codec = codec_for(k)
    full = codec.extend(codec.decode(blocks))
    shares = [full[i].tobytes() for i in range(width)]
    try:
        root = axis_root(shares, axis_index=proof.index, k=k, hash_name=hash_name)
    except NmtError:
        return True  # the committed root cannot be a valid NMT of the decoded axis
    return root != proof.axis_root


class _Repair:
    """State of one repair: shares, which are known, which axes are verified."""

    def __init__(
        self,
        shares: npt.NDArray[np.uint8],
        known: npt.NDArray[np.bool_],
        dah: DataAvailabilityHeader,
    ) -> None:
        width = dah.width
        if shares.shape != (width, width, SHARE_SIZE) or known.shape != (width, width):
            raise ValueError(
                f"shares must be ({width}, {width}, {SHARE_SIZE}) with a matching mask"
            )
        self.shares = shares.copy()
        self.known = known.copy()
        self.dah = dah
        self.width = width
        self.k = width // 2
        self.verified = {"row": np.zeros(width, dtype=bool), "col": np.zeros(width, dtype=bool)}
        self.bad: list[tuple[Axis, int]] = []

    def _view(self, axis: Axis, index: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
        if axis == "row":
            return self.shares[index], self.known[index]
        return self.shares[:, index], self.known[:, index]

    def try_direction(self, axis: Axis) -> bool:
        """Decode and verify every axis of one direction that has >= k shares.

        Axes whose first k known positions coincide are decoded in one zfec call and
        re-encoded in one batch (a whole missing quadrant is one call, not k). True if
        any axis was decoded (or found bad).
        """
        groups: dict[tuple[int, ...], list[int]] = {}
        for index in range(self.width):
            if self.verified[axis][index] or (axis, index) in self.bad:
                continue
            have = np.flatnonzero(self._view(axis, index)[1])
            if len(have) >= self.k:
                groups.setdefault(tuple(int(i) for i in have[: self.k]), []).append(index)
        for positions, indices in groups.items():
            self._decode_group(axis, positions, indices)
        return bool(groups)

    def _decode_group(self, axis: Axis, positions: tuple[int, ...], indices: list[int]) -> None:
        k, width = self.k, self.width
        codec = codec_for(k)
        cube = self.shares[indices] if axis == "row" else self.shares[:, indices].transpose(1, 0, 2)
        # cube: (axes, 2k, 512); block p = share p of every axis in the group, concatenated.
        blocks = {p: np.ascontiguousarray(cube[:, p]).reshape(-1) for p in positions}
        originals = codec.decode(blocks)  # (k, axes * 512)
        full = codec.extend(originals).reshape(width, len(indices), SHARE_SIZE).transpose(1, 0, 2)
        for slot, index in enumerate(indices):
            self._accept(axis, index, full[slot])

    def _accept(self, axis: Axis, index: int, full: npt.NDArray[np.uint8]) -> None:
        """Check one decoded axis against what we hold and its committed root; fill it if good."""
        data, mask = self._view(axis, index)
        shares = [full[i].tobytes() for i in range(self.width)]
        committed = self.dah.row_roots[index] if axis == "row" else self.dah.col_roots[index]
        try:
            ok = (
                axis_root(shares, axis_index=index, k=self.k, hash_name=self.dah.hash_name)
                == committed
            )
        except NmtError:
            ok = False
        if not ok or not np.array_equal(full[mask], data[mask]):
            self.bad.append((axis, index))
            return
        data[:] = full
        mask[:] = True
        self.verified[axis][index] = True

    def run(self) -> None:
        for _ in range(repair_rounds_max):
            progress = self.try_direction("row")
            progress = self.try_direction("col") or progress
            if not progress:
                return
        raise AssertionError("repair did not converge within its round budget")

    def fraud_proof(self, axis: Axis, index: int) -> BadEncodingFraudProof | None:
        """A BEFP for a bad axis from k shares on verified orthogonal axes, if we have them."""
        orth: Axis = "col" if axis == "row" else "row"
        positions = [int(p) for p in np.flatnonzero(self.verified[orth])][: self.k]
        if len(positions) < self.k:
            return None
        eds = ExtendedDataSquare(self.shares, hash_name=self.dah.hash_name)
        width = self.width
        items = []
        for p in positions:
            row, col = _cell(axis, index, p)
            if orth == "col":
                nmt_proof, orth_root, orth_leaf = (
                    eds.col_tree(col).prove(row),
                    self.dah.col_roots[col],
                    width + col,
                )
            else:
                nmt_proof, orth_root, orth_leaf = (
                    eds.row_tree(row).prove(col),
                    self.dah.row_roots[row],
                    row,
                )
            assert (eds.col_tree(col) if orth == "col" else eds.row_tree(row)).root() == orth_root
            items.append(
                FraudShare(
                    p, eds.share(row, col), nmt_proof, orth_root, _root_proof(self.dah, orth_leaf)
                )
            )
        axis_leaf = index if axis == "row" else width + index
        committed = self.dah.row_roots[index] if axis == "row" else self.dah.col_roots[index]
        return BadEncodingFraudProof(
            axis, index, width, committed, _root_proof(self.dah, axis_leaf), tuple(items)
        )


def _root_proof(dah: DataAvailabilityHeader, leaf: int) -> tuple[bytes, ...]:
    return MerkleTree(dah.roots(), hash=dah.hash_name).proof(leaf)


def repair(
    shares: npt.NDArray[np.uint8], known: npt.NDArray[np.bool_], dah: DataAvailabilityHeader
) -> ExtendedDataSquare:
    """Rebuild the full square from the ``known`` cells of ``shares`` and check it against ``dah``.

    The known shares must be ones already verified against the roots (as samples and
    namespace answers are): an unverified bogus share makes its axes look badly encoded.
    Raises BadEncodingError if an axis does not decode to its committed root, with a fraud
    proof only when one was built *and* verifies here (we never gossip a proof that others
    would reject); UnrecoverableSquareError if too few shares are known.
    """
    state = _Repair(shares, known, dah)
    state.run()
    if state.bad:
        axis, index = state.bad[0]
        data_root = dah.data_root()
        for candidate in state.bad:
            proof = state.fraud_proof(*candidate)
            if proof is not None and verify_befp(
                proof, data_root=data_root, hash_name=dah.hash_name, width=dah.width
            ):
                raise BadEncodingError(candidate[0], candidate[1], proof)
        raise BadEncodingError(axis, index, None)
    if not state.known.all():
        missing = int((~state.known).sum())
        raise UnrecoverableSquareError(f"{missing} of {state.width**2} shares cannot be recovered")
    assert state.verified["row"].all() and state.verified["col"].all(), (
        "a complete square has every axis verified"
    )
    return ExtendedDataSquare(state.shares, hash_name=dah.hash_name)
