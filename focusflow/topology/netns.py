"""Network namespaces for a multi-host devnet on one machine (root only).

``Fabric`` makes namespaces ``<tag>n0..n{N-1}``, each with one veth cable to a bridge in
namespace ``<tag>sw``; the calling process joins the bridge too, so that it can reach every
validator's HTTP API. Cutting a validator's cable at the bridge is a partition that the
validator's own process cannot tell from a dead network. Used by ``tests/net/test_netns.py``
and by the nemesis test and benchmark (``focusflow.topology.nemesis``).
"""

from __future__ import annotations

import os
import shutil
import subprocess

COMMAND_TIMEOUT_S = 10


def sh(*args: str) -> None:
    """Run one ``ip`` command; a failure raises (``CalledProcessError``)."""
    subprocess.run(args, check=True, capture_output=True, timeout=COMMAND_TIMEOUT_S)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (not root, no ``ip``, no permission), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) not installed"
    probe = f"ffprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return f"cannot create network namespaces: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


class Fabric:
    """Namespaces n0..n{N-1} and sw (a bridge); the calling process joins the bridge too."""

    def __init__(self, nodes: int = 4) -> None:
        self.nodes = nodes
        self.tag = f"ff{os.getpid() % 10000}"
        self.subnet = f"10.77.{os.getpid() % 250}"
        self.sw = f"{self.tag}sw"
        self.made: list[str] = []

    def ns(self, i: int) -> str:
        """Validator ``i``'s namespace."""
        return f"{self.tag}n{i}"

    def host(self, i: int) -> str:
        """Validator ``i``'s address on the bridge."""
        return f"{self.subnet}.{i + 1}"

    def prefix(self, i: int) -> tuple[str, ...]:
        """The command prefix that runs a process in validator ``i``'s namespace."""
        return ("ip", "netns", "exec", self.ns(i))

    def up(self) -> None:
        """Make the namespaces, cables and bridge (undo with :meth:`down`)."""
        t, sw = self.tag, self.sw
        sh("ip", "netns", "add", sw)
        self.made.append(sw)
        sh("ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up")
        for i in range(self.nodes):
            ns = self.ns(i)
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "link", "add", f"{t}a{i}", "type", "veth", "peer", "name", f"{t}b{i}")
            sh("ip", "link", "set", f"{t}a{i}", "netns", ns)
            sh("ip", "link", "set", f"{t}b{i}", "netns", sw)
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.host(i)}/24", "dev", f"{t}a{i}")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", f"{t}a{i}", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}b{i}", "master", "br0")
            sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}b{i}", "up")
        sh("ip", "link", "add", f"{t}r", "type", "veth", "peer", "name", f"{t}rb")
        self.made.append(f"link:{t}r")
        sh("ip", "link", "set", f"{t}rb", "netns", sw)
        sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}rb", "master", "br0")
        sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}rb", "up")
        sh("ip", "addr", "add", f"{self.subnet}.254/24", "dev", f"{t}r")
        sh("ip", "link", "set", f"{t}r", "up")

    def cut(self, i: int, *, up: bool = False) -> None:
        """Cut (or heal) validator i's cable at the bridge."""
        sh("ip", "netns", "exec", self.sw, "ip", "link", "set", f"{self.tag}b{i}",
           "up" if up else "down")

    def down(self) -> None:
        """Remove everything :meth:`up` made (best effort: a half-made fabric too)."""
        for name in reversed(self.made):
            if name.startswith("link:"):
                subprocess.run(["ip", "link", "del", name[5:]], capture_output=True, check=False)
            else:
                subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.made.clear()
