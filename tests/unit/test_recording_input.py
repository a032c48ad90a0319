"""A recording is a file from another machine: `Replay` reads it as one. A header of the
wrong shape is named (file, line 1, field); an observation that cannot be read is skipped
and counted, never a traceback in the replay thread; a FIFO, a link to /dev/zero or a file
past the size bound is refused before it is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from console.core.monitor import recording
from console.core.monitor.recording import RecordingError, Replay

REPO = Path(__file__).resolve().parents[2]
PROFILE = (REPO / "tests" / "data" / "sim-small.toml").read_text()
NOW = 1_796_000_000.0


def header(**fields) -> str:
    base = {"fleetdeck_recording": 1, "fleet": "x", "interval": 2.0, "started": NOW}
    return json.dumps(base | {"profile": PROFILE} | fields)


def observation(at: float = NOW + 1, node: str = "ml1", data=None) -> str:
    doc = {"node": node, "at": at, "source": "ssh", "kind": "unreachable"}
    return json.dumps(doc | {"data": {"error": "refused"} if data is None else data})


@pytest.mark.parametrize(
    ("first", "said"),
    [
        ("[1, 2]", "not a fleetdeck recording"),
        ("42", "not a fleetdeck recording"),
        (json.dumps({"fleetdeck_recording": 1}), ":1: the header has no profile"),
        (header(profile=["a list"]), ":1: the header has no profile"),
        (header(started="yesterday"), ':1: started = "yesterday" in the header'),
        (header(interval="fast"), ':1: interval = "fast" in the header'),
        (header(interval=0), ":1: interval = 0 in the header"),
        (header(started=1e300), ":1: started = 1e+300 in the header"),
    ],
    ids=["list", "number", "no-profile", "profile-list", "started", "interval", "zero", "1e300"],
)
def test_a_header_of_the_wrong_shape_is_named(tmp_path, first, said):
    path = tmp_path / "r.jsonl"
    path.write_text(first + "\n" + observation() + "\n")
    with pytest.raises(RecordingError) as refused:
        Replay(path)
    assert said in str(refused.value) and str(path) in str(refused.value)


def test_observations_that_cannot_be_read_are_skipped_and_counted(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [
        header(),
        observation(),
        observation(data="a string"),  # line 3
        observation(at=1e300),  # line 4: a wait of 1e300 s overflowed the replay thread
        "[]",  # line 5
        observation(at=float("nan")),  # line 6
        observation(node="ml2", data={"error": {"nested": ["odd"]}}),  # taken: it is text
        observation(at=NOW + 2),
        '{"node": "ml1", "at": ',  # the last line, cut by an interruption: not counted
    ]
    path.write_text("\n".join(lines) + "\n")
    replay = Replay(path, speed=1000)
    assert replay.skipped_count == 4, replay.skipped
    assert [n for n, _ in replay.skipped] == [3, 4, 5, 6]
    text = replay.skipped_text()
    assert f"{path}:3: its data is not an object" in text and f"{path}:4: at = " in text
    crashed: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: crashed.append(args.exc_value)
    try:
        replay.start()
        deadline = time.monotonic() + 10
        while not replay.finished and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        replay.stop()
        threading.excepthook = previous
    assert replay.finished and not crashed
    assert replay.snapshot().nodes["ml1"].reachable is False


def test_a_fifo_a_device_behind_a_link_and_a_huge_file_are_refused_unread(tmp_path, monkeypatch):
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(RecordingError, match="not a regular file"):
        Replay(fifo)  # opened without blocking: nothing writes to it
    zero = tmp_path / "zero.jsonl"
    zero.symlink_to("/dev/zero")
    with pytest.raises(RecordingError, match="not a regular file"):
        Replay(zero)
    big = tmp_path / "big.jsonl"
    big.write_text(header() + "\n" + (observation() + "\n") * 50)
    monkeypatch.setattr(recording, "MAX_BYTES", 4096)
    with pytest.raises(RecordingError, match="larger than a replay reads"):
        Replay(big)


def test_replay_of_a_broken_recording_exits_1_with_its_reason(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(header(started="yesterday") + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "console.app.cli", "replay", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"{path}:1: started" in done.stderr and "Traceback" not in done.stderr
