"""Random test graphs shared by the kernel tests (small: the suite must stay fast)."""

from __future__ import annotations

import numpy as np

from focusflow.kernels import GraphStore, weights_from_cyberlinks


def random_cyberlinks(seed: int, *, n: int = 200, m: int = 1500, neurons: int = 30,
                      zero_stake_share: float = 0.2, dangling_share: float = 0.3):
    """(store, links, stakes): power-law-ish destinations, some zero stakes, some sinks."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, neurons, m)
    s = rng.integers(0, n, m)
    s = np.where(s < int(dangling_share * n), s + int(dangling_share * n), s) % n
    d = (rng.zipf(1.6, m) - 1) % n
    stakes = {i: (0.0 if rng.random() < zero_stake_share else float(rng.integers(1, 10**6)))
              for i in range(neurons)}
    store = GraphStore.from_cyberlinks(u, s, d, stakes, n=n)
    return store, list(zip(u.tolist(), s.tolist(), d.tolist(), strict=True)), stakes


def reference_weights(links, stakes):
    """Reference W for a link list."""
    return weights_from_cyberlinks(links, stakes)
