"""The node screen: one node's GPUs, containers, chain, system and alerts, live."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from console.state import FleetState, NodeStatus
from console.times import rfc3339_seconds
from screens import cells
from screens.help import HelpScreen, key_rows

GPU_COLUMNS = (
    ("gpu", "GPU", 4),
    ("name", "Name", 24),
    ("util", "Util", 6),
    ("mem", "Memory", 16),
    ("temp", "Temp", 6),
    ("power", "Power", 14),
    ("throttle", "Throttle", 26),
    ("ecc", "ECC", 5),
    ("procs", "Procs", 5),
)
CTR_COLUMNS = (
    ("name", "Container", 16),
    ("image", "Image", 44),
    ("state", "State", 11),
    ("health", "Health", 10),
    ("restarts", "Restarts", 8),
    ("started", "Started", 22),
    ("exit", "Exit", 5),
)


class ContainerAction(Message):
    """Logs (`logs`), `restart` or `stop` of one container of a node."""

    def __init__(self, node: str, container: str, kind: str) -> None:
        super().__init__()
        self.node = node
        self.container = container
        self.kind = kind


class HistoryWanted(Message):
    """The node screen wants its History read from the journal (again)."""

    def __init__(self, screen: NodeScreen) -> None:
        super().__init__()
        self.screen = screen


IMAGE_WIDTH = next(w for key, _, w in CTR_COLUMNS if key == "image")


def short_image(image: str | None, width: int) -> str | None:
    """An image reference that fits `width`, cut at the front: the tag is what tells two
    deploys apart ('…/tmkms-softsign-with-keygen:0.2.9-post2', not 'ghcr.io/…:0.2.')."""
    if image is None or len(image) <= width:
        return image
    return "…" + image[-(width - 1) :]


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _local_time(stamp: str | None) -> str | None:
    """Docker's RFC 3339 StartedAt as this machine's date and time of day."""
    at = rfc3339_seconds(stamp)
    if at is None:
        return None if not stamp or stamp.startswith("0001-") else stamp
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _t(value: object, style: str = "") -> Text:
    return Text("—" if value is None else str(value), style=style)


class NodeScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back", id="back"),
        Binding("1", "tab('gpus')", "GPUs", show=False, id="node.gpus"),
        Binding("2", "tab('containers')", "Containers", show=False, id="node.containers"),
        Binding("3", "tab('chain')", "Chain", show=False, id="node.chain"),
        Binding("4", "tab('system')", "System", show=False, id="node.system"),
        Binding("5", "tab('history')", "History", show=False, id="node.history"),
        Binding("l", "container('logs')", "Logs", id="node.logs"),
        Binding("R", "container('restart')", "Restart", id="node.restart"),
        Binding("S", "container('stop')", "Stop", id="node.stop"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    NodeScreen #node-title { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    NodeScreen TabbedContent { height: 1fr; }
    NodeScreen TabPane { height: 1fr; }
    NodeScreen DataTable { height: auto; max-height: 24; }
    """

    def __init__(self, name: str, state: FleetState | None = None) -> None:
        super().__init__()
        self.node_name = name
        self.state = state

    def on_mount(self) -> None:
        self.ready = True
        if self.state is not None:
            self.show(self.state)
        if self._pending_history is not None:
            self.show_history(*self._pending_history)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(self.node_name, style="bold"), id="node-title")
        with TabbedContent(initial="gpus"):
            with TabPane("GPUs [1]", id="gpus"), VerticalScroll():
                gpus: DataTable[Text] = DataTable(id="gpu-table", zebra_stripes=True)
                for key, title, width in GPU_COLUMNS:
                    gpus.add_column(title, key=key, width=width)
                yield gpus
                yield Static(id="xids")
            with TabPane("Containers [2]", id="containers"):
                ctrs: DataTable[Text] = DataTable(id="ctr-table", zebra_stripes=True)
                for key, title, width in CTR_COLUMNS:
                    ctrs.add_column(title, key=key, width=width)
                yield ctrs
            with TabPane("Chain [3]", id="chain"):
                yield Static(id="chain-text")
            with TabPane("System [4]", id="system"):
                yield Static(id="system-text")
            with TabPane("History [5]", id="history"), VerticalScroll():
                yield Static(id="alerts-text")
                yield Static(id="actions-text")
        yield Footer()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # the arrows move the rows of the tab just opened, not the tab bar
        table = {"gpus": "#gpu-table", "containers": "#ctr-table"}.get(event.pane.id or "")
        if table:
            self.query_one(table, DataTable).focus()
        if event.pane.id == "history":  # read again: a restart a moment ago belongs there
            self.post_message(HistoryWanted(self))
        self.refresh_bindings()  # the footer offers l, R, S on the Containers tab only

    ready = False  # set once composed: updates that come earlier are kept for on_mount

    def show(self, state: FleetState) -> None:
        self.state = state
        if not self.ready:
            return
        node = state.nodes.get(self.node_name)
        if node is None:
            return
        title = Text(self.node_name, style="bold")
        title.append(f"  {node.role} · {node.stack} · cluster {node.cluster}  ")
        title.append_text(cells.node_state(node, state))
        if node.error:
            title.append("  ")
            title.append(node.error, style="red")
        self.query_one("#node-title", Static).update(title)
        self._gpus(node)
        self._containers(node)
        self.query_one("#chain-text", Static).update(self._chain(node))
        self.query_one("#system-text", Static).update(self._system(node))
        self.query_one("#alerts-text", Static).update(self._alerts(state))

    def _gpus(self, node: NodeStatus) -> None:
        table = self.query_one("#gpu-table", DataTable)
        table.clear()
        for g in node.gpus:
            if g.lost:
                table.add_row(
                    _t(g.index),
                    Text("LOST", style="bold red"),
                    *(Text("") for _ in GPU_COLUMNS[3:]),
                    Text(g.error or ""),
                )
                continue
            hot = g.temp_c is not None and g.temp_c >= 85
            table.add_row(
                _t(g.index),
                _t(g.name),
                _t(f"{g.util}%" if g.util is not None else None),
                _t(f"{g.mem_used_mib}/{g.mem_total_mib} MiB"),
                _t(f"{g.temp_c}°C" if g.temp_c is not None else None, "bold red" if hot else ""),
                _t(f"{g.power_w}/{g.power_limit_w} W"),
                _t(
                    ", ".join(g.throttle) or "—",
                    "yellow" if g.throttle and g.throttle != ("gpu_idle",) else "",
                ),
                _t(g.ecc_uncorrected, "bold red" if g.ecc_uncorrected else ""),
                _t(g.processes),
            )
        xids = Text()
        if node.xids:
            xids.append("Xid events (last 10 minutes)\n", style="bold")
            for t, gpu, xid in node.xids:
                xids.append(
                    f"{time.strftime('%H:%M:%S', time.localtime(t))}  GPU {gpu}  Xid {xid}\n",
                    style="red",
                )
        elif node.gpu_error:
            xids.append(f"GPU source: {node.gpu_source}; ", style="dim")
            xids.append(node.gpu_error, style="yellow")
        else:
            xids.append(f"GPU source: {node.gpu_source or '—'}; no Xid events", style="dim")
        self.query_one("#xids", Static).update(xids)

    def _containers(self, node: NodeStatus) -> None:
        table = self.query_one("#ctr-table", DataTable)
        row = table.cursor_row
        selected = self.selected_container()
        table.clear()
        for c in node.containers:
            style = "green" if c.state == "running" else "bold red"
            table.add_row(
                _t(c.name),
                _t(short_image(c.image, IMAGE_WIDTH)),
                _t(c.state, style),
                _t(c.health, "red" if c.health == "unhealthy" else ""),
                _t(c.restarts, "red" if c.restarts else ""),
                _t(_local_time(c.started_at)),
                _t(c.exit_code if c.state != "running" else None),
                key=c.name,
            )
        if table.row_count:
            # the selection stays on the same container, wherever a refresh puts it
            names = [c.name for c in node.containers]
            row = names.index(selected) if selected in names else min(row, table.row_count - 1)
            table.move_cursor(row=row)

    def selected_container(self) -> str | None:
        table = self.query_one("#ctr-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # l, R and S act on the selected container: offered on the Containers tab only
        if action == "container" and self.ready:
            return self.query_one(TabbedContent).active == "containers"
        return True

    def action_container(self, kind: str) -> None:
        """Logs, restart or stop of the container under the cursor (the app confirms and
        refuses in read-only mode)."""
        tabs = self.query_one(TabbedContent)
        table = self.query_one("#ctr-table", DataTable)
        if tabs.active != "containers" or not table.row_count:
            tabs.active = "containers"
            self.notify("Pick a container, then press the key again.", markup=False)
            return
        self.post_message(ContainerAction(self.node_name, str(self.selected_container()), kind))

    def _chain(self, node: NodeStatus) -> Text:
        c = node.chain
        text = Text()
        if c is None:
            text.append(node.chain_error or "no chain on this node", style="dim")
            return text
        rows = [
            ("height", c.height),
            ("catching up", _yes_no(c.catching_up)),
            ("peers", c.peers),
            ("validator in set", _yes_no(c.validator_in_set)),
            ("voting power", c.voting_power),
            ("epoch", c.epoch),
            ("phase", c.phase),
            ("blocks to next PoC", c.blocks_to_poc),
            ("participant weight", c.participant_weight),
            ("in current epoch", _yes_no(c.in_epoch)),
        ]
        for label, value in rows:
            text.append(f"{label:>20}  ", style="dim")
            text.append(f"{value}\n")
        if c.ml_nodes:
            text.append("\nML nodes (admin API)\n", style="bold")
            for ml_id, status, enabled in c.ml_nodes:
                text.append(f"  {ml_id:<16} ")
                text.append(status, style="green" if status == "INFERENCE" else "bold red")
                text.append("" if enabled else "  (disabled)", style="yellow")
                text.append("\n")
        if c.setup_failed:
            text.append("\nsetup report FAIL: ", style="bold red")
            text.append(", ".join(c.setup_failed))
        return text

    def _system(self, node: NodeStatus) -> Text:
        s = node.system
        text = Text()
        uptime = f"{s.uptime_s / 3600:.1f} h" if s.uptime_s else None
        mem = (
            f"{s.mem_available_mib} MiB free of {s.mem_total_mib} MiB" if s.mem_total_mib else None
        )
        for label, value in (
            ("hostname", s.hostname),
            ("os", s.os),
            ("kernel", s.kernel),
            ("driver", s.driver),
            ("docker", s.docker),
            ("uptime", uptime),
            ("load", f"{s.load1:.2f}" if s.load1 is not None else None),
            ("memory", mem),
        ):
            text.append(f"{label:>10}  ", style="dim")
            text.append(f"{value if value is not None else '—'}\n")
        for d in s.disks:
            text.append(f"{'disk':>10}  ", style="dim")
            text.append(
                f"{d.path}: {d.free_gb} GB free ({d.used_pct}% used)\n",
                style="red" if (d.used_pct or 0) > 90 else "",
            )
        for svc in node.services:
            text.append(f"{'service':>10}  ", style="dim")
            text.append(f"{svc.name}: ", style="")
            text.append("ok" if svc.ok else "DOWN", style="green" if svc.ok else "bold red")
            if svc.latency_ms is not None:
                text.append(f" {svc.latency_ms:.0f} ms")
            if svc.detail:
                text.append(f" {svc.detail}", style="dim")
            text.append("\n")
        return text

    def _alerts(self, state: FleetState) -> Text:
        mine = [a for a in state.alerts if a.node == self.node_name]
        text = Text()
        if not mine:
            text.append("no active alerts", style="green")
        for a in mine:
            text.append(f"{a.severity.upper():8} ", style=cells.SEVERITY_STYLE[a.severity])
            text.append(f"{a.summary}\n")
            text.append(f"         {a.evidence}\n", style="dim")
            text.append(f"         next: {a.next_step}\n\n")
        return text

    def show_history(
        self, rows: list, problem: str | None = None, console: list | None = None
    ) -> None:
        """The actions run on this node, from the journal: (Run, StepRecord) newest first,
        and what was done to it from the console (ConsoleAction); or why the journal
        cannot be read."""
        text = Text("\nfrom the console (journal)\n", style="bold")
        if not console and not problem:
            text.append("nothing done to this node from the console\n", style="dim")
        for a in console or []:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.t))
            text.append(f"{when}  {a.action:<15} {a.target:<28} ")
            text.append(f"{a.result:<7}", style="green" if a.result == "done" else "bold red")
            text.append(f" by {a.user}")
            if a.detail:
                text.append(f"\n                     {a.detail}", style="dim")
            text.append("\n")
        text.append("\nactions (journal)\n", style="bold")
        if problem:
            text.append(f"history unavailable: {problem}\n", style="red")
        elif not rows:
            text.append("no action has run on this node yet", style="dim")
        for run, step in rows:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(step.finished or run.started))
            style = {"failed": "bold red", "done": "green"}.get(step.state, "dim")
            text.append(f"{when}  {run.action:<8} {step.step:<14} ")
            text.append(f"{step.state:<10}", style=style)
            text.append(f" run {run.id}")
            if step.attempts > 1:
                text.append(f"  ({step.attempts} attempts)", style="yellow")
            detail = step.error or step.summary
            if detail:
                text.append(f"\n                  {detail}", style="red" if step.error else "dim")
            text.append("\n")
        if self.ready:
            self.query_one("#actions-text", Static).update(text)
        else:
            self._pending_history = (rows, problem, console)

    _pending_history: tuple[list, str | None, list | None] | None = None

    def action_help(self) -> None:
        keys = key_rows(self.app, self.BINDINGS)
        self.app.push_screen(
            HelpScreen(
                f"Node {self.node_name}",
                keys,
                "One node, live: 1-5 switch tabs (5: its alerts and the actions run on it), esc "
                "goes back. On the Containers tab, l "
                "tails the selected container's log; R and S restart and stop it after you "
                "type the container's name (refused with --read-only).",
            )
        )
