"""The first fleet screen, driven with Pilot, and its SVG snapshots."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from console.app import FleetdeckApp
from console.profile import load, loads
from screens.help import HelpScreen

REPO = Path(__file__).resolve().parents[2]
GONKA = REPO / "profiles" / "gonka-two-clusters.toml"


def cell_texts(table: DataTable, column: str) -> list[str]:
    return [str(table.get_cell(row, column)) for row in table.rows]


async def test_opens_with_both_clusters_and_all_12_nodes():
    app = FleetdeckApp(load(GONKA))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#nodes", DataTable)
        assert table.row_count == 12
        nodes = cell_texts(table, "node")
        assert nodes == [
            f"c{c}-{n}" for c in (1, 2) for n in ("network", "ml1", "ml2", "ml3", "ml4", "ml5")
        ]
        clusters = [c for c in cell_texts(table, "cluster") if c]
        assert clusters == ["cluster1 (gonka)", "cluster2 (gonka)"]
        assert cell_texts(table, "role").count("network") == 2
        assert "12 nodes" in str(app.screen.query_one("#summary").render())


async def test_cursor_moves_and_help_opens_and_closes():
    app = FleetdeckApp(load(GONKA))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#nodes", DataTable)
        await pilot.press("down", "down")
        assert table.cursor_row == 2
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


HOSTILE = """
[fleet]
name = "hostile"
stack = "ollama"
description = "[/] [bold]not bold[/bold] [@click=app.quit]quit[/]"

[models."m[/]"]

[[clusters]]
name = "c1"
labels = { region = "[@click=app.quit]x[/]", note = "\\u001b[31mred" }

[[clusters.nodes]]
name = "p1"
host = "10.0.0.1"
role = "provider"
model = "m[/]"
labels = { rack = "[red]" }
"""


async def test_markup_in_profile_text_is_shown_literally():
    app = FleetdeckApp(loads(HOSTILE, "hostile.toml"))
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#nodes", DataTable)
        assert cell_texts(table, "model") == ["m[/]"]
        labels = cell_texts(table, "labels")[0]
        assert "region=[@click=app.quit]x[/]" in labels and "rack=[red]" in labels
        summary = str(app.screen.query_one("#summary").render())
        assert "[/] [bold]not bold[/bold] [@click=app.quit]quit[/]" in summary
        await pilot.click("#nodes", offset=(130, 1))  # clicking the label cell acts on nothing
        await pilot.pause()
        assert app.is_running


def test_snapshot_fleet_80x24(snap_compare):
    assert snap_compare(FleetdeckApp(load(GONKA)), terminal_size=(80, 24))


def test_snapshot_fleet_160x50(snap_compare):
    assert snap_compare(FleetdeckApp(load(GONKA)), terminal_size=(160, 50))


def test_snapshot_help_160x50(snap_compare):
    assert snap_compare(FleetdeckApp(load(GONKA)), terminal_size=(160, 50), press=["question_mark"])
