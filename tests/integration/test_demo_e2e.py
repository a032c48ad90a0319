"""`fleetdeck demo` under tmux, driven as a person would: open a node, inject a fault from
the menu, see the alert on the triage screen within 5 seconds, quit, nothing left behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.sim.control import alive
from tests.conftest import unavailable
from tests.integration.test_sim_cli import listening_on

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def wait_for_text(session: str, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen:\n{screen}")


def test_demo_open_node_inject_fault_triage_quit(tmp_path):
    if shutil.which("tmux") is None:
        unavailable("tmux is not installed")
    session = f"fd-e2e-{os.getpid()}"
    root = tmp_path / "demo"
    cmd = f"{sys.executable} -m console.cli demo --dir {root}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", "-c", str(REPO), cmd],
        check=True,
    )
    try:
        wait_for_text(session, "up 15/15", 90)
        # the console's own cost is under the fleet's summary: when it, not the fleet, is
        # the problem
        screen = wait_for_text(session, "% CPU", 15)
        assert re.search(r"console \d+% CPU \d+ MiB", screen), screen
        info = json.loads((root / "ready").read_text())
        tmux("send-keys", "-t", session, "Down", "Down", "Enter")
        wait_for_text(session, "g1-ml2  ml · gonka · cluster gonka1", 10)
        tmux("send-keys", "-t", session, "F")
        wait_for_text(session, "Rehearse an incident on g1-ml2", 10)
        tmux("send-keys", "-t", session, "Down", "Down", "Down", "Enter")  # gpu-hot
        injected = time.monotonic()
        wait_for_text(session, "g1-ml2: gpu-hot injected", 10)
        tmux("send-keys", "-t", session, "t")
        screen = wait_for_text(session, "at up to 92 °C", 5 - (time.monotonic() - injected))
        assert "critical" in screen and "g1-ml2" in screen
        # and nothing else: a fresh demo is healthy (its network nodes' own ML nodes, at
        # compose's `inference`, once read FAILED and put two false criticals on screen)
        rows = [r for r in screen.splitlines() if re.match(r"\s*(critical|warning|info)\s", r)]
        assert rows and all("g1-ml2" in r for r in rows), screen
        # esc, esc and / typed at once (tmux's escape-time joins an esc to the next key,
        # as Alt+key): back through the node screen to the fleet, and its filter opens;
        # not a / lost on the triage screen
        tmux("send-keys", "-t", session, "Escape", "Escape", "/")
        wait_for_text(session, "filter: words or regex", 5)
        tmux("send-keys", "-t", session, "Escape")
        tmux("send-keys", "-t", session, "q")  # a fault is injected: it asks first
        wait_for_text(session, "Faults are injected in this rehearsal", 10)
        tmux("send-keys", "-t", session, "y")
        deadline = time.monotonic() + 30
        while session in tmux("ls") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session not in tmux("ls"), "the demo did not quit"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    deadline = time.monotonic() + 20
    while alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(info["pid"]), "the simulated fleet outlived the demo"
    assert listening_on(f"127.{info['block']}.") == []
    assert listening_on(f"127.{info['block'] + 1}.") == []
