"""The plain-text table of `fleetdeck status`: one row per node, then the alerts. Plain
text: what a node said (an error, a container's name) is printed literally, its control
characters as visible escapes."""

from __future__ import annotations

import time

from console.core.profile_schema import FleetProfile
from console.core.stacks import STACKS
from console.core.state import FleetState, NodeStatus
from console.core.text import printable


def _state(node: NodeStatus, state: FleetState) -> str:
    """The console's word for the node (FleetState.condition), with the age of stale data."""
    word = state.condition(node)
    if word == "key changed":
        return "KEY CHANGED"
    if word == "stale":
        return f"stale ({node.age(state.taken_at) or 0:.0f}s)"
    if word == "down since" and node.seen_at is not None:
        return "down since " + time.strftime("%H:%M", time.localtime(node.seen_at))
    return word


def _gpus(node: NodeStatus) -> str:
    visible = [g for g in node.gpus if not g.lost]
    if not node.gpus and node.gpu_error:
        return "none"
    temps = [g.temp_c for g in visible if g.temp_c is not None]
    utils = [g.util for g in visible if g.util is not None]
    text = f"{len(visible)}/{node.expected_gpus if node.expected_gpus is not None else '?'}"
    if utils:
        text += f" {sum(utils) / len(utils):.0f}%"
    if temps:
        text += f" {max(temps)}°C"
    return text


def _containers(node: NodeStatus, serving: set[str]) -> str:
    if not node.reads("containers"):  # its sources do not see containers (Prometheus)
        return "-"
    info = STACKS.get(node.stack)
    expected = info.expected_containers(node.role, node.name in serving) if info else []
    if node.pods:  # Kubernetes pods' containers: whatever runs there is what is expected
        expected = [c.name for c in node.containers]
    running = {c.name for c in node.containers if c.state == "running"}
    return f"{len(running & set(expected))}/{len(expected)}"


def _chain(node: NodeStatus) -> str:
    c = node.chain
    if c is None:
        info = STACKS.get(node.stack)
        return "?" if info is not None and node.role in info.chain_roles else "-"
    parts = [f"h{c.height}"]
    if c.peers is not None:
        parts.append(f"{c.peers}p")
    if c.phase:
        parts.append(c.phase)
    return " ".join(parts)


def _source(h, now: float) -> str:
    if not h.ok:
        return f"{h.name} does not answer"
    return f"{h.name} {max(0.0, now - h.read_at):.0f}s ago" if h.read_at else h.name


def render(state: FleetState, fleet: FleetProfile, width: int | None = None) -> str:
    """The status table; with `width` (status --watch), one compact screen: the node, its
    state and its worst alert first, every line cut to the terminal's width."""
    if width is not None:
        return _compact(state, width)
    rows = [("NODE", "CLUSTER", "ROLE", "STATE", "GPUS", "CTRS", "CHAIN", "ALERTS")]
    alerts_by_node: dict[str, list] = {}
    for a in state.alerts:
        alerts_by_node.setdefault(a.node, []).append(a)
    serving = {n.name for _, n in fleet.all_nodes() if n.model or n.models}
    for node in state.nodes.values():
        mine = alerts_by_node.get(node.name, [])
        worst = mine[0].severity if mine else ""
        rows.append(
            (
                node.name,
                node.cluster,
                node.role,
                _state(node, state),
                _gpus(node),
                _containers(node, serving),
                _chain(node),
                f"{len(mine)} {worst}".strip() if mine else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
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
        lines.append(f"{node.name:<{name_w}}  {_state(node, state):<14} {_gpus(node):<12} {said}")
    return "\n".join(printable(line)[:width] for line in lines)
