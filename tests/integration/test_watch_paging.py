"""`fleetdeck watch` pages through a real Alertmanager (issue 32): a host that goes down
pages once, with its node, cluster, kind, evidence and next step, within the hold time and
two intervals; clearing it resolves the page; two watches posting to the same Alertmanager
make one notification; a watch killed mid-incident and started again sends nothing twice
and loses nothing."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from console.core.history.store import History, history_path
from console.core.history.uptime import uptime
from console.core.journal import Journal
from console.core.profile import load
from console.core.sources.promtext import parse
from console.core.times import rfc3339_seconds
from tests.conftest import IN_CI, REPO
from tests.harness import alertmanager, channels
from tests.harness.procs import free_port
from tests.harness.simclient import small_sim_fleet
from tests.harness.terminal import Terminal

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


def watched(fleet, name: str, **paging) -> Path:
    """The simulated fleet's profile, read every second, paging as told."""
    doc = load(fleet.profile_path)
    doc.set_value(("alerts", "probe_interval_s"), INTERVAL)
    doc.set_value(("paging", "hold_s"), HOLD)
    doc.set_value(("paging", "clear_s"), 0.0)  # resolved on the first line without it
    for key, value in paging.items():
        doc.set_value(("paging", key), value)
    path = fleet.profile_path.with_name(name)
    path.write_text(doc.text())
    return path


@pytest.fixture(scope="module")
def profile(fleet, am) -> Path:
    """Paging through the test's Alertmanager, renewed on every line (none may page again)."""
    return watched(fleet, "watched.toml", alertmanager=am[0].url, resend_s=1.0)


@pytest.fixture(scope="module")
def restarted_profile(fleet, am) -> Path:
    """Renewed every 5 s: Alertmanager keeps a page 4 renewals (20 s) past the last, more
    than a killed watch takes to start again on a loaded machine (renewed every second, a
    restart slower than 4 s let Alertmanager end the page, and the renewal fired it anew)."""
    return watched(fleet, "restarted.toml", alertmanager=am[0].url, resend_s=5.0)


