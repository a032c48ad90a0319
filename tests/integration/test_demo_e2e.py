"""`fleetdeck demo` under tmux, driven as a person would: open a node, inject a fault from
the menu, see the alert on the triage screen within 5 seconds, quit, nothing left behind."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from console.sim.control import alive
from tests.harness.terminal import Terminal
from tests.integration.test_sim_cli import listening_on

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_demo_open_node_inject_fault_triage_quit(short_tmp):
    term = Terminal("fd-e2e")
    root = short_tmp / "demo"  # its sockets live under it: a short path
    term.start(f"{sys.executable} -m console.app.cli demo --dir {root}", cwd=REPO)
    try:
        term.wait_for("up 17/17", 90)
        # the console's own cost is under the fleet's summary: when it, not the fleet, is
        # the problem
        screen = term.wait_for("% CPU", 15)
        assert re.search(r"console \d+% CPU \d+ MiB", screen), screen
        info = json.loads((root / "ready").read_text())
        term.keys("Down", "Down", "Enter")
        term.wait_for("g1-ml2  ml · gonka · cluster gonka1", 10)
        term.keys("F")
        term.wait_for("Rehearse an incident on g1-ml2", 10)
        term.keys("Down", "Down", "Down", "Enter")  # gpu-hot
        injected = time.monotonic()
        term.wait_for("g1-ml2: gpu-hot injected", 10)
        term.keys("t")
        screen = term.wait_for("at up to 92 °C", 5 - (time.monotonic() - injected))
        assert "critical" in screen and "g1-ml2" in screen
        # and nothing else: a fresh demo is healthy (its network nodes' own ML nodes, at
        # compose's `inference`, once read FAILED and put two false criticals on screen)
        rows = [r for r in screen.splitlines() if re.match(r"\s*(critical|warning|info)\s", r)]
        assert rows and all("g1-ml2" in r for r in rows), screen
        # esc, esc and / typed at once (tmux's escape-time joins an esc to the next key,
        # as Alt+key): back through the node screen to the fleet, and its filter opens;
        # not a / lost on the triage screen
        term.keys("Escape", "Escape", "/")
        term.wait_for("filter: words or regex", 5)
        term.keys("Escape")
        # the filter closed before the next key: an esc and a q sent at once under load
        # arrive as Alt+q (tmux's escape-time), which quits nothing
        term.wait_gone("filter: words or regex", 10)
        term.keys("q")  # a fault is injected: it asks first
        term.wait_for("Faults are injected in this rehearsal", 10)
        term.keys("y")
        assert term.gone(30), "the demo did not quit"
    finally:
        term.stop()
    deadline = time.monotonic() + 20
    while alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(info["pid"]), "the simulated fleet outlived the demo"
    assert listening_on(f"127.{info['block']}.") == []
    assert listening_on(f"127.{info['block'] + 1}.") == []
