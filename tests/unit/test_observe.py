"""Observations read back from a recording: a file from anywhere is data, never markup,
escapes or fields the console does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.monitor.observe import COLLECTED, UNREACHABLE, Observation
from console.core.monitor.readings import ReadingError
from console.core.monitor.tracker import Tracker
from console.core.profile import load

REPO = Path(__file__).resolve().parents[2]


def test_a_recordings_text_is_made_printable_and_unknown_fields_are_dropped():
    model = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    tracker = Tracker(model, 2.0, clock=lambda: 100.0)
    evil = "\x1b[2Jgone"
    tracker.observe(Observation("c1-ml1", 99.0, "replay", UNREACHABLE, {"error": evil}))
    assert "\x1b" not in tracker.node("c1-ml1").error
    services = [{"name": evil, "ok": False, "latency_ms": None, "status": 503, "detail": evil}]
    data = {"services": services, "reachable": True, "name": "someone-else"}
    tracker.observe(Observation("c1-ml2", 99.0, "replay", COLLECTED, data))
    node = tracker.node("c1-ml2")
    assert node.name == "c1-ml2" and not node.reachable  # only the collected fields
    assert "\x1b" not in node.services[0].name + node.services[0].detail
    # a damaged chain is refused where it is read, typed, and never reaches the tracker
    with pytest.raises(ReadingError, match="collected"):
        Observation("c1-network", 99.0, "replay", COLLECTED, {"chain": {"x": 1}})
    assert tracker.node("c1-network").chain is None
