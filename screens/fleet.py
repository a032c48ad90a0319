"""The fleet screen (home): every node of every cluster, one row each, live.

State, GPU utilization (sparkline, mean, count), hottest GPU, containers, chain height and
peers, epoch phase, alerts. `/` filters (text or regex; role:ml, state:down, region:eu),
`s` (or a click on a column header) sorts, Enter opens the node.
"""

from __future__ import annotations

import gc
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input

from actions.report import plural
from console.core import accelerators, rows
from console.core.profile.schema import FleetProfile, Node
from console.core.stacks import STACKS
from console.core.state import FleetState, NodeStatus
from screens import cells
from screens.fleet_query import bad_terms, matches, natural, sort_value
from screens.fleet_table import FleetTable
from screens.help import HelpScreen, key_rows
from screens.inputs import FieldInput
from screens.live import LiveScreen
from screens.modals import SortScreen

COLUMNS = (  # key, title, width: fixed widths keep updates cheap (libraries.md §1.4)
    ("cluster", "Cluster", 14),
    ("node", "Node", 16),
    ("state", "State", 18),  # what on-call reads first: the state and the worst alert
    ("alerts", "Alerts", 30),
    ("gpu", "GPU util", 21),
    ("temp", "Hot", 6),
    ("mem", "GPU mem", 10),
    ("ctrs", "Ctrs", 14),
    ("role", "Role", 8),
    ("chain", "Chain", 13),
    ("epoch", "Epoch", 22),
    ("model", "Model", 38),
    ("host", "Host", 22),
)
# which columns stay as the terminal narrows (as k9s drops its least useful ones)
PRIORITY = ("node", "state", "alerts", "gpu", "ctrs", "temp", "cluster", "role", "mem")
PRIORITY += ("chain", "epoch", "model", "host")
ALERTS_MAX = 60  # the alerts column takes what is left, up to this
SCROLLBAR = 2  # the table keeps room for its vertical scrollbar


NODE_MAX = 40  # the node column widens to the longest name (GKE's are long), up to this


# how long a refresh may hold the garbage collector off at most (it is let go after the frame
# that shows the new state, ~25 ms; this is for a refresh that changed nothing on screen)
COLLECTOR_HELD_S = 0.5


def layout(width: int, node_width: int = 16) -> tuple[tuple[str, str, int], ...]:
    """The fleet table's columns for a terminal `width` wide; alerts take what is left."""
    columns = tuple((k, t, max(w, node_width) if k == "node" else w) for k, t, w in COLUMNS)
    return cells.fit_columns(columns, PRIORITY, width, grow="alerts", grow_max=ALERTS_MAX)


def node_width(fleet: FleetProfile) -> int:
    return min(NODE_MAX, max((len(n.name) for _, n in fleet.all_nodes()), default=0))


LIVE = ("state", "gpu", "temp", "mem", "ctrs", "chain", "epoch", "alerts")


