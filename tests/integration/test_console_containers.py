"""The console on a real OpenSSH host with a real dockerd: a container's log live in the
node screen, a restart after the node's name is typed, and read-only refusing it."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable, Input, RichLog, TabbedContent

from console.app.tui import FleetdeckApp
from console.core.profile import loads
from screens.actions import ConfirmNameScreen
from screens.logs import LogScreen
from screens.node import NodeScreen
from tests.harness.dockerd import TEST_IMAGE
from tests.harness.pilot import on, press_to, wait_for

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
    def listed() -> bool:  # the monitor's first snapshot with the containers
        state = app.last_state
        return bool(state and state.nodes["dockhost"].containers)

    await wait_for(pilot, listed, "the node's containers read")
    await app.push_screen(NodeScreen("dockhost", app.last_state))
    await on(pilot, NodeScreen)
    await pilot.press("2")
    await pilot.pause()
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
            log = (await on(pilot, LogScreen)).query_one("#log", RichLog)
            await wait_for(pilot, lambda: len(log.lines) >= 3, "three lines of the log")
            lines = [line.text for line in log.lines]
            # each line with the time the engine logged it
            assert lines and all(re.match(r"\d\d:\d\d:\d\d tick ", x) for x in lines), lines
            assert lines[-1].endswith("[@click=app.quit]x[/]")  # literal, and still running
            before = len(lines)
            await wait_for(pilot, lambda: len(log.lines) > before, "following: new lines arrive")
            # a restart ends the engine's stream: the screen follows the new run
            local.api.restart("fd-console", timeout=1)
            restarted = "— fd-console restarted: following its log again —"
            await wait_for(pilot, lambda: restarted in [x.text for x in log.lines], restarted)
            marked = len(log.lines)
            await wait_for(pilot, lambda: len(log.lines) > marked, "the new run's lines")
            await pilot.press("escape")
            await on(pilot, NodeScreen)

            started = local.api.inspect_container("fd-console")["State"]["StartedAt"]
            await press_to(pilot, "R", kind=ConfirmNameScreen)
            app.screen.query_one(Input).value = "dockhost"  # the node's name: not enough
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmNameScreen)  # not restarted
            assert local.api.inspect_container("fd-console")["State"]["StartedAt"] == started
            app.screen.query_one(Input).value = "fd-console"  # the container's name
            await pilot.press("enter")

            def restarted_at() -> str:
                return local.api.inspect_container("fd-console")["State"]["StartedAt"]

            await wait_for(pilot, lambda: restarted_at() != started, "the container restarted")
            assert app.is_running

        ro = FleetdeckApp(profile, read_only=True)
        async with ro.run_test(size=(140, 40)) as pilot:
            await open_containers(ro, pilot)
            started = local.api.inspect_container("fd-console")["State"]["StartedAt"]
            await pilot.press("S")
            await pilot.pause()
            assert not isinstance(ro.screen, ConfirmNameScreen)
            assert any("Read-only" in str(n.message) for n in ro._notifications)
            await press_to(pilot, "l", kind=LogScreen)  # reading a log is allowed read-only
        state = local.api.inspect_container("fd-console")["State"]
        assert state["Running"] and state["StartedAt"] == started
    finally:
        container.remove(force=True)
