"""A live node's recording replays inside ``focusflow.sim.Simulation`` (issue 15 item 5):
the same frames, divergences named at their step, ``--until``/``--inspect``/``--diff``
through ``focusflow replay``, and an unusable file refused with a clear error."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import anyio
import blake3
import pytest

from focusflow.chaos import record_replay
from focusflow.chaos.record_replay import RecordingError, load_recording, replay_recording
from focusflow.cli import main
from focusflow.sim import Simulation
from focusflow.wire import decode_envelope, encode_envelope_fields, encode_message
from tests.chaos.test_record import _record_live
from tests.wire.msgs import Req

TALLY = "node:/user/sup/tally"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("rec") / "node.rec.gz"
    live = anyio.run(_record_live, path)
    return path, live


def _doc(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def _write(doc: dict[str, Any], path: Path) -> Path:
    with gzip.open(path, "wt") as fh:
        json.dump(doc, fh)
    return path


def test_the_replay_runs_in_the_simulation_and_sends_the_same_frames(
        recording: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    path, live = recording
    sims: list[Simulation] = []

    class Spy(Simulation):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            sims.append(self)

    monkeypatch.setattr(record_replay, "Simulation", Spy)
    report = replay_recording(path, inspect=TALLY)
    assert report["reproduced"], report
    doc = load_recording(path)
    # the same frames, one by one (step, destination, size, digest) and in all
    assert report["first_output_difference"] is None and report["outputs_hash_equal"]
    assert report["outputs"] == doc["outputs"] > 0
    assert report["inspect"]["state"] == live
    # ... by the simulator chaos runs use: its scheduler ran every recorded step
    (sim,) = sims
    assert isinstance(sim, Simulation) and sim.scheduler == "fifo"
    assert sim.events == doc["steps"] == report["stopped_at_step"]
    assert sim.node("node")._cells["/user/sup/tally"].actor is not None


def test_a_tampered_timer_is_reported_at_its_step(recording: tuple[Path, Any],
                                                  tmp_path: Path) -> None:
    doc = _doc(recording[0])
    k = [i for i, e in enumerate(doc["events"]) if e[0] == "T"][2]
    step = doc["events"][k][1]
    doc["events"][k][2] = 999_999  # a timer the node never armed
    report = replay_recording(_write(doc, tmp_path / "bad.rec.gz"))
    assert not report["reproduced"] and report["first_mismatch"] == step + 1
    assert "timer 999999" in report["error"] and report["stopped_at_step"] == step


def test_a_tampered_frame_is_reported_at_the_reply_it_changes(
        recording: tuple[Path, Any], tmp_path: Path) -> None:
    doc = _doc(recording[0])
    good = replay_recording(recording[0])
    assert good["reproduced"]
    # the peer's request 5 becomes request 7: the tally's answer to it differs
    k, env = next((i, decode_envelope(base64.b64decode(e[2])))
                  for i, e in enumerate(doc["events"]) if e[0] == "F"
                  and b"r5" in base64.b64decode(e[2]))
    type_id, data = encode_message(Req(7, "r5"))
    frame = encode_envelope_fields(env.kind, env.correlation_id, env.sender_node,
                                   env.sender_path, env.receiver_node, env.receiver_path,
                                   type_id, data)
    doc["events"][k][2] = base64.b64encode(frame).decode()
    report = replay_recording(_write(doc, tmp_path / "bad.rec.gz"))
    assert not report["reproduced"] and not report["outputs_hash_equal"]
    diff = report["first_output_difference"]
    # the first frame sent differently is the answer to that request, and the first
    # divergence is named at the step that sent it (after the frame came in)
    recorded = doc["sent"][diff["index"]]
    assert diff["recorded"] == recorded and diff["replayed"] != recorded
    assert report["first_mismatch"] == recorded[0] > doc["events"][k][1]


def test_a_recorded_frame_digest_names_the_frame(recording: tuple[Path, Any],
                                                 tmp_path: Path) -> None:
    doc = _doc(recording[0])
    doc["sent"][3][3] = "0" * 16
    report = replay_recording(_write(doc, tmp_path / "bad.rec.gz"))
    assert not report["reproduced"]
    assert report["first_output_difference"]["index"] == 3
    assert report["first_mismatch"] == doc["sent"][3][0]
    # an older recording (rows without a digest) is compared on what it has
    for row in doc["sent"]:
        del row[3:]
    assert replay_recording(_write(doc, tmp_path / "old.rec.gz"))["reproduced"]


def test_cli_until_inspect_and_diff(recording: tuple[Path, Any], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = recording[0]
    assert main(["replay", str(path), "--until", "12", "--inspect", TALLY, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stopped_at_step"] == 12 and not report["finished"]
    assert report["reproduced"] and report["inspect"]["class"] == "Tally"
    assert main(["replay", str(path), "--inspect", "node"]) == 0
    out = capsys.readouterr().out
    assert "reproduced exactly" in out and "/user/sup/tally" in out
    assert "focusflow.sim.Simulation" in out

    assert main(["replay", "--diff", str(path), str(path)]) == 0
    assert "identical" in capsys.readouterr().out
    doc = _doc(path)
    doc["seed"] += 1  # other random draws: other answers
    other = _write(doc, tmp_path / "other.rec.gz")
    assert main(["replay", "--diff", str(path), str(other), "--json"]) == 1
    diff = json.loads(capsys.readouterr().out)
    assert diff["first_divergence"] is not None and diff["a_records"][-1]["what"].startswith(
        "send tell Resp node:/user/sup/tally -> peer:/user/sink")
    assert main(["replay", "--diff", str(path), str(other)]) == 1
    assert "first divergence at record" in capsys.readouterr().out
    assert main(["replay", str(other)]) == 1
    assert "DID NOT REPRODUCE: first divergence at step" in capsys.readouterr().out


def _hostile(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    def edit(**kw: Any) -> dict[str, Any]:
        return dict(json.loads(json.dumps(doc)), **kw)

    frames = [e for e in doc["events"] if e[0] == "F"]
    return [
        ("boot", edit(boot="os:system")),
        ("boot", edit(boot="no.such.module:boot")),
        ("boot", edit(boot="__import__('os')")),
        ("event", edit(events=[["F", 0, "!!not base64!!"]])),
        ("event", edit(events=[["Z", 0, 1]])),
        ("event", edit(events=[["F", 5, frames[0][2]], ["F", 1, frames[1][2]]])),
        ("ask", edit(events=[["A", 0, "node", "/user/x", 1 << 40, "AAAA", 10]])),
        ("seed", edit(seed="x")),
        ("knobs", edit(knobs={"messages_per_step": 10**9})),
        ("clock", edit(clock=[1, "2"])),
        ("sent", edit(sent=[[1]])),
        ("steps", edit(steps=-1)),
    ]


def test_unusable_recordings_give_a_clear_error(recording: tuple[Path, Any], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    raw = recording[0].read_bytes()
    files = {"truncated": raw[: len(raw) // 2], "garbage": b"\x1f\x8b" + bytes(range(200)),
             "not-json": gzip.compress(b'{"format": "focusflow.chaos.recording.v1", '),
             "other-format": gzip.compress(json.dumps(
                 {"format": "focusflow.chaos.recording.v0"}).encode()),
             "a-list": gzip.compress(b"[1, 2]")}
    doc = _doc(recording[0])
    for i, (what, bad) in enumerate(_hostile(doc)):
        files[f"{what}-{i}"] = gzip.compress(json.dumps(bad).encode())
    for name, data in files.items():
        path = tmp_path / f"{name}.rec.gz"
        path.write_bytes(data)
        assert main(["replay", str(path)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("focusflow replay: ") and "Traceback" not in err, (name, err)
        assert len(err.splitlines()) == 1, (name, err)
    with pytest.raises(RecordingError, match="standard-library"):
        load_recording(tmp_path / "boot-0.rec.gz")
    with pytest.raises(RecordingError, match="step order"):
        load_recording(tmp_path / "event-5.rec.gz")


def _cut(path: Path, step: int, out: Path) -> Path:
    """The recording as if the live node had been saved right after ``step`` steps (and
    the inputs that came in after that step): what it consumed and sent up to there."""
    doc = _doc(path)
    upto = replay_recording(path, until_step=step, keep_frames=True)
    assert upto["reproduced"], upto
    out_hash = blake3.blake3(b"focusflow.chaos.outputs")
    for (_, dst, size, _), frame in zip(upto["_sent"], upto["_frames"], strict=True):
        out_hash.update(dst.encode() + b"\0" + size.to_bytes(4, "little") + frame)
    doc.update(steps=step, events=[e for e in doc["events"] if e[1] < step or (
        e[1] == step and e[0] != "T")], clock=doc["clock"][:len(doc["clock"])
                                                            - upto["clock_reads_left"]],
               reads=doc["reads"][:len(doc["reads"]) - upto["storage_reads_left"]],
               outputs=upto["outputs"], sent=upto["_sent"], outputs_hash=out_hash.hexdigest())
    return _write(doc, out)


def test_a_thread_that_completes_after_the_last_step_is_consumed(
        recording: tuple[Path, Any], tmp_path: Path) -> None:
    # Seen as a flaky live-record test: the recording was saved just after a
    # run_blocking call completed (a "B" input after the last step), which the replay
    # left unconsumed.
    doc = _doc(recording[0])
    step = next(e[1] for e in doc["events"] if e[0] == "B")
    report = replay_recording(_cut(recording[0], step, tmp_path / "cut.rec.gz"))
    assert report["reproduced"] and report["inputs_left"] == 0, report
    assert report["finished"] and report["stopped_at_step"] == step
