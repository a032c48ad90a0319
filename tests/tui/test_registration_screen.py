"""The registration panel (`P`): each Gonka cluster's checks as its network node and the
chain see them, read from a running simulated fleet; failing ones with their fix."""

from __future__ import annotations

import pytest
from textual.app import App

from console.app.tui import FleetdeckApp
from console.core.profile import load
from screens.registration import RegistrationScreen
from tests.harness.pilot import until

pytestmark = pytest.mark.integration

CHECKS = [
    (
        "c1",
        "c1-net",
        [
            (
                "participant",
                "ok",
                "gonka1abc… is a participant (ACTIVE, https://c1.example.com)",
                None,
            ),
            (
                "permissions_granted",
                "fail",
                "Missing 20 of 20 required permissions",
                "fleetdeck run PROFILE register (its grant step)",
            ),
            (
                "feegrant_allowance",
                "warn",
                "the fee allowance expires in 12 days",
                "inferenced tx "
                "feegrant revoke <warm-address> (cold key), then fleetdeck run PROFILE register",
            ),
            ("epoch", "ok", "in epoch 3638 with weight 37778", None),
        ],
    ),
    (
        "c2",
        "c2-net",
        [("network_node", "unknown", "c2-net: connection refused by 10.0.0.9:22", None)],
    ),
]


def panel(app) -> str:
    return str(app.screen.query_one("#clusters").render())


async def test_the_panel_reads_each_cluster_from_its_network_node(sim_fleet, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app = FleetdeckApp(load(sim_fleet.profile_path), live=False)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("P")
        await pilot.pause()
        assert isinstance(app.screen, RegistrationScreen)
        assert await until(pilot, lambda: "participant" in panel(app), 10)
        text = panel(app)
        assert "c1  via net" in text
        assert "✓ participant:" in text and "is a participant (ACTIVE" in text
        assert "✓ permissions_granted" in text and "✓ block_sync" in text
        # a fault shows on the next read, with its fix
        sim_fleet.inject("net", "grants-expired")
        try:
            await pilot.press("r")
            assert await until(pilot, lambda: "failing" in panel(app), 10)
            text = panel(app)
            assert "✗ permissions_granted" in text
            assert "fix: fleetdeck run PROFILE register (its grant step)" in text
        finally:
            sim_fleet.clear("net", "grants-expired")


class Host(App[None]):
    def on_mount(self) -> None:
        screen = RegistrationScreen("gonka-prod")
        self.push_screen(screen)
        self.call_after_refresh(screen.show_checks, CHECKS)


def test_snapshot_registration_80x24(snap_compare):
    assert snap_compare(Host(), terminal_size=(80, 24), press=["_"])
