"""The console on a real OpenSSH host with a real dockerd: a container's log live in the
node screen, a restart after the node's name is typed, and read-only refusing it."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable, Input, RichLog, TabbedContent

from console.app import FleetdeckApp
from console.profile import loads
from screens.actions import ConfirmNameScreen
from screens.logs import LogScreen
from screens.node import NodeScreen
from tests.harness.dockerd import TEST_IMAGE

pytestmark = pytest.mark.integration
LOOP = (
    "trap 'exit 0' TERM; "
    + 'i=0; while true; do echo "tick $i [@click=app.quit]x[/]"; i=$((i+1)); sleep 0.2; done'
)


def profile_for(host, client_key, known_hosts):
    return loads(f"""
[fleet]
name = "dock"
stack = "vllm"
[ssh]
user = "root"
key = "{client_key}"
port = {host.port}
known_hosts = "{known_hosts}"
[alerts]
probe_interval_s = 0.5
[[clusters]]
name = "c"
[[clusters.nodes]]
name = "dockhost"
host = "{host.address}"
role = "server"
""")


async def open_containers(app, pilot) -> DataTable:
    for _ in range(100):  # the monitor's first snapshot
        await pilot.pause(0.1)
        state = app.last_state
        if state and state.nodes["dockhost"].containers:
            break
    await app.push_screen(NodeScreen("dockhost", app.last_state))
    await pilot.pause(0.6)
    await pilot.press("2")
    await pilot.pause(0.3)
    screen = app.screen
    assert isinstance(screen, NodeScreen)
    assert screen.query_one(TabbedContent).active == "containers"
    table = screen.query_one("#ctr-table", DataTable)
    names = [str(table.get_cell_at((r, 0))) for r in range(table.row_count)]
    table.move_cursor(row=names.index("fd-console"))
    return table


async def test_logs_restart_and_read_only(ssh_hosts, client_key, dockerd):
    local = dockerd.client()
    container = local.containers.run(
        TEST_IMAGE, ["sh", "-c", LOOP], name="fd-console", network_mode="none", detach=True
    )
    host = ssh_hosts.start("consoledock", env={"DOCKER_HOST": dockerd.url})
    profile = profile_for(host, client_key, ssh_hosts.known_hosts)
    try:
        app = FleetdeckApp(profile)
        async with app.run_test(size=(140, 40)) as pilot:
            await open_containers(app, pilot)
            await pilot.press("l")
            for _ in range(60):
                await pilot.pause(0.1)
                if (
                    isinstance(app.screen, LogScreen)
                    and len(app.screen.query_one("#log", RichLog).lines) >= 3
                ):
                    break
            assert isinstance(app.screen, LogScreen)
            lines = [line.text for line in app.screen.query_one("#log", RichLog).lines]
            # each line with the time the engine logged it
            assert lines and all(re.match(r"\d\d:\d\d:\d\d tick ", x) for x in lines), lines
            assert lines[-1].endswith("[@click=app.quit]x[/]")  # literal, and still running
            before = len(lines)
            await pilot.pause(1.0)  # following: new lines arrive
            assert len(app.screen.query_one("#log", RichLog).lines) > before
            # a restart ends the engine's stream: the screen follows the new run
            local.api.restart("fd-console", timeout=1)
            text = ""
            for _ in range(100):
                await pilot.pause(0.1)
                text = "\n".join(x.text for x in app.screen.query_one("#log", RichLog).lines)
                if "restarted: following its log again" in text:
                    break
            assert "— fd-console restarted: following its log again —" in text
            marked = len(app.screen.query_one("#log", RichLog).lines)
            await pilot.pause(1.5)
            assert len(app.screen.query_one("#log", RichLog).lines) > marked
            await pilot.press("escape")
            await pilot.pause(0.2)

            started = local.api.inspect_container("fd-console")["State"]["StartedAt"]
            await pilot.press("R")
            await pilot.pause(0.2)
            assert isinstance(app.screen, ConfirmNameScreen)
            app.screen.query_one(Input).value = "dockhost"  # the node's name: not enough
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert isinstance(app.screen, ConfirmNameScreen)  # not restarted
            assert local.api.inspect_container("fd-console")["State"]["StartedAt"] == started
            app.screen.query_one(Input).value = "fd-console"  # the container's name
            await pilot.press("enter")
            for _ in range(150):
                await pilot.pause(0.1)
                if local.api.inspect_container("fd-console")["State"]["StartedAt"] != started:
                    break
            assert local.api.inspect_container("fd-console")["State"]["StartedAt"] != started
            assert app.is_running

        ro = FleetdeckApp(profile, read_only=True)
        async with ro.run_test(size=(140, 40)) as pilot:
            await open_containers(ro, pilot)
            started = local.api.inspect_container("fd-console")["State"]["StartedAt"]
            await pilot.press("S")
            await pilot.pause(0.3)
            assert not isinstance(ro.screen, ConfirmNameScreen)
            assert any("Read-only" in str(n.message) for n in ro._notifications)
            await pilot.press("l")  # reading a log is allowed read-only
            await pilot.pause(0.5)
            assert isinstance(ro.screen, LogScreen)
        state = local.api.inspect_container("fd-console")["State"]
        assert state["Running"] and state["StartedAt"] == started
    finally:
        container.remove(force=True)
