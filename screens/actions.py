"""Action screens: pick an action, read its plan, confirm, and watch it run.

The plan screen shows, per node, every step that will change with its exact commands and
file diffs (secrets already masked by the engine). The run screen is a live matrix of
nodes × steps fed by engine events; selecting a cell shows that step's streamed output.
No I/O here: the app computes plans and runs actions, and hands events in through a queue.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from actions.types import Event, EventKind, PlanItem
from screens.help import HelpScreen, key_rows
from screens.inputs import FieldInput
from screens.modals import MODAL_CSS

PLAN_STYLE = {
    "change": ("~", "bold yellow"),
    "unchanged": ("=", "green"),
    "skipped": ("-", "dim"),
    "after": ("?", "cyan"),
    "error": ("!", "bold red"),
}
# column headings of the run matrix: eleven steps fit 120 columns
SHORT = {
    "dependencies": "deps",
    "repository": "repo",
    "configuration": "config",
    "network-init": "net-init",
    "network-full": "net-full",
    "validation": "validate",
}
CELL = {  # state -> (text, style) in the run matrix
    "pending": ("·", "dim"),
    "running": ("…", "bold cyan"),
    "done": ("✓", "bold green"),
    "unchanged": ("=", "green"),
    "passed": ("✓", "green"),
    "skipped": ("-", "dim"),
    "failed": ("✗", "bold red"),
    "cancelled": ("-", "yellow"),
    "retrying": ("↻", "bold yellow"),
}


def _elapsed(seconds: float) -> str:
    """'7s', '2m05', '1h02': short enough for a matrix cell."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


