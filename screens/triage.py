"""The triage screen: active alerts across the fleet by severity and age, with evidence;
Enter opens the runbook card for the alert; `a` acknowledges (hidden until it changes)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Static

from console.core.accelerators import runbook as device_runbook
from console.core.monitor.runbooks import RUNBOOKS
from console.core.profile.schema import FleetProfile
from console.core.stacks import Remedy, stack_of
from console.core.state import Alert, FleetState
from screens import cells
from screens.help import HelpScreen, key_rows
from screens.live import LiveScreen
from screens.node import ContainerAction


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s}s" if s < 120 else (f"{s // 60}m" if s < 7200 else f"{s // 3600}h")


class Acknowledged(Message):
    """An alert acknowledged, or its acknowledgement withdrawn (by the operator, or because
    the alert changed): the app records it in the journal, where it outlives the console."""

    def __init__(self, alert: Alert, withdrawn: str | None = None) -> None:
        super().__init__()
        self.alert = alert
        self.withdrawn = withdrawn  # None: acknowledged; else why it was withdrawn


class ApplyRemedy(Message):
    """Apply the fix the node's stack offers for an alert (Stack.remedy)."""

    def __init__(self, remedy: Remedy) -> None:
        super().__init__()
        self.remedy = remedy


CONTAINER_KINDS = ("container_exited", "container_restarting", "container_unhealthy")


