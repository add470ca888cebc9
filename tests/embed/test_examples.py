"""The runtime examples run and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("script", "expected"), [
    ("runtime_async.py", "Pong(seq=2)"),
    ("runtime_threaded.py", "17 17"),
    ("runtime_sim.py", "answered"),
])
def test_example_runs(script: str, expected: str) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout


def test_sim_example_is_deterministic() -> None:
    runs = {subprocess.run([sys.executable, str(ROOT / "examples" / "runtime_sim.py"), "9"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120,
                           check=True).stdout for _ in range(2)}
    assert len(runs) == 1


def test_the_readme_embedding_example_runs() -> None:
    """README's "Embedding actors" block, run as written (messages with no .capnp file,
    ``whereis`` finding an actor spawned by name)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Embedding actors in your program", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Greeting(text='hello world hello world')"
