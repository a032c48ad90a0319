"""One node's row, as the console's fleet table and `fleetdeck status` both show it: each
column's words and tone computed once, here, so that the two can never say different
things. The console draws them with glyphs and colours (screens/cells.py), `status` as
plain text (status_table.py); neither decides a word of its own.

Tones: "critical", "warning", "ok", "info", "muted" (no value), "" (plain)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from console.core.stacks import STACKS
from console.core.state import Alert, FleetState, NodeStatus


@dataclass(frozen=True)
class Words:
    """A cell: its words and their tone, and a second part with its own tone (a state
    after a count, say) that is part of the same words."""

    text: str
    tone: str = ""
    extra: str = ""
    extra_tone: str = ""

    @property
    def plain(self) -> str:
        return f"{self.text} {self.extra}".strip() if self.extra else self.text


NONE = Words("", "muted")  # no value read: each renderer draws its own dash


def state_words(node: NodeStatus, state: FleetState, alerts: list[Alert] | None = None) -> Words:
    """The node's condition (FleetState.condition) in words, with the age of stale data."""
    word = state.condition(node, alerts)
    if word == "key changed":
        return Words("KEY CHANGED", "critical")
    if word == "degraded":
        mine = [a for a in state.alerts if a.node == node.name] if alerts is None else alerts
        critical = any(a.severity == "critical" for a in mine)
        return Words("degraded", "critical" if critical else "warning")
    if word == "stale":
        return Words(f"stale {node.age(state.taken_at) or 0:.0f}s", "critical")
    if word == "down since" and node.seen_at is not None:
        since = time.strftime("%H:%M", time.localtime(node.seen_at))
        return Words(f"down since {since}", "critical")
    tone = {"up": "ok", "not deployed": "info", "connecting": "muted", "down": "critical"}
    return Words(word, tone.get(word, ""))


def expected_containers(node: NodeStatus, serves_model: bool) -> list[str]:
    """What the node should run, as its stack's registry says for its role."""
    info = STACKS.get(node.stack)
    return info.expected_containers(node.role, serves_model) if info else []


def containers_words(node: NodeStatus, expected: list[str]) -> Words:
    """`running/expected` and the worst state among the expected: missing, restarting,
    exited, unhealthy."""
    if not node.reads("containers"):  # its sources do not see containers (Prometheus)
        return NONE
    if not node.containers and node.container_error:
        return Words("?", "warning")
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
    if not worst:
        return Words(f"{up}/{len(expected)}")
    return Words(f"{up}/{len(expected)}", "critical", worst, "critical")


def chain_words(node: NodeStatus) -> Words:
    """The chain's height, and `sync` while it catches up; `?` where the node's stack runs
    a chain in its role and none answered."""
    c = node.chain
    if c is None:
        info = STACKS.get(node.stack)
        return Words("?", "muted") if info and node.role in info.chain_roles else NONE
    return Words(f"{c.height or '?'}", "", "sync" if c.catching_up else "", "warning")


def peers_words(node: NodeStatus) -> Words:
    """The chain's peers (`4p`; none: critical)."""
    c = node.chain
    if c is None or c.peers is None:
        return NONE
    return Words(f"{c.peers}p", "critical" if c.peers == 0 else "")


def epoch_words(node: NodeStatus) -> Words:
    """The epoch's phase (the phases of the event it counts down to stand out) and the
    blocks until that event (Stack.epoch_event)."""
    c = node.chain
    if c is None or c.phase is None:
        return NONE
    info = STACKS.get(node.stack)
    event = info.epoch_event if info else ""
    tone = "info" if event and c.phase.startswith(event) else ""
    until = f"{c.blocks_to_poc}↦{event}" if c.blocks_to_poc is not None and event else ""
    return Words(c.phase, tone, until, "muted" if until else "")


def epoch_clock(node: NodeStatus | None) -> Words:
    """The fleet's epoch clock for its header: while the epoch's event runs, that changes
    must wait and when the window opens; else the blocks to the event and to the window
    before it (the stack's chain says where that window is: Chain.window_at)."""
    c = node.chain if node is not None else None
    info = STACKS.get(node.stack) if node is not None else None
    event = info.epoch_event if info else ""
    if c is None or c.phase is None or not event:
        return NONE
    window = c.window_at - c.height if c.window_at is not None and c.height else None
    if c.confirmation_poc or c.phase.startswith(event):
        running = f"confirmation {event}" if c.confirmation_poc else f"{event} ({c.phase})"
        opens = f"; window in {window} blocks" if window is not None and window > 0 else ""
        return Words(f"{running} runs: hold changes{opens}", "warning")
    until = f"{event} in {c.blocks_to_poc} blocks" if c.blocks_to_poc is not None else c.phase
    if window is None:
        return Words(until)
    if window <= 0:
        return Words(until, "", "window open", "ok")
    return Words(until, "", f"window in {window}", "muted")


def gpu_counts(node: NodeStatus) -> Words:
    """Visible GPUs against the expected (`8/8`; fewer: critical), or `none` when the GPUs
    cannot be read at all."""
    if not node.gpus:
        return Words("none", "muted") if node.gpu_error else NONE
    visible = sum(1 for g in node.gpus if not g.lost)
    expected = node.expected_gpus
    if expected is None:
        return Words(str(visible))
    return Words(f"{visible}/{expected}", "critical" if visible < expected else "")


def gpu_util(node: NodeStatus) -> Words:
    utils = [g.util for g in node.gpus if not g.lost and g.util is not None]
    return Words(f"{sum(utils) / len(utils):.0f}%") if utils else NONE


def gpu_temp(node: NodeStatus, hot: float) -> Words:
    """The hottest visible GPU, critical from `hot` (the profile's gpu_temp_c), a warning
    within 10 °C of it."""
    temps = [g.temp_c for g in node.gpus if g.temp_c is not None and not g.lost]
    if not temps:
        return NONE
    t = max(temps)
    return Words(f"{t}°C", "critical" if t >= hot else ("warning" if t >= hot - 10 else ""))


def alerts_words(mine: list[Alert]) -> Words:
    """The node's alerts (worst first): their count, in the worst one's tone, and its
    summary (literal: it may carry remote names)."""
    if not mine:
        return NONE
    first = mine[0]
    return Words(str(len(mine)), first.severity, first.summary)
