"""Recordings of what the console saw, and their replay.

`fleetdeck status --record FILE` writes a header line (the profile, the interval) and then
every observation the Tracker receives, one JSON line each, as they come. `fleetdeck
replay FILE` feeds them to a Tracker of its own at their recorded pace (or faster), on a
clock that reads the recorded time: node states, staleness and alerts come out as they
did, at the same moments. An incident can be reviewed afterwards; screens can be tested
from recordings.
"""

from __future__ import annotations

import json
import math
import os
import stat
import threading
import time
from pathlib import Path
from typing import IO

from console.core.monitor.observe import Observation
from console.core.monitor.readings import ReadingError
from console.core.monitor.tracker import Tracker
from console.core.profile import Profile, ProfileError, loads
from console.core.state import FleetState

FORMAT = 1


class RecordingError(Exception):
    """A file that is not a fleetdeck recording, or a damaged one (the message says which)."""


class Recorder:
    """A Tracker hook that appends each observation to a file (flushed line by line, so
    an interrupted recording keeps everything up to the interruption)."""

    def __init__(self, path: Path, profile: Profile, interval: float) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        header = {
            "fleetdeck_recording": FORMAT,
            "fleet": profile.model.fleet.name,
            "interval": interval,
            "started": time.time(),
            "profile": profile.text(),  # references only, never secrets (profiles hold none)
        }
        self._write(json.dumps(header))

    def __call__(self, obs: Observation) -> None:
        self._write(obs.to_json())

    def _write(self, line: str) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class ReplayClock:
    """The recorded time, running at `speed` from where the replay stands."""

    def __init__(self, start: float, speed: float) -> None:
        self.speed = speed
        self._at, self._mono = start, time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._at + (time.monotonic() - self._mono) * self.speed

    def set(self, at: float, speed: float | None = None) -> None:
        with self._lock:
            self._at, self._mono = at, time.monotonic()
            if speed is not None:
                self.speed = speed


class Replay:
    """A recording as a status source: the same interface the console reads a Monitor by
    (start, stop, snapshot, wait_complete), read-only by nature."""

    def __init__(self, path: Path, speed: float = 1.0, on_update=None) -> None:
        self.path = path
        lines = _lines(path)
        header = _header(path, lines[0] if lines else "")
        try:
            self.profile = loads(header["profile"], f"{path} (its profile)")
        except ProfileError as exc:
            raise RecordingError(str(exc)) from None
        # what cannot be read is skipped, and said: (line, why), the first few
        self.skipped: list[tuple[int, str]] = []
        self.skipped_count = 0
        self.observations: list[Observation] = []
        for number, line in enumerate(lines[1:], start=2):
            obs, why = _observation(line)
            if obs is not None:
                self.observations.append(obs)
            elif number != len(lines):  # a last line cut by an interruption is expected
                self._skip(number, why)
        self.started = header["started"] or 0.0
        if self.observations:
            self.started = min(self.started or self.observations[0].at, self.observations[0].at)
        self.interval = header["interval"] or 2.0
        self.clock = ReplayClock(self.started, speed)
        self.tracker = Tracker(self.profile.model, self.interval, self.clock.now, on_update)
        self._next = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = False

    def _skip(self, number: int, why: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 5:
            self.skipped.append((number, why))

    def skipped_text(self) -> str | None:
        """What was skipped, in words (None when nothing was)."""
        if not self.skipped_count:
            return None
        first = "; ".join(f"{self.path}:{n}: {why}" for n, why in self.skipped)
        return f"{self.skipped_count} observations skipped, unreadable ({first})"

    def _take(self, index: int) -> None:
        """One observation into the tracker; one the tracker cannot take is skipped (a
        recording is a file from anywhere), never the end of the replay."""
        try:
            self.tracker.observe(self.observations[index])
        except Exception as exc:  # noqa: BLE001 - a damaged line must not end the replay
            self._skip(index + 2, f"not an observation the console can take ({type(exc).__name__})")

    @property
    def end(self) -> float:
        return self.observations[-1].at if self.observations else self.started

    def state_at(self, at: float) -> FleetState:
        """The fleet as it was at recorded time `at` (for reviews and tests: no waiting)."""
        while self._next < len(self.observations) and self.observations[self._next].at <= at:
            self._take(self._next)
            self._next += 1
        return self.tracker.snapshot(at)

    # -- the live interface
    def start(self) -> None:
        self._thread = threading.Thread(target=self._play, daemon=True, name="replay")
        self._thread.start()

    def _play(self) -> None:
        for i in range(self._next, len(self.observations)):
            obs = self.observations[i]
            wait = (obs.at - self.clock.now()) / max(self.clock.speed, 1e-9)
            if wait > 0 and self._stop.wait(wait):
                return
            self._take(i)
            self._next = i + 1
        self.clock.set(self.end, speed=0.0)  # the recording ends: time stands at its end
        self.finished = True

    def snapshot(self) -> FleetState:
        return self.tracker.snapshot(self.clock.now())

    def wait_complete(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._next == 0 and self.observations:
            time.sleep(0.05)
        return self._next > 0 or not self.observations

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


MAX_BYTES = 256 << 20  # a replay holds the whole recording: a day of 100 nodes fits
# times a recording may hold: after 2001 and before 2286 (seconds since 1970)
EARLIEST, LATEST = 1e9, 1e10


def _lines(path: Path) -> list[str]:
    """The recording's lines: a regular file only (a FIFO would hang the reader, a link to
    /dev/zero fill memory), and no larger than MAX_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RecordingError(f"{path}: not a regular file (a recording is one)")
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RecordingError(
            f"{path}: larger than a replay reads ({MAX_BYTES >> 20} MiB): replay a shorter "
            "recording (status --record FILE for the time that matters)"
        )
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _header(path: Path, line: str) -> dict:
    """The first line, checked field by field: fleetdeck_recording, profile, started,
    interval (the last two optional)."""
    try:
        header = json.loads(line) if line else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("fleetdeck_recording") != FORMAT:
        raise RecordingError(
            f"{path}: not a fleetdeck recording (make one with fleetdeck status PROFILE "
            "--watch --record FILE)"
        )
    if not isinstance(header.get("profile"), str):
        raise RecordingError(f"{path}:1: the header has no profile (a recording names one)")
    out = dict(header)
    for name, low, high in (("started", EARLIEST, LATEST), ("interval", 0.1, 86400.0)):
        value = header.get(name)
        if value is None:
            out[name] = None
            continue
        if not _number_between(value, low, high):
            raise RecordingError(
                f"{path}:1: {name} = {json.dumps(value)[:40]} in the header: a number of "
                f"seconds from {low:g} to {high:g} was expected"
            )
        out[name] = float(value)
    return out


def _observation(line: str) -> tuple[Observation | None, str]:
    """An observation line, or None and why it cannot be one."""
    try:
        doc = json.loads(line)
    except ValueError:
        return None, "not JSON"
    if not isinstance(doc, dict):
        return None, "not a JSON object"
    if not isinstance(doc.get("node"), str) or not isinstance(doc.get("kind"), str):
        return None, "no node or kind"
    if not _number_between(doc.get("at"), EARLIEST, LATEST):
        return None, f"at = {json.dumps(doc.get('at'))[:40]} is not a time"
    data = doc.get("data") or {}
    if not isinstance(data, dict):
        return None, "its data is not an object"
    try:
        return Observation(doc["node"], float(doc["at"]), "replay", doc["kind"], data), ""
    except ReadingError as exc:
        return None, str(exc)


def _number_between(value: object, low: float, high: float) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )
