"""The Kubernetes node pools of the profile's sources (`fleetdeck pools` in the console):
nodes and GPUs per pool, the NotReady and cordoned nodes named. Lines come as plain data
from the controller: this screen reaches no API server itself."""

from __future__ import annotations

from rich.text import Text

from screens.report import ReportScreen

STYLES = {"head": "bold", "row": "", "bad": "bold red", "warn": "yellow", "error": "bold red"}


class PoolsScreen(ReportScreen):
    WHAT = "Kubernetes node pools"
    NOTE = "GPUs allocatable/capacity; ! where fewer are allocatable"
    ABOUT = (
        "Each [[sources]] Kubernetes cluster's nodes by node pool, read once when this "
        "opened: ✕ NotReady (the kubelet stopped reporting, or reports a problem), ~ "
        "cordoned (unschedulable), ! fewer GPUs allocatable than the nodes have (a GPU "
        "the device plugin no longer offers). `fleetdeck pools PROFILE` prints the same."
    )
    BODY_ID = "pools"

    def __init__(self, fleet: str, lines: list[tuple[str, str]]) -> None:
        super().__init__(fleet)
        self.lines = lines

    def body(self) -> Text:
        out = Text()
        for kind, line in self.lines:
            out.append(line + "\n", style=STYLES.get(kind, ""))
        return out
