"""The palette's "Cloud machines": the pools' machines reconciled with the profile
(actions/provision/inventory.py, the same as `fleetdeck provision list`), read in a worker
(cloud drivers authenticate as they are built) and shown as plain rows."""

from __future__ import annotations

from console.app.controllers import Controller


class Machines(Controller):
    def show(self) -> None:
        if not self.app.profile.model.provision:
            self.app.notify(
                "This profile has no [[provision.pools]]: no cloud machines to list.",
                markup=False,
            )
            return
        self.app.notify("Asking the clouds for the fleet's machines…", markup=False)
        self.worker(self._read, group="machines", exclusive=True)

    def _read(self) -> None:
        from actions.provision.inventory import Inventory
        from actions.types import StepFailed

        try:
            findings = Inventory(self.app.profile).findings()
        except StepFailed as exc:
            self.say(str(exc), severity="error")
            return
        rows = [(f.kind, f.text) for f in findings]
        self.app.call_from_thread(self._shown, rows)

    def _shown(self, rows: list[tuple[str, str]]) -> None:
        from screens.machines import MachinesScreen

        self.app.push_screen(MachinesScreen(self.app.profile.model.fleet.name, rows))
