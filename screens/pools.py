"""The Kubernetes node pools of the profile's sources (`fleetdeck pools` in the console):
nodes and GPUs per pool, the NotReady and cordoned nodes named. Lines come as plain data
from the controller: this screen reaches no API server itself."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from screens.help import HelpScreen, key_rows

STYLES = {"head": "bold", "row": "", "bad": "bold red", "warn": "yellow", "error": "bold red"}


class PoolsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    PoolsScreen #pools-title { height: auto; padding: 0 1; background: $boost; }
    PoolsScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, fleet: str, lines: list[tuple[str, str]]) -> None:
        super().__init__()
        self.fleet = fleet
        self.lines = lines

    def compose(self) -> ComposeResult:
        yield Header()
        title = Text("Kubernetes node pools of ", style="bold")
        title.append(self.fleet, style="bold yellow")
        title.append("   (GPUs allocatable/capacity; ! where fewer are allocatable)", style="dim")
        yield Static(title, id="pools-title")
        body = Text()
        for kind, line in self.lines:
            body.append(line + "\n", style=STYLES.get(kind, ""))
        with VerticalScroll():
            yield Static(body, id="pools")
        yield Footer()

    def action_help(self) -> None:
        about = (
            "Each [[sources]] Kubernetes cluster's nodes by node pool, read once when this "
            "opened: ✕ NotReady (the kubelet stopped reporting, or reports a problem), ~ "
            "cordoned (unschedulable), ! fewer GPUs allocatable than the nodes have (a GPU "
            "the device plugin no longer offers). `fleetdeck pools PROFILE` prints the same."
        )
        self.app.push_screen(HelpScreen("Node pools", key_rows(self.app, self.BINDINGS), about))
