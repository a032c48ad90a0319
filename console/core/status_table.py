"""The plain-text table of `fleetdeck status`: one row per node, then the alerts. Plain
text: what a node said (an error, a container's name) is printed literally, its control
characters as visible escapes."""

from __future__ import annotations

import time

from console.core import rows
from console.core.profile.schema import FleetProfile
from console.core.state import FleetState, NodeStatus
from console.core.text import printable


def _gpus(node: NodeStatus) -> str:
    """`8/8 80% 62°C`: the count, the mean utilisation, the hottest (plain text: no tone)."""
    words = (rows.gpu_counts(node), rows.gpu_util(node), rows.gpu_temp(node, float("inf")))
    return " ".join(w.text for w in words if w.text)


def cells(node: NodeStatus, state: FleetState, mine: list, serves_model: bool) -> tuple[str, ...]:
    """A node's STATE, GPUS, CTRS, CHAIN and ALERTS columns: rows' words, as the console
    shows them (without its glyphs), `-` where there is no value."""
    chain = " ".join(
        w.plain
        for w in (rows.chain_words(node), rows.peers_words(node), rows.epoch_words(node))
        if w.text
    )
    ctrs = rows.containers_words(node, rows.expected_containers(node, serves_model)).plain
    alerts = rows.alerts_words(mine)
    return (
        rows.state_words(node, state, mine).text,
        _gpus(node) or "-",
        ctrs or "-",
        chain or "-",
        f"{alerts.text} {alerts.tone}" if alerts.text else "-",
    )


def _source(h, now: float) -> str:
    if not h.ok:
        return f"{h.name} does not answer"
    return f"{h.name} {max(0.0, now - h.read_at):.0f}s ago" if h.read_at else h.name


def render(state: FleetState, fleet: FleetProfile, width: int | None = None) -> str:
    """The status table; with `width` (status --watch), one compact screen: the node, its
    state and its worst alert first, every line cut to the terminal's width."""
    if width is not None:
        return _compact(state, width)
    table = [("NODE", "CLUSTER", "ROLE", "STATE", "GPUS", "CTRS", "CHAIN", "ALERTS")]
    alerts_by_node: dict[str, list] = {}
    for a in state.alerts:
        alerts_by_node.setdefault(a.node, []).append(a)
    serving = {n.name for _, n in fleet.all_nodes() if n.model or n.models}
    for node in state.nodes.values():
        mine = alerts_by_node.get(node.name, [])
        table.append(
            (node.name, node.cluster, node.role, *cells(node, state, mine, node.name in serving))
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    summary = state.to_json()["summary"]
    lines.insert(
        0,
        f"{fleet.fleet.name}: {summary['reachable']}/{summary['nodes']} nodes up, "
        f"{summary['critical']} critical, {summary['warning']} warning "
        f"({time.strftime('%H:%M:%S', time.localtime(state.taken_at))})",
    )
    if state.sources:
        lines.insert(1, "sources: " + " · ".join(_source(h, state.taken_at) for h in state.sources))
    behind = state.behind()
    if behind:  # drift: a host left on an older release or patch than the others
        newest = behind[0][2]
        lines.insert(
            1,
            "behind: "
            + ", ".join(f"{n} runs {v}" for n, v, _ in behind)
            + f" ({newest} elsewhere)",
        )
    if state.alerts:
        lines.append("")
        for a in state.alerts:
            lines.append(f"{a.severity.upper():8} {a.node}: {a.summary} ({a.evidence})")
            lines.append(f"         next: {a.next_step}")
    return printable("\n".join(lines))


def _compact(state: FleetState, width: int) -> str:
    worst: dict[str, object] = {}
    for a in state.alerts:  # already worst first
        worst.setdefault(a.node, a)
    summary = state.to_json()["summary"]
    lines = [
        f"{summary['reachable']}/{summary['nodes']} up  {summary['critical']} critical  "
        f"{summary['warning']} warning  {time.strftime('%H:%M:%S', time.localtime(state.taken_at))}"
    ]
    name_w = max((len(n) for n in state.nodes), default=4)
    for node in state.nodes.values():
        a = worst.get(node.name)
        said = f"{a.severity}: {a.summary}" if a is not None else "-"  # type: ignore[attr-defined]
        word, gpus = rows.state_words(node, state).text, _gpus(node) or "-"
        lines.append(f"{node.name:<{name_w}}  {word:<14} {gpus:<12} {said}")
    return "\n".join(printable(line)[:width] for line in lines)
