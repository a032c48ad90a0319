"""The console's plan screen never shows a secret, however it is written: a keyring password
full of quotes, backslashes, $, spaces and a newline, planned for a bare simulated fleet."""

from __future__ import annotations

import keyring
import pytest
from textual.widgets import Static

from console.app.tui import FleetdeckApp
from console.core.profile import load
from screens.actions import ActionPickerScreen, PlanScreen
from tests.harness.deployfleet import embedded_deploy_fleet
from tests.harness.keyring_file import FileKeyring
from tests.harness.pilot import on, press_to, until, wait_for
from tests.integration.test_deploy_openssh import LEAKS, SECRET

pytestmark = pytest.mark.integration


async def test_the_plan_screen_masks_a_hostile_keyring_password(short_tmp, monkeypatch):
    with embedded_deploy_fleet(short_tmp, secret=SECRET) as fleet:
        monkeypatch.setenv("FLEETDECK_TEST_KEYRING", fleet.env["FLEETDECK_TEST_KEYRING"])
        previous = keyring.get_keyring()
        keyring.set_keyring(FileKeyring())
        try:
            app = FleetdeckApp(load(short_tmp / "sim" / "profile.toml"))
            async with app.run_test(size=(160, 50)) as pilot:
                await wait_for(pilot, lambda: app.pool is not None, "the monitor's connections")
                await press_to(pilot, "a", kind=ActionPickerScreen)
                await pilot.press("enter")  # deploy: plan it
                planned = await until(pilot, lambda: isinstance(app.screen, PlanScreen), 60)
                assert planned, [str(n.message) for n in app._notifications]
                await on(pilot, PlanScreen)
                shown = app.screen.query_one("#plan", Static).render()
                plain = getattr(shown, "plain", str(shown))
        finally:
            keyring.set_keyring(previous)
    assert "KEYRING_PASSWORD=***" in plain  # the secret was there, and masked
    assert not [piece for piece in LEAKS if piece in plain], plain
