"""The node's HTTP door under large bodies (issue 16, finding 8), before vs after.

Runs a node's HTTP server (``focusflow.node.http.serve_http``) in this process with a
trivial handler, and a baseline copy of ``http.py`` from a given commit beside it (same
process, same machine, one after the other), and measures:

* one 16 MiB POST: seconds until it is answered, and the answer's status;
* 30 such POSTs at once: how many got an answer, the event loop's worst stall while they
  ran (a 10 ms ticker, ``node.app.LoopMonitor``), and the server process's RSS growth
  after. The clients run in another process, so neither their buffers nor their threads
  count against the server.

    python benchmarks/bench_http_door.py --baseline 1048061
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from focusflow.node.app import LoopMonitor

BODY = 16 * 1024 * 1024
CONCURRENT = 30


async def echo(method: str, path: str, query: dict[str, list[str]], body: bytes) -> Any:
    return 200, "text/plain", b"%d\n" % len(body)


def post(port: int, n: int) -> tuple[int, float]:
    """One POST of ``n`` zero bytes; (status or 0 when cut, seconds)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            with contextlib.suppress(OSError):  # answered and closed mid-send (refused)
                s.sendall(f"POST /v1/txs HTTP/1.1\r\nContent-Length: {n}\r\n\r\n".encode() + bytes(n))
            data = s.recv(64)
    except OSError:
        return 0, time.monotonic() - t0
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, time.monotonic() - t0


def rss_mib() -> float:
    return float(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def flood(port: int, count: int) -> list[tuple[int, float]]:
    """``count`` POSTs at once (threads of this process)."""
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=lambda: results.append(post(port, BODY)))
               for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def client_process(port: int, count: int) -> list[tuple[int, float]]:
    """The flood from another process: its buffers and threads are not the server's."""
    out = subprocess.run([sys.executable, __file__, "--client", str(port), "--count", str(count)],
                         check=True, capture_output=True, text=True).stdout
    return [tuple(r) for r in json.loads(out)]  # type: ignore[misc]


async def measure(module: Any) -> dict[str, Any]:
    loop = LoopMonitor()
    async with anyio.create_task_group() as tg:
        await tg.start(loop.run)
        port = await tg.start(lambda task_status: module.serve_http("127.0.0.1", 0, echo,
                                                                    task_status=task_status))
        rss0 = rss_mib()
        one = await anyio.to_thread.run_sync(lambda: client_process(port, 1))
        loop.max_ms = 0.0
        t0 = time.monotonic()
        results = await anyio.to_thread.run_sync(lambda: client_process(port, CONCURRENT))
        flood_s = time.monotonic() - t0
        await anyio.sleep(0.5)
        out = {"one_status": one[0][0], "one_s": round(one[0][1], 3),
               "flood_answered": sum(1 for s, _ in results if s), "flood_s": round(flood_s, 2),
               "flood_statuses": sorted({s for s, _ in results}),
               "flood_stall_ms_max": round(loop.max_ms, 1),
               "rss_growth_mib": round(rss_mib() - rss0, 1)}
        tg.cancel_scope.cancel()
    return out


def load_baseline(commit: str) -> Any:
    src = subprocess.run(["git", "show", f"{commit}:focusflow/node/http.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "http_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("http_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="1048061", help="commit whose http.py is the baseline")
    ap.add_argument("--client", type=int, help=argparse.SUPPRESS)  # internal: flood this port
    ap.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(flood(args.client, args.count)))
        return 0
    from focusflow.node import http as current

    # After first: the baseline's RSS growth would otherwise be counted in the after run.
    report = {"after": anyio.run(measure, current),
              "before": anyio.run(measure, load_baseline(args.baseline))}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
