"""A read-only report the console fetched for the operator (cloud machines, Kubernetes node
pools): a title line, a scrollable body of plain text, esc back, ? for what it means. The
body is built by the screen that subclasses it; nothing here reaches a cloud or a cluster."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from screens.help import HelpScreen, key_rows


class ReportScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    ReportScreen .report-title { height: auto; padding: 0 1; background: $boost; }
    ReportScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """
    WHAT = ""  # "Cloud machines": the title's words and the help's heading
    NOTE = ""  # said beside the title, dim
    ABOUT = ""  # the help's explanation
    BODY_ID = "report"

    def __init__(self, fleet: str) -> None:
        super().__init__()
        self.fleet = fleet

    def body(self) -> Text:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Header()
        title = Text(f"{self.WHAT} of ", style="bold")
        title.append(self.fleet, style="bold yellow")
        title.append(f"   ({self.NOTE})", style="dim")
        yield Static(title, classes="report-title")
        with VerticalScroll():
            yield Static(self.body(), id=self.BODY_ID)
        yield Footer()

    def action_help(self) -> None:
        keys = key_rows(self.app, self.BINDINGS)
        self.app.push_screen(HelpScreen(self.WHAT, keys, self.ABOUT))
