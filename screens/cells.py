"""Cell renderers shared by the screens: every one returns rich Text, never markup, so that
names, labels and remote output are always shown literally."""

from __future__ import annotations

import time

from rich.text import Text

from console.core.stacks import STACKS
from console.core.state import FleetState, NodeStatus

BLOCKS = "▁▂▃▄▅▆▇█"
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def sparkline(values: tuple[float, ...] | list[float], width: int = 10) -> str:
    tail = list(values)[-width:]
    return "".join(BLOCKS[min(7, max(0, int(v / 100 * 7.999)))] for v in tail)


def node_state(node: NodeStatus, state: FleetState, alerts: list | None = None) -> Text:
    """The state cell: the node's condition (as `status` words it), with its age."""
    word = state.condition(node, alerts)
    if word == "key changed":
        return Text("KEY!", style="bold white on red")
    if word == "degraded":
        mine = [a for a in state.alerts if a.node == node.name] if alerts is None else alerts
        critical = any(a.severity == "critical" for a in mine)
        return Text("● degraded", style="bold red" if critical else "yellow")
    if word == "stale":
        return Text(f"✕ stale {node.age(state.taken_at) or 0:.0f}s", style="red")
    if word == "down since" and node.seen_at is not None:
        since = time.strftime("%H:%M", time.localtime(node.seen_at))
        return Text(f"✕ down since {since}", style="bold red")
    return Text(*STATE_LOOK[word])


STATE_LOOK = {
    "up": ("● up", "green"),
    "not deployed": ("○ not deployed", "cyan"),
    "connecting": ("○ connecting", "dim"),
    "down": ("✕ down", "red"),
}


SIGNAL_TITLES = (
    ("gpus", "GPUs"),
    ("xids", "Xids"),
    ("containers", "containers"),
    ("system", "system"),
    ("chain", "chain"),
    ("services", "services"),
)


def sources_line(node: NodeStatus, now: float, interval: float) -> Text:
    """Where each of the node's values came from and how old it is:
    `GPUs gke 3s · containers ssh 1s · chain —`; an old one in red."""
    out = Text("values: ", style="dim")
    titles = SIGNAL_TITLES
    if node.source_of("kube") is not None:  # only where a Kubernetes source reads the node
        titles += (("kube", "k8s"),)
    for i, (signal, title) in enumerate(titles):
        if i:
            out.append(" · ", style="dim")
        out.append(f"{title} ")
        held = node.source_of(signal)
        if held is None:
            out.append("—", style="dim")
            continue
        source, at = held
        age = max(0.0, now - at)
        old = age > 2 * (node.interval_s or interval) + 1
        out.append(source, style="bold")
        out.append(f" {age:.0f}s", style="red" if old else "")
    return out


def sources_health(state: FleetState) -> Text:
    """`sources: gke 2s · gke-us ✕ does not answer`: each [[sources]] entry beside SSH, with
    how long ago it last answered."""
    out = Text()
    if not state.sources:
        return out
    out.append("sources: ", style="dim")
    for i, h in enumerate(state.sources):
        if i:
            out.append(" · ", style="dim")
        out.append(h.name, style="bold")
        if not h.ok:
            out.append(" ✕ does not answer", style="bold red")
        elif h.read_at is not None:
            out.append(f" {max(0.0, state.taken_at - h.read_at):.0f}s")
    return out


def dimmed(cell: Text) -> Text:
    """A cell's old value: the same text, dimmed."""
    out = cell.copy()
    out.stylize("dim")
    return out


def gpu_cell(node: NodeStatus) -> Text:
    visible = [g for g in node.gpus if not g.lost]
    expected = node.expected_gpus
    if not node.gpus:
        return Text("—" if not node.gpu_error else "none", style="dim")
    utils = [g.util for g in visible if g.util is not None]
    avg = sum(utils) / len(utils) if utils else 0
    text = Text(sparkline(node.util_history), style="cyan")
    text.append(f" {avg:3.0f}%")
    count = f" {len(visible)}/{expected}" if expected is not None else f" {len(visible)}"
    text.append(count, style="bold red" if expected and len(visible) < expected else "")
    return text


