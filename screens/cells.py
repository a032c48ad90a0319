"""Cell renderers shared by the screens: every one returns rich Text, never markup, so that
names, labels and remote output are always shown literally. The words of a node's row are
console/core/rows.py's, the same `status` prints; here they get their glyphs and colours."""

from __future__ import annotations

from rich.text import Text

from console.core import accelerators, rows
from console.core.state import FleetState, NodeStatus

BLOCKS = "▁▂▃▄▅▆▇█"
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def sparkline(values: tuple[float, ...] | list[float], width: int = 10) -> str:
    tail = list(values)[-width:]
    return "".join(BLOCKS[min(7, max(0, int(v / 100 * 7.999)))] for v in tail)


def node_state(node: NodeStatus, state: FleetState, alerts: list | None = None) -> Text:
    """The state cell: the node's condition in rows' words, with a glyph."""
    words = rows.state_words(node, state, alerts)
    text = words.text
    if text == "KEY CHANGED":
        return Text(text, style="bold white on red")
    if text == "degraded":
        return Text(f"● {text}", style="bold red" if words.tone == "critical" else "yellow")
    if text.startswith("stale"):
        return Text(f"✕ {text}", style="red")
    if text.startswith("down since"):
        return Text(f"✕ {text}", style="bold red")
    glyph, style = STATE_LOOK[text]
    return Text(f"{glyph} {text}", style=style)


STATE_LOOK = {
    "up": ("●", "green"),
    "not deployed": ("○", "cyan"),
    "connecting": ("○", "dim"),
    "down": ("✕", "red"),
}
TONE_STYLE = {"critical": "bold red", "warning": "yellow", "muted": "dim"}


SIGNAL_TITLES = (
    ("gpus", "GPUs"),
    ("events", "events"),  # in its devices' vendor's word where they have one vendor
    ("containers", "containers"),
    ("system", "system"),
    ("chain", "chain"),
    ("services", "services"),
)


def sources_line(node: NodeStatus, now: float, interval: float) -> Text:
    """Where each of the node's values came from and how old it is:
    `GPUs gke 3s · containers ssh 1s · chain —`; an old one in red."""
    out = Text("values: ", style="dim")
    vendors = {accelerators.of(g.vendor).event_word for g in node.gpus}
    word = f"{vendors.pop()}s" if len(vendors) == 1 and "" not in vendors else "events"
    titles = tuple((s, word if s == "events" else t) for s, t in SIGNAL_TITLES)
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


def _empty(words: rows.Words) -> Text | None:
    """A cell with no value: a dim dash (or the words that say why, dim)."""
    if words.text and words.tone != "muted":
        return None
    return Text(words.text or "—", style="dim")


def gpu_cell(node: NodeStatus) -> Text:
    count = rows.gpu_counts(node)
    if not node.gpus:
        return _empty(count) or Text(count.text, style="dim")
    util = rows.gpu_util(node)
    text = Text(sparkline(node.util_history), style="cyan")
    text.append(f" {util.text or '0%':>4}")
    text.append(f" {count.text}", style="bold red" if count.tone == "critical" else "")
    return text


def temp_cell(node: NodeStatus, hot: float) -> Text:
    temp = rows.gpu_temp(node, hot)
    return _empty(temp) or Text(temp.text, style=TONE_STYLE.get(temp.tone, ""))


def memory_cell(node: NodeStatus) -> Text:
    used = sum(g.mem_used_mib or 0 for g in node.gpus if not g.lost)
    total = sum(g.mem_total_mib or 0 for g in node.gpus if not g.lost)
    if not total:
        return Text("—", style="dim")
    return Text(f"{used / 1024:.0f}/{total / 1024:.0f}G")


def containers_cell(node: NodeStatus, expected: list[str]) -> Text:
    words = rows.containers_words(node, expected)
    if words.text == "?":
        return Text("?", style="yellow")
    empty = _empty(words)
    if empty is not None:
        return empty
    text = Text(words.text, style="bold red" if words.extra else "")
    if words.extra:
        text.append(f" {words.extra}", style="red")
    return text


def chain_cell(node: NodeStatus) -> Text:
    words = rows.chain_words(node)
    empty = _empty(words)
    if empty is not None:
        return empty
    text = Text(words.text)
    if words.extra:
        text.append(f" {words.extra}", style="yellow")
    peers = rows.peers_words(node)
    if peers.text:
        text.append(f" {peers.text}", style="red" if peers.tone == "critical" else "")
    return text


def epoch_cell(node: NodeStatus) -> Text:
    words = rows.epoch_words(node)
    empty = _empty(words)
    if empty is not None:
        return empty
    text = Text(words.text, style="magenta" if words.tone == "info" else "")
    if words.extra:
        text.append(f" {words.extra}", style="dim")
    return text


def clock_text(words: rows.Words) -> Text:
    """The fleet's epoch clock (rows.epoch_clock), in its tones."""
    text = Text(words.text, style=TONE_STYLE.get(words.tone, ""))
    if words.extra:
        tone = {"ok": "green"}.get(words.extra_tone) or TONE_STYLE.get(words.extra_tone, "")
        text.append(f", {words.extra}", style=tone)
    return text


def alerts_cell(mine: list) -> Text:
    """The node's alerts (worst first): their count and the first one's summary."""
    words = rows.alerts_words(mine)
    if not words.text:
        return Text("—", style="dim")
    text = Text(f"{words.text} ", style=SEVERITY_STYLE.get(words.tone, ""))
    text.append(words.extra)  # literal: the summary may carry remote names
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
