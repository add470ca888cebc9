"""The economics core's non-balance state as one deterministic document (``/token/econ/core``).

Balances live in the ledger (``/token``); everything else the core keeps between blocks
(the split, the parameters governance may have changed, the dealers, the tenure book, the
minted-H record, the governance book, the breaker's window, the supply journal's totals)
is written here as compact JSON with every order that matters kept as a list, so that a
core rebuilt from it (:func:`restore_core`) applies the next block exactly as the core
that never stopped. The focus reward stream's pending entries are *not* in it: they can
number up to ``focus_pending_max`` and change a few per block, so ``economics.onchain``
keeps one key per neuron instead.

Not kept: the journal's ring of recent entries (an audit aid, bounded, not consensus
state) and the ``failed`` flag (a failed core raises; the node restarts from this state).
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from typing import Any

from focusflow.actors.economics.breaker import Breaker
from focusflow.actors.economics.core import EconGenesis, EconomicsCore
from focusflow.actors.economics.governance import Governance, Proposal, Status
from focusflow.actors.economics.ledger import EconError, Ledger, MemoryLedger, SupplyJournal
from focusflow.actors.economics.params import EconParams, validate
from focusflow.actors.economics.rewards import TenureBook

DOC_VERSION = 1


class EconStateError(EconError):
    """The stored economics state does not decode (a damaged or foreign state file)."""


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the core uses (split triples, change lists)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def encode_core(core: EconomicsCore, extra: dict[str, Any]) -> bytes:
    """The core's non-balance state (and the caller's ``extra`` fields) as bytes."""
    gov, br, j = core.gov, core.breaker, core.journal
    doc = {
        "v": DOC_VERSION,
        "height": core.height,
        "params": dataclasses.asdict(core.params),
        "split": list(core.split),
        "dealers": sorted(core.dealers),
        "h_minted": [[a, v] for a, v in core.h_minted.items()],
        "tenure": core.tenure.to_doc(),
        "gov": {
            "next_pid": gov.next_pid,
            "proposals": [[p.pid, p.proposer, [[n, v] for n, v in p.changes], p.voting_ends, p.yes,
                           p.no, p.abstain, [[a, s] for a, s in p.voters.items()], p.status.value,
                           p.note] for p in gov.proposals.values()],
            "locks": [[a, h] for a, h in gov.locks.items()],
        },
        "breaker": [br.window_blocks, br.move_max_ppb, br.cooldown_blocks,
                    [[h, p] for h, p in br.prices], br.tripped_at, br.trips],
        "journal": {"genesis": sorted(j.genesis.items()), "minted": sorted(j.minted.items()),
                    "burned": sorted(j.burned.items()),
                    "by_reason": sorted([d, r, v] for (d, r), v in j.by_reason.items()),
                    "height": j.height},
        "extra": extra,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def restore_core(raw: bytes, ledger: Ledger) -> tuple[EconomicsCore, dict[str, Any]]:
    """The core :func:`encode_core` described, over ``ledger``; and the ``extra`` fields.

    Raises:
        EconStateError: the bytes are not such a document.
    """
    try:
        doc = json.loads(raw)
        if doc.get("v") != DOC_VERSION:
            raise EconStateError(f"economics state version {doc.get('v')!r}, not {DOC_VERSION}")
        params = EconParams(**{k: _tuples(v) for k, v in doc["params"].items()})
        validate(params)
        core = EconomicsCore(MemoryLedger(), EconGenesis(params=params), height=int(doc["height"]))
        core.ledger = ledger
        core.split = _tuples(doc["split"])
        core.dealers = {str(a) for a in doc["dealers"]}
        core.h_minted = {str(a): int(v) for a, v in doc["h_minted"]}
        core.tenure = TenureBook.from_doc(doc["tenure"])
        g = doc["gov"]
        core.gov = Governance(
            next_pid=int(g["next_pid"]),
            proposals={int(p[0]): Proposal(int(p[0]), str(p[1]), _tuples(p[2]), int(p[3]), int(p[4]),
                                           int(p[5]), int(p[6]), {str(a): int(s) for a, s in p[7]},
                                           Status(p[8]), str(p[9])) for p in g["proposals"]},
            locks={str(a): int(h) for a, h in g["locks"]})
        window, move, cooldown, prices, tripped_at, trips = doc["breaker"]
        core.breaker = Breaker(int(window), int(move), int(cooldown),
                               deque((int(h), int(p)) for h, p in prices),
                               None if tripped_at is None else int(tripped_at), int(trips))
        jd = doc["journal"]
        core.journal = SupplyJournal(
            genesis={str(d): int(v) for d, v in jd["genesis"]},
            minted={str(d): int(v) for d, v in jd["minted"]},
            burned={str(d): int(v) for d, v in jd["burned"]},
            by_reason={(str(d), str(r)): int(v) for d, r, v in jd["by_reason"]},
            height=int(jd["height"]))
        extra = dict(doc["extra"])
    except EconStateError:
        raise
    except (KeyError, TypeError, ValueError, EconError) as exc:
        raise EconStateError(f"the stored economics state does not decode: "
                             f"{type(exc).__name__}: {exc}") from exc
    return core, extra
