"""The cloud machines of the profile's pools against its nodes (`provision list` in the
console): orphans still billing, nodes whose machine is gone, surplus, stopped, moved.
Rows come as plain data from the controller: this screen reaches no cloud itself."""

from __future__ import annotations

from rich.text import Text

from screens.report import ReportScreen

MARKS = {
    "orphan": ("!", "bold red"),
    "gone": ("✕", "bold red"),
    "surplus": ("!", "yellow"),
    "stopped": ("~", "yellow"),
    "moved": ("~", "yellow"),
    "missing": ("·", "dim"),
    "ok": ("✓", "green"),
}
ORDER = list(MARKS)


def machines_text(fleet: str, rows: list[tuple[str, str]]) -> Text:
    """`rows`: (kind, what it says), worst kinds first; the cloud's words as plain text."""
    out = Text()
    counts = {k: sum(1 for kind, _ in rows if kind == k) for k in ORDER}
    out.append(", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no machines")
    out.append("\n")
    for kind, said in sorted(rows, key=lambda r: ORDER.index(r[0]) if r[0] in ORDER else 99):
        mark, style = MARKS.get(kind, ("?", ""))
        out.append(f"\n{mark} {kind:<8} ", style=style)
        out.append(said)
    if any(kind in ("orphan", "gone", "surplus") for kind, _ in rows):
        out.append(
            f"\n\nto remove machines and nodes: fleetdeck provision destroy PROFILE NAME…"
            f" (the names typed again), or `run` provision to make what is missing ({fleet})",
            style="dim",
        )
    return out


class MachinesScreen(ReportScreen):
    WHAT = "Cloud machines"
    NOTE = "the pools' machines against the profile's nodes"
    ABOUT = (
        "Every machine tagged for this fleet in the pools' clouds, against the profile: "
        "! orphan (billing, no node names it), ✕ gone (a node whose machine is not "
        "there), ! surplus (past its pool's count), ~ stopped or moved, · not made yet, "
        "✓ ok. Destroy stays on the command line, where the names are typed again."
    )
    BODY_ID = "machines"

    def __init__(self, fleet: str, rows: list[tuple[str, str]]) -> None:
        super().__init__(fleet)
        self.rows = rows

    def body(self) -> Text:
        return machines_text(self.fleet, self.rows)
