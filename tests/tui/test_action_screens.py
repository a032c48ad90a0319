"""The action screens: picker, plan, typed-name confirmation, and the live run matrix."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

from rich.text import Text
from textual.app import App
from textual.widgets import DataTable, Input, RichLog, Static

from actions.engine import Change, Event, PlanItem
from console.app.tui import FleetdeckApp
from console.core.profile import load
from screens.actions import (
    ActionPickerScreen,
    ConfirmNameScreen,
    MnemonicScreen,
    PlanScreen,
    RunScreen,
)
from tests.harness.pilot import on, until, wait_for
from tests.harness.profiles import unreachable_profile

REPO = Path(__file__).resolve().parents[2]
GONKA = REPO / "profiles" / "gonka-two-clusters.toml"
STEPS = ["preflight", "firewall", "models", "configuration", "validation"]
NODES = ["c1-net", "c1-ml1", "c1-ml2"]
EVIL = "[/]oops [@click=app.quit]x[/] \x1b[31mred"


def plan_items() -> list[PlanItem]:
    diff = "--- /dev/null\n+++ config.env\n+export KEYRING_PASSWORD=***\n+export PORT=8080\n"
    return [
        PlanItem("c1-net", "preflight", "unchanged"),
        PlanItem(
            "c1-net", "firewall", "change", Change("2 firewall changes", ("ufw allow 22/tcp", EVIL))
        ),
        PlanItem("c1-net", "models", "skipped", reason="not for this node"),
        PlanItem("c1-net", "configuration", "change", Change("write 1 file", ("write x",), diff)),
        PlanItem("c1-ml1", "preflight", "error", reason="connection refused by 10.0.0.2:22"),
    ]


class Host(App[None]):
    """A bare app to push one screen onto and record what it dismissed with."""

    def __init__(self, screen) -> None:
        super().__init__()
        self.start = screen
        self.result: list = []

    def on_mount(self) -> None:
        self.push_screen(self.start, self.result.append)


async def test_plan_shows_commands_diffs_and_errors_literally():
    app = Host(PlanScreen("deploy", "gonka-prod", plan_items()))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = app.screen.query_one("#plan", Static).render()
        plain = text.plain if isinstance(text, Text) else str(text)
        assert "2 steps will change" in plain and "1 cannot be checked" in plain
        assert "$ ufw allow 22/tcp" in plain and EVIL.replace("\x1b", "") in plain.replace(
            "\x1b", ""
        )
        assert "+export KEYRING_PASSWORD=***" in plain
        assert "cannot check: connection refused by 10.0.0.2:22" in plain
        await pilot.press("y")
        await pilot.pause()
        assert app.result == [True] and app.is_running


async def test_plan_without_changes_does_not_go_on():
    items = [PlanItem("n", "firewall", "unchanged")]
    app = Host(PlanScreen("deploy", "f", items))
    async with app.run_test() as pilot:
        await pilot.press("y")
        await pilot.pause()
        assert app.result == [] and isinstance(app.screen, PlanScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.result == [False]


async def test_confirmation_needs_the_exact_name():
    app = Host(ConfirmNameScreen("deploy on gonka-prod: 12 nodes will be changed", "gonka-prod"))
    async with app.run_test() as pilot:
        await pilot.pause()
        app.screen.query_one(Input).value = "gonka-pro"
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == []
        error = app.screen.query_one("#confirm-error", Static).render()
        assert "nothing was done" in str(error)
        app.screen.query_one(Input).value = "gonka-prod"
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == [True]


def run_events(run_id: str = "20261123-0001") -> list[Event]:
    ev = [Event("run", run_id, state="running", text="deploy on 3 nodes")]
    for node in NODES:
        ev += [
            Event("state", run_id, node, "preflight", "running", attempt=1),
            Event("state", run_id, node, "preflight", "unchanged", text="passed"),
            Event("state", run_id, node, "firewall", "running", attempt=1),
            Event("line", run_id, node, "firewall", text="Rule added"),
            Event("state", run_id, node, "firewall", "done"),
        ]
    ev += [
        Event("state", run_id, "c1-net", "models", "skipped"),
        Event("state", run_id, "c1-ml1", "models", "running", attempt=1),
        Event("progress", run_id, "c1-ml1", "models", progress=40.0),
        Event("line", run_id, "c1-ml1", "models", text=EVIL),
        Event("state", run_id, "c1-ml2", "models", "running", attempt=1, timeout=600),
        Event("line", run_id, "c1-ml2", "models", text="✗ exit -1"),  # as the engine says it
        Event("state", run_id, "c1-ml2", "models", "retrying", text="exit -1", attempt=1),
        Event("state", run_id, "c1-ml2", "models", "running", attempt=2, timeout=600),
        Event("state", run_id, "c1-net", "configuration", "running", attempt=1),
        Event("line", run_id, "c1-net", "configuration", text="✗ exit 1: cat"),
        Event("state", run_id, "c1-net", "configuration", "failed", text="exit 1: cat"),
    ]
    return ev


def run_screen(events: list[Event]) -> RunScreen:
    return RunScreen("deploy", "gonka-prod", NODES, STEPS, collections.deque(events))


async def fed(pilot) -> RunScreen:
    """The run screen on top, with every event fed so far drawn (it drains every 0.2 s)."""
    screen = await on(pilot, RunScreen)
    await wait_for(pilot, lambda: not screen.feed, "the run's events drawn")
    return screen


def cell(table: DataTable, node: str, step: str) -> str:
    return str(table.get_cell(node, step))


async def test_run_matrix_follows_events_and_shows_a_cells_output():
    app = Host(run_screen(run_events()))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await fed(pilot)
        table = screen.query_one("#matrix", DataTable)
        assert [cell(table, n, "preflight") for n in NODES] == ["✓", "✓", "✓"]
        assert [cell(table, n, "firewall") for n in NODES] == ["✓", "✓", "✓"]
        assert cell(table, "c1-net", "models") == "-"
        assert cell(table, "c1-ml1", "models") == "40%"
        assert cell(table, "c1-ml2", "models") == "0s↻2"  # running for 0 s, second attempt
        assert cell(table, "c1-net", "configuration") == "✗"
        assert cell(table, "c1-ml1", "validation") == "·"
        title = str(screen.query_one("#run-title", Static).render())
        assert "run 20261123-0001: running" in title
        # the cursor to c1-ml1 × models, then enter: its output, literally
        table.cursor_coordinate = (1, 3)
        await pilot.press("enter")
        await pilot.pause()
        log = screen.query_one("#output", RichLog)
        assert any("[@click=app.quit]" in line.text for line in log.lines)
        # a line arriving for the selected cell is appended as it comes
        screen.feed.append(Event("line", "r", "c1-ml1", "models", text="Fetching 5 files: 80%"))
        screen.feed.append(Event("state", "r", "c1-ml1", "models", "done"))
        screen.feed.append(Event("run", "20261123-0001", state="failed"))
        await fed(pilot)
        assert any("80%" in line.text for line in log.lines)
        assert cell(table, "c1-ml1", "models") == "✓"
        assert "failed" in str(screen.query_one("#run-title", Static).render())
        assert app.is_running


async def test_a_running_cell_shows_its_clock_and_a_retry_says_its_cause_once():
    app = Host(run_screen(run_events()))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await fed(pilot)
        table = screen.query_one("#matrix", DataTable)
        table.cursor_coordinate = (2, 3)  # c1-ml2 × models: its second attempt is running
        await pilot.press("enter")
        await wait_for(pilot, lambda: cell(table, "c1-ml2", "models") == "1s↻2", "a second run")
        title = str(screen.query_one("#output-title", Static).render())
        assert "running for 1s; each command may take up to 10m00" in title, title
        log = screen.query_one("#output", RichLog)
        assert [line.text for line in log.lines] == ["✗ exit -1"]  # once, not per event
        table.cursor_coordinate = (0, 4)  # c1-net × configuration: failed
        await pilot.press("enter")
        await pilot.pause()
        assert [line.text for line in log.lines] == ["✗ exit 1: cat"]


async def test_read_only_refuses_actions_and_a_writable_console_offers_them(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    profile = load(GONKA)
    ro = FleetdeckApp(profile, live=False, read_only=True)
    async with ro.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(ro.screen, ActionPickerScreen)
        assert any("Read-only" in str(n.message) for n in ro._notifications)
    rw = FleetdeckApp(profile, live=False)
    async with rw.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(rw.screen, ActionPickerScreen)
        await pilot.press("escape")


async def test_actions_plan_from_the_console_shows_an_unreachable_node(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app = FleetdeckApp(load(unreachable_profile(tmp_path)), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("enter")  # deploy
        assert await until(pilot, lambda: isinstance(app.screen, PlanScreen), 5)
        plain = str(app.screen.query_one("#plan", Static).render())
        assert "cannot check" in plain and "connection refused" in plain
        await pilot.press("y")  # nothing will change: no confirmation, no run
        await pilot.pause()
        assert isinstance(app.screen, PlanScreen)


def test_snapshot_run_matrix_120x40(snap_compare):
    assert snap_compare(Host(run_screen(run_events())), terminal_size=(120, 40), press=["_"])


def test_snapshot_plan_120x40(snap_compare):
    assert snap_compare(
        Host(PlanScreen("deploy", "gonka-prod", plan_items())), terminal_size=(120, 40)
    )


async def test_the_demo_offers_no_actions_its_nodes_are_this_machine(tmp_path):
    app = FleetdeckApp(load(GONKA), live=False, sim_root=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, ActionPickerScreen)
        assert any("off in the demo" in str(n.message) for n in app._notifications)


def test_snapshot_run_matrix_80x24(snap_compare):
    # the matrix scrolls sideways under the cursor; the output below wraps
    async def select(pilot):
        await fed(pilot)
        pilot.app.screen.query_one("#matrix", DataTable).cursor_coordinate = (0, 4)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(Host(run_screen(run_events())), terminal_size=(80, 24), run_before=select)


MNEMONIC = " ".join(["abandon", "ability", "able", "about", "above", "absent"] * 4)
ADDRESS = "gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpjnp7du"


async def test_the_mnemonic_stays_until_the_cluster_is_typed():
    app = Host(MnemonicScreen("c1", ADDRESS, MNEMONIC))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        shown = str(app.screen.query_one("#mnemonic", Static).render())
        assert shown == MNEMONIC
        await pilot.press("escape")  # there is no other copy: esc does not close it
        await pilot.pause()
        assert isinstance(app.screen, MnemonicScreen) and app.result == []
        app.screen.query_one(Input).value = "c2"
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == [] and "once the mnemonic is written down" in str(
            app.screen.query_one("#mnemonic-error", Static).render()
        )
        app.screen.query_one(Input).value = "c1"
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == [None] and not isinstance(app.screen, MnemonicScreen)


async def test_a_key_made_from_the_console_waits_for_its_mnemonic_to_be_written_down(
    monkeypatch, tmp_path
):
    """The engine's reveal, as the keys action calls it from its worker thread: the step
    goes on only once the operator typed the cluster's name in the modal."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app = FleetdeckApp(load(GONKA), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        engine = app.runs._new_engine()
        waiting = asyncio.create_task(asyncio.to_thread(engine.reveal, "c1", ADDRESS, MNEMONIC))
        assert await until(pilot, lambda: isinstance(app.screen, MnemonicScreen), 2.5, 0.05)
        assert not waiting.done()
        app.screen.query_one(Input).value = "c1"
        await pilot.press("enter")
        await asyncio.wait_for(waiting, 5)
        assert not isinstance(app.screen, MnemonicScreen)


def test_snapshot_mnemonic_80x24(snap_compare):
    assert snap_compare(Host(MnemonicScreen("c1", ADDRESS, MNEMONIC)), terminal_size=(80, 24))


async def test_keys_and_register_are_offered_and_planned_from_the_console(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app = FleetdeckApp(load(unreachable_profile(tmp_path)), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, ActionPickerScreen)
        offered = [name for name, _ in picker.actions]
        assert {"deploy", "keys", "register"} <= set(offered)
        for _ in range(offered.index("register")):
            await pilot.press("down")
        await pilot.press("enter")
        assert await until(pilot, lambda: isinstance(app.screen, PlanScreen), 5)
        plain = str(app.screen.query_one("#plan", Static).render())
        # register's first step on the network node, which cannot be reached
        assert "chain" in plain and "cannot check: net: connection refused" in plain
