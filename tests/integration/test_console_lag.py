"""fleetdeck's own lag is not a fleet outage: a status --watch stopped for a while (its
machine starved) says that it lagged, and does not call every node unreachable."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from console.core.profile import load
from tests.harness.procs import as_from_a_terminal, sigint_state
from tests.harness.simclient import small_sim_fleet

pytestmark = pytest.mark.integration


def test_a_stopped_console_says_it_lagged_not_that_the_hosts_hung(tmp_path_factory):
    with small_sim_fleet(tmp_path_factory.mktemp("lag-sim")) as fleet:
        profile = load(fleet.profile_path)
        profile.set_value(("alerts", "probe_interval_s"), 1.0)
        path = tmp_path_factory.mktemp("lag") / "p.toml"
        profile.save(path)
        watch = subprocess.Popen(
            as_from_a_terminal(
                [sys.executable, "-m", "console.app.cli", "status", "--json", "--watch", str(path)]
            ),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert watch.stdout is not None
            first = json.loads(watch.stdout.readline())
            assert not [a for a in first["alerts"] if a["kind"] == "unreachable"]
            watch.send_signal(signal.SIGSTOP)  # the console's machine starves it for 6 s
            time.sleep(6)
            watch.send_signal(signal.SIGCONT)
            after = [json.loads(watch.stdout.readline()) for _ in range(2)]
        finally:
            watch.send_signal(signal.SIGINT)
            try:  # read what it still prints: a full pipe would hold it
                watch.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                state = sigint_state(watch.pid)
                watch.kill()
                raise AssertionError(f"status --watch did not stop on Ctrl-C ({state})") from None
    for state in after:
        kinds = {a["kind"] for a in state["alerts"]}
        assert "unreachable" not in kinds, state["alerts"]
    lagged = [a for s in after for a in s["alerts"] if a["kind"] == "console_lagging"]
    assert lagged and lagged[0]["node"] == "fleetdeck"
    assert "fleetdeck itself is lagging" in lagged[0]["summary"]
