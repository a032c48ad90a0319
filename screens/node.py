"""The node screen: one node's GPUs, containers, chain, system and alerts, live."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from console.core import accelerators
from console.core.stacks import STACKS
from console.core.state import FleetState, Gpu, NodeStatus
from console.core.times import rfc3339_seconds
from screens import cells
from screens.help import HelpScreen, key_rows
from screens.live import LiveScreen

GPU_COLUMNS = (  # key, title, width
    ("gpu", "GPU", 3),
    ("name", "Name", 16),
    ("util", "Util", 4),
    ("mem", "Memory", 13),
    ("temp", "Temp", 5),
    ("power", "Power", 9),
    ("throttle", "Throttle", 12),  # widens into what is left: reasons, or why a GPU is lost
    ("ecc", "ECC", 3),
    ("procs", "Procs", 5),
)
# what stays as the terminal narrows: the name is the same on every GPU of a node, and the
# line under the table says it when the column goes
GPU_PRIORITY = ("gpu", "util", "mem", "temp", "power", "throttle", "ecc", "procs", "name")
CTR_COLUMNS = (
    ("name", "Container", 14),
    ("image", "Image", 18),  # widens into what is left, cut at the front (the tag shows)
    ("state", "State", 10),
    ("health", "Health", 9),
    ("restarts", "Restarts", 8),
    ("started", "Started", 19),
    ("exit", "Exit", 4),
)
CTR_PRIORITY = ("name", "state", "health", "restarts", "exit", "image", "started")
EDGE = 4  # the tab pane's scrollbar and the table's own


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


def short_image(image: str | None, width: int) -> str | None:
    """An image reference that fits `width`, cut at the front: the tag is what tells two
    deploys apart ('…/tmkms-softsign-with-keygen:0.2.9-post2', not 'ghcr.io/…:0.2.')."""
    if image is None or len(image) <= width:
        return image
    return "…" + image[-(width - 1) :]


def _misses(served: int | None, missed: int | None) -> str | None:
    """ "12 of 400 (3.0 %)": the requests the chain says the host missed."""
    if served is None or missed is None:
        return None
    total = served + missed
    return f"{missed} of {total}" + (f" ({missed / total:.1%})" if total else "")


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _local_time(stamp: str | None) -> str | None:
    """Docker's RFC 3339 StartedAt as this machine's date and time of day."""
    at = rfc3339_seconds(stamp)
    if at is None:
        return None if not stamp or stamp.startswith("0001-") else stamp
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _model(g: Gpu) -> str | None:
    """Its model, short: 'H100 80GB HBM3' (its vendor's prefix left off)."""
    return accelerators.of(g.vendor).short_model(g.name)


def _gib(used_mib: int | None, total_mib: int | None) -> str:
    if used_mib is None or total_mib is None:
        return "—"
    return f"{used_mib / 1024:.1f}/{total_mib / 1024:.1f} GiB"


def _watts(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _t(value: object, style: str = "") -> Text:
    return Text("—" if value is None else str(value), style=style)


class NodeScreen(LiveScreen):
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
    NodeScreen #node-sources { height: auto; max-height: 2; padding: 0 1; background: $boost; }
    NodeScreen TabbedContent { height: 1fr; }
    NodeScreen TabPane { height: 1fr; }
    NodeScreen DataTable { height: auto; max-height: 24; }
    """

    def __init__(self, name: str, state: FleetState | None = None) -> None:
        super().__init__()
        self.node_name = name
        self.state = state

    def on_mount(self) -> None:
        self._lay_out(self.app.size.width)
        self.ready = True
        if self.state is not None:
            self.show(self.state)
        if self._pending_history is not None:
            self.show_history(*self._pending_history)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(self.node_name, style="bold"), id="node-title")
        sources = Static(id="node-sources")
        sources.display = False  # shown once the node's values name their sources
        yield sources
        with TabbedContent(initial="gpus"):
            with TabPane("GPUs [1]", id="gpus"), VerticalScroll():
                yield DataTable(id="gpu-table", zebra_stripes=True)
                yield Static(id="events")
            with TabPane("Containers [2]", id="containers"):
                yield DataTable(id="ctr-table", zebra_stripes=True)
            with TabPane("Chain [3]", id="chain"):
                yield Static(id="chain-text")
            with TabPane("System [4]", id="system"):
                yield Static(id="system-text")
            with TabPane("History [5]", id="history"), VerticalScroll():
                yield Static(id="alerts-text")
                yield Static(id="actions-text")
        yield Footer()

    gpu_columns: tuple[cells.Column, ...] = ()
    ctr_columns: tuple[cells.Column, ...] = ()

    def _lay_out(self, width: int) -> bool:
        """Fit both tables to the terminal; True when their columns changed."""
        gpu = cells.fit_columns(
            GPU_COLUMNS, GPU_PRIORITY, width - EDGE, grow="throttle", grow_max=40
        )
        ctr = cells.fit_columns(CTR_COLUMNS, CTR_PRIORITY, width - EDGE, grow="image", grow_max=60)
        if (gpu, ctr) == (self.gpu_columns, self.ctr_columns):
            return False
        self.gpu_columns, self.ctr_columns = gpu, ctr
        for table_id, columns in (("#gpu-table", gpu), ("#ctr-table", ctr)):
            table = self.query_one(table_id, DataTable)
            table.clear(columns=True)
            for key, title, w in columns:
                table.add_column(title, key=key, width=w)
        return True

    def on_resize(self, event) -> None:
        if self._lay_out(event.size.width) and self.state is not None:
            self.show(self.state)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # the arrows move the rows of the tab just opened, not the tab bar
        table = {"gpus": "#gpu-table", "containers": "#ctr-table"}.get(event.pane.id or "")
        if table:
            self.set_focus(self.query_one(table, DataTable))  # now, not after queued keys
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
        if node.sources:  # a status built by hand has none to name
            line = self.query_one("#node-sources", Static)
            line.update(cells.sources_line(node, state.taken_at, state.interval))
            line.display = True
        self._gpus(node)
        self._containers(node)
        info = STACKS.get(node.stack)
        if info is not None and info.provider_view is not None and not info.chain_roles:
            # the tab shows its stack's provider, not a chain: named so (once, not per tick)
            tab = self.query_one(TabbedContent).get_tab("chain")
            if str(tab.label) != "Provider [3]":
                tab.label = "Provider [3]"
        self.query_one("#chain-text", Static).update(self._chain(node))
        self.query_one("#system-text", Static).update(self._system(node))
        self.query_one("#alerts-text", Static).update(self._alerts(state))

    def _gpus(self, node: NodeStatus) -> None:
        table = self.query_one("#gpu-table", DataTable)
        table.clear()
        keys = [key for key, _, _ in self.gpu_columns]
        width = dict((key, w) for key, _, w in self.gpu_columns)
        for g in node.gpus:
            if g.lost:
                row = {"gpu": _t(g.index), "util": Text("LOST", style="bold red")}
                # why, in the widest cell there is: "GPU is lost", not "GPU i"
                why = next((k for k in ("throttle", "name") if k in width), None)
                if why:
                    row[why] = Text(g.error or "fell off the bus", style="red")
                table.add_row(*(row.get(k, Text("")) for k in keys))
                continue
            hot = g.temp_c is not None and g.temp_c >= 85
            words, alarming = accelerators.of(g.vendor).device_state(g)
            row = {
                "gpu": _t(g.index),
                "name": _t(_model(g)),
                "util": _t(f"{g.util}%" if g.util is not None else None),
                "mem": _t(_gib(g.mem_used_mib, g.mem_total_mib)),
                "temp": _t(
                    f"{g.temp_c}°C" if g.temp_c is not None else None, "bold red" if hot else ""
                ),
                "power": _t(f"{_watts(g.power_w)}/{_watts(g.power_limit_w)} W"),
                "throttle": _t(words, "yellow" if alarming else ""),
                "ecc": _t(g.ecc_uncorrected, "bold red" if g.ecc_uncorrected else ""),
                "procs": _t(g.processes),
            }
            table.add_row(*(row[k] for k in keys))
        said = Text()
        models = sorted({m for g in node.gpus if (m := _model(g))})
        if models and "name" not in width:  # the column went for lack of room
            said.append(f"{len(node.gpus)} × {', '.join(models)}\n", style="bold")
        vendors = [accelerators.of(v) for v in dict.fromkeys(g.vendor for g in node.gpus)]
        if node.events:
            for vendor in dict.fromkeys(v for *_, v in node.events):
                adapter = accelerators.of(vendor)
                word, noun = adapter.event_word or "device", adapter.noun
                said.append(f"{word} events (last 10 minutes)\n", style="bold")
                for t, gpu, code, v in node.events:
                    if v != vendor:
                        continue
                    which = f"{noun} {gpu}" if gpu is not None else f"a {noun}"
                    said.append(
                        f"{time.strftime('%H:%M:%S', time.localtime(t))}  {which}  {word} {code}\n",
                        style="red",
                    )
        elif node.gpu_error:
            said.append(f"GPU source: {node.gpu_source}; ", style="dim")
            said.append(node.gpu_error, style="yellow")
        else:
            kinds = "/".join(a.event_word for a in vendors if a.event_word) or "device"
            said.append(f"GPU source: {node.gpu_source or '—'}; no {kinds} events", style="dim")
        self.query_one("#events", Static).update(said)

    def _containers(self, node: NodeStatus) -> None:
        table = self.query_one("#ctr-table", DataTable)
        row = table.cursor_row
        selected = self.selected_container()
        table.clear()
        keys = [key for key, _, _ in self.ctr_columns]
        image_width = next((w for key, _, w in self.ctr_columns if key == "image"), 0)
        for c in node.containers:
            style = "green" if c.state == "running" else "bold red"
            cell = {
                "name": _t(c.name),
                "image": _t(short_image(c.image, image_width)),
                "state": _t(c.state, style),
                "health": _t(c.health, "red" if c.health == "unhealthy" else ""),
                "restarts": _t(c.restarts, "red" if c.restarts else ""),
                "started": _t(_local_time(c.started_at)),
                "exit": _t(c.exit_code if c.state != "running" else None),
            }
            table.add_row(*(cell[k] for k in keys), key=c.name)
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
            node = self.state.nodes.get(self.node_name) if self.state else None
            if node is not None and node.pods:  # kubectl's to act on, not docker's over SSH
                return False
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
        """The node's network: its chain, or its stack's provider status."""
        c = node.chain
        text = self._provider(node)
        info = STACKS.get(node.stack)
        event = info.epoch_event if info else ""
        if c is None:
            if not text:
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
            (f"blocks to next {event or 'event'}", c.blocks_to_poc),
            ("participant weight", c.participant_weight),
            ("in current epoch", _yes_no(c.in_epoch)),
            ("API version", c.api_version),
            ("node version", c.node_version),
            ("missed this epoch", _misses(c.inferences, c.missed)),
            ("missed last epoch", _misses(c.last_epoch_inferences, c.last_epoch_missed)),
        ]
        for label, value in rows:
            text.append(f"{label:>20}  ", style="dim")
            text.append(f"{value}\n")
        if c.ml_nodes:
            text.append("\nML nodes (as the network node lists them)\n", style="bold")
            for ml_id, status, enabled in c.ml_nodes:
                text.append(f"  {ml_id:<16} ")
                text.append(status, style="green" if status == "INFERENCE" else "bold red")
                text.append("" if enabled else "  (disabled)", style="yellow")
                text.append("\n")
        if c.setup_failed:
            text.append("\nsetup report FAIL: ", style="bold red")
            text.append(", ".join(c.setup_failed))
        return text

    @staticmethod
    def _provider(node: NodeStatus) -> Text:
        """The provider status its stack reads on the node (Stack.provider_view)."""
        text = Text()
        info = STACKS.get(node.stack)
        if info is None or info.provider_view is None:
            return text
        if node.provider is None:
            if node.provider_error:
                text.append(info.provider_view(None)[0] + "\n", style="bold")
                text.append(node.provider_error + "\n", style="red")
            return text
        title, running, rows = info.provider_view(node.provider)
        head, _, state = title.partition("  ")
        text.append(head + "  ", style="bold")
        text.append(state + "\n", style="green" if running else "bold red")
        for label, value, alarming in rows:
            text.append(f"{label:>20}  ", style="dim")
            text.append(
                f"{value if value is not None else '—'}\n", style="bold red" if alarming else ""
            )
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
        kube = node.kube
        if kube is not None:  # what its Kubernetes API says (a [[sources]] kind "kubernetes")
            text.append(f"{'kubernetes':>10}  ", style="dim")
            ready = {True: ("Ready", "green"), False: ("NotReady", "bold red")}
            word, style = ready.get(kube.ready, ("no Ready condition", "yellow"))
            text.append(word, style=style)
            if kube.not_ready_why:
                text.append(f" ({kube.not_ready_why})", style="red")
            text.append(f" · pool {kube.pool}")
            if kube.accelerator:
                text.append(f" · {kube.accelerator}")
            short = kube.gpus_allocatable < kube.gpus_capacity
            text.append(
                f" · {kube.gpus_allocatable}/{kube.gpus_capacity} GPUs allocatable",
                style="yellow" if short else "",
            )
            if kube.cordoned:
                text.append(" · cordoned", style="yellow")
            text.append("\n")
        for svc in node.services:
            text.append(f"{'service':>10}  ", style="dim")
            text.append(f"{svc.name}: ", style="")
            if svc.kind == "placement":  # where its models run, not whether it answers
                word = "on the GPU" if svc.ok else "ON THE CPU"
            else:
                word = "ok" if svc.ok else "DOWN"
            text.append(word, style="green" if svc.ok else "bold red")
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
        self,
        rows: list,
        problem: str | None = None,
        console: list | None = None,
        uptime: list | None = None,
    ) -> None:
        """The actions run on this node, from the journal: (Run, StepRecord) newest first,
        and what was done to it from the console (ConsoleAction); or why the journal
        cannot be read. `uptime`: (window, Uptime) from the watch's history, where kept."""
        text = Text()
        if uptime:
            text.append("\nuptime (the watch's history)\n", style="bold")
            for window, u in uptime:
                pct = "—" if u.uptime is None else f"{100 * u.uptime:.3f} %"
                ok = u.uptime is None or u.uptime >= u.slo
                text.append(f"{window:>6}  ")
                text.append(f"{pct:>10}", style="green" if ok else "bold red")
                text.append(
                    f"  down {u.down_s / 60:.1f} min, unknown {u.unknown_s / 60:.1f} min, "
                    f"{u.episodes} outages (longest {u.longest_s / 60:.1f} min), "
                    f"budget left {u.budget_left_s / 60:.0f} min\n"
                )
        slo = next(((r, st) for r, st in rows if r.action == "loadtest" and st.step == "slo"), None)
        if slo is not None:  # its last measured SLO (`fleetdeck loadtest`), first
            run, step = slo
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(step.finished or run.started))
            text.append(f"\nlast load test ({when}): ", style="bold")
            text.append(
                step.summary or "not measured",
                style="green" if step.state == "done" else "bold red",
            )
            if step.error:
                text.append(f"\n  {step.error}", style="red")
            text.append("\n")
        text.append("\nfrom the console and the watch (journal)\n", style="bold")
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
            self._pending_history = (rows, problem, console, uptime)

    _pending_history: tuple[list, str | None, list | None, list | None] | None = None

    def action_help(self) -> None:
        keys = key_rows(self.app, self.BINDINGS)
        self.app.push_screen(
            HelpScreen(
                f"Node {self.node_name}",
                keys,
                "One node, live: 1-5 switch tabs (5: its alerts and the actions run on it), esc "
                "goes back. On the Containers tab, l "
                "tails the selected container's log; R and S restart and stop it after you "
                "type the container's name (refused with --read-only). The line under the "
                "title says where each value came from ([[sources]]: ssh, a Prometheus, a "
                "chain's metrics) and how old it is; an old one is red, — is a value no "
                "source gives.",
            )
        )
