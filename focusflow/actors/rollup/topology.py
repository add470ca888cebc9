"""The rollups hierarchy as supervisor trees: node name → children, for every runtime.

One description, used by the simulator scenario (``rollup.scenario``), the in-process
live run (``rollup.live``) and the multi-process devnet (``topology.rollnet``). It imports
no simulator, so production paths (``topology/rollnet_node.py``) can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import blake3

from focusflow.actors.da.share import graph_namespace
from focusflow.actors.hub.actor import HubActor
from focusflow.actors.ibc.relayer import RelayerActor, RelayFaults
from focusflow.actors.rollup.actor import (
    ChallengerActor,
    DaGridActor,
    LinkClient,
    SequencerActor,
)
from focusflow.actors.rollup.bucket import bucket_of
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.supervisor import ChildSpec

ROLLUPS_DEFAULT = 4
HUBS_DEFAULT = 1
EPS = 1e-9
DAMPING = 0.85
SUP = "/user/sup"


def seed_of(name: str) -> bytes:
    """Deterministic 32-byte key seed of a chain (simulator only)."""
    return blake3.blake3(name.encode(), derive_key_context="focusflow 2026 sim key v1").digest()


def public_key(name: str) -> bytes:
    """Public key of a chain's seed."""
    from nacl.signing import SigningKey

    return bytes(SigningKey(seed_of(name)).verify_key)


def bucket_key(i: int) -> bytes:
    """Even buckets are named by an explicit id, odd ones by their particles' namespace."""
    name = f"bucket-{i}"
    if i % 2 == 0:
        return bucket_of(bucket_id=name.encode()).key
    return bucket_of(particle_ns=graph_namespace(name)).key


def option(options: Mapping[str, Any], key: str, default: Any) -> Any:
    """``options[key]``, or ``default`` when it is missing or None (unset CLI flags)."""
    value = options.get(key)
    return default if value is None else value


def pi_bound(n: int) -> float:
    """|merged π − from-scratch π|₁ allowed over n particles: each bucket's solve stops
    at ε (so its error is ≤ d·ε/(1−d), doubled for the reference and the merge) plus the
    2^-60 fixed point of the committed vector, rounded up per particle."""
    assert n >= 0
    return 4 * DAMPING * EPS / (1 - DAMPING) + n * 2.0**-58


def topology(options: Mapping[str, Any], probe: RollupProbe | None
             ) -> dict[str, list[ChildSpec]]:
    """node name → the children of its one_for_one supervisor (sim and live alike)."""
    R = max(1, int(option(options, "rollups", ROLLUPS_DEFAULT)))
    H = max(1, int(option(options, "hubs", HUBS_DEFAULT)))
    liar = int(option(options, "rollup_liar", -1))
    window = float(option(options, "rollup_window_ms", 1_000.0))
    merge = float(option(options, "rollup_merge_ms", 1_000.0))
    settle = float(option(options, "rollup_settle_ms", 500.0))
    da = ("da", f"{SUP}/da")
    watcher = ("watcher", f"{SUP}/watcher")
    regions = [f"hub{j}" for j in range(1, H)]
    windows = tuple(regions) if regions else ("hub0",)  # the hubs that run challenge windows
    out: dict[str, list[ChildSpec]] = {
        "da": [ChildSpec("da", DaGridActor)],
        "watcher": [ChildSpec("watcher", ChallengerActor, ("watcher", da),
                              {"eps": EPS, "hubs": windows})]}
    for j in range(H):
        name = f"hub{j}"
        if j == 0:
            mine = {rollup_name(i): public_key(rollup_name(i)) for i in range(R) if H == 1}
            kw: dict[str, Any] = {"regions": {r: public_key(r) for r in regions},
                                  "upstream": None}
        else:
            mine = {rollup_name(i): public_key(rollup_name(i)) for i in range(R)
                    if hub_of(i, H) == name}
            kw = {"regions": {}, "upstream": ("hub0", public_key("hub0"))}
        kw |= {"rollups": mine, "da": da, "watchers": [watcher], "merge_ms": merge,
               "window_ms": window, "eps": EPS, "probe": probe}
        out[name] = [ChildSpec("hub", HubActor, (name, seed_of(name)), kw)]
    for i in range(R):
        name, hub = rollup_name(i), hub_of(i, H)
        kw = {"chain": name, "hub_chain": hub, "hub_key": public_key(hub), "da": da,
              "settle_ms": settle, "eps": EPS, "probe": probe,
              "lie": 0.05 if i == liar else 0.0, "lie_from": 2}
        out[name] = [ChildSpec("seq", SequencerActor, (bucket_key(i), seed_of(name)), kw)]
    faults = (RelayFaults(drop=0.2, duplicate=0.2, reorder=True, delay_ms_max=200.0)
              if options.get("relayer_faults") else RelayFaults())
    relayers = [ChildSpec(f"r-{rollup_name(i)}", RelayerActor,
                          ((rollup_name(i), f"{SUP}/seq"), "hub", (hub_of(i, H), f"{SUP}/hub"),
                           rollup_name(i)), {"faults": faults})
                for i in range(R)]
    relayers += [ChildSpec(f"r-{r}", RelayerActor, ((r, f"{SUP}/hub"), "up",
                                                    ("hub0", f"{SUP}/hub"), r),
                           {"faults": faults}) for r in regions]
    out["relayer"] = relayers
    names = [f"bucket-{i}" for i in range(R)]
    seqs = {f"bucket-{i}": (rollup_name(i), f"{SUP}/seq") for i in range(R)}
    out["client"] = [ChildSpec("client", LinkClient, (names, seqs),
                               {"links_per_tick": int(option(options, "rollup_links", 40))})]
    return out


def rollup_name(i: int) -> str:
    """Node (and chain) name of rollup i."""
    return f"rollup{i}"


def hub_of(i: int, hubs: int) -> str:
    """The hub rollup i settles with: the global hub, or a regional one round robin."""
    return "hub0" if hubs == 1 else f"hub{1 + i % (hubs - 1)}"
