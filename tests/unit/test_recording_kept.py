"""A recording made by `status --record` before the house was re-cut (December 2026, a
simulated GPU running hot, then cooling) replays to the node states and alerts the live
console showed at three moments: recordings stay readable across releases (issue 28)."""

from __future__ import annotations

import json
from pathlib import Path

from console.core.monitor.recording import Replay
from console.core.monitor.tracker import CONSOLE

KEPT = Path(__file__).resolve().parents[1] / "data" / "recordings"


def test_a_recording_from_before_replays_to_the_same_states_and_alerts():
    replay = Replay(KEPT / "incident-2026-12.jsonl")
    moments = json.loads((KEPT / "incident-2026-12.seen.json").read_text())
    assert [m["conditions"]["ml1"] for m in moments] == ["up", "degraded", "up"]
    for moment in moments:
        state = replay.state_at(moment["at"])
        conditions = {name: state.condition(node) for name, node in state.nodes.items()}
        alerts = sorted(
            [a.node, a.kind, a.severity, a.summary] for a in state.alerts if a.node != CONSOLE
        )
        assert conditions == moment["conditions"], moment["at"]
        assert alerts == moment["alerts"], moment["at"]
