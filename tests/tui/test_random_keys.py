"""Keys at random, on every screen: the console keeps running (a palette PageDown that came
before the palette's list was laid out once ended it with KeyError: 0)."""

from __future__ import annotations

import random

from textual.command import CommandList

from screens.fleet import FleetScreen
from screens.palette import Palette
from tests.harness.pilot import drawn
from tests.tui.test_palette_and_keys import app

# everything a hand can hit except what quits (q, ctrl+q, ctrl+c; and the palette's
# Enter, which may pick "Quit" or "Switch profile"); read-only, so no key can change a node
KEYS = (
    list("abcdefghijklmnoprstuvwxyzABCDEFGHIJKLMNOPRSTUVWXYZ0123456789/?.,-[]:=")
    + ["up", "down", "left", "right", "pageup", "pagedown", "home", "end", "tab"]
    + ["shift+tab", "enter", "escape", "space", "backspace", "delete"]
)
PALETTE_KEYS = [k for k in KEYS if k != "enter"]


async def test_hundreds_of_random_keys_on_every_screen_leave_the_console_running():
    rng = random.Random(11)
    a = app(read_only=True)
    starts = {
        "fleet": lambda: None,
        "node": lambda: a.open_node("c1-ml2"),
        "triage": a.action_triage,
        "palette": a.action_command_palette,
        "help": lambda: a.screen.action_help(),  # the fleet screen's help
    }
    async with a.run_test(size=(100, 30)) as pilot:
        await drawn(pilot)
        for name, start in starts.items():
            while not isinstance(a.screen, FleetScreen):  # back to the fleet screen
                a.pop_screen()
            await pilot.pause()
            start()
            await pilot.pause()
            pool = PALETTE_KEYS if name == "palette" else KEYS
            for _ in range(2):  # 250 keys in all: a suite near CI's 10 minutes
                keys = [rng.choice(pool) for _ in range(25)]
                await pilot.press(*keys)
                assert a.is_running, (name, keys)
                assert a.return_code is None, (name, keys)
    assert a.return_code in (None, 0)


async def test_a_palette_page_move_before_its_list_is_laid_out_is_ignored():
    a = app(read_only=True)
    async with a.run_test(size=(100, 30)) as pilot:
        await drawn(pilot)
        palette = Palette()
        await a.push_screen(palette)
        commands = palette.query_one(CommandList)
        commands.add_options(["one", "two"])
        commands.highlighted = 0
        # before the list has laid out its lines: Textual's own palette raised KeyError here
        palette._action_command_list("page_down")
        palette._action_command_list("page_up")
        await pilot.pause()
        assert a.is_running


async def test_ctrl_p_with_a_palette_under_another_screen_opens_no_second_one():
    from screens.help import HelpScreen

    a = app(read_only=True)
    async with a.run_test(size=(100, 30)) as pilot:
        await drawn(pilot)
        a.action_command_palette()
        await pilot.pause()
        assert isinstance(a.screen, Palette)
        await a.push_screen(HelpScreen("Help", [], "over the palette"))
        await pilot.press("ctrl+p")  # Textual's check saw no palette on top: a second one
        await pilot.pause()
        assert a.is_running and a.return_code is None
        assert sum(isinstance(s, Palette) for s in a.screen_stack) == 1
