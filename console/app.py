"""The Textual App: wires the profile (and, later, monitor and engine) to the screens."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from console.profile import Profile
from screens.fleet import FleetScreen


class FleetdeckApp(App[None]):
    TITLE = "fleetdeck"
    BINDINGS = [Binding("q", "quit", "Quit", priority=True)]

    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self.profile = profile
        # the file name only: a full path would make the header differ machine to machine
        self.sub_title = f"{profile.model.fleet.name} · {Path(profile.file).name}"

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.profile.model))
