"""`fleetdeck watch` pages through a real Alertmanager (issue 32): a host that goes down
pages once, with its node, cluster, kind, evidence and next step, within the hold time and
two intervals; clearing it resolves the page; two watches posting to the same Alertmanager
make one notification; a watch killed mid-incident and started again sends nothing twice
and loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from console.core.journal import Journal
from console.core.profile import load
from console.core.times import rfc3339_seconds
from tests.conftest import IN_CI, REPO
from tests.harness import alertmanager
from tests.harness.simclient import small_sim_fleet

pytestmark = pytest.mark.integration

INTERVAL = 1.0
HOLD = 2.0
GROUP_WAIT = 1.0  # Alertmanager's own, before it notifies (tests/harness/alertmanager.py)


@pytest.fixture(scope="module")
def am(tmp_path_factory):
    if not alertmanager.available():
        if IN_CI:
            pytest.fail("prometheus-alertmanager is not installed (tests/run.sh installs it)")
        pytest.skip("prometheus-alertmanager is not installed")
    hook = alertmanager.receiver()
    server = alertmanager.start(tmp_path_factory.mktemp("am"), hook.url)
    try:
        yield server, hook
    finally:
        server.stop()
        hook.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with small_sim_fleet(tmp_path_factory.mktemp("watch-sim")) as sim:
        yield sim


@pytest.fixture(scope="module")
def profile(fleet, am, tmp_path_factory) -> Path:
    """The simulated fleet's profile, paging through the test's Alertmanager."""
    doc = load(fleet.profile_path)
    doc.set_value(("alerts", "probe_interval_s"), INTERVAL)
    doc.set_value(("paging", "alertmanager"), am[0].url)
    doc.set_value(("paging", "hold_s"), HOLD)
    doc.set_value(("paging", "resend_s"), 1.0)  # renewals on every line: none may page again
    path = fleet.profile_path.with_name("watched.toml")
    path.write_text(doc.text())
    return path


class Watch:
    """A `fleetdeck watch` process with a state directory of its own (its own machine)."""

    def __init__(self, profile: Path, state: Path) -> None:
        self.state = state
        self.lines: list[str] = []
        env = dict(os.environ, XDG_STATE_HOME=str(state), PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console.app.cli", "watch", str(profile)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("watching ", 60)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            if self.proc.poll() is not None and not any(text in x for x in self.lines):
                break
            time.sleep(0.05)
        raise AssertionError(f"the watch never said {text!r}:\n" + "\n".join(self.lines))

    def journal(self) -> list[tuple[str, str, str, str]]:
        """(action, node, result, detail) of each paging line in its journal, oldest first."""
        j = Journal(self.state / "fleetdeck" / "journal.sqlite")
        try:
            rows = j.console_actions("simtest")
        finally:
            j.close()
        return [(r.action, r.node, r.result, r.detail) for r in reversed(rows)]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)


def wait_alerts(hook, timeout: float, **match) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = hook.alerts(**match)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no notification {match} within {timeout} s: {hook.notifications}")


def test_a_host_down_pages_once_through_alertmanager_and_resolves(fleet, am, profile, tmp_path):
    server, hook = am
    watches = [Watch(profile, tmp_path / f"watch{i}") for i in (1, 2)]
    try:
        assert not hook.alerts(node="ml1")  # nothing pages while the fleet is well
        injected = time.time()
        fleet.inject("ml1", "host-down")
        fired = wait_alerts(hook, 60, status="firing", node="ml1")
        got = time.time()
        alert = fired[0]
        assert alert["labels"] | {"alertname": "unreachable"} == alert["labels"]
        assert alert["labels"]["cluster"] == "c1" and alert["labels"]["severity"] == "critical"
        assert alert["labels"]["fleet"] == "simtest"
        notes = alert["annotations"]
        assert notes["summary"].startswith("ml1: node")
        assert "last values" in notes["description"] or "never answered" in notes["description"]
        assert "check the host" in notes["next_step"]
        # within the hold and two intervals of the fault (and Alertmanager's group wait)
        assert got - injected <= HOLD + 2 * INTERVAL + GROUP_WAIT, got - injected
        began = rfc3339_seconds(alert["startsAt"])
        assert began is not None and injected <= began <= got
        # both watches post it, renewed every line: still one notification
        for w in watches:
            w.wait_for("paged: ml1 unreachable (alertmanager: 200)", 10)
        time.sleep(4 * INTERVAL)  # renewals from both watches, each line: none notifies
        assert len(hook.alerts(status="firing", node="ml1")) == 1, hook.notifications
        fleet.clear("ml1")
        wait_alerts(hook, 60, status="resolved", node="ml1")
        for w in watches:
            w.wait_for("resolved: ml1 unreachable", 30)
        time.sleep(2 * INTERVAL)
        assert len(hook.alerts(status="resolved", node="ml1")) == 1, hook.notifications
        assert len(hook.alerts(status="firing", node="ml1")) == 1
        for w in watches:  # the journal keeps each delivery
            lines = [x for x in w.journal() if x[1] == "ml1"]
            assert lines == [
                ("page", "ml1", "sent", "alertmanager: 200"),
                ("resolve", "ml1", "sent", "alertmanager: 200"),
            ], lines
    finally:
        for w in watches:
            w.stop()


def test_a_watch_killed_mid_incident_sends_nothing_twice_and_loses_nothing(
    fleet, am, profile, tmp_path
):
    server, hook = am
    state = tmp_path / "watch"
    watch = Watch(profile, state)
    try:
        fleet.inject("ml2", "host-down")
        wait_alerts(hook, 60, status="firing", node="ml2")
        watch.wait_for("paged: ml2 unreachable", 10)
        watch.stop(signal.SIGKILL)
        # started again while it still fires: it remembers the page, sends no second one
        watch = Watch(profile, state)
        watch.wait_for("1 pages sent before this start are still open", 5)
        time.sleep(HOLD + 3 * INTERVAL)  # past the hold: a watch that forgot would page
        assert [x[0] for x in watch.journal() if x[1] == "ml2"] == ["page"]
        # killed again, and the host comes back while no watch runs: the next one resolves
        watch.stop(signal.SIGKILL)
        fleet.clear("ml2")
        watch = Watch(profile, state)
        watch.wait_for("resolved: ml2 unreachable", 30)
        wait_alerts(hook, 30, status="resolved", node="ml2")
        assert [x[0] for x in watch.journal() if x[1] == "ml2"] == ["page", "resolve"]
        assert len(hook.alerts(status="firing", node="ml2")) == 1
    finally:
        watch.stop()
