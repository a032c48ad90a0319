"""Runbook actions from the console on a simulated fleet: disable an ML node through the
network node's admin API (over an SSH forward), restart a crash-looping container, copy
the unjail command; each after typing the name, and refused read-only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from console.app.tui import FleetdeckApp
from console.core.profile import load
from console.sim.fleet import SimFleet
from screens.actions import ConfirmNameScreen, ForceScreen
from screens.triage import RunbookScreen, TriageScreen
from tests.harness.pilot import press_to, until, wait_for
from tests.harness.simclient import small_sim_fleet

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with small_sim_fleet(tmp_path_factory.mktemp("runbook-sim")) as sim:
        yield sim


def profile_of(sim: SimFleet):
    profile = load(sim.profile_path)
    profile.set_value(("alerts", "probe_interval_s"), 0.5)
    return profile


async def type_name(app, pilot, name: str) -> None:
    """Confirm by typing the node's name as a person would: once the field has the focus
    (an Enter that comes before it goes nowhere)."""
    assert await until(pilot, lambda: isinstance(app.screen, ConfirmNameScreen))
    field = app.screen.query_one(Input)
    assert await until(pilot, lambda: app.focused is field)
    await pilot.press(*name, "enter")


async def open_runbook(app, pilot, node: str, kind: str) -> RunbookScreen:
    def alert_shown() -> bool:
        s = app.last_state
        return bool(s) and any(a.node == node and a.kind.startswith(kind) for a in s.alerts)

    assert await until(pilot, alert_shown, 20), f"no {kind} alert on {node}"
    screen = await press_to(pilot, "t", kind=TriageScreen)
    row = next(i for i, a in enumerate(screen.shown) if a.node == node and a.kind.startswith(kind))
    screen.query_one("#alerts", DataTable).move_cursor(row=row)
    return await press_to(pilot, "enter", kind=RunbookScreen)


async def test_disable_the_ml_node_of_a_lost_gpu_through_the_admin_api(fleet):
    fleet.inject("ml1", "gpu-xid79")
    admin = fleet.nodes["net"].admin_nodes
    try:
        app = FleetdeckApp(profile_of(fleet), accept_new_host_keys=False)
        async with app.run_test(size=(140, 45)) as pilot:
            card = await open_runbook(app, pilot, "ml1", "gpu_lost")
            text = str(card.query_one(Static).render())
            assert "disable ML node ml1 in net's admin API" in text
            await pilot.press("d")
            await type_name(app, pilot, "ml1")
            assert await until(pilot, lambda: admin["ml1"].get("_enabled") is False)
            assert admin["ml2"].get("_enabled", True) is True  # only the one asked for
            assert await until(
                pilot,
                lambda: any("disabled successfully" in str(n.message) for n in app._notifications),
            )
    finally:
        fleet.clear("ml1")
        admin["ml1"]["_enabled"] = True


async def test_restart_a_crash_looping_container_and_read_only_refuses(fleet):
    fleet.inject("ml2", "crash-loop")
    try:
        ro = FleetdeckApp(profile_of(fleet), read_only=True)
        async with ro.run_test(size=(140, 45)) as pilot:
            card = await open_runbook(ro, pilot, "ml2", "container_restarting")
            assert "restart mlnode-308" in str(card.query_one(Static).render())
            await pilot.press("R")
            await pilot.pause()
            assert not isinstance(ro.screen, ConfirmNameScreen)
            assert any("Read-only" in str(n.message) for n in ro._notifications)
        fleet.clear("ml2")
        containers = fleet.nodes["ml2"].containers
        containers.stop("mlnode-308", 1)  # what the crash loop left behind once it stopped
        app = FleetdeckApp(profile_of(fleet))
        async with app.run_test(size=(140, 45)) as pilot:
            card = await open_runbook(app, pilot, "ml2", "container_exited")
            await pilot.press("R")
            await type_name(app, pilot, "mlnode-308")
            assert await until(
                pilot, lambda: containers.items["mlnode-308"].state == "running", 30
            ), [str(n.message) for n in app._notifications]
            assert await until(pilot, lambda: restarts_recorded(app) == 1)
        # the trail: in the journal (who, when, what, result) and in `fleetdeck journal`
        listed = subprocess.run(
            [sys.executable, "-m", "console.app.cli", "journal", str(fleet.profile_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "from the console:" in listed.stdout
        line = next(x for x in listed.stdout.splitlines() if " restart " in x)
        assert "ml2" in line and "mlnode-308" in line and "done" in line and " by " in line
    finally:
        fleet.clear("ml2")


def restarts_recorded(app, detail: str = "") -> int:
    from console.core.journal import Journal

    journal = Journal()
    try:
        done = journal.console_actions(app.profile.model.fleet.name, "ml2")
    finally:
        journal.close()
    return sum(
        a.action == "restart" and a.target == "mlnode-308" and detail in a.detail for a in done
    )


async def test_during_poc_a_restart_asks_why_and_the_journal_keeps_it(fleet):
    """Gonka's notices: restart nothing while PoC runs (issue 31). The console says so and
    when the window opens; it goes on only with a reason typed, kept in the journal."""
    fleet.inject("ml2", "crash-loop")
    fleet.inject("net", "poc-running")
    try:
        app = FleetdeckApp(profile_of(fleet))
        async with app.run_test(size=(140, 45)) as pilot:

            def in_poc() -> bool:
                chain = app.last_state and app.last_state.nodes["net"].chain
                return bool(chain) and chain.phase == "PoCGenerate"

            assert await until(pilot, in_poc, 20)
            await open_runbook(app, pilot, "ml2", "container_restarting")
            await pilot.press("R")
            assert await until(pilot, lambda: isinstance(app.screen, ForceScreen))
            said = str(app.screen.query(Static).first().render())
            assert "PoC runs (PoCGenerate) on cluster c1" in said, said
            window = r"the window before the next PoC opens at block \d+ \(\d+ blocks from now\)"
            assert re.search(window, said), said
            field = app.screen.query_one(Input)
            assert await until(pilot, lambda: app.focused is field)
            await pilot.press("enter")  # no reason: nothing happens
            await pilot.pause()
            assert isinstance(app.screen, ForceScreen)
            await pilot.press(*"model stuck, PoC lost anyway", "enter")
            assert await until(
                pilot,
                lambda: (
                    restarts_recorded(app, "forced: model stuck, PoC lost anyway (held: PoC runs")
                    == 1
                ),
                30,
            ), [str(n.message) for n in app._notifications]
    finally:
        fleet.clear("ml2")
        fleet.clear("net")


async def test_jailed_validator_offers_the_exact_unjail_command(fleet):
    fleet.inject("net", "jailed")
    try:
        app = FleetdeckApp(profile_of(fleet))
        async with app.run_test(size=(140, 45)) as pilot:
            card = await open_runbook(app, pilot, "net", "validator_not_in_set")
            text = str(card.query_one(Static).render())
            command = (
                "./inferenced tx slashing unjail --from gonka-account-key --keyring-backend "
                'file --chain-id gonka-simtest --fees 200000ngonka --node "$NODE_URL"/chain-rpc/'
            )
            assert command in text
            await pilot.press("c")
            await wait_for(pilot, lambda: app.clipboard == command, "the command copied")
    finally:
        fleet.clear("net")


def test_the_docker_sdk_reads_a_simulated_nodes_log_over_ssh(fleet):
    """What `l` on a runbook or the node screen does, against the simulated engine."""
    from console.core.transport.dockerremote import docker_api, log_lines
    from console.core.transport.ssh import Pool

    pool = Pool.for_profile(profile_of(fleet).model, system_known_hosts=False)
    try:
        api = docker_api(pool, "ml1")
        lines = list(log_lines(api, "mlnode-308", tail=50, follow=False))
        assert "mlnode-308 started" in lines
        assert api.inspect_container("mlnode-308")["Config"]["Tty"] is False
        stamped = list(log_lines(api, "mlnode-308", tail=5, follow=False, timestamps=True))
        assert stamped and all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:", x) for x in stamped)
    finally:
        pool.close()
