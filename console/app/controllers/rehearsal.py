"""The demo's fault menu: inject or clear a fault on the simulated node under the cursor,
and know which nodes have one now (the simulator says, whoever injected it)."""

from __future__ import annotations

import asyncio

from console.app.controllers import Controller


class Rehearsal(Controller):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.injected: set[str] = set()  # nodes with a fault from the F menu

    def menu(self, node: str | None) -> None:
        app = self.app
        if app.sim_root is None:
            app.notify("The fault menu is for `fleetdeck demo`.", markup=False)
            return
        if app.read_only:
            app.notify("Read-only: faults cannot be injected.", severity="warning", markup=False)
            return
        if node is None:
            return
        from console.sim.faults import FAULTS
        from screens.modals import FaultMenuScreen

        app.push_screen(
            FaultMenuScreen(node, {k: f.description for k, f in FAULTS.items()}),
            lambda kind: self.worker(self._inject, node, kind, group="faults") if kind else None,
        )

    def cursor_node(self) -> str | None:
        """The node the operator is on: the node screen's, or the fleet table's cursor row."""
        from textual.widgets import DataTable

        from screens.fleet import FleetScreen
        from screens.node import NodeScreen

        screen = self.app.screen
        if isinstance(screen, NodeScreen):
            return screen.node_name
        if isinstance(screen, FleetScreen):
            table = screen.query_one("#nodes", DataTable)
            if table.row_count:
                return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return None

    async def faulty(self) -> set[str]:
        """The demo's nodes with a fault injected now, from the simulator itself: faults
        injected from outside (`fleetdeck sim fault`) count as those from the F menu."""
        if self.app.sim_root is None:
            return set(self.injected)
        from console.sim import control

        try:
            status = await asyncio.to_thread(
                control.request, self.app.sim_root, "GET", "/status", None, 2.0
            )
        except control.SimError:  # the simulator is gone or busy: what the console knows
            return set(self.injected)
        return {name for name, node in status["nodes"].items() if node.get("faults")}

    def _inject(self, node: str, kind: str) -> None:
        from console.sim import control

        root = self.app.sim_root
        try:
            if kind == "clear":
                control.request(root, "POST", "/clear", {"node": node})
                message = f"{node}: faults cleared"
                self.injected.discard(node)
            else:
                control.request(root, "POST", "/fault", {"node": node, "kind": kind})
                message = f"{node}: {kind} injected"
                self.injected.add(node)
        except control.SimError as exc:
            self.say(str(exc), severity="error")
            return
        self.say(message)