class SummaryBar(Widget):
    """The fleet's one-glance line. Its height is fixed, so an update repaints it without a
    layout pass over the whole screen (a Static would relayout on every refresh)."""

    DEFAULT_CSS = "SummaryBar { height: 3; padding: 0 1; background: $boost; }"

    def __init__(self, text: Text, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.text = text

    def show(self, text: Text) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        return self.text


class OpenNode(Message):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def _with_found(fleet: FleetProfile, found: list[NodeStatus]) -> FleetProfile:
    """The profile with the nodes a status source found added to their clusters (for the
    table only: the profile file is not touched)."""
    clusters = []
    for cluster in fleet.clusters:
        extra = [
            Node.model_construct(
                name=s.name,
                host="",
                role=s.role,
                gpus=s.expected_gpus,
                models=[],
                labels={"source": s.sources[0][1]} if s.sources else {},
            )
            for s in sorted(found, key=lambda s: natural(s.name))
            if s.cluster == cluster.name
        ]
        clusters.append(
            cluster.model_copy(update={"nodes": [*cluster.nodes, *extra]}) if extra else cluster
        )
    return fleet.model_copy(update={"clusters": clusters})


def _models(node) -> str:
    return ", ".join([node.model] if node.model else node.models) or "—"


class FleetScreen(LiveScreen):
    CSS_PATH = Path(__file__).with_name("fleet.tcss")
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="fleet.filter"),
        Binding("enter", "open_node", "Open node", id="fleet.open_node"),
        Binding("t", "app.triage", "Triage", id="app.triage"),
        Binding("s", "sort", "Sort", id="fleet.sort"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="fleet.clear_filter"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "app.quit", "Quit", id="app.quit"),
        Binding("j", "cursor('down')", "Down", show=False, id="fleet.down"),
        Binding("k", "cursor('up')", "Up", show=False, id="fleet.up"),
        Binding("g", "cursor('top')", "Top", show=False, id="fleet.top"),
        Binding("G", "cursor('bottom')", "Bottom", show=False, id="fleet.bottom"),
    ]
    HELP_ABOUT = (
        "Every node of the fleet, live. Filter with / : words or a regex, and key:value "
        "terms (role:ml, state:down, cluster:eu1, region:eu, stack:<name>). s sorts by a "
        "column (state: worst first; numbers by value), as does a click on its header; the "
        "same column again reverses. The order is kept until you sort again."
    )

    def __init__(self, fleet: FleetProfile) -> None:
        super().__init__()
        self.fleet = fleet
        self.state: FleetState | None = None
        self._letting_go: FleetState | None = None
        self._collector_held = False
        self.query_text = ""
        self.sort_key: str | None = None
        self.sort_reverse = False
        self._rendered: dict[tuple[str, str], tuple] = {}
        self._rows: list[str] = []
        self._stale_rows: set[str] = set()
        self._alerts_by_node: dict[str, list] = {}
        self._by_name = {n.name: (c, n) for c, n in fleet.all_nodes()}
        self._expected_gpus = sum(n.gpus or 0 for _, n in self._by_name.values())

    def compose(self) -> ComposeResult:
        yield Header()
        yield SummaryBar(self._summary(), id="summary")
        table = FleetTable(id="nodes", cursor_type="row", zebra_stripes=True)
        self._columns = layout(self.app.size.width - SCROLLBAR, node_width(self.fleet))
        for key, title, width in self._columns:
            table.add_column(title, key=key, width=width)
        yield table
        yield FieldInput(
            placeholder="filter: words or regex, role:ml state:down region:eu",
            id="filter",
            leave_to="#nodes",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._rebuild()
        self.watch(self.query_one("#nodes", DataTable), "scroll_y", self._scrolled, init=False)

    # -- rows
    def grow(self, fleet: FleetProfile) -> None:
        """The profile gained nodes (provisioned while the console runs): show them."""
        self.fleet = fleet
        self._by_name = {n.name: (c, n) for c, n in fleet.all_nodes()}
        self._expected_gpus = sum(n.gpus or 0 for _, n in self._by_name.values())
        self._lay_out(self.app.size.width)  # longer names: a wider node column
        self._rebuild()
        self.query_one("#summary", SummaryBar).show(self._summary())

    def _matches(self, cluster, node) -> bool:
        if not self.query_text:
            return True
        labels = {**cluster.labels, **node.labels}
        fields = [
            node.name,
            node.host,
            node.role,
            cluster.name,
            _models(node),
            *(f"{k}={v}" for k, v in labels.items()),
        ]

        def value_of(key: str) -> str | None:
            if key == "role":
                return node.role
            if key == "cluster":
                return cluster.name
            if key == "stack":
                return self.fleet.cluster_stack(cluster)
            if key == "state":
                status = self.state.nodes.get(node.name) if self.state else None
                return self._state_word(status)
            return labels.get(key)

        return matches(self.query_text, fields, value_of)

    def _state_word(self, status: NodeStatus | None) -> str:
        if status is None or self.state is None:
            return "unknown"
        text = cells.node_state(status, self.state).plain
        return "down" if ("stale" in text or "down" in text) else text.split()[-1]

    def on_resize(self, event) -> None:
        self._lay_out(event.size.width)

    def _lay_out(self, width: int) -> None:
        columns = layout(width - SCROLLBAR, node_width(self.fleet))
        if columns != self._columns:  # another set fits: lay the table out again
            self._columns = columns
            table = self.query_one("#nodes", DataTable)
            cursor = table.cursor_row
            table.clear(columns=True)
            for key, title, w in columns:
                table.add_column(title, key=key, width=w)
            self._rebuild()
            if table.row_count:
                table.move_cursor(row=min(cursor, table.row_count - 1))

    def _rebuild(self) -> None:
        table = self.query_one("#nodes", DataTable)
        table.clear()
        self._rendered.clear()
        self._rows = []
        previous = None
        for cluster, node in self.fleet.all_nodes():
            if not self._matches(cluster, node):
                continue
            first = cluster is not previous
            previous = cluster
            stack = self.fleet.cluster_stack(cluster)
            # every cell is Text: names, labels and models come from files and remote hosts
            row = {
                "cluster": Text(f"{cluster.name}" if first else "", style="bold"),
                "node": Text(node.name, style="bold"),
                "state": Text("○ waiting", style="dim"),
                "role": Text(
                    node.role if stack == self.fleet.fleet.stack else f"{node.role}·{stack}"
                ),
                "model": Text(_models(node)),
                "host": Text(f"{node.host}:{node.port}" if node.port else node.host),
            }
            table.add_row(*(row.get(key, Text("")) for key, _, _ in self._columns), key=node.name)
            self._rows.append(node.name)
        if self.state is not None:
            self.show(self.state)
        if self.sort_key is not None:
            self._sort()

    # -- live updates
    def show(self, state: FleetState) -> None:
        """Take a new fleet state. Only the rows on screen (and a margin) are redrawn now;
        the others are marked and drawn when they scroll into view, so a refresh of 1,000
        nodes costs what 50 rows cost."""
        # the state replaced is let go, and the collector held off, until the frame that
        # shows this one is out (_compositor_refresh): freeing 1,000 nodes' values costs
        # ~2.5 ms and a collection of the young objects up to ~12 ms (bench_console's p95),
        # which the frame need not wait for (Textual holds the collector so while scrolling)
        self._letting_go, self.state = self.state, state
        if not self._collector_held and gc.isenabled():
            gc.disable()
            self._collector_held = True
            self.set_timer(COLLECTOR_HELD_S, self._let_collector_run)
        clusters = {c.name for c in self.fleet.clusters}
        found = [
            s
            for name, s in state.nodes.items()
            if name not in self._by_name and s.cluster in clusters
        ]
        if found:  # nodes a source found (a GKE pool's): rows of their own from now on
            self.grow(_with_found(self.fleet, found))
            return  # grow drew the rows with this state
        self._alerts_by_node = {}
        for a in state.alerts:
            self._alerts_by_node.setdefault(a.node, []).append(a)
        self._stale_rows = set(self._rows)
        self._draw_visible()
        self.query_one("#summary", SummaryBar).show(self._summary())

    def _compositor_refresh(self) -> None:
        super()._compositor_refresh()
        self._letting_go = None  # after the frame (show)
        self._let_collector_run()

    def _let_collector_run(self) -> None:
        if self._collector_held:
            self._collector_held = False
            gc.enable()

    def on_unmount(self) -> None:
        self._let_collector_run()

    def _draw_visible(self) -> None:
        if self.state is None or not self._stale_rows:
            return
        table = self.query_one("#nodes", FleetTable)
        # the rows on screen and two either side (a cursor step past the edge); a scroll
        # draws the rows it brings in (_scrolled)
        top = int(table.scroll_y)
        first = max(0, top - 2)
        last = min(table.row_count, top + max(table.size.height, 24) + 2)
        changes = {}
        for index in range(first, last):
            name = table.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
            if name in self._stale_rows:
                self._stale_rows.discard(name)
                changes[name] = self._changed_cells(name)
        table.update_cells({name: cells for name, cells in changes.items() if cells})

    def _draw_all(self) -> None:
        table = self.query_one("#nodes", FleetTable)
        changes = {name: self._changed_cells(name) for name in self._stale_rows}
        self._stale_rows.clear()
        table.update_cells({name: cells for name, cells in changes.items() if cells})

    def _changed_cells(self, name: str) -> dict[str, Text]:
        """The live cells of a node's row whose text or style changed since last drawn."""
        state = self.state
        status = state.nodes.get(name) if state else None
        entry = self._by_name.get(name)
        if status is None or entry is None:
            return {}
        cluster, node = entry
        info = STACKS[self.fleet.cluster_stack(cluster)]
        expected = info.expected_containers(node.role, bool(node.model or node.models))
        mine = self._alerts_by_node.get(name, [])
        values = {
            "state": cells.node_state(status, state, mine),
            "gpu": cells.gpu_cell(status),
            "temp": cells.temp_cell(status, self.fleet.alerts.gpu_temp_c),
            "mem": cells.memory_cell(status),
            "ctrs": cells.containers_cell(status, expected),
            "chain": cells.chain_cell(status),
            "epoch": cells.epoch_cell(status),
            "alerts": cells.alerts_cell(mine),
        }
        if not status.live(state.taken_at, state.interval):
            # old values are not live ones: dimmed, the state cell says how old
            for key in ("gpu", "temp", "mem", "ctrs", "chain", "epoch"):
                values[key] = cells.dimmed(values[key])
        changed = {}
        shown = {key for key, _, _ in self._columns}
        for key, value in values.items():
            if key not in shown:
                continue
            # a cheap fingerprint: redraw a cell only when what it shows changed
            mark = (value.plain, str(value.style), len(value.spans))
            if self._rendered.get((name, key)) != mark:
                self._rendered[(name, key)] = mark
                changed[key] = value
        return changed

    def _scrolled(self, _value: float) -> None:
        self._draw_visible()

    def _summary(self) -> Text:
        f = self.fleet
        nodes = self._by_name  # the profile's nodes, by name
        expected = self._expected_gpus
        text = Text()
        text.append(f.fleet.name, style="bold")
        text.append(f"  {f.fleet.stack}  ·  {plural(len(f.clusters), 'cluster')}  ·  ")
        state = self.state
        if state is None:
            text.append(f"{len(nodes)} nodes  ·  {expected} GPUs expected", style="dim")
            if f.fleet.description:
                text.append("\n")
                text.append(f.fleet.description, style="dim")
            return text
        tally = state.tally
        up, seen, busy = tally.up, tally.gpus_seen, tally.gpus_busy
        crit, warn = tally.critical, tally.warning
        text.append(f"up {up}/{len(nodes)}", style="green" if up == len(nodes) else "bold red")
        vendors = [(accelerators.of(v), b, s) for v, b, s in tally.by_vendor]
        if len(vendors) > 1:  # a mixed fleet: each kind of device counted by itself
            kinds = ", ".join(f"{a.short} {b}/{s}" for a, b, s in vendors)
            text.append(f"  ·  busy {kinds}")
        else:
            noun = vendors[0][0].noun if vendors else "GPU"
            text.append(f"  ·  {noun}s busy {busy}/{seen}")
        if seen < expected:
            text.append(f" (expected {expected})", style="red")
        text.append("  ·  ")
        text.append(f"{crit} critical", style="bold red" if crit else "green")
        text.append(f"  ·  {warn} warning", style="yellow" if warn else "")
        if tally.height:
            text.append(f"  ·  height {tally.height}")
        if state.console_lag_s > state.interval:  # the console, not the fleet, is behind
            text.append(f"  ·  fleetdeck lagging {state.console_lag_s:.0f} s", style="bold yellow")
        # the second line, most urgent first (the bar is three rows: what does not fit is
        # cut): the epoch clock, the console's own cost, the sources, the description
        second: list[Text] = []
        clock = rows.epoch_clock(tally.clock)
        if clock.text:
            second.append(cells.clock_text(clock))
        if state.console_usage:  # the console's own cost: when it, not the fleet, is the problem
            second.append(Text(state.console_usage, style="dim"))
        if state.sources:  # where the values come from, and whether each still answers
            second.append(cells.sources_health(state))
        if f.fleet.description:
            second.append(Text(f.fleet.description, style="dim"))
        if second:
            text.append("\n")
            text.append_text(Text("   ").join(second))
        if self.query_text:
            text.append("\nfilter: ", style="dim")
            text.append(self.query_text)
            bad = bad_terms(self.query_text)
            if bad:
                text.append(f"  (not a regular expression, matched as text: {bad[0]})", "yellow")
            text.append(f"  ({len(self._rows)} of {len(nodes)} nodes; esc clears)", style="dim")
        return text

    # -- actions
    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.value = self.query_text
        self.set_focus(field)  # now: keys already typed go to the field

    def on_input_changed(self, event: Input.Changed) -> None:
        """The filter applies as it is typed; a term that is not a regular expression is
        matched as plain text, and the summary says so."""
        if event.input.id != "filter" or not event.input.display:
            return
        self.query_text = event.value.strip()
        self._rebuild()
        self.query_one("#summary", SummaryBar).show(self._summary())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        event.input.display = False
        self._rebuild()
        self.set_focus(self.query_one("#nodes", DataTable))  # now, not after queued keys
        self.query_one("#summary", SummaryBar).show(self._summary())

    def action_cursor(self, where: str) -> None:
        """j/k and g/G, as in vi, less and k9s."""
        table = self.query_one("#nodes", DataTable)
        {
            "down": table.action_cursor_down,
            "up": table.action_cursor_up,
            "top": table.action_scroll_top,
            "bottom": table.action_scroll_bottom,
        }[where]()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = False
        if self.query_text:
            self.query_text = ""
            self._rebuild()
            self.query_one("#summary", SummaryBar).show(self._summary())
        self.set_focus(self.query_one("#nodes", DataTable))  # now, not after queued keys

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.post_message(OpenNode(event.row_key.value))

    def action_open_node(self) -> None:
        table = self.query_one("#nodes", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            if key:
                self.post_message(OpenNode(key))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    def action_sort(self) -> None:
        columns = [(key, title) for key, title, _ in self._columns]

        def chosen(key: str | None) -> None:
            if key:
                self.sort_by(key)

        self.app.push_screen(SortScreen(columns, self.sort_key), chosen)

    def sort_by(self, key: str) -> None:
        """Sort the rows by column `key`; the same column again reverses. The cursor stays on
        its node."""
        self.sort_reverse = not self.sort_reverse if key == self.sort_key else False
        self.sort_key = key
        self._sort()

    def _sort(self) -> None:
        table = self.query_one("#nodes", DataTable)
        if self.sort_key not in table.columns or not table.row_count:
            return
        self._draw_all()  # sorting must see every row's current values
        at = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        key = self.sort_key
        table.sort(key, key=lambda cell: sort_value(key, cell), reverse=self.sort_reverse)
        table.move_cursor(row=table.get_row_index(at))

    def action_help(self) -> None:
        shown = ("app.actions", "app.registration")
        app_keys = [b for b in self.app.BINDINGS if getattr(b, "id", None) in shown]
        keys = (
            key_rows(self.app, self.BINDINGS)
            + key_rows(self.app, app_keys)
            + [("↑/↓", "move between nodes"), ("ctrl+p", "palette: nodes, triage, read-only")]
        )
        self.app.push_screen(HelpScreen("Fleet", keys, self.HELP_ABOUT))
