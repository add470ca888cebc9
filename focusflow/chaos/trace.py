"""Trace files: everything needed to re-execute a chaos run, and what it produced.

A trace file (gzip'd JSON, ``*.trace.gz``) holds the format tag, the seed, the *concrete*
plan (scenario, options, duration, every fault with its time, fault-point settings), the
result (trace hash, steps, violations) and one entry per simulator trace record:
``[t_ns, node, kind, digest]`` where digest is 8 bytes of BLAKE3 of the record. Replay
recomputes the records and compares them one by one, so the first divergence is exact.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path
from typing import Any

import blake3

from focusflow.wire import KIND_NAMES, codec_for_id, decode_envelope

TRACE_FORMAT = "focusflow.chaos.trace.v1"
RECORDS_MAX = 20_000_000
#: Versions of one evidence file name tried before giving up.
RESERVE_MAX = 10_000
_REC = struct.Struct("<cQI")
_GLOBAL_KINDS = {"B": "boot node", "K": "crash node", "P": "partition", "H": "heal",
                 "S": "clock skew", "F": "fault", "f": "fault skipped",
                 "Q": "fault point fired", "N": "network drop"}


class TraceError(ValueError):
    """Not a readable trace file (wrong format or corrupt)."""


class RecordLog:
    """Digests of a run's trace records, in order (the simulator's ``record_listener``)."""

    def __init__(self) -> None:
        self.t_ns: list[int] = []
        self.nodes: list[str] = []
        self.kinds: list[str] = []
        self.digests: list[str] = []

    def __len__(self) -> int:
        return len(self.digests)

    def __call__(self, t_ns: int, node: str, event: bytes) -> None:
        assert len(self.digests) < RECORDS_MAX, "trace too long to keep"
        nb = node.encode()
        digest = blake3.blake3(struct.pack("<I", len(nb)) + nb + event).digest(8).hex()
        self.t_ns.append(t_ns)
        self.nodes.append(node)
        self.kinds.append(record_kind(node, event))
        self.digests.append(digest)

    def rows(self) -> list[list[Any]]:
        """JSON rows ``[t_ns, node, kind, digest]``."""
        return [list(r) for r in zip(self.t_ns, self.nodes, self.kinds, self.digests,
                                     strict=True)]


def record_kind(node: str, event: bytes) -> str:
    """A one-letter kind of a record: D delivery, T timer, C crash, X exit, L dead letter;
    for world records (node "") the letter after the timestamp (B, K, P, H, S, F, Q, N)."""
    if not event:
        return "?"
    if node:
        return chr(event[0])
    return chr(event[8]) if len(event) > 8 else "?"


def describe(node: str, event: bytes) -> str:
    """A human description of one trace record (for ``replay --diff``)."""
    kind = record_kind(node, event)
    if node and kind in "DT" and len(event) >= _REC.size:
        try:
            env = decode_envelope(event[_REC.size:])
            try:
                name = codec_for_id(env.payload_type).cls.__name__
            except Exception:  # unknown or system type: show the id
                name = f"{env.payload_type:#x}"
            what = "deliver" if kind == "D" else "timer"
            return (f"{what} {KIND_NAMES.get(env.kind, env.kind)} {name} "
                    f"{env.sender_node}:{env.sender_path} -> "
                    f"{env.receiver_node}:{env.receiver_path}")
        except Exception as exc:  # a corrupted frame is a legitimate record
            return f"{'deliver' if kind == 'D' else 'timer'} malformed frame ({exc})"
    if node and kind in "CX":
        path, _, why = event[1:].partition(b"\0")
        return f"{'crash' if kind == 'C' else 'exit'} {path.decode()} {why.decode()}"
    if node and kind == "L":
        return event[1:].decode(errors="replace")
    if not node:
        label = _GLOBAL_KINDS.get(kind, kind)
        return f"{label} {event[9:].decode(errors='replace')}".strip()
    return repr(event[:60])


def reserve(path: str | Path, *companions: str) -> Path:
    """Create ``path`` empty, or, if it exists, the first free ``STEM-2.EXT``, ``STEM-3``…;
    return the path created. Evidence is never overwritten: rerunning a seed or a shrunk
    plan writes new files next to the old ones.

    The name's extension is everything after its first dot (``seed-9.min.trace.gz`` ->
    ``seed-9-2.min.trace.gz``). ``companions`` are other extensions (``".min.toml"``) that
    must be free under the same stem; they are created empty too. Creation is exclusive
    (``O_EXCL``), so concurrent workers never pick the same name.
    """
    first = Path(path)
    first.parent.mkdir(parents=True, exist_ok=True)
    stem, dot, ext = first.name.partition(".")
    for n in range(1, RESERVE_MAX + 1):
        base = stem if n == 1 else f"{stem}-{n}"
        names = [f"{base}{dot}{ext}", *(base + c for c in companions)]
        made: list[Path] = []
        try:
            for name in names:
                os.close(os.open(first.parent / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                                 0o644))
                made.append(first.parent / name)
        except FileExistsError:
            for m in made:
                m.unlink()
            continue
        return made[0]
    raise OSError(f"{first}: {RESERVE_MAX} versions exist already; clean up the directory")


def write_trace(path: str | Path, *, seed: int, plan: dict[str, Any],
                result: dict[str, Any], records: RecordLog, reserved: bool = False) -> Path:
    """Write a trace file at ``path`` or, if that exists, at a fresh name (``reserve``);
    returns the path written. ``reserved``: the caller reserved ``path`` already."""
    out = Path(path) if reserved else reserve(path)
    doc = {"format": TRACE_FORMAT, "seed": seed, "plan": plan, "result": result,
           "records": records.rows()}
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=6) as fh:
        json.dump(doc, fh, separators=(",", ":"), sort_keys=True)
    return out


def load_trace(path: str | Path) -> dict[str, Any]:
    """Read a trace file.

    Raises:
        TraceError: not a trace file of this format.
    """
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, json.JSONDecodeError, EOFError) as exc:
        raise TraceError(f"{path}: not a chaos trace file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != TRACE_FORMAT:
        raise TraceError(f"{path}: not a {TRACE_FORMAT} file")
    return doc
