"""The fleet screen, driven with Pilot, and its SVG snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from console.app.tui import FleetdeckApp
from console.core.profile import load, loads
from screens.help import HelpScreen
from screens.node import NodeScreen
from tests.harness.pilot import drawn, off, on, press_to, refreshed, wait_for
from tests.tui.states import healthy, state_of, troubled

REPO = Path(__file__).resolve().parents[2]
GONKA = REPO / "profiles" / "gonka-two-clusters.toml"


def cell_texts(table: DataTable, column: str) -> list[str]:
    """A column's cells, top to bottom as shown (after a sort too)."""
    return [str(table.get_cell(row.key, column)) for row in table.ordered_rows]


def static_app(state=None, **kwargs) -> FleetdeckApp:
    profile = load(GONKA)
    source = (lambda: state) if state is not None else None
    return FleetdeckApp(profile, live=False, source=source, **kwargs)


async def test_opens_with_both_clusters_and_all_12_nodes():
    app = static_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#nodes", DataTable)
        assert table.row_count == 12
        nodes = cell_texts(table, "node")
        assert nodes == [
            f"c{c}-{n}" for c in (1, 2) for n in ("network", "ml1", "ml2", "ml3", "ml4", "ml5")
        ]
        assert [c for c in cell_texts(table, "cluster") if c] == ["cluster1", "cluster2"]
        assert cell_texts(table, "role").count("network") == 2
        assert "12 nodes" in str(app.screen.query_one("#summary").render())


async def test_live_values_and_summary_follow_the_state():
    profile = load(GONKA)
    state = troubled(profile.model)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        states = dict(zip(cell_texts(table, "node"), cell_texts(table, "state"), strict=True))
        assert states["c1-ml2"] == "✕ stale 37s"
        assert states["c1-ml3"] == "● degraded" and states["c1-network"] == "● degraded"
        assert states["c1-ml1"] == "● up"
        temps = dict(zip(cell_texts(table, "node"), cell_texts(table, "temp"), strict=True))
        assert temps["c1-ml3"] == "92°C"
        ctrs = dict(zip(cell_texts(table, "node"), cell_texts(table, "ctrs"), strict=True))
        assert ctrs["c1-ml4"] == "1/2 restarting"
        summary = str(app.screen.query_one("#summary").render())
        assert "up 11/12" in summary and "critical" in summary


