"""Words every vendor's alert rules share: a device list ("GPUs 0,3"), an event's time,
and the evidence note an event adds to the alert it explains."""

from __future__ import annotations

import time
from collections.abc import Iterable

from console.core.state import Gpu


def device_list(noun: str, devices: Iterable[Gpu]) -> str:
    """'GPU 3' or 'GPUs 0,3' (an HPU's the same way)."""
    indexes = [str(g.index) for g in devices]
    return f"{noun} {indexes[0]}" if len(indexes) == 1 else f"{noun}s {','.join(indexes)}"


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def event_note(word: str, code: int, events: list[tuple[float, int | None]]) -> str:
    """'; <word> 79 at 10:42:13 (and 2 more)' for the evidence of the alert it explains."""
    if not events:
        return ""
    first = min(t for t, _ in events)
    more = f" (and {len(events) - 1} more)" if len(events) > 1 else ""
    return f"; {word} {code} at {clock(first)}{more}"
