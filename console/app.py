"""The Textual App: wires the profile (and, later, monitor and engine) to the screens."""

from __future__ import annotations

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
        self.sub_title = f"{profile.model.fleet.name} · {profile.file}"

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.profile.model))
