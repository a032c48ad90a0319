"""The registration panel: per cluster whose stack has registration checks (a chain
participant's keys, permissions, ML nodes, epoch), each failing one with its fix. The
console's controller reads them (console/app/controllers/registration.py); this screen only
shows what it is given, as plain text."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from screens.help import HelpScreen, key_rows

MARKS = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "bold red")}
# (id, status, message, fix) of one check
CheckRow = tuple[str, str, str, str | None]


class RefreshRegistration(Message):
    """Read every cluster's registration again."""


class RegistrationScreen(Screen[None]):
    BINDINGS = [
        Binding("r", "refresh", "Read again", id="registration.refresh"),
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    RegistrationScreen #registration-title { height: auto; padding: 0 1; background: $boost; }
    RegistrationScreen #clusters { padding: 0 1; }
    """

    def __init__(self, fleet: str) -> None:
        super().__init__()
        self.fleet = fleet

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.fleet}: registration", style="bold"), id="registration-title")
        with VerticalScroll():
            yield Static(Text("reading each cluster…", style="dim"), id="clusters")
        yield Footer()

    def show_checks(self, clusters: list[tuple[str, str, list[CheckRow]]]) -> None:
        """(cluster, the node read through, checks) of every cluster with checks."""
        out = Text()
        if not clusters:
            out.append("no cluster in this profile has registration checks", style="dim")
        for cluster, node, checks in clusters:
            bad = sum(1 for _, status, _, _ in checks if status not in ("ok", "warn"))
            out.append(f"{cluster}", style="bold")
            out.append(f"  via {node}  ")
            out.append(
                "all checks pass" if not bad else f"{bad} failing",
                style="green" if not bad else "bold red",
            )
            out.append("\n")
            for cid, status, message, fix in checks:
                mark, style = MARKS.get(status, ("?", "magenta"))
                out.append(f"  {mark} ", style=style)
                out.append(f"{cid}: ", style="bold" if status != "ok" else "")
                out.append(message)
                out.append("\n")
                if fix:
                    out.append(f"      fix: {fix}\n", style="cyan")
            out.append("\n")
        self.query_one("#clusters", Static).update(out)

    def action_refresh(self) -> None:
        self.query_one("#clusters", Static).update(Text("reading again…", style="dim"))
        self.post_message(RefreshRegistration())

    def action_help(self) -> None:
        about = (
            "Each cluster's registration as its nodes and the chain see it; "
            "`fleetdeck doctor PROFILE` prints the same, for cron."
        )
        self.app.push_screen(HelpScreen("Registration", key_rows(self.app, self.BINDINGS), about))