async def test_a_replaced_state_is_let_go_once_the_new_one_is_drawn():
    """The screen frees the state it replaced, and lets the garbage collector run, after
    the frame that shows the new one (freeing and collecting cost a 1,000-node refresh
    milliseconds); it holds no older state after that, and a refresh that changes nothing
    on screen holds the collector off no longer than COLLECTOR_HELD_S."""
    import gc
    import weakref

    from screens.fleet import COLLECTOR_HELD_S

    profile = load(GONKA)
    first, second = state_of(profile.model, healthy(profile.model)), troubled(profile.model)
    app = FleetdeckApp(profile, live=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.show(first)
        await pilot.pause()
        gone = weakref.ref(first)
        del first
        assert gc.isenabled()
        screen.show(second)
        # held until the new state is on screen
        assert gone() is not None and not gc.isenabled()
        await wait_for(pilot, lambda: gone() is None, "the replaced state to be freed")
        assert gc.isenabled()
        table = screen.query_one("#nodes", DataTable)
        shown = dict(zip(cell_texts(table, "node"), cell_texts(table, "state"), strict=True))
        assert screen.state is second and shown["c1-ml2"] == "✕ stale 37s"
        screen.show(second)  # nothing changes on screen: no frame to wait for
        assert not gc.isenabled()
        await wait_for(pilot, gc.isenabled, "the collector", seconds=COLLECTOR_HELD_S + 5)
        screen.show(second)
    assert gc.isenabled()  # the screen gone, the collector runs again


def painted(table: DataTable) -> str:
    """The table as drawn on screen (through its cell caches), one line per row."""
    return "\n".join(
        "".join(seg.text for seg in table.render_line(y)) for y in range(table.size.height)
    )


async def test_cached_cells_repaint_when_their_value_or_the_cursor_changes():
    from dataclasses import replace

    profile = load(GONKA)
    nodes = healthy(profile.model)
    first = state_of(profile.model, nodes)
    hot = {
        **nodes,
        "c1-ml1": replace(
            nodes["c1-ml1"], gpus=tuple(replace(g, temp_c=88) for g in nodes["c1-ml1"].gpus)
        ),
    }
    box = {"state": first}
    app = FleetdeckApp(profile, live=False, source=lambda: box["state"])
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        before = painted(table)
        assert "88°C" not in before
        box["state"] = state_of(profile.model, hot)
        await refreshed(pilot)
        after = painted(table)
        row = next(line for line in after.splitlines() if "c1-ml1" in line)
        assert "88°C" in row
        # the unchanged rows are drawn exactly as before
        unchanged = [x for x in before.splitlines() if "c1-ml1" not in x and "up 12" not in x]
        assert all(x in after.splitlines() for x in unchanged)
        # the cursor row's style moves with the cursor (cells keyed by cursor state)
        strips = [table.render_line(y) for y in range(3)]
        await pilot.press("down")
        await pilot.pause()
        assert [table.render_line(y) for y in range(3)] != strips


async def test_filter_by_role_state_region_and_regex():
    profile = load(GONKA)
    state = troubled(profile.model)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        for query, expected in (
            ("role:network", 2),
            ("state:down", 1),
            ("region:eu", 6),
            ("ml[12]$", 4),
            ("c2 role:ml", 5),
            ("nothing-like-this", 0),
        ):
            await pilot.press("slash")
            field = app.screen.query_one("#filter")
            field.value = query
            await pilot.press("enter")
            await pilot.pause()
            assert table.row_count == expected, query
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 12


async def test_enter_opens_the_node_and_escape_comes_back():
    profile = load(GONKA)
    state = troubled(profile.model)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        await press_to(pilot, "down", "down", "down", "enter", kind=NodeScreen)
        assert app.screen.node_name == "c1-ml3"
        gpus = app.screen.query_one("#gpu-table", DataTable)
        assert gpus.row_count == 8
        assert "92°C" in cell_texts(gpus, "temp")
        await pilot.press("2")
        await pilot.pause()
        ctrs = app.screen.query_one("#ctr-table", DataTable)
        assert cell_texts(ctrs, "name") == ["mlnode-308", "inference"]
        await pilot.press("escape")
        assert not isinstance(app.screen, NodeScreen)


async def test_help_opens_and_closes_and_q_quits():
    app = static_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "down")
        assert app.screen.query_one("#nodes", DataTable).cursor_row == 2
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_read_only_is_in_the_header_and_refuses_the_fault_menu(tmp_path):
    app = static_app(read_only=True, sim_root=tmp_path)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        assert "READ-ONLY" in app.sub_title
        await pilot.press("F")
        await pilot.pause()
        assert type(app.screen).__name__ == "FleetScreen"  # no fault menu opened
        assert any("Read-only" in n.message for n in app._notifications)


HOSTILE = """
[fleet]
name = "hostile"
stack = "vllm"
description = "[/] [bold]not bold[/bold] [@click=app.quit]quit[/]"

[models."m[/]"]

[[clusters]]
name = "c1"
labels = { region = "[@click=app.quit]x[/]" }

[[clusters.nodes]]
name = "p1"
host = "10.0.0.1"
role = "server"
model = "m[/]"
labels = { rack = "[red]" }
"""


