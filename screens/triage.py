"""The triage screen: active alerts across the fleet by severity and age, with evidence;
Enter opens the runbook card for the alert; `a` acknowledges (hidden until it changes)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.monitor.runbooks import runbook_for
from console.state import Alert, FleetState
from screens import cells
from screens.help import HelpScreen, key_rows


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s}s" if s < 120 else (f"{s // 60}m" if s < 7200 else f"{s // 3600}h")


class RunbookScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    RunbookScreen { align: center middle; }
    RunbookScreen > VerticalScroll {
        width: 90; height: auto; max-height: 85%; border: round $error;
        background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert

    def compose(self) -> ComposeResult:
        a = self.alert
        book = runbook_for(a.kind)
        text = Text()
        text.append(f"{a.severity.upper()}  ", style=cells.SEVERITY_STYLE[a.severity])
        text.append(a.node, style="bold")
        text.append(": ")
        text.append(a.summary)
        text.append("\n\nevidence\n", style="bold")
        text.append(a.evidence)
        text.append("\n\nnext step\n", style="bold")
        text.append(a.next_step)
        if book is not None:
            text.append(f"\n\n{book.title}: what it means\n", style="bold")
            text.append(book.meaning)
            text.append("\n\nwhat to check\n", style="bold")
            for check in book.checks:
                text.append(f"  • {check}\n")
            if book.actions:
                text.append("\nactions\n", style="bold")
                for action in book.actions:
                    text.append(f"  • {action}\n")
        text.append("\nesc closes", style="dim")
        with VerticalScroll():
            yield Static(text)


class TriageScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "runbook", "Runbook", id="triage.runbook"),
        Binding("a", "acknowledge", "Acknowledge", id="triage.acknowledge"),
        Binding("o", "open_node", "Open node", id="triage.open_node"),
        Binding("escape,f", "app.pop_screen", "Back", id="back"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    TriageScreen #triage-summary { height: auto; padding: 0 1; background: $boost; }
    TriageScreen DataTable { height: 1fr; }
    """

    def __init__(self, state: FleetState | None = None) -> None:
        super().__init__()
        self.state = state
        self.acknowledged: dict[tuple[str, str], str] = {}
        self.shown: list[Alert] = []

    ready = False  # set once composed: updates that come earlier are kept for on_mount

    def on_mount(self) -> None:
        self.ready = True
        if self.state is not None:
            self.show(self.state)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("waiting for the first snapshot…", style="dim"), id="triage-summary")
        table: DataTable[Text] = DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        for key, title, width in (
            ("sev", "Severity", 9),
            ("age", "Age", 6),
            ("node", "Node", 16),
            ("summary", "Problem", 50),
            ("evidence", "Evidence", 60),
        ):
            table.add_column(title, key=key, width=width)
        yield table
        yield Footer()

    def show(self, state: FleetState) -> None:
        self.state = state
        if not self.ready:
            return
        # an acknowledged alert comes back when what it says changes
        for key, summary in list(self.acknowledged.items()):
            current = next((a for a in state.alerts if (a.node, a.kind) == key), None)
            if current is None or current.summary != summary:
                del self.acknowledged[key]
        alerts = [a for a in state.alerts if (a.node, a.kind) not in self.acknowledged]
        table = self.query_one("#alerts", DataTable)
        cursor = table.cursor_row
        table.clear()
        for a in alerts:
            table.add_row(
                Text(a.severity, style=cells.SEVERITY_STYLE[a.severity]),
                Text(_age(state.taken_at - a.since)),
                Text(a.node, style="bold"),
                Text(a.summary),
                Text(a.evidence, style="dim"),
                key=f"{a.node}|{a.kind}",
            )
        self.shown = alerts
        if alerts:
            table.move_cursor(row=min(cursor, len(alerts) - 1))
        crit = sum(a.severity == "critical" for a in alerts)
        summary = Text()
        summary.append(f"{len(alerts)} active alerts", style="bold")
        summary.append(f"  ·  {crit} critical", style="bold red" if crit else "green")
        if self.acknowledged:
            summary.append(f"  ·  {len(self.acknowledged)} acknowledged", style="dim")
        self.query_one("#triage-summary", Static).update(summary)

    def _current(self) -> Alert | None:
        table = self.query_one("#alerts", DataTable)
        if not self.shown or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def action_runbook(self) -> None:
        alert = self._current()
        if alert is not None:
            self.app.push_screen(RunbookScreen(alert))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_runbook()

    def action_acknowledge(self) -> None:
        alert = self._current()
        if alert is not None and self.state is not None:
            self.acknowledged[(alert.node, alert.kind)] = alert.summary
            self.show(self.state)

    def action_open_node(self) -> None:
        alert = self._current()
        if alert is not None:
            from screens.fleet import OpenNode

            self.post_message(OpenNode(alert.node))

    def action_help(self) -> None:
        keys = key_rows(self.app, self.BINDINGS)
        self.app.push_screen(
            HelpScreen(
                "Triage",
                keys,
                "Active alerts, worst first. Enter "
                "opens the runbook card; a hides an alert until it "
                "changes.",
            )
        )
