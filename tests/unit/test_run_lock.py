"""One run of a fleet at a time: a second `run` while one is in progress is refused (exit 4),
naming the run and its process; a run killed outright leaves a lock that the next run
recognises as stale and takes over. (The fleet's node accepts and never answers: a run of
it waits there, long enough to be run beside.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.runlock import FleetBusy, RunLock
from tests.harness.cli import fleetdeck
from tests.harness.profiles import UNREACHABLE

REPO = Path(__file__).resolve().parents[2]


def start_run(home: Path, profile: Path) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_STATE_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "console.app.cli", "run", str(profile), "deploy", "--yes"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def holder(lock: Path, timeout: float = 30) -> dict:
    """What the lock says once a run has named itself in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            said = json.loads(lock.read_text() or "{}")
        except (OSError, ValueError):
            said = {}
        if said.get("run"):
            return said
        time.sleep(0.02)
    raise AssertionError(f"no run named itself in {lock}")


def test_a_second_run_is_refused_naming_the_first_and_a_killed_runs_lock_is_taken_over(
    tmp_path,
):
    # the node accepts the connection and never answers: the first run waits on it
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    profile = tmp_path / "nowhere.toml"
    profile.write_text(
        UNREACHABLE.format(kh=tmp_path / "known_hosts", port=silent.getsockname()[1]).replace(
            "connect_timeout = 2", "connect_timeout = 60"
        )
    )
    lock = tmp_path / "fleetdeck" / "locks" / "nowhere.lock"
    first = start_run(tmp_path, profile)
    try:
        held = holder(lock)
        assert held["pid"] == first.pid and held["action"] == "deploy"
        second = fleetdeck(tmp_path, "run", str(profile), "deploy", "--yes")
        assert second.returncode == 4, second.stdout + second.stderr
        assert "fleet nowhere has a run in progress: deploy" in second.stderr
        assert held["run"] in second.stderr and f"process {first.pid}" in second.stderr
        assert "preflight" not in second.stdout  # it ran nothing
    finally:
        first.send_signal(signal.SIGKILL)  # killed outright: the kernel lets its lock go
        first.communicate(timeout=30)
        silent.close()  # now refused at once
    assert json.loads(lock.read_text())["run"] == held["run"]  # its file still names it
    after = fleetdeck(tmp_path, "run", str(profile), "deploy", "--yes")
    assert after.returncode == 4 and "in progress" not in after.stderr  # not refused
    said = f"deploy run {held['run']} (process {first.pid}, gone) was stale: taken over"
    assert said in after.stdout, after.stdout
    assert "connection refused" in after.stdout  # it ran
    assert lock.read_text() == ""  # and let go: it names nobody


def test_the_lock_is_the_fleets_and_goes_with_its_holder(tmp_path):
    one = RunLock("fleet/a b", tmp_path)
    assert one.acquire("deploy") is None
    one.name_run("r1")
    with pytest.raises(FleetBusy, match="deploy r1, process"):
        RunLock("fleet/a b", tmp_path).acquire("register")
    other = RunLock("another", tmp_path)  # another fleet: not held by it
    assert other.acquire("deploy") is None
    other.release()
    one.release()
    again = RunLock("fleet/a b", tmp_path)
    assert again.acquire("register") is None  # released cleanly: no stale note
    again.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["another.lock", "fleet_a_b.lock"]
    assert os.stat(tmp_path / "another.lock").st_mode & 0o077 == 0
