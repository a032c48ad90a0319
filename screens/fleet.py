"""The fleet screen: every cluster and node of the profile, one row per node.

Live status (state, GPUs, containers, chain) joins these rows when the monitor lands;
until then the screen shows what the profile declares.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.profile_schema import FleetProfile
from screens.help import HelpScreen

COLUMNS = (  # key, title, width: fixed widths keep updates cheap (libraries.md §1.4)
    ("cluster", "Cluster", 16),
    ("node", "Node", 20),
    ("role", "Role", 9),
    ("host", "Host", 24),
    ("gpus", "GPUs", 9),
    ("model", "Model", 40),
    ("labels", "Labels", 24),
)


def _models(node) -> str:
    return ", ".join([node.model] if node.model else node.models) or "—"


class FleetScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("fleet.tcss")
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]
    HELP_ABOUT = "The profile's clusters and nodes. Live status arrives with the monitor."

    def __init__(self, fleet: FleetProfile) -> None:
        super().__init__()
        self.fleet = fleet

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._summary(), id="summary")
        table: DataTable[Text] = DataTable(id="nodes", cursor_type="row", zebra_stripes=True)
        for key, title, width in COLUMNS:
            table.add_column(title, key=key, width=width)
        previous = None
        for cluster, node in self.fleet.all_nodes():
            # the cluster is named on its first row only, so clusters read as groups
            first = cluster is not previous
            previous = cluster
            stack = self.fleet.cluster_stack(cluster)
            gpus = (
                f"{node.gpus}×{node.gpu_type}"
                if node.gpus and node.gpu_type
                else (str(node.gpus) if node.gpus is not None else "—")
            )
            labels = {**cluster.labels, **node.labels}
            # every cell is Text: names and labels come from a file, never parsed as markup
            table.add_row(
                Text(f"{cluster.name} ({stack})" if first else "", style="bold"),
                Text(node.name, style="bold"),
                Text(node.role),
                Text(f"{node.host}:{node.port}" if node.port else node.host),
                Text(gpus),
                Text(_models(node)),
                Text(" ".join(f"{k}={v}" for k, v in labels.items())),
                key=node.name,
            )
        yield table
        yield Footer()

    def _summary(self) -> Text:
        f = self.fleet
        gpus = sum(n.gpus or 0 for _, n in f.all_nodes())
        text = Text()
        text.append(f.fleet.name, style="bold")
        text.append(
            f"  stack {f.fleet.stack}  ·  {len(f.clusters)} clusters  ·  "
            f"{len(f.all_nodes())} nodes  ·  {gpus} GPUs expected"
        )
        if f.fleet.description:
            text.append(f"\n{f.fleet.description}", style="dim")
        return text

    def action_help(self) -> None:
        keys = [(self.app.get_key_display(b), b.description) for b in self.BINDINGS] + [
            ("↑/↓", "move between nodes"),
            ("ctrl+p", "command palette"),
        ]
        self.app.push_screen(HelpScreen("Fleet", keys, self.HELP_ABOUT))