class Watch:
    """A `fleetdeck watch` process with a state directory of its own (its own machine)."""

    def __init__(
        self, profile: Path, state: Path, env: dict[str, str] | None = None, *args: str
    ) -> None:
        self.state = state
        self.lines: list[str] = []
        env = dict(os.environ, XDG_STATE_HOME=str(state), PYTHONPATH=str(REPO), **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console.app.cli", "watch", str(profile), *args],
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
    watches = [Watch(profile, tmp_path / "watch1", None, "--metrics", "0")]
    watches.append(Watch(profile, tmp_path / "watch2"))
    said = watches[0].wait_for("metrics on http://127.0.0.1:", 5)
    metrics_url = said.split(" on ", 1)[1]
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
        # the watch's verdicts, scraped as Prometheus would
        samples, bad = parse(httpx.get(metrics_url, timeout=5).text)
        assert bad == 0
        got = {(s.name, s.labels.get("node"), s.labels.get("state")): s.value for s in samples}
        assert got[("fleetdeck_node_state", "ml1", "down")] == 1
        assert got[("fleetdeck_node_state", "ml2", "up")] == 1
        assert got[("fleetdeck_alert", "ml1", None)] == 1
        assert got[("fleetdeck_pages_open", None, None)] >= 1
        time.sleep(4 * INTERVAL)  # renewals from both watches, each line: none notifies
        assert len(hook.alerts(status="firing", node="ml1")) == 1, hook.notifications
        fleet.clear("ml1")
        wait_alerts(hook, 60, status="resolved", node="ml1")
        for w in watches:
            w.wait_for("resolved: ml1 unreachable", 30)
        time.sleep(2 * INTERVAL)
        # each watch resolves it when it sees the host back, a line apart, and the other's
        # renewal between the two may reopen it for that moment: Alertmanager's group
        # interval (5 s here, 5 min by default) merges that; it ends resolved, paged once
        notes = [n for n in hook.notifications if n["commonLabels"].get("node") == "ml1"]
        assert notes[-1]["status"] == "resolved", notes
        assert len(hook.alerts(status="firing", node="ml1")) == 1, notes
        for w in watches:  # the journal keeps each delivery
            lines = [x for x in w.journal() if x[1] == "ml1"]
            assert lines == [
                ("page", "ml1", "sent", "alertmanager: 200"),
                ("resolve", "ml1", "sent", "alertmanager: 200"),
            ], lines
        # a mute made in fleetdeck is a silence in Alertmanager too, and ends with it
        env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "watch1"), PYTHONPATH=str(REPO))
        cli = [sys.executable, "-m", "console.app.cli"]
        muted = subprocess.run(
            [*cli, "mute", str(profile), "ml2", "--for", "10m", "--reason", "disk swap"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert muted.returncode == 0, muted.stderr
        assert muted.stdout.startswith("muted: ml2 every alert until") and "silence" in muted.stdout
        (silence,) = [x for x in server.silences() if x["status"]["state"] == "active"]
        assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
            ("fleet", "simtest"),
            ("node", "ml2"),
        }
        assert silence["comment"] == "disk swap"
        listed = subprocess.run(
            [*cli, "mute", str(profile), "--list"], capture_output=True, text=True, env=env
        )
        assert listed.stdout.startswith("ml2 *: until ") and "disk swap" in listed.stdout
        unmuted = subprocess.run(
            [*cli, "unmute", str(profile), "ml2"], capture_output=True, text=True, env=env
        )
        assert unmuted.returncode == 0, unmuted.stderr
        assert [x["status"]["state"] for x in server.silences()] == ["expired"]
    finally:
        for w in watches:
            w.stop()


def test_a_watch_killed_mid_incident_sends_nothing_twice_and_loses_nothing(
    fleet, am, restarted_profile, tmp_path
):
    server, hook = am
    profile = restarted_profile
    state = tmp_path / "watch"
    watch = Watch(profile, state)
    began = time.time()  # the watch looks from here
    dead = 0.0  # how long no watch looked, in all
    try:
        fleet.inject("ml2", "host-down")
        wait_alerts(hook, 60, status="firing", node="ml2")
        watch.wait_for("paged: ml2 unreachable", 10)
        watch.stop(signal.SIGKILL)
        killed = time.time()
        # started again while it still fires: it remembers the page, sends no second one
        watch = Watch(profile, state)
        dead += time.time() - killed
        watch.wait_for("1 pages sent before this start are still open", 5)
        second = subprocess.run(  # one watch of a fleet per machine
            [sys.executable, "-m", "console.app.cli", "watch", str(profile)],
            capture_output=True,
            text=True,
            env=dict(os.environ, XDG_STATE_HOME=str(state), PYTHONPATH=str(REPO)),
            timeout=60,
        )
        assert second.returncode == 1 and "another watch of simtest runs here" in second.stderr
        time.sleep(HOLD + 3 * INTERVAL)  # past the hold: a watch that forgot would page
        assert [x[0] for x in watch.journal() if x[1] == "ml2"] == ["page"]
        # killed again, and the host comes back while no watch runs: the next one resolves
        watch.stop(signal.SIGKILL)
        killed = time.time()
        fleet.clear("ml2")
        watch = Watch(profile, state)
        dead += time.time() - killed
        watch.wait_for("resolved: ml2 unreachable", 30)
        wait_alerts(hook, 30, status="resolved", node="ml2")
        assert [x[0] for x in watch.journal() if x[1] == "ml2"] == ["page", "resolve"]
        assert len(hook.alerts(status="firing", node="ml2")) == 1
        # the history: the time no watch ran is UNKNOWN, and no more than an interval
        # beside it is lost (net was up throughout)
        time.sleep(2 * INTERVAL)
        ended = time.time()
        history = History(history_path(state / "fleetdeck", "simtest"))
        try:
            rows = {u.name: u for u in uptime(history, load(profile).model, began, ended)}
        finally:
            history.close()
        net = rows["net"]
        assert net.down_s == 0, net
        assert dead - 2 * INTERVAL <= net.unknown_s <= dead + 3 * INTERVAL, (dead, net)
        assert rows["ml2"].down_s > 0 and rows["ml2"].episodes >= 1, rows["ml2"]
    finally:
        watch.stop()


# secrets with quotes in them, as a pasted token may have
SECRETS = {
    "SLACK_URL": "/slack/T0'QU\"OTE/B1/sl4ck-s3cret-path",
    "TG_TOKEN": "123456:AA\"tok'en-s3cret",
    "PD_KEY": "R0UT\"ING'k3y-s3cret",
    "HOOK_URL": "/hook/w3bh00k'\"s3cret",
}


def test_direct_channels_page_once_honour_429_catch_up_and_keep_their_secrets(fleet, tmp_path):
    services = channels.ChannelServer().start()
    slack = channels.ChannelServer(port=free_port())  # down until it is started below
    env = {
        "SLACK_URL": slack.url(SECRETS["SLACK_URL"]),
        "TG_TOKEN": SECRETS["TG_TOKEN"],
        "PD_KEY": SECRETS["PD_KEY"],
        "HOOK_URL": services.url(SECRETS["HOOK_URL"]),
    }
    direct = watched(
        fleet,
        "direct.toml",
        channels=[
            {"kind": "slack", "url": "env:SLACK_URL"},
            {
                "kind": "telegram",
                "token": "env:TG_TOKEN",
                "chat_id": "-100200300",
                "api_url": services.url(""),
            },
            {"kind": "pagerduty", "routing_key": "env:PD_KEY", "url": services.url("/v2/enqueue")},
            {"kind": "webhook", "url": "env:HOOK_URL"},
        ],
    )
    services.refuse["/bot"] = [channels.telegram_429(3)]  # Telegram: slow down, 3 s
    state = tmp_path / "state"
    watch = Watch(direct, state, env, "--metrics", "0")
    metrics_url = watch.wait_for("metrics on http://127.0.0.1:", 5).split(" on ", 1)[1]
    key = "simtest/prov1/unreachable"
    try:
        fleet.inject("prov1", "host-down")
        watch.wait_for("paged: prov1 unreachable (pagerduty: 202)", 60)
        watch.wait_for("paged: prov1 unreachable (webhook: 200)", 10)
        watch.wait_for("paged: prov1 unreachable (telegram: 200)", 20)
        refused = services.sent("/bot", ok=False)
        taken = services.sent("/bot")
        assert [g.status for g in refused] == [429] and len(taken) == 1
        assert taken[0].at - refused[0].at >= 3.0, "the 429's retry_after was not honoured"
        assert taken[0].body["chat_id"] == -100200300 and "prov1" in taken[0].body["text"]
        # Slack is down: each attempt is in the journal; once it is back, the page gets there
        watch.wait_for("! slack did not take 1 page(s)", 10)
        slack.start()
        back = time.time()
        watch.wait_for("paged: prov1 unreachable (slack: 200)", 20)
        assert time.time() - back <= 15 + 1  # the backoff's next step, at most
        journal = [x for x in watch.journal() if x[1] == "prov1"]
        assert ("page", "prov1", "failed", "slack: no answer (ConnectError)") in journal
        assert journal.count(("page", "prov1", "sent", "slack: 200")) == 1
        time.sleep(3 * INTERVAL)  # still firing: nothing is sent again
        (event,) = [g.body for g in services.sent("/v2/enqueue")]
        assert event["event_action"] == "trigger" and event["dedup_key"] == key
        assert event["payload"]["source"] == "prov1" and event["payload"]["severity"] == "critical"
        assert "check the host" in event["payload"]["custom_details"]["next_step"]
        (hook,) = [g.body for g in services.sent("/hook/")]
        assert hook["status"] == "firing" and hook["dedup_key"] == key
        assert len(slack.sent("/slack/")) == 1 and len(services.sent("/bot")) == 1
        fleet.clear("prov1")
        watch.wait_for("resolved: prov1 unreachable (slack: 200)", 30)
        for name in ("telegram", "pagerduty", "webhook"):
            watch.wait_for(f"resolved: prov1 unreachable ({name}", 10)
        time.sleep(2 * INTERVAL)
        events = [g.body for g in services.sent("/v2/enqueue")]
        assert [e["event_action"] for e in events] == ["trigger", "resolve"]
        assert events[1]["dedup_key"] == key
        assert slack.sent("/slack/")[1].body["text"].startswith("RESOLVED simtest: prov1")
        assert [g.body["status"] for g in services.sent("/hook/")] == ["firing", "resolved"]
        assert len(services.sent("/bot")) == 2
        exported = httpx.get(metrics_url, timeout=5).text
    finally:
        watch.stop()
    # notify test: a page through each channel, and what each answered
    notify = subprocess.run(
        [sys.executable, "-m", "console.app.cli", "notify", "test", str(direct)],
        capture_output=True,
        text=True,
        env=dict(os.environ, XDG_STATE_HOME=str(state), PYTHONPATH=str(REPO), **env),
        timeout=60,
    )
    slack.stop()
    services.stop()
    assert notify.returncode == 0, notify.stdout + notify.stderr
    lines = notify.stdout.splitlines()
    assert lines[0] == "slack: ✓ 200"
    assert lines[1] == "telegram: ✓ 200 (as plain text: Markdown refused)"  # notify_test's _
    assert lines[2] == "pagerduty: ✓ 202; resolved: 202"
    assert lines[3] == "webhook: ✓ 200"
    # no secret anywhere the watch wrote or said: its output, its state, its journal, its
    # history, its metrics
    written = "\n".join(watch.lines + [notify.stdout, notify.stderr, exported]).encode()
    for path in state.rglob("*"):
        if path.is_file():
            written += path.read_bytes()
    assert (state / "fleetdeck" / "watch" / "simtest.json").exists()
    for name, secret in SECRETS.items():
        for piece in [secret, *secret.replace('"', "'").split("'")]:
            if len(piece) >= 6:
                assert piece.encode() not in written, f"{name}: {piece!r} was written"


def test_consoles_attach_to_the_watch_and_open_no_ssh_session_of_their_own(
    fleet, profile, tmp_path
):
    state = tmp_path / "state"
    watch = Watch(profile, state)
    terms = [Terminal(f"fd-attach{i}") for i in range(3)]
    exports = shlex.join(["env", f"XDG_STATE_HOME={state}", f"PYTHONPATH={REPO}", sys.executable])
    try:
        before = dict(fleet.ssh.accepted)
        for term in terms:
            term.start(f"{exports} -m console.app.cli {shlex.quote(str(profile))}", REPO, 150)
        for term in terms:
            term.wait_for("attached to its watch", 30)
            term.wait_for_match(r"up 4/4", 30)
        assert fleet.ssh.accepted == before, (before, fleet.ssh.accepted)
        fleet.inject("ml1", "host-down")
        watch.wait_for("paged: ml1 unreachable", 60)
        for term in terms:  # each console shows what the watch pages
            screen = term.wait_for_match(r"up 3/4", 30)
            assert re.search(r"ml1 .*unreachable", screen), screen
        fleet.clear("ml1")
        watch.wait_for("resolved: ml1 unreachable", 60)
        for term in terms:
            term.wait_for_match(r"up 4/4", 30)
        # the node screen's History tab shows the node's uptime from the watch's history
        terms[0].keys("Down")
        terms[0].wait_for_match(r"▶?\s*ml1", 5)
        terms[0].keys("Enter")
        terms[0].wait_for("History [5]", 10)
        terms[0].keys("5")
        screen = terms[0].wait_for("uptime (the watch's history)", 10)
        assert re.search(r"24 h .*down \d+\.\d min.*1 outages", screen), screen
        # the watch's connections only, every console reading the fleet through it: one
        # more to ml1, the watch's own when the host came back (three consoles: three more)
        after = dict(fleet.ssh.accepted)
        assert after["ml1"] - before["ml1"] == 1, (before, after)
        assert {n: c for n, c in after.items() if n != "ml1"} == {
            n: c for n, c in before.items() if n != "ml1"
        }
        # status, the headless twin, attaches too
        status = subprocess.run(
            [sys.executable, "-m", "console.app.cli", "status", str(profile), "--json"],
            capture_output=True,
            text=True,
            env=dict(os.environ, XDG_STATE_HOME=str(state), PYTHONPATH=str(REPO)),
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert {n["name"] for n in json.loads(status.stdout)["nodes"]} == {
            "net",
            "ml1",
            "ml2",
            "prov1",
        }
        assert fleet.ssh.accepted == after
    finally:
        for term in terms:
            term.stop()
        watch.stop()
