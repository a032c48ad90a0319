"""One run at a time on a fleet from this machine: two `run deploy` at once both ran every
step on every node. The lock is an flock on a file in the state dir, so the kernel lets it
go with its process however that ends; the file says which run holds it (its action, run
id, process and start), and what a killed run left there is recognised as stale.

Runs of one fleet started from two machines are not seen by each other here."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from pathlib import Path

from console.core.journal import state_dir


class FleetBusy(Exception):
    """Another run of this fleet is in progress; the message names it and what to do."""


class RunLock:
    def __init__(self, fleet: str, directory: Path | None = None) -> None:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", fleet) or "_"
        self.fleet = fleet
        self.path = (directory or state_dir() / "locks") / f"{safe}.lock"
        self._fd: int | None = None
        self._held: dict = {}

    def acquire(self, action: str) -> str | None:
        """Hold the fleet, or raise FleetBusy. Returns a note when a run that was killed
        left the lock's file behind (it held nothing: taken over)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise FleetBusy(self._busy(holder)) from None
        left = _read(fd)
        self._fd = fd
        self._held = {"action": action, "pid": os.getpid(), "started": time.time(), "run": ""}
        self._write()
        if left.get("pid"):
            return (
                f"a lock of fleet {self.fleet} left by {left.get('action', 'a run')} run "
                f"{left.get('run') or '(unnamed)'} (process {left['pid']}, gone) was stale: "
                "taken over"
            )
        return None

    def name_run(self, run_id: str) -> None:
        """The run's id, once the journal gave it one (what a refused run is told)."""
        if self._fd is not None:
            self._held["run"] = run_id
            self._write()

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # a released lock names nobody
        os.close(self._fd)  # closing lets the flock go
        self._fd = None

    def _write(self) -> None:
        assert self._fd is not None
        data = json.dumps(self._held).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def _busy(self, holder: dict) -> str:
        since = holder.get("started")
        when = time.strftime("%H:%M:%S", time.localtime(since)) if since else "a moment ago"
        run = holder.get("run") or "(starting)"
        return (
            f"fleet {self.fleet} has a run in progress: {holder.get('action', 'a run')} "
            f"{run}, process {holder.get('pid', '?')}, since {when}. One run at a time: "
            "wait for it to end (or stop it with Ctrl-C where it runs), then run again"
        )


def _read(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        found = json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
