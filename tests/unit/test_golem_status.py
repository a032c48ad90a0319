"""`golemsp status` read from its real output (reference/real/golem), in both of its
layouts, and what a provider that is down raises."""

from __future__ import annotations

import pytest

from console.core.monitor.alerts import evaluate
from console.core.profile.schema import AlertsSection
from console.core.stacks.golem_status import Golem, cells, parse, reading
from console.core.state import NodeStatus


@pytest.fixture
def sample(reference) -> str:
    path = reference / "real" / "golem" / "golemsp_status_sample_v0.12.2.txt"
    return "\n".join(
        line for line in path.read_text().splitlines() if not line.startswith(("#", "$"))
    )


def stacked(wide: str) -> str:
    """The same status on a terminal of 120 columns or fewer: the boxes one under the
    other (golem_cli's status.rs), each box's cells in its own column."""
    columns: list[list[str]] = [[], [], []]
    for line in wide.splitlines():
        parts = line.split("│")
        if len(parts) == 5:
            for i in range(3):
                columns[i].append(parts[i + 1])
    out = []
    for column in columns:
        width = max(len(c) for c in column)
        out.append("┌" + "─" * width + "┐")
        out += ["│" + c.ljust(width) + "│" for c in column]
        out.append("└" + "─" * width + "┘")
    return "\n".join(out)


EXPECTED = Golem(
    running=True,
    service="is running",
    version="0.12.2",
    node_name="lato",
    subnet="public",
    vm="valid",
    wallet="0x2a14f8ae0272bd4c38ed1b40c66e88ed719dab69",
    network="mainnet",
    glm_total=0.0,
    glm_pending=0.0,
    tasks_last_hour=0,
    tasks_running=0,
    tasks_total=509,
)


def test_the_real_status_boxes_are_read_field_by_field(sample):
    assert parse(sample) == EXPECTED


def test_the_narrow_layout_reads_the_same(sample):
    narrow = stacked(sample)
    assert narrow.count("┌") == 3 and max(len(line) for line in narrow.splitlines()) < 60
    assert parse(narrow) == EXPECTED


def test_a_provider_that_is_not_running_is_a_critical_alert(sample):
    down = parse(sample.replace("Service    is running", "Service    is not running"))
    assert down is not None and down.running is False
    node = NodeStatus("p1", "eu", "provider", "golem", reachable=True, seen_at=100.0, provider=down)
    kinds = {a.kind: a for a in evaluate(node, AlertsSection(), 101.0, 2.0)}
    assert kinds["golem_down"].severity == "critical"
    assert "is not running" in kinds["golem_down"].evidence
    assert "systemctl start golemsp" in kinds["golem_down"].next_step


def test_output_that_is_not_the_status_boxes_is_said_not_guessed():
    assert parse("Error: yagna service is not running\n") is None
    got = reading({"text": "Error: yagna service is not running\n", "error": None})
    assert got["provider"] is None and "no status boxes" in got["provider_error"]
    assert cells("plain text") == []