class ActionPickerScreen(ModalScreen[str | None]):
    """The actions this fleet knows; Enter picks one (its plan comes next)."""

    DEFAULT_CSS = MODAL_CSS.format(name="ActionPickerScreen")
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, actions: Iterable[tuple[str, str]], fleet: str) -> None:
        super().__init__()
        self.actions = list(actions)
        self.fleet = fleet

    def compose(self) -> ComposeResult:
        title = Text("Actions on ", style="bold")
        title.append(self.fleet, style="bold yellow")
        with Vertical():
            yield Static(title)
            yield OptionList(
                *[Option(Text(f"{name:<10} {about}"), id=name) for name, about in self.actions],
                id="actions",
            )
            yield Static(Text("enter plans it (nothing changes yet) · esc closes", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


def plan_text(items: list[PlanItem], notes: list[str] = ()) -> Text:
    """The plan, node by node; every remote string is appended as plain text. Notes (what
    the action cannot do) come first, where they are read."""
    out = Text()
    counts = collections.Counter(i.status for i in items)
    out.append(f"{counts['change']} steps will change", style="bold yellow")
    out.append(f", {counts['unchanged']} unchanged, {counts['skipped']} skipped")
    if counts["error"]:
        out.append(f", {counts['error']} cannot be checked", style="bold red")
    if not counts["change"] and not counts["error"]:
        out.append("\nnothing to change: every step is already done", style="green")
    out.append("\n")
    for note in notes:
        out.append("\n! ", style="bold yellow")
        out.append(note, style="yellow")
    if notes:
        out.append("\n")
    for node in dict.fromkeys(i.node for i in items):
        out.append(f"\n{node}\n", style="bold")
        for item in (i for i in items if i.node == node):
            mark, style = PLAN_STYLE[item.status]
            out.append(f"  {mark} ", style=style)
            out.append(f"{item.step:<14}", style=style)
            if item.change is not None:
                out.append(item.change.summary + "\n")
                for command in item.change.commands:
                    out.append("      $ ", style="dim")
                    out.append(command + "\n", style="cyan")
                for line in item.change.diff.splitlines():
                    color = (
                        "green" if line.startswith("+") else "red" if line.startswith("-") else ""
                    )
                    out.append(f"      {line}\n", style=color)
            elif item.status == "error":
                out.append(f"cannot check: {item.reason}\n", style="red")
            else:
                out.append((item.reason or "unchanged") + "\n", style="dim")
    return out


class PlanScreen(Screen[bool]):
    """The dry run: what the action would change on each node. `y` goes on to confirm."""

    BINDINGS = [
        Binding("y", "go", "Apply…", id="plan.apply"),
        Binding("escape,n", "back", "Back", id="back"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    PlanScreen #plan-title { height: auto; padding: 0 1; background: $boost; }
    PlanScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(
        self, action: str, fleet: str, items: list[PlanItem], notes: list[str] = ()
    ) -> None:
        super().__init__()
        self.action = action
        self.fleet = fleet
        self.items = items
        self.notes = list(notes)

    def compose(self) -> ComposeResult:
        yield Header()
        title = Text(f"Plan: {self.action} on ", style="bold")
        title.append(self.fleet, style="bold yellow")
        title.append("   (dry run: nothing has changed)", style="dim")
        yield Static(title, id="plan-title")
        with VerticalScroll():
            yield Static(plan_text(self.items, self.notes), id="plan")
        yield Footer()

    def action_go(self) -> None:
        if not any(i.status == "change" for i in self.items):
            self.notify("Nothing to change.", markup=False)
            return
        self.dismiss(True)

    def action_back(self) -> None:
        self.dismiss(False)

    def action_help(self) -> None:
        keys = key_rows(self.app, self.BINDINGS)
        keys.append(("↑/↓ pgup/pgdn", "scroll"))
        about = (
            "What the action would do, node by node: ~ will change (with the exact commands "
            "and file diffs, secrets masked), = already done, - not for this node, ! cannot "
            "be checked (the node is unreachable, or a setting is missing)."
        )
        self.app.push_screen(HelpScreen("Plan", keys, about))


class ConfirmNameScreen(ModalScreen[bool]):
    """A destructive step asks for a name to be typed: the fleet's, a node's."""

    DEFAULT_CSS = MODAL_CSS.format(name="ConfirmNameScreen")
    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, what: str, name: str) -> None:
        super().__init__()
        self.what = what
        self.expected = name

    def compose(self) -> ComposeResult:

        text = Text(self.what + "\n\n", style="bold")
        text.append("Type ")
        text.append(self.expected, style="bold yellow")
        text.append(" to confirm, or esc to cancel.")
        with Vertical():
            yield Static(text)
            yield FieldInput(placeholder=self.expected, id="confirm-name")
            yield Static(Text("", style="red"), id="confirm-error")

    def on_input_submitted(self, event) -> None:
        if event.value == self.expected:
            self.dismiss(True)
            return
        self.query_one("#confirm-error", Static).update(
            Text(f"that is not {self.expected!r}; nothing was done", style="red")
        )


class ForceScreen(ModalScreen[str]):
    """A change that should wait (Stack.hold_changes): it says why and when the window
    opens, and goes on only with a reason typed, which the journal keeps; esc cancels."""

    DEFAULT_CSS = MODAL_CSS.format(name="ForceScreen")
    BINDINGS = [Binding("escape", "dismiss('')", "Cancel")]

    def __init__(self, what: str, hold: str) -> None:
        super().__init__()
        self.what, self.hold = what, hold

    def compose(self) -> ComposeResult:
        text = Text(self.what + "\n\n", style="bold")
        text.append("Wait: ", style="bold yellow")
        text.append(self.hold + ".\n\n")
        text.append("To go on anyway, type why (the journal keeps it with your name), ")
        text.append("or esc to cancel.")
        with Vertical():
            yield Static(text)
            yield FieldInput(placeholder="the reason to act now", id="force-reason")
            yield Static(Text("", style="red"), id="force-error")

    def on_input_submitted(self, event) -> None:
        reason = event.value.strip()
        if reason:
            self.dismiss(reason)
            return
        self.query_one("#force-error", Static).update(
            Text("a reason is needed to go on; esc cancels", style="red")
        )


class MnemonicScreen(ModalScreen[None]):
    """A new cold key's mnemonic, shown once: it stays until the operator types the
    cluster's name to say it is written down (there is no other copy; esc does nothing)."""

    DEFAULT_CSS = (
        MODAL_CSS.format(name="MnemonicScreen")
        + """
    MnemonicScreen #mnemonic { border: heavy $warning; padding: 1 2; margin: 1 0; }
    """
    )

    def __init__(self, cluster: str, address: str, mnemonic: str) -> None:
        super().__init__()
        self.cluster, self.address, self.mnemonic = cluster, address, mnemonic

    def compose(self) -> ComposeResult:
        head = Text(f"Cluster {self.cluster}: new account key ", style="bold")
        head.append(self.address, style="bold")
        head.append(
            "\nIts mnemonic, shown once. Write it down now and keep it offline: it is the "
            "only way to recover this account, and fleetdeck keeps no copy."
        )
        tail = Text("Type ")
        tail.append(self.cluster, style="bold yellow")
        tail.append(" once it is written down.")
        with Vertical():
            yield Static(head)
            yield Static(Text(self.mnemonic, style="bold"), id="mnemonic")
            yield Static(tail)
            yield FieldInput(placeholder=self.cluster, id="written-down")
            yield Static(Text("", style="red"), id="mnemonic-error")

    def on_input_submitted(self, event) -> None:
        if event.value == self.cluster:
            self.mnemonic = ""
            self.dismiss(None)
            return
        self.query_one("#mnemonic-error", Static).update(
            Text(f"type {self.cluster!r} once the mnemonic is written down", style="red")
        )


class CancelRun(Message):
    """Cancel the running action: running steps finish, nothing new starts."""


class ResumeRun(Message):
    """Resume run `run_id` of `action` where each node stopped."""

    def __init__(self, action: str, run_id: str) -> None:
        super().__init__()
        self.action = action
        self.run_id = run_id


class RunScreen(Screen[None]):
    """The live matrix: one row per node, one column per step; Enter on a cell shows its
    output. Events arrive through `feed`, drained a few times a second."""

    BINDINGS = [
        Binding("enter", "show_output", "Output", id="run.output"),
        Binding("c", "cancel", "Cancel run", id="run.cancel"),
        Binding("r", "resume", "Resume", id="run.resume"),
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    RunScreen #run-title { height: auto; padding: 0 1; background: $boost; }
    RunScreen #matrix { height: auto; max-height: 60%; }
    RunScreen #output-title { height: 1; padding: 0 1; background: $boost; }
    RunScreen RichLog { height: 1fr; }
    """

    def __init__(
        self,
        action: str,
        fleet: str,
        nodes: list[str],
        steps: list[str],
        feed: collections.deque[Event],
    ) -> None:
        super().__init__()
        self.action = action
        self.fleet = fleet
        self.nodes = nodes
        self.steps = steps
        self.feed = feed
        self.states: dict[tuple[str, str], str] = {(n, s): "pending" for n in nodes for s in steps}
        self.attempts: dict[tuple[str, str], int] = {}
        self.progress: dict[tuple[str, str], float] = {}
        self.since: dict[tuple[str, str], float] = {}  # when a running cell started
        self.limits: dict[tuple[str, str], float] = {}  # its limit per command, seconds
        self._ticked = 0.0
        self.output: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
        self.run_id = ""
        self.outcome = "running"
        self.selected: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._title(), id="run-title")
        table: DataTable[Text] = DataTable(id="matrix", cursor_type="cell")
        table.add_column("node", width=12, key="node")
        labels = [SHORT.get(step, step)[:10] for step in self.steps]
        width = max((len(label) for label in labels), default=6)
        for step, label in zip(self.steps, labels, strict=True):
            table.add_column(Text(label), width=width, key=step)
        for node in self.nodes:
            table.add_row(Text(node), *[self._cell(node, s) for s in self.steps], key=node)
        yield table
        yield Static(Text("output: select a cell and press enter", style="dim"), id="output-title")
        yield RichLog(id="output", markup=False, highlight=False, wrap=True, max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(0.2, self.drain)

    def _title(self) -> Text:
        t = Text(f"{self.action} on ", style="bold")
        t.append(self.fleet, style="bold yellow")
        counts = collections.Counter(self.states.values())
        t.append(f"   run {self.run_id or '…'}: {self.outcome}", style="bold")
        ok = counts["done"] + counts["passed"]
        t.append(
            f"   ✓ {ok}  = {counts['unchanged']}  … {counts['running']}  "
            f"✗ {counts['failed']}  · {counts['pending']}"
        )
        return t

    def _cell(self, node: str, step: str) -> Text:
        key = (node, step)
        state = self.states[key]
        text, style = CELL.get(state, (state[:3], ""))
        if state == "running" and key in self.progress:
            text = f"{self.progress[key]:.0f}%"
        elif state == "running" and key in self.since:
            text = _elapsed(time.monotonic() - self.since[key])
        if state in ("running", "retrying") and self.attempts.get(key, 1) > 1:
            text += f"↻{self.attempts[key]}"
        return Text(text, style=style)

    def drain(self) -> None:
        """Apply the events that arrived since the last drain; once a second, the running
        cells' clocks."""
        changed: set[tuple[str, str]] = set()
        while self.feed:
            event = self.feed.popleft()
            self.apply_event(event, changed)
        now = time.monotonic()
        if now - self._ticked >= 1.0:
            self._ticked = now
            changed |= {k for k, v in self.states.items() if v == "running" and k in self.since}
            if self.selected in changed:
                self._output_title()
        if not changed:
            return
        table = self.query_one("#matrix", DataTable)
        for node, step in changed:
            if step in self.steps and node in self.nodes:
                table.update_cell(node, step, self._cell(node, step))
        self.query_one("#run-title", Static).update(self._title())

    def apply_event(self, event: Event, changed: set[tuple[str, str]]) -> None:
        key = (event.node, event.step)
        if event.kind == EventKind.RUN:
            self.run_id = event.run_id
            self.outcome = event.state
            changed.add(("", ""))
        elif event.kind == EventKind.STATE:
            state = (
                "passed" if event.state == "unchanged" and event.text == "passed" else event.state
            )
            self.states[key] = state
            if state == "running":
                self.since[key] = time.monotonic()
                if event.timeout:
                    self.limits[key] = event.timeout
            if event.attempt:
                self.attempts[key] = event.attempt + (1 if state == "retrying" else 0)
            # (a failure's cause came as its own ✗ line just before: not said twice)
            changed.add(key)
        elif event.kind == EventKind.PROGRESS and event.progress is not None:
            self.progress[key] = event.progress
            changed.add(key)
        elif event.kind == EventKind.LINE:
            self._line(key, event.text)

    def _line(self, key: tuple[str, str], text: str) -> None:
        lines = self.output[key]
        lines.append(text)
        del lines[:-2000]
        if key == self.selected:
            self.query_one("#output", RichLog).write(Text(text))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.show_output(str(event.cell_key.row_key.value), str(event.cell_key.column_key.value))

    def action_show_output(self) -> None:
        table = self.query_one("#matrix", DataTable)
        cell = table.coordinate_to_cell_key(Coordinate(table.cursor_row, table.cursor_column))
        self.show_output(str(cell.row_key.value), str(cell.column_key.value))

    def show_output(self, node: str, step: str) -> None:
        if step == "node":
            return
        self.selected = (node, step)
        log = self.query_one("#output", RichLog)
        log.clear()
        for line in self.output.get(self.selected, []):
            log.write(Text(line))
        self._output_title()

    def _output_title(self) -> None:
        if self.selected is None:
            return
        node, step = self.selected
        state = self.states[self.selected]
        title = Text(f"output of {step} on ", style="bold")
        title.append(node, style="bold yellow")
        if state == "running" and self.selected in self.since:
            said = f"running for {_elapsed(time.monotonic() - self.since[self.selected])}"
            if self.selected in self.limits:
                said += f"; each command may take up to {_elapsed(self.limits[self.selected])}"
            title.append(f"  ({said})")
        else:
            title.append(f"  ({state})")
        self.query_one("#output-title", Static).update(title)

    def action_cancel(self) -> None:
        if self.outcome != "running":
            self.notify("The run has ended.", markup=False)
            return
        self.post_message(CancelRun())
        self.notify("Cancelling: running steps finish, nothing new starts.", markup=False)

    def action_resume(self) -> None:
        if self.outcome in ("running", "succeeded"):
            self.notify("Resume is for a run that failed or was cancelled.", markup=False)
            return
        for key, state in self.states.items():
            if state in ("failed", "cancelled", "pending", "retrying"):
                self.states[key] = "pending"
        self.outcome = "resuming"
        self.post_message(ResumeRun(self.action, self.run_id))

    def action_help(self) -> None:
        keys = key_rows(self.app, self.BINDINGS)
        keys.append(("arrows", "move between cells"))
        about = (
            "Nodes × steps, live: a running cell shows how long it has run (or % for "
            "downloads), ✓ done, = already done, ✗ failed, ↻ retrying (↻2: the second "
            "attempt), - skipped or cancelled, · not "
            "started. The run continues if you go back; the journal keeps every line."
        )
        self.app.push_screen(HelpScreen("Run", keys, about))