def temp_cell(node: NodeStatus, hot: float) -> Text:
    temps = [g.temp_c for g in node.gpus if g.temp_c is not None and not g.lost]
    if not temps:
        return Text("—", style="dim")
    t = max(temps)
    return Text(f"{t}°C", style="bold red" if t >= hot else ("yellow" if t >= hot - 10 else ""))


def memory_cell(node: NodeStatus) -> Text:
    used = sum(g.mem_used_mib or 0 for g in node.gpus if not g.lost)
    total = sum(g.mem_total_mib or 0 for g in node.gpus if not g.lost)
    if not total:
        return Text("—", style="dim")
    return Text(f"{used / 1024:.0f}/{total / 1024:.0f}G")


def containers_cell(node: NodeStatus, expected: list[str]) -> Text:
    if not node.reads("containers"):  # its source does not see containers (Prometheus)
        return Text("—", style="dim")
    if not node.containers and node.container_error:
        return Text("?", style="yellow")
    if node.pods:  # Kubernetes pods' containers: whatever runs there is what is expected
        expected = [c.name for c in node.containers]
    by = {c.name: c for c in node.containers}
    up = sum(1 for n in expected if n in by and by[n].state == "running")
    worst = ""
    for name in expected:
        c = by.get(name)
        if c is None:
            worst = "missing"
        elif c.state == "restarting":
            worst = "restarting"
        elif c.state != "running" and worst != "restarting":
            worst = c.state
        elif c.health == "unhealthy" and not worst:
            worst = "unhealthy"
    text = Text(f"{up}/{len(expected)}", style="" if not worst else "bold red")
    if worst:
        text.append(f" {worst}", style="red")
    return text


def chain_cell(node: NodeStatus) -> Text:
    c = node.chain
    if c is None:  # "?" where the node's stack runs a chain in its role: it should say one
        info = STACKS.get(node.stack)
        return Text("?" if info and node.role in info.chain_roles else "—", style="dim")
    text = Text(f"{c.height or '?'}")
    if c.catching_up:
        text.append(" sync", style="yellow")
    text.append(f" {c.peers}p" if c.peers is not None else "", style="red" if c.peers == 0 else "")
    return text


def epoch_cell(node: NodeStatus) -> Text:
    c = node.chain
    if c is None or c.phase is None:
        return Text("—", style="dim")
    text = Text(c.phase, style="magenta" if c.phase.startswith("PoC") else "")
    if c.blocks_to_poc is not None:
        text.append(f" {c.blocks_to_poc}↦PoC", style="dim")
    return text


def alerts_cell(mine: list) -> Text:
    """The node's alerts (worst first): their count and the first one's summary."""
    if not mine:
        return Text("—", style="dim")
    first = mine[0]
    text = Text(f"{len(mine)} ", style=SEVERITY_STYLE.get(first.severity, ""))
    text.append(first.summary)  # literal: the summary may carry remote names
    return text


Column = tuple[str, str, int]  # key, title, width


def fit_columns(
    columns: tuple[Column, ...],
    priority: tuple[str, ...],
    width: int,
    grow: str | None = None,
    grow_max: int = 1000,
) -> tuple[Column, ...]:
    """The columns that fit `width` cells, in display order, taken by `priority` (as k9s
    drops its least useful ones as the terminal narrows); `grow` widens into what is left.
    Each column costs its width plus a cell of padding either side."""
    by_key = {key: (key, title, w) for key, title, w in columns}
    chosen: set[str] = set()
    used = 0
    for key in priority:
        cost = by_key[key][2] + 2
        if used + cost <= width or not chosen:
            chosen.add(key)
            used += cost
    spare = max(0, width - used)
    return tuple(
        (key, title, min(grow_max, max(w, w + spare)) if key == grow else w)
        for key, title, w in columns
        if key in chosen
    )