async def test_markup_and_control_characters_are_shown_literally():
    from dataclasses import replace

    import pytest

    from console.core.profile import ProfileError

    with pytest.raises(ProfileError, match=r"a control character in the value \(\\x1b\[31mred"):
        loads(HOSTILE.replace('region = "', 'note = "\\u001b[31mred", region = "'), "x.toml")
    profile = loads(HOSTILE, "hostile.toml")
    nodes = healthy(profile.model)
    evil = "[/] [@click=app.quit]x[/] \x1b[31m\x07"
    nodes["p1"] = replace(
        nodes["p1"],
        containers=(replace(nodes["p1"].containers[0], name=evil, state="exited", exit_code=1),),
        error=evil,
    )
    state = state_of(profile.model, nodes)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(260, 30)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        assert cell_texts(table, "model") == ["m[/]"]
        summary = str(app.screen.query_one("#summary").render())
        assert "[/] [bold]not bold[/bold] [@click=app.quit]quit[/]" in summary
        await pilot.click("#nodes", offset=(100, 1))  # clicking the cells acts on nothing
        await press_to(pilot, "enter", kind=NodeScreen)
        await pilot.press("2")
        await pilot.pause()
        names = cell_texts(app.screen.query_one("#ctr-table", DataTable), "name")
        assert names[0].startswith("[/] [@click=app.quit]x[/]")
        await press_to(pilot, "t", kind="TriageScreen")
        # the runbook card of an alert naming the container
        await press_to(pilot, "enter", kind="RunbookScreen")
        assert app.is_running


def sizes(*sizes: tuple[int, int]):
    return pytest.mark.parametrize("size", sizes, ids=lambda s: "x".join(map(str, s)))


@sizes((80, 24), (160, 50))
def test_snapshot_fleet(snap_compare, size):
    assert snap_compare(static_app(), terminal_size=size)


@sizes((80, 24), (120, 40), (160, 50), (200, 50))
def test_snapshot_fleet_with_stale_node_and_alerts(snap_compare, size):
    state = troubled(load(GONKA).model)
    assert snap_compare(static_app(state), terminal_size=size, press=["_"])


@sizes((80, 24), (160, 50))
def test_snapshot_help(snap_compare, size):
    assert snap_compare(static_app(), terminal_size=size, press=["question_mark"])


async def test_the_fast_text_cell_path_draws_what_datatable_draws():
    """FleetTable renders one-line Text cells itself; segment for segment, with and without
    cursor and hover, on plain and striped rows, it must equal DataTable's own rendering."""
    from rich.style import Style

    from screens.fleet_table import FleetTable

    profile = load(GONKA)
    state = troubled(profile.model)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", FleetTable)
        compared = 0
        for r in range(table.row_count):
            row_key = table._row_locations.get_key(r)
            for c, column in enumerate(table.ordered_columns):
                value = table._data[row_key][column.key]
                width = column.get_render_width(table)
                for cursor in (False, True):
                    for hover in (False, True):
                        base = Style(bgcolor="grey11") if r % 2 else Style()
                        fast = table._render_text_cell(r, c, value, base, width, cursor, hover)
                        assert fast is not None, (r, column.key)
                        stock = DataTable._render_cell(table, r, c, base, width, cursor, hover)
                        assert [list(x) for x in fast] == [list(x) for x in stock], (r, column.key)
                        compared += 1
        assert compared == table.row_count * len(table.columns) * 4


@pytest.mark.parametrize("size", [(160, 50), (300, 30)])  # narrower and wider than the table
async def test_the_fleet_tables_own_lines_equal_datatables(size):
    """FleetTable assembles rows and keeps lines itself; each line on screen, with the
    cursor and the hover on different rows, must equal DataTable's own rendering, and a
    changed value must show at once."""
    from unittest.mock import patch

    from textual.geometry import Region

    from screens.fleet_table import FleetTable

    profile = load(GONKA)
    state = troubled(profile.model)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    own = ("render_lines", "render_line", "_render_line", "_render_line_in_row", "_render_cell")

    def stock(table):
        table._clear_caches()
        with patch.multiple(FleetTable, **{name: getattr(DataTable, name) for name in own}):
            return table.render_lines(Region(0, 0, *table.size))

    async with app.run_test(size=size) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", FleetTable)
        compared = 0
        for cursor, hover in ((0, -1), (3, 2), (5, 5)):
            table.move_cursor(row=cursor)
            table.hover_coordinate = Coordinate(hover, 0)
            table._set_hover_cursor(hover >= 0)
            await pilot.pause()
            region = Region(0, 0, *table.size)
            table.render_lines(region)  # fill the line cache, then read from it
            fast = table.render_lines(region)
            slow = stock(table)
            assert len(fast) == len(slow) == table.size.height
            for y, (a, b) in enumerate(zip(fast, slow, strict=True)):
                assert list(a) == list(b), (cursor, hover, y)
                compared += 1
        assert compared == 3 * table.size.height
        # a kept line is dropped as soon as its row holds a new value
        name = table._row_locations.get_key(1).value
        before = table.render_lines(Region(0, 0, *table.size))
        table.update_cells({name: {"alerts": Text("NEW")}})
        after = table.render_lines(Region(0, 0, *table.size))
        row_y = table.header_height + 1
        assert "NEW" in after[row_y].text and "NEW" not in before[row_y].text
        assert [list(s) for s in after[:row_y]] == [list(s) for s in before[:row_y]]


