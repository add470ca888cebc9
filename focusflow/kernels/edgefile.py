"""Reading edge and stake files for ``focusflow rank`` (the only I/O near the kernels).

EDGES holds one link per line, fields separated by tabs, commas or spaces:
``src dst [weight]``, or ``neuron src dst`` when a stakes file is given. A stakes file
holds ``neuron stake`` lines with integer stakes. Blank lines and lines starting with
``#`` are skipped. Names are kept exactly as given; particles are numbered in order of
first appearance (src, then dst, line by line), which is also go-cyber's numbering.
Errors name the file and the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

PROGRESS_BYTES_MIN = 8 << 20  # show a progress bar from this input size up
LINE_FIELDS_MAX = 3
_SPLIT = re.compile(r"[\t, ]+")


class EdgeFileError(ValueError):
    """A malformed input line (the message carries file and line number)."""


@dataclass
class Edges:
    """Parsed links: particle names by number, and either weights or neurons."""

    names: list[str]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray | None = None  # src dst [weight] files
    neuron: np.ndarray | None = None  # neuron src dst files
    neuron_names: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of particles."""
        return len(self.names)


def _lines(path: str, *, progress: bool) -> Iterator[tuple[int, list[str]]]:
    size = os.path.getsize(path)
    bar = None
    if progress and size >= PROGRESS_BYTES_MIN:
        from tqdm import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, desc=os.path.basename(path))
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            for number, line in enumerate(fh, start=1):
                if bar is not None:
                    bar.update(len(line.encode("utf-8")))
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                yield number, _SPLIT.split(text)
    except UnicodeDecodeError as exc:
        raise EdgeFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    finally:
        if bar is not None:
            bar.close()


def read_edges(path: str, *, with_neurons: bool = False, progress: bool = True) -> Edges:
    """Parse EDGES. Raises EdgeFileError with ``path:line:`` on a malformed line."""
    ids: dict[str, int] = {}
    neuron_ids: dict[str, int] = {}
    src: list[int] = []
    dst: list[int] = []
    extra: list[float] = []
    neurons: list[int] = []
    for number, fields in _lines(path, progress=progress):
        where = f"{path}:{number}"
        if with_neurons:
            if len(fields) != 3:
                raise EdgeFileError(f"{where}: expected 'neuron src dst', got {len(fields)} fields")
            u, s, d = fields
            neurons.append(neuron_ids.setdefault(u, len(neuron_ids)))
        else:
            if len(fields) not in (2, 3):
                raise EdgeFileError(f"{where}: expected 'src dst [weight]', got {len(fields)} fields")
            s, d = fields[0], fields[1]
            w = 1.0
            if len(fields) == 3:
                try:
                    w = float(fields[2])
                except ValueError:
                    raise EdgeFileError(f"{where}: weight {fields[2]!r} is not a number") from None
                if not np.isfinite(w) or w < 0:
                    raise EdgeFileError(f"{where}: weight {fields[2]!r} must be finite and >= 0")
            extra.append(w)
        src.append(ids.setdefault(s, len(ids)))
        dst.append(ids.setdefault(d, len(ids)))
    names = list(ids)
    edges = Edges(names, np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64))
    if with_neurons:
        edges.neuron = np.asarray(neurons, dtype=np.int64)
        edges.neuron_names = list(neuron_ids)
    else:
        edges.weight = np.asarray(extra, dtype=np.float64)
    return edges


def read_stakes(path: str, neuron_names: list[str]) -> dict[int, int]:
    """Parse ``neuron stake`` lines (integers) into {neuron number: stake}.

    Neurons absent from the edges are ignored; neurons without a line have stake 0.
    Raises EdgeFileError on a malformed line or a repeated neuron.
    """
    index = {name: i for i, name in enumerate(neuron_names)}
    stakes: dict[int, int] = {}
    seen: set[str] = set()
    for number, fields in _lines(path, progress=False):
        where = f"{path}:{number}"
        if len(fields) != 2:
            raise EdgeFileError(f"{where}: expected 'neuron stake', got {len(fields)} fields")
        name, raw = fields
        if name in seen:
            raise EdgeFileError(f"{where}: neuron {name!r} listed twice")
        seen.add(name)
        try:
            stake = int(raw)
        except ValueError:
            raise EdgeFileError(f"{where}: stake {raw!r} is not an integer") from None
        if stake < 0:
            raise EdgeFileError(f"{where}: stake {raw!r} is negative")
        if name in index:
            stakes[index[name]] = stake
    return stakes
