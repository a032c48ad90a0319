"""Ctrl-C during `fleetdeck run … deploy`: the first cancels (running steps finish, nothing
new starts, exit 130, the run recorded "cancelled" and resumable), a second aborts the
running steps; and Ctrl-C during `fleetdeck sim up` stops the fleet it was starting."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.sim.control import alive
from tests.harness.deployfleet import embedded_deploy_fleet, fleetdeck
from tests.harness.procs import as_from_a_terminal, sigint_state

pytestmark = pytest.mark.integration


def start_run(env: dict[str, str], profile: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "console.app.cli", "run", str(profile), "deploy", "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def read_until(proc: subprocess.Popen, text: str, timeout: float = 60) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never came:\n{''.join(lines)}")


def steps(state_dir: Path, run_id: str) -> dict[tuple[str, str], str]:
    with contextlib.closing(sqlite3.connect(state_dir / "fleetdeck" / "journal.sqlite")) as db:
        rows = db.execute("SELECT node, step, state FROM steps WHERE run_id=?", (run_id,))
        return {(n, s): st for n, s, st in rows}


def test_ctrl_c_cancels_and_lets_running_steps_finish_then_resume(short_tmp):
    with embedded_deploy_fleet(short_tmp) as fleet:
        profile = short_tmp / "sim" / "profile.toml"
        # slow model downloads: the interrupt lands while a step runs
        for hf in (short_tmp / "sim" / "nodes").glob("*/.sim"):
            (hf / "hf.json").write_text('{"delay": 1.5}')
        proc = start_run(fleet.env, profile)
        before = read_until(proc, "models        | »")
        running = before[-1].split()[0]  # the node whose download has started
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        text = "".join(before) + out
        assert proc.returncode == 130, text
        assert "internal error" not in text and "Traceback" not in text
        assert "cancelling: running steps finish" in text
        run_id = next(line.split()[1] for line in text.splitlines() if line.startswith("run "))
        run_id = run_id.rstrip(":")
        states = steps(short_tmp / "state", run_id)
        assert states[(running, "models")] == "done", states  # it finished, not killed
        assert "cancelled" in states.values()
        assert states[(running, "validation")] == "cancelled"
        journal = fleetdeck(fleet.env, "journal", str(profile))
        assert f"{run_id}  deploy" in journal.stdout and "cancelled" in journal.stdout
        for hf in (short_tmp / "sim" / "nodes").glob("*/.sim/hf.json"):
            hf.unlink()
        resumed = fleetdeck(fleet.env, "run", str(profile), "deploy", "--yes", "--resume")
        assert resumed.returncode == 0, resumed.stdout[-3000:]
        assert ": succeeded" in resumed.stdout
        assert resumed.stdout.startswith(f"resuming run {run_id} (deploy, started ")
        assert "cancelled)" in resumed.stdout.splitlines()[0]
        # converged: its plan says so, even when a check's channel is refused on the way
        # (a loaded sshd); the check is asked again, not reported as "cannot be checked"
        sim = str(short_tmp / "sim")
        assert fleetdeck(fleet.env, "sim", "fault", sim, running, "channel-drop").returncode == 0
        assert "channel-drop" in fleetdeck(fleet.env, "sim", "status", sim).stdout
        plan = fleetdeck(fleet.env, "plan", str(profile), "deploy", "--json")
        items = json.loads(plan.stdout)["items"]
        assert not [i for i in items if i["status"] in ("error", "change")], items
        assert "channel-drop" not in fleetdeck(fleet.env, "sim", "status", sim).stdout  # taken


def test_sigterm_cancels_as_ctrl_c_does_and_a_second_signal_aborts(short_tmp):
    with embedded_deploy_fleet(short_tmp) as fleet:
        profile = short_tmp / "sim" / "profile.toml"
        # downloads long enough that the run is still in them when the second signal comes
        # (3 s once ran out on a loaded machine between the two)
        for hf in (short_tmp / "sim" / "nodes").glob("*/.sim"):
            (hf / "hf.json").write_text('{"delay": 8}')
        proc = start_run(fleet.env, profile)
        before = read_until(proc, "models        | »")
        proc.send_signal(signal.SIGTERM)  # a service manager's stop, or `kill`: a Ctrl-C
        said = read_until(proc, "cancelling: running steps finish")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        text = "".join(before + said) + out
        assert proc.returncode == 130, text  # not 143: cancelled, and recorded as such
        assert "aborting: running steps stop" in text and "internal error" not in text, text[-3000:]
        run_id = next(line.split()[1] for line in text.splitlines() if line.startswith("run "))
        journal = fleetdeck(fleet.env, "journal", str(profile))
        assert f"{run_id.rstrip(':')}  deploy" in journal.stdout and "cancelled" in journal.stdout


def test_ctrl_c_during_sim_up_stops_the_fleet_it_started(short_tmp):
    root = short_tmp / "sim"
    up = [sys.executable, "-m", "console.app.cli", "sim", "up", "profiles/demo.toml"]
    proc = subprocess.Popen(
        as_from_a_terminal([*up, "--dir", str(root)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 30
    while not (root / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = int((root / "pid").read_text())
    # the fleet is held while it starts, so that the Ctrl-C lands then, however loaded the
    # machine (a fleet that came up first would leave nothing to stop)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert not (root / "ready").exists(), "the fleet came up before it could be held"
        proc.send_signal(signal.SIGINT)
        # `sim up` asks the fleet to stop: a SIGTERM, pending while it is held (or at once
        # fatal, when the daemon is too early in its start to have its handler)
        deadline = time.monotonic() + 30
        while not asked_to_stop(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert asked_to_stop(pid), f"sim up was not stopped ({sigint_state(proc.pid)})"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Aborted" not in out and "stopped" in out
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "the fleet went on starting in the background"


def asked_to_stop(pid: int) -> bool:
    """Whether the held process `pid` has a SIGTERM waiting, or has ended of it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    for line in status.splitlines():
        if line.startswith("ShdPnd:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
        if line.startswith("State:") and "Z" in line.split()[1]:
            return True  # ended, not yet reaped
    return False