class RunbookScreen(ModalScreen[None]):
    """The runbook card of one alert: evidence, meaning, checks, and the actions at hand
    (logs, restart, the fix its stack offers, a command to copy)."""

    DEFAULT_CSS = """
    RunbookScreen { align: center middle; }
    RunbookScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 85%; border: round $error;
        background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,enter,q", "dismiss", "Close"),
        Binding("l", "logs", "Logs", id="runbook.logs"),
        Binding("R", "restart", "Restart", id="runbook.restart"),
        Binding("d", "remedy", "Fix", id="runbook.disable"),
        Binding("c", "copy", "Copy command", id="runbook.copy"),
    ]

    def __init__(self, alert: Alert, fleet: FleetProfile | None = None) -> None:
        super().__init__()
        self.alert = alert
        kind, _, detail = alert.kind.partition(":")
        self.container = detail if kind in CONTAINER_KINDS else None
        # the stack's adapter knows its remedies (one the console can apply, a command only
        # the operator can run, with a key that is not here)
        stack = stack_of(fleet, alert.node) if fleet is not None else None
        node = fleet.node(alert.node) if fleet is not None else None
        self.stack = stack
        self.remedy = stack.remedy(fleet, alert.node, alert.kind) if stack else None
        self.command = stack.operator_command(fleet, node, alert.kind) if stack and node else None

    def compose(self) -> ComposeResult:
        a = self.alert
        base = a.kind.split(":")[0]
        book = (
            self.stack.runbook(a.kind) if self.stack else device_runbook(base) or RUNBOOKS.get(base)
        )
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
                text.append("\nby hand\n", style="bold")
                for action in book.actions:
                    text.append(f"  • {action}\n")
        keys = []
        if self.container:
            keys += [("l", f"the log of {self.container}"), ("R", f"restart {self.container}")]
        if self.remedy:
            keys.append(("d", self.remedy.label))
        if self.command:
            keys.append(("c", "copy this command, to run where the key it needs is"))
        if keys:
            text.append("\nactions at hand\n", style="bold")
            for key, what in keys:
                text.append(f"  {key}", style="bold yellow")
                text.append(f"  {what}\n")
        if self.command:
            text.append("\n  ")
            text.append(self.command, style="cyan")
            text.append("\n")
        text.append("\nesc closes", style="dim")
        with VerticalScroll():
            yield Static(text)

    def _not_here(self, what: str) -> None:
        self.notify(f"No {what} for this alert.", markup=False)

    def action_logs(self) -> None:
        if not self.container:
            return self._not_here("container")
        self.dismiss(None)
        self.app.post_message(ContainerAction(self.alert.node, self.container, "logs"))

    def action_restart(self) -> None:
        if not self.container:
            return self._not_here("container")
        self.dismiss(None)
        self.app.post_message(ContainerAction(self.alert.node, self.container, "restart"))

    def action_remedy(self) -> None:
        if not self.remedy:
            return self._not_here("fix to apply")
        self.dismiss(None)
        self.app.post_message(ApplyRemedy(self.remedy))

    def action_copy(self) -> None:
        if not self.command:
            return self._not_here("command")
        self.app.copy_to_clipboard(self.command)
        self.notify("Command copied: run it where the key it needs lives.", markup=False)


class TriageScreen(LiveScreen):
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

    def __init__(self, state: FleetState | None = None, fleet: FleetProfile | None = None) -> None:
        super().__init__()
        self.state = state
        self.fleet = fleet
        self.acknowledged: dict[tuple[str, str], str] = {}
        # running mutes (`fleetdeck mute`): (node, kind or "*") -> until (unix time)
        self.muted: dict[tuple[str, str], float] = {}
        self.shown: list[Alert] = []

    ready = False  # set once composed: updates that come earlier are kept for on_mount

    def on_mount(self) -> None:
        self.ready = True
        if self.state is not None:
            self.show(self.state)

    def on_unmount(self) -> None:
        self.ready = False  # closed: what the journal answers later has nothing to draw on

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("waiting for the first snapshot…", style="dim"), id="triage-summary")
        table: DataTable[Text] = DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        names = self.state.nodes if self.state is not None else {}
        longest = max((len(n) for n in names), default=0)  # GKE's names are long
        for key, title, width in (
            ("sev", "Severity", 9),
            ("age", "Age", 6),
            ("node", "Node", min(40, max(16, longest))),
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
        # an acknowledged alert comes back when what it says changes (worse, or cleared
        # and back): its acknowledgement is withdrawn
        for key, summary in list(self.acknowledged.items()):
            current = next((a for a in state.alerts if (a.node, a.kind) == key), None)
            if current is None or current.summary != summary:
                del self.acknowledged[key]
                gone = current or Alert(key[0], key[1], "info", summary, 0.0, "", "")
                why = "the alert cleared" if current is None else "the alert changed"
                self.post_message(Acknowledged(gone, withdrawn=why))

        def quiet(a: Alert) -> str | None:
            if (a.node, a.kind) in self.acknowledged:
                return "ack'd"
            until = self.muted.get((a.node, a.kind)) or self.muted.get((a.node, "*"))
            if until is not None and until > state.taken_at:
                return "muted"
            return None

        active = [a for a in state.alerts if quiet(a) is None]
        # acknowledged and muted ones stay listed, last and dimmed: `a` on one withdraws
        # its acknowledgement; `fleetdeck unmute` ends a mute
        held = [a for a in state.alerts if quiet(a) is not None]
        alerts = active + held
        table = self.query_one("#alerts", DataTable)
        cursor = table.cursor_row
        selected = self._current()
        table.clear()
        for a in alerts:
            word = quiet(a)
            acked = word is not None
            table.add_row(
                Text(word, style="dim")
                if word
                else Text(a.severity, style=cells.SEVERITY_STYLE[a.severity]),
                Text(_age(state.taken_at - a.since), style="dim" if acked else ""),
                Text(a.node, style="dim" if acked else "bold"),
                Text(a.summary, style="dim" if acked else ""),
                Text(a.evidence, style="dim"),
                key=f"{a.node}|{a.kind}",
            )
        self.shown = alerts
        if alerts:
            # the cursor stays on the alert it was on, wherever the new order puts it
            keys = [(a.node, a.kind) for a in alerts]
            key = (selected.node, selected.kind) if selected else None
            table.move_cursor(row=keys.index(key) if key in keys else min(cursor, len(keys) - 1))
        crit = sum(a.severity == "critical" for a in active)
        summary = Text()
        word = "alert" if len(active) == 1 else "alerts"
        summary.append(f"{len(active)} active {word}", style="bold")
        summary.append(f"  ·  {crit} critical", style="bold red" if crit else "green")
        if self.acknowledged:
            summary.append(f"  ·  {len(self.acknowledged)} acknowledged", style="dim")
        muted = sum(quiet(a) == "muted" for a in held)
        if muted:
            summary.append(f"  ·  {muted} muted (fleetdeck mute)", style="dim")
        self.query_one("#triage-summary", Static).update(summary)

    def _current(self) -> Alert | None:
        table = self.query_one("#alerts", DataTable)
        if not self.shown or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def action_runbook(self) -> None:
        alert = self._current()
        if alert is not None:
            self.app.push_screen(RunbookScreen(alert, self.fleet))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # the row that was selected, by its key: not whatever now sits at its index
        alert = next((a for a in self.shown if f"{a.node}|{a.kind}" == event.row_key.value), None)
        if alert is not None:
            self.app.push_screen(RunbookScreen(alert, self.fleet))

    def action_acknowledge(self) -> None:
        """Acknowledge the selected alert, or withdraw its acknowledgement."""
        alert = self._current()
        if alert is None or self.state is None:
            return
        key = (alert.node, alert.kind)
        if key in self.acknowledged:
            del self.acknowledged[key]
            self.notify(f"acknowledgement withdrawn: {alert.node}: {alert.summary}", markup=False)
            self.post_message(Acknowledged(alert, withdrawn="withdrawn by the operator"))
        else:
            self.acknowledged[key] = alert.summary
            self.notify(f"acknowledged: {alert.node}: {alert.summary}", markup=False)
            self.post_message(Acknowledged(alert))
        self.show(self.state)

    def held(
        self, acks: dict[tuple[str, str], str], mutes: dict[tuple[str, str], float] | None = None
    ) -> None:
        """The acknowledgements the journal holds (from this console or an earlier one),
        and the mutes running (`fleetdeck mute`, which the watch honours too)."""
        self.acknowledged.update(acks)
        self.muted = dict(mutes or {})
        if self.state is not None and self.is_attached:  # the screen may have closed meanwhile
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