async def test_a_node_down_for_long_is_dimmed_out_of_the_totals_and_says_since_when():
    import time as clock
    from dataclasses import replace

    profile = load(GONKA)
    nodes = healthy(profile.model)
    taken = next(iter(nodes.values())).seen_at + 0.5
    gone = replace(nodes["c1-ml1"], reachable=False, seen_at=taken - 300, error="timed out")
    state = state_of(profile.model, {**nodes, "c1-ml1": gone})
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        states = dict(zip(cell_texts(table, "node"), cell_texts(table, "state"), strict=True))
        since = clock.strftime("%H:%M", clock.localtime(taken - 300))
        assert states["c1-ml1"] == f"✕ down since {since}"
        row = table.get_row_index("c1-ml1")
        gpu = table.get_cell_at((row, table.get_column_index("gpu")))
        assert "dim" in str(gpu.style) or any("dim" in str(s.style) for s in gpu.spans)
        summary = str(app.screen.query_one("#summary").render())
        assert "up 11/12" in summary and "GPUs busy 88/88" in summary  # its 8 not counted


async def test_columns_follow_the_width_state_and_worst_alert_first():
    from screens.fleet import layout

    for width in (78, 118, 158, 198, 260):
        keys = [key for key, _, _ in layout(width)]
        assert {"node", "state", "alerts"} <= set(keys)  # at every width
        assert keys.index("alerts") == keys.index("state") + 1 == keys.index("node") + 2
        assert sum(w + 2 for _, _, w in layout(width)) <= width
    state = troubled(load(GONKA).model)
    app = static_app(state)
    async with app.run_test(size=(200, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        assert "model" not in [c.key.value for c in table.ordered_columns]
        await pilot.resize_terminal(80, 24)
        keys = lambda: [c.key.value for c in table.ordered_columns]  # noqa: E731
        await wait_for(pilot, lambda: "gpu" not in keys(), "the columns of 80 wide")
        assert keys()[:3] == ["node", "state", "alerts"]
        alerts = dict(zip(cell_texts(table, "node"), cell_texts(table, "alerts"), strict=True))
        assert alerts["c1-ml2"] == "1 node unreachable"


async def test_keys_people_expect_jk_gG_filter_as_you_type_and_q_asks_first():
    from screens.modals import QuitScreen

    app = static_app(troubled(load(GONKA).model))
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 11
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("slash", *"ml3")  # no Enter: it applies as typed
        await pilot.pause()
        assert cell_texts(table, "node") == ["c1-ml3", "c2-ml3"]
        await pilot.press("backspace", "backspace", "backspace", *"ml[")
        await pilot.pause()
        summary = str(app.screen.query_one("#summary").render())
        assert "not a regular expression, matched as text: ml[" in summary
        assert cell_texts(table, "node") == []
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 12
        app.rehearsal.injected.add("c1-ml1")  # as the demo's fault menu records it
        quitting = await press_to(pilot, "q", kind=QuitScreen)
        assert app.is_running
        await pilot.press("n")
        await off(pilot, quitting)
        assert app.is_running and not isinstance(app.screen, QuitScreen)
        await press_to(pilot, "q", kind=QuitScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_code is not None, "the console ended")
    assert app.return_code == 0


async def test_s_sorts_by_a_column_from_the_keyboard_worst_state_first():
    profile = load(GONKA)
    state = troubled(profile.model)
    names = list(state.nodes)
    app = static_app(state)
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        table = app.screen.query_one("#nodes", DataTable)
        sort_menu = await press_to(pilot, "s", kind="SortScreen")
        keys = [str(o.id) for o in sort_menu.query_one("OptionList").options]
        await pilot.press(*["down"] * keys.index("state"), "enter")
        await off(pilot, sort_menu)
        order = cell_texts(table, "node")
        # the stale node, then those degraded by a critical alert, then warnings, then up
        assert order[0] == names[2], order
        states = cell_texts(table, "state")
        assert states[0].startswith("✕ stale") and states[-1] == "● up", states
        assert order[table.cursor_row] == names[0] and app.screen.sort_key == "state"
        # the cursor stays on its node; the same column again reverses the order
        table.move_cursor(row=order.index(names[4]))
        await pilot.press("s")
        sort_menu = await on(pilot, "SortScreen")
        await pilot.press("enter")  # the menu opens on the current column
        await off(pilot, sort_menu)
        assert cell_texts(table, "state") == states[::-1]
        assert cell_texts(table, "node")[table.cursor_row] == names[4]
        # the order survives a filter (a rebuild) and numbers sort by value
        sort_menu = await press_to(pilot, "s", kind="SortScreen")
        keys = [str(o.id) for o in sort_menu.query_one("OptionList").options]
        highlighted = sort_menu.query_one("OptionList").highlighted
        await pilot.press(*["down"] * (keys.index("gpu") - highlighted), "enter")
        await off(pilot, sort_menu)
        # '▅▆▆▆▆▆▆▆▆▆  84% 8/8': by the mean, not by the sparkline in front of it
        utils = [float(t.split("%")[0].split()[-1]) for t in cell_texts(table, "gpu") if "%" in t]
        assert utils == sorted(utils), utils


async def test_keys_typed_at_once_after_closing_the_filter_act_on_the_table():
    # a terminal delivers "esc j j" (or "enter j") together: the app hands all three to the
    # box focused at that moment; the j's must move the cursor, not be typed into the box
    from textual import events

    app = static_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#nodes", DataTable)
        box = app.screen.query_one("#filter")
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.focused is box, "the filter box focused")
        for key in ("escape", "j", "j"):
            app.post_message(events.Key(key, None if key == "escape" else key))
        await wait_for(pilot, lambda: table.cursor_row == 2, "the cursor moved by j j")
        assert app.screen.query_one("#filter").value == ""
        assert table.cursor_row == 2 and app.focused is table
        await pilot.press("slash", "c", "2")
        await wait_for(pilot, lambda: app.focused is box, "the filter box focused")
        for key in ("enter", "j"):
            app.post_message(events.Key(key, None if key == "enter" else key))
        await wait_for(pilot, lambda: app.focused is table and table.cursor_row == 1, "j moved")
        assert app.screen.query_text == "c2"  # the filter kept what was typed before enter
        assert table.row_count == 6 and table.cursor_row == 1 and app.focused is table


async def test_nodes_written_into_the_profile_join_the_table(tmp_path):
    """A provision run from the console writes each machine into the profile as it comes
    up; the fleet table shows it then, in its cluster, with the GPUs it brings."""
    profile = load(GONKA)
    profile.file = str(tmp_path / "fleet.toml")  # the run saves here, not in the repo
    app = FleetdeckApp(profile, live=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#nodes", DataTable)
        assert table.row_count == 12
        profile.add_node(
            "cluster1", name="c1-ml6", host="10.0.1.16", role="ml", gpus=8, labels={"pool": "p"}
        )
        app.runs.grow()
        await pilot.pause()
        nodes = cell_texts(table, "node")
        assert table.row_count == 13
        assert nodes.index("c1-ml6") == nodes.index("c1-ml5") + 1
        assert "13 nodes" in str(app.screen.query_one("#summary").render())
