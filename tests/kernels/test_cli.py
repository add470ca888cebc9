"""``focusflow rank``: output format and order, both semantics, errors with line numbers."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from focusflow.cli import rank
from focusflow.kernels import GraphStore, bostrom_rank, focus_vector


def run(*argv: str) -> int:
    # a parser with only this subcommand: the test does not depend on other commands
    parser = argparse.ArgumentParser()
    rank.register(parser.add_subparsers())
    args = parser.parse_args(["rank", *argv])
    return int(args.func(args))


def read(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split("\t")) for line in path.read_text().splitlines()]  # type: ignore[misc]


def test_focus_output_is_every_node_highest_first(tmp_path: Path, capsys) -> None:
    edges = tmp_path / "e.csv"
    edges.write_text("# comment\nQmA,QmB\nQmB,QmC,2.5\n\nQmC,QmA\nQmA,QmC\n")
    out = tmp_path / "pi.tsv"
    assert run(str(edges), "--out", str(out), "--backend", "cpu", "--top", "1") == 0
    rows = read(out)
    assert [r[0] for r in rows] == sorted([r[0] for r in rows], key=lambda k: -float(dict(rows)[k]))
    assert {r[0] for r in rows} == {"QmA", "QmB", "QmC"}
    pi = focus_vector(GraphStore.from_edges([0, 1, 2, 0], [1, 2, 0, 2], [1, 2.5, 1, 1]),
                      backend="cpu")
    got = dict(rows)
    assert abs(float(got["QmA"]) - pi[0]) < 1e-6 and abs(float(got["QmC"]) - pi[2]) < 1e-6
    assert capsys.readouterr().out.strip() == "\t".join(rows[0])


def test_bostrom_output_is_uint64_with_stakes_file(tmp_path: Path) -> None:
    edges = tmp_path / "links.tsv"
    edges.write_text("alice\tQm0\tQm1\nalice\tQm0\tQm2\nbob\tQm1\tQm2\n")
    stakes = tmp_path / "stakes.tsv"
    stakes.write_text("alice\t10\nbob\t7\ncarol\t99\n")
    out = tmp_path / "rank.tsv"
    assert run(str(edges), "--out", str(out), "--semantics", "bostrom", "--stakes",
               str(stakes)) == 0
    ref = bostrom_rank(3, [0, 0, 1], [0, 0, 1], [1, 2, 2], {0: 10, 1: 7}).ranks
    assert read(out) == [("Qm2", str(ref[2])), ("Qm1", str(ref[1])), ("Qm0", str(ref[0]))]


def test_malformed_line_reports_its_number(tmp_path: Path, capsys) -> None:
    edges = tmp_path / "e.tsv"
    edges.write_text("a\tb\nb\tc\tnot-a-number\n")
    assert run(str(edges), "--out", str(tmp_path / "o")) == 2
    assert "e.tsv:2: weight 'not-a-number' is not a number" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_stake_line_reports_its_number(tmp_path: Path, capsys) -> None:
    (tmp_path / "l").write_text("u a b\n")
    (tmp_path / "s").write_text("u 5\nv -3\n")
    assert run(str(tmp_path / "l"), "--out", str(tmp_path / "o"), "--stakes",
               str(tmp_path / "s")) == 2
    assert "s:2: stake '-3' is negative" in capsys.readouterr().err


def test_not_converged_writes_nothing(tmp_path: Path, capsys) -> None:
    edges = tmp_path / "e.tsv"
    rng = np.random.default_rng(0)
    edges.write_text("".join(f"n{a}\tn{b}\n" for a, b in rng.integers(0, 50, (300, 2))))
    out = tmp_path / "o"
    assert run(str(edges), "--out", str(out), "--backend", "cpu", "--eps", "1e-14",
               "--iterations-max", "3") == 1
    assert "not converged" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("sem", ["focus", "bostrom"])
def test_names_are_kept_as_given(tmp_path: Path, sem: str) -> None:
    edges = tmp_path / "e.tsv"
    edges.write_text("Ünïcode\tbafy…\nbafy…\tÜnïcode\n")
    out = tmp_path / "o"
    assert run(str(edges), "--out", str(out), "--backend", "cpu", "--semantics", sem) == 0
    assert {r[0] for r in read(out)} == {"Ünïcode", "bafy…"}


def test_progress_bar_on_large_inputs(tmp_path: Path, capsys, monkeypatch) -> None:
    from focusflow.kernels import edgefile

    monkeypatch.setattr(edgefile, "PROGRESS_BYTES_MIN", 0)  # "large" for the test
    edges = tmp_path / "e.tsv"
    edges.write_text("a\tb\nb\tc\n")
    assert run(str(edges), "--out", str(tmp_path / "o"), "--backend", "cpu") == 0
    assert "e.tsv" in capsys.readouterr().err  # tqdm's bar, labelled with the file
    assert run(str(edges), "--out", str(tmp_path / "o"), "--backend", "cpu", "--quiet") == 0
    assert "e.tsv:" not in capsys.readouterr().err
