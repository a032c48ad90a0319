"""`fleetdeck status --record` and `fleetdeck replay`: the same node states and alerts at
the same moments, from a recording of a simulated incident."""

from __future__ import annotations

import json
import time

import pytest
from textual.widgets import DataTable

from console.app.tui import FleetdeckApp
from console.core.monitor.pipeline import live_status
from console.core.monitor.recording import Replay
from console.core.monitor.tracker import CONSOLE
from console.core.profile import load
from screens.registration import RegistrationScreen
from tests.harness.cli import fleetdeck
from tests.harness.pilot import until

pytestmark = pytest.mark.integration
INTERVAL = 0.5


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def seen(state) -> tuple[dict, list]:
    """What the on-call reads: each node's condition, and the fleet's alerts (the console's
    own lag alert is about the recording machine, not the fleet)."""
    conditions = {name: state.condition(node) for name, node in state.nodes.items()}
    alerts = sorted(
        (a.node, a.kind, a.severity, a.summary) for a in state.alerts if a.node != CONSOLE
    )
    return conditions, alerts


@pytest.fixture
def incident(sim_fleet, tmp_path):
    """A recording of ml1 running hot for a while, then cooling down, with what the live
    console saw at a few moments."""
    profile = load(sim_fleet.profile_path)
    profile.set_value(("alerts", "probe_interval_s"), INTERVAL)
    path = tmp_path / "incident.jsonl"
    monitor = live_status(profile, record=path, system_known_hosts=False)
    monitor.start()
    moments = []

    def moment() -> None:
        time.sleep(2 * INTERVAL)  # steady: the next lines say the same
        state = monitor.snapshot()
        moments.append((state.taken_at, seen(state)))

    try:
        assert monitor.wait_complete(20)
        moment()
        sim_fleet.inject("ml1", "gpu-hot")
        assert wait_until(lambda: any(a.kind == "gpu_hot" for a in monitor.snapshot().alerts))
        moment()
        sim_fleet.clear("ml1", "gpu-hot")
        assert wait_until(lambda: all(a.kind != "gpu_hot" for a in monitor.snapshot().alerts))
        moment()
    finally:
        monitor.stop()
    return path, moments


def test_replay_shows_the_same_states_and_alerts_at_the_same_moments(incident):
    path, moments = incident
    header = json.loads(path.read_text().splitlines()[0])
    assert header["fleetdeck_recording"] == 1 and "[fleet]" in header["profile"]
    replay = Replay(path)
    hot = [alerts for _, (_, alerts) in moments]
    assert all(a[1] != "gpu_hot" for a in hot[0])
    assert any(a[1] == "gpu_hot" for a in hot[1]) and all(a[1] != "gpu_hot" for a in hot[2])
    for at, expected in moments:
        assert seen(replay.state_at(at)) == expected, at


async def test_the_console_replays_a_recording_read_only(incident):
    path, moments = incident
    # at the recording's own pace: its hot spell lasts a second or two, which a loaded
    # machine (four test workers on two cores) sampled past at twice the speed
    replay = Replay(path, speed=1)
    app = FleetdeckApp(
        replay.profile,
        live=False,
        source=replay.snapshot,
        read_only=True,
        note=f"REPLAY {path.name}",
    )
    replay.start()
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.screen.query_one("#nodes", DataTable)
            states = []
            deadline = time.monotonic() + 30
            while not replay.finished and time.monotonic() < deadline:
                await pilot.pause(0.1)
                states.append(str(table.get_cell("ml1", "state")))
            assert replay.finished
            # ml1 ran hot (degraded), then cooled down: the screen followed the recording
            assert any("degraded" in s for s in states), states

            # the recording's last moment, once the screen has drawn it: the heat is gone
            # (on a loaded machine a slow link may mark the node still, and truly so)
            def cooled() -> bool:
                state = app.last_state
                return state is not None and not any(
                    a.node == "ml1" and a.kind == "gpu_hot" for a in state.alerts
                )

            assert await until(pilot, cooled, 5), app.last_state.alerts
            assert "REPLAY incident.jsonl" in app.sub_title and "READ-ONLY" in app.sub_title
            # the registration panel would reach the live fleet: a replay says so instead
            await pilot.press("P")
            await pilot.pause()
            assert not isinstance(app.screen, RegistrationScreen)
            assert any("A replay reaches no node" in str(n.message) for n in app._notifications)
    finally:
        replay.stop()


def test_status_record_writes_a_recording_replay_can_open(sim_fleet, tmp_path):
    path = tmp_path / "once.jsonl"
    done = fleetdeck(tmp_path, "status", str(sim_fleet.profile_path), "--record", str(path))
    assert done.returncode in (0, 2), done.stderr
    replay = Replay(path)
    state = replay.state_at(replay.end)
    assert {n for n, s in state.nodes.items() if s.seen_at is not None} == set(state.nodes)
    broken = tmp_path / "not-a-recording.jsonl"
    broken.write_text("{}\n")
    refused = fleetdeck(tmp_path, "replay", str(broken))
    assert refused.returncode == 1 and "not a fleetdeck recording" in refused.stderr
