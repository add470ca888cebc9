"""The node's size limits, one name and one value per quantity (issue 16, finding 3).

Why one module: a transaction that one layer admits and a later layer refuses is worse
than a transaction refused at the door. The mempool admitted signed txs up to 2 MiB
while the consensus codec refused any over 4 KiB inside a peer's header, so a client
could crash the validator that admitted its tx. Every layer that checks one of these
quantities imports it from here: the first point of entry (HTTP body, mempool admission)
refuses what a later decoder (consensus batches, the state's ``decode_tx``) would.

Plain constants, no imports: any layer may import this module. The table with where each
is enforced is in ``docs/operations.md`` ("Limits").
"""

from __future__ import annotations

TX_BYTES_MAX = 4096
"""One signed transaction (``SignedTx`` bytes). Txs travel inline in the DAG headers
(``header_txs_max`` of them), so this bounds a header too; at 72 bytes a link, about 50
links fit. Enforced by ``state.tx.decode_tx`` (mempool admission), and again by the
consensus codec when reading a peer's batch."""

LINK_BYTES = 72
"""One link's CIDs in a tx body (two 36-byte CIDs)."""

LINKS_PER_TX_MAX = TX_BYTES_MAX // LINK_BYTES
"""Links in one tx: an upper bound implied by ``TX_BYTES_MAX`` (no tx with more links
fits; with the signature and framing about 50 do). The bytes are the binding limit."""

SUBMIT_TXS_MAX = 1024
"""Transactions in one client submission (``SubmitTxs``, ``POST /v1/txs``); the client
(``node.client.submit``) splits a longer list into several."""

HTTP_HEAD_BYTES_MAX = 16 * 1024
"""Request line and headers of one HTTP request."""

HTTP_BODY_BYTES_MAX = SUBMIT_TXS_MAX * (TX_BYTES_MAX + 64) + 64 * 1024
"""One HTTP request body: a full ``SubmitTxs`` (each tx plus its list pointer and focus
tag) with room for the message's framing. Refused from ``Content-Length`` before a byte
of the body is read (413)."""

HTTP_BODY_BYTES_IN_FLIGHT_MAX = 8 * HTTP_BODY_BYTES_MAX
"""Body bytes all HTTP requests being read may hold together; a request whose
``Content-Length`` would exceed it is refused at once (503, retry): a flood of large
POSTs cannot take the node's memory."""

HTTP_REQUEST_TIMEOUT_S = 10.0
"""Whole request (head, body, answer): a slow client is cut off."""

QUERY_ARG_BYTES_MAX = 512
"""A query's argument (``/v1/<kind>?arg=``)."""

QUERY_RANGE_MAX = 4096
"""Rows of one range query (``blocks``, ``pi_roots``, ``state_roots``): a longer range is
cut to its first ``QUERY_RANGE_MAX`` heights (the client pages on)."""

HEIGHT_MAX = (1 << 63) - 1
"""The largest height a query may name (SQLite's signed 64-bit integer)."""

RETRY_AFTER_S = 1
"""``Retry-After`` of every HTTP 503 (overloaded, shed, restarting): a client backs off
this long. The mempool's latency budget (``actors.mempool.budget.BudgetConfig``, in the
table of docs/operations.md) decides when a validator answers 503 to a submission."""
