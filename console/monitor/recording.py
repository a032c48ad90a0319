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
import threading
import time
from pathlib import Path
from typing import IO

from console.monitor.observe import Observation
from console.monitor.tracker import Tracker
from console.profile import Profile, ProfileError, loads
from console.state import FleetState

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
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordingError(f"{path}: cannot be read ({exc})") from None
        try:
            header = json.loads(lines[0]) if lines else {}
        except ValueError:
            header = {}
        if header.get("fleetdeck_recording") != FORMAT:
            raise RecordingError(
                f"{path}: not a fleetdeck recording (make one with fleetdeck status PROFILE "
                "--watch --record FILE)"
            )
        try:
            self.profile = loads(header["profile"], f"{path} (its profile)")
        except ProfileError as exc:
            raise RecordingError(str(exc)) from None
        self.observations: list[Observation] = []
        for number, line in enumerate(lines[1:], start=2):
            try:
                self.observations.append(Observation.from_json(line, source="replay"))
            except (ValueError, KeyError, TypeError):
                if number != len(lines):  # a last line cut by an interruption is expected
                    raise RecordingError(f"{path}:{number}: damaged observation") from None
        self.started = float(header.get("started") or 0.0)
        if self.observations:
            self.started = min(self.started or self.observations[0].at, self.observations[0].at)
        self.interval = float(header.get("interval") or 2.0)
        self.clock = ReplayClock(self.started, speed)
        self.tracker = Tracker(self.profile.model, self.interval, self.clock.now, on_update)
        self._next = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = False

    @property
    def end(self) -> float:
        return self.observations[-1].at if self.observations else self.started

    def state_at(self, at: float) -> FleetState:
        """The fleet as it was at recorded time `at` (for reviews and tests: no waiting)."""
        while self._next < len(self.observations) and self.observations[self._next].at <= at:
            self.tracker.observe(self.observations[self._next])
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
            self.tracker.observe(obs)
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
