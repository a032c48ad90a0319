"""The command palette's fleetdeck entries (ctrl+p): the screens, read-only on and off,
switching to a neighbouring profile, and jumping to any node by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from textual.app import SystemCommand

from console.app.controllers import Controller


class Commands(Controller):
    def system(self) -> Iterator[SystemCommand]:
        app = self.app
        yield SystemCommand(
            "Triage", "active alerts across the fleet, worst first", app.action_triage
        )
        yield SystemCommand("Actions", "plan and run an action (deploy)", app.action_actions)
        yield SystemCommand(
            "Registration",
            "each cluster's participant, keys, permissions, ML nodes, epoch",
            app.action_registration,
        )
        if app.profile.model.provision:
            yield SystemCommand(
                "Cloud machines",
                "the pools' machines against the profile: orphans, gone, surplus, stopped",
                app.machines.show,
            )
        if any(s.kind == "kubernetes" for s in app.profile.model.sources):
            yield SystemCommand(
                "Kubernetes node pools",
                "the sources' nodes by pool: GPUs allocatable vs capacity, NotReady, cordoned",
                app.pools.show,
            )
        if app.read_only:
            yield SystemCommand(
                "Read-only: off",
                "allow actions again (asks for the fleet's name)",
                self.leave_read_only,
            )
        else:
            yield SystemCommand(
                "Read-only: on", "refuse every action that changes a node", self.enter_read_only
            )
        if app.sim_root is None:
            here = Path(app.profile.file).resolve()
            for other in sorted(here.parent.glob("*.toml")):
                if other != here:
                    yield SystemCommand(
                        f"Switch profile: {other.name}",
                        str(other),
                        lambda path=other: app.exit(str(path)),
                        discover=False,
                    )
        for cluster, node in app.profile.model.all_nodes():
            yield SystemCommand(
                f"Node {node.name}",
                f"{cluster.name} · {node.role} · {node.host}",
                lambda name=node.name: app.open_node(name),
                discover=False,
            )

    def enter_read_only(self) -> None:
        self.app.read_only = True
        self.app.set_sub_title()
        self.app.notify("Read-only: actions that change nodes are refused.", markup=False)

    def leave_read_only(self) -> None:
        from screens.actions import ConfirmNameScreen

        app = self.app

        def done(ok: bool | None) -> None:
            if ok:
                app.read_only = False
                app.set_sub_title()
                app.notify("Read-only is off: actions are allowed.", markup=False)

        app.push_screen(
            ConfirmNameScreen(
                "Leave read-only: actions will change nodes again", app.profile.model.fleet.name
            ),
            done,
        )
