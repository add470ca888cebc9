"""float64 references that share no code with the fast paths.

The weights are built from the raw link list with plain Python dictionaries, and π comes
from a direct sparse solve of the fixed-point equation rather than from iteration, so a
bug in the incremental store or in an iteration kernel cannot hide in the reference.
Small graphs only (tests).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from focusflow.kernels._result import DAMPING_DEFAULT

REFERENCE_PARTICLES_MAX = 200_000


def weights_from_cyberlinks(
    links: Iterable[tuple[int, int, int]], stakes: Mapping[int, float]
) -> dict[tuple[int, int], float]:
    """W(i→j) = Σ over neurons u with link (u, i, j) of stake_u / links_u (links a set)."""
    per_neuron: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for u, i, j in links:
        per_neuron[int(u)].add((int(i), int(j)))
    w: dict[tuple[int, int], float] = defaultdict(float)
    for u, edges in per_neuron.items():
        share = float(stakes.get(u, 0.0)) / len(edges)
        for e in edges:
            w[e] += share
    return dict(w)


def weights_from_edges(src: Iterable[int], dst: Iterable[int],
                       weight: Iterable[float]) -> dict[tuple[int, int], float]:
    """W(i→j) = sum of the weights given for i→j (duplicates add up)."""
    w: dict[tuple[int, int], float] = defaultdict(float)
    for i, j, x in zip(src, dst, weight, strict=True):
        w[(int(i), int(j))] += float(x)
    return dict(w)


def reference_focus(n: int, weights: Mapping[tuple[int, int], float], *,
                    damping: float = DAMPING_DEFAULT,
                    teleport: np.ndarray | None = None) -> np.ndarray:
    """Exact focus π by a direct solve of (I − d·M)π = (1 − d)·v, M = Pᵀ + v·1_danglingᵀ.

    The rank-one dangling term is handled by Sherman–Morrison-style superposition: solve
    (I − dPᵀ)a = (1 − d)v and (I − dPᵀ)b = d·v, then π = a + s·b with s = Σ_dangling π.
    """
    assert 0 <= n <= REFERENCE_PARTICLES_MAX
    if n == 0:
        return np.zeros(0)
    v = np.full(n, 1.0 / n) if teleport is None else np.asarray(teleport, float) / np.sum(teleport)
    out = np.zeros(n)
    for (i, _j), x in weights.items():
        out[i] += x
    rows, cols, vals = [], [], []
    for (i, j), x in weights.items():
        if out[i] > 0 and x > 0:
            rows.append(j)
            cols.append(i)
            vals.append(x / out[i])
    pt = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
    system = (sp.identity(n, format="csc") - damping * pt).tocsc()
    a = np.atleast_1d(spla.spsolve(system, (1.0 - damping) * v))
    b = np.atleast_1d(spla.spsolve(system, damping * v))
    dangling = out <= 0
    s = a[dangling].sum() / (1.0 - b[dangling].sum())
    pi = a + s * b
    assert np.all(np.isfinite(pi))
    return pi / pi.sum()
