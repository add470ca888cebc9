"""The read-only queries a node answers (``/v1/<kind>?arg=``, ``Query(kind, arg)``): their
arguments parsed and checked in one place, before anything reads the store.

Why here and not in each answer: issue 16 found unauthenticated queries that crashed the
validator actor (``links?arg=00`` reached an assertion in the store, heights beyond
SQLite's 64-bit integers an ``OverflowError``). :func:`parse_query` is total: any
``(kind, arg)`` gives a :class:`QueryArgs` or raises :class:`QueryError` with the HTTP
status and a specific reason. The HTTP layer calls it at the door (400/404 without asking
the validator); the validator calls it again for a ``Query`` from anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from focusflow.actors.state.ids import ADDRESS_LEN, IdentityError, cid_from_text, is_cid
from focusflow.limits import HEIGHT_MAX, QUERY_ARG_BYTES_MAX, QUERY_RANGE_MAX

TX_ID_BYTES = 32
"""A transaction's id (``state.tx.tx_hash_of``)."""
KEYPATH_BYTES_MAX = 256
"""A state key path (``proof``): the longest key of the state layout is far shorter."""
COUNT_MAX = 1 << 20
"""``top`` / ``finality`` counts (each answer cuts further to its own maximum)."""


class QueryError(ValueError):
    """A query the asker got wrong; ``status`` is the HTTP status that says so."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class QueryArgs:
    """A checked query: ``kind`` plus the one argument form it takes.

    ``start``/``end`` (ranges; ``end`` None: up to the tip), ``height`` (``block``),
    ``count`` (``top``, ``finality``; None: the default), ``key`` (bytes of a hex argument).
    """

    kind: str
    start: int = 1
    end: int | None = None
    height: int = 0
    count: int | None = None
    key: bytes = b""

    def span(self, tip: int) -> tuple[int, int]:
        """``start..end`` with the tip for an open end, cut to ``QUERY_RANGE_MAX`` rows."""
        end = tip if self.end is None else self.end
        return self.start, min(end, self.start + QUERY_RANGE_MAX - 1)


def _int(text: str, what: str, *, low: int, high: int) -> int:
    """A decimal integer in ``low..high`` (ASCII digits only: ``int`` would take '²'
    and '1_000')."""
    body = text[1:] if text[:1] == "-" else text
    if not body or not body.isascii() or not body.isdigit() or len(body) > 19:
        raise QueryError(f"{what}: expected a decimal integer in {low}..{high}, got {text[:32]!r}")
    value = int(text)
    if not low <= value <= high:
        raise QueryError(f"{what}: {value} is outside {low}..{high}")
    return value


def _hex(text: str, what: str, *, size: int | None = None, size_max: int = 0) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise QueryError(f"{what}: expected hex, got {text[:32]!r}") from None
    if size is not None and len(raw) != size:
        raise QueryError(f"{what}: expected {size} bytes ({2 * size} hex digits), got {len(raw)}")
    if not raw or (size_max and len(raw) > size_max):
        raise QueryError(f"{what}: expected 1..{size_max} bytes, got {len(raw)}")
    return raw


def _cid(text: str, what: str) -> bytes:
    """A particle id in any form ``cid_from_text`` accepts (CIDv1 text ``b``/``B``/``z``
    or the binary CID in hex), canonical forms only."""
    try:
        raw = cid_from_text(text)
    except IdentityError as exc:
        raise QueryError(f"{what}: {exc}") from None
    if not is_cid(raw):
        raise QueryError(f"{what}: not a CIDv1 raw/BLAKE3-256 particle id")
    return raw


def _range(kind: str, arg: str) -> QueryArgs:
    first, _, last = arg.partition(":")
    start = _int(first, f"{kind} start", low=0, high=HEIGHT_MAX) if first else 1
    end = _int(last, f"{kind} end", low=0, high=HEIGHT_MAX) if last else None
    return QueryArgs(kind, start=start, end=end)


def _count(kind: str, arg: str) -> QueryArgs:
    return QueryArgs(kind, count=_int(arg, f"{kind} count", low=0, high=COUNT_MAX) if arg else None)


_PARSERS = {
    "status": lambda k, a: QueryArgs(k),
    "consensus": lambda k, a: QueryArgs(k),
    "blocks": _range,
    "pi_roots": _range,
    "state_roots": _range,
    "finality": _count,
    "top": _count,
    "block": lambda k, a: QueryArgs(k, height=_int(a, "block height", low=0, high=HEIGHT_MAX)),
    "links": lambda k, a: QueryArgs(k, key=_cid(a, "links cid")),
    "focus": lambda k, a: QueryArgs(k, key=_cid(a, "focus cid")),
    "balance": lambda k, a: QueryArgs(k, key=_hex(a, "balance address", size=ADDRESS_LEN)),
    "proof": lambda k, a: QueryArgs(k, key=_hex(a, "proof key path", size_max=KEYPATH_BYTES_MAX)),
    "tx": lambda k, a: QueryArgs(k, key=_hex(a, "tx id", size=TX_ID_BYTES)),
}
KINDS = tuple(sorted(_PARSERS))


def parse_query(kind: str, arg: str) -> QueryArgs:
    """Check a query; total over any strings.

    Raises:
        QueryError: an unknown kind (404) or a bad argument (400), with the reason.
    """
    parser = _PARSERS.get(kind)
    if parser is None:
        raise QueryError(f"unknown query kind {kind[:64]!r} (known: {', '.join(KINDS)})", status=404)
    if len(arg) > QUERY_ARG_BYTES_MAX:
        raise QueryError(f"argument of {len(arg)} characters over {QUERY_ARG_BYTES_MAX}")
    return parser(kind, arg)
