"""The command palette's entries, and keys remapped by keys.toml."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable

from console.app.tui import FleetdeckApp, binding_ids
from console.core.keymap import load_keymap
from console.core.profile import load
from screens.actions import ActionPickerScreen, ConfirmNameScreen
from screens.help import HelpScreen
from screens.node import NodeScreen
from screens.triage import TriageScreen
from tests.harness.pilot import drawn, on, press_to, wait_for
from tests.tui.states import troubled

REPO = Path(__file__).resolve().parents[2]
GONKA = REPO / "profiles" / "gonka-two-clusters.toml"


def app(**kwargs) -> FleetdeckApp:
    profile = load(GONKA)
    state = troubled(profile.model)
    return FleetdeckApp(profile, live=False, source=lambda: state, **kwargs)


def command(a: FleetdeckApp, title: str):
    found = [c for c in a.get_system_commands(a.screen) if c.title == title]
    assert found, [c.title for c in a.get_system_commands(a.screen)]
    return found[0].callback


async def test_palette_jumps_to_a_node_typed_by_name():
    a = app()
    async with a.run_test(size=(120, 40)) as pilot:
        await drawn(pilot)
        palette = await press_to(pilot, "ctrl+p", kind=CommandPalette)
        await pilot.press(*"node c1-ml3")
        found = palette.query_one(CommandList)

        def first() -> str:
            return str(found.get_option_at_index(0).prompt) if found.option_count else ""

        await wait_for(pilot, lambda: "c1-ml3" in first(), "the palette's search")
        await press_to(pilot, "enter", kind=NodeScreen)
        assert a.screen.node_name == "c1-ml3"


async def test_palette_triage_actions_and_read_only_toggle():
    a = app()
    async with a.run_test(size=(120, 40)) as pilot:
        await drawn(pilot)
        command(a, "Triage")()
        await on(pilot, TriageScreen)
        await pilot.press("escape")
        command(a, "Read-only: on")()
        await pilot.pause()
        assert "READ-ONLY" in a.sub_title
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(a.screen, ActionPickerScreen)
        # leaving read-only asks for the fleet's name
        command(a, "Read-only: off")()
        await pilot.pause()
        assert isinstance(a.screen, ConfirmNameScreen)
        await pilot.press(*"gonka-prod", "enter")
        await pilot.pause()
        assert not a.read_only and "READ-ONLY" not in a.sub_title
        command(a, "Actions")()
        await pilot.pause()
        assert isinstance(a.screen, ActionPickerScreen)


async def test_palette_switches_to_another_profile_of_the_same_folder():
    a = app()
    async with a.run_test(size=(120, 40)) as pilot:
        await drawn(pilot)
        command(a, "Switch profile: ollama-providers.toml")()
        await pilot.pause()
    assert a.return_value == str(REPO / "profiles" / "ollama-providers.toml")


async def test_keys_toml_remaps_and_help_shows_the_new_keys(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"app.triage" = "T"\n"fleet.filter" = "f,slash"\n')
    a = app(keys_file=keys)
    async with a.run_test(size=(120, 40)) as pilot:
        await drawn(pilot)
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(a.screen, TriageScreen)
        await press_to(pilot, "question_mark", kind=HelpScreen)
        table = a.screen.query_one(DataTable)
        rows = {
            str(table.get_cell_at((r, 1))): str(table.get_cell_at((r, 0)))
            for r in range(table.row_count)
        }
        assert rows["Triage  (app.triage)"] == "T"
        assert rows["Filter  (fleet.filter)"] == "f, /"
        await pilot.press("escape")
        await press_to(pilot, "T", kind=TriageScreen)


async def test_a_broken_keys_toml_is_reported_and_the_defaults_kept(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"app.triage" = T\n')
    a = app(keys_file=keys)
    async with a.run_test(size=(120, 40)) as pilot:
        await drawn(pilot)
        messages = [str(n.message) for n in a._notifications]
        assert any(str(keys) in m and "fix the TOML syntax" in m for m in messages), messages
        await press_to(pilot, "t", kind=TriageScreen)


def test_keymap_problems_name_the_line_and_the_fix(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text(
        "[keys]\n"
        '"app.triage" = "T"\n'
        '"triage" = "x"\n'
        '"node.logs" = 3\n'
        '"node.stop" = "ctrl+ s"\n'
        "[colors]\n"
    )
    keymap, problems = load_keymap(keys, binding_ids())
    assert keymap == {"app.triage": "T"}
    assert f"{keys}:3: no binding 'triage'; did you mean app.triage?" in problems
    assert f'{keys}:4: node.logs must be a string of keys, e.g. "ctrl+t"' in problems
    assert any(p.startswith(f"{keys}:5: node.stop: 'ctrl+ s' is not a key name") for p in problems)
    assert any("[colors] is not known" in p for p in problems)
    assert load_keymap(tmp_path / "absent.toml", binding_ids()) == ({}, [])


def test_keymap_refuses_quit_and_enter_and_survives_a_directory_and_a_bom(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_bytes(
        "\ufeff[keys]\n"
        '"app.triage" = "q"\n'
        '"node.logs" = "enter"\n'
        '"node.stop" = "X"\n'
        '"app.triag" = "T"\n'.encode()
    )
    keymap, problems = load_keymap(keys, binding_ids())
    assert keymap == {"node.stop": "X"}  # the BOM is not a key; the rest are refused
    assert f"{keys}:2: app.triage: 'q' is kept for app.quit; choose another key" in problems
    assert any(p.startswith(f"{keys}:3: node.logs: 'enter' is kept for") for p in problems)
    assert f"{keys}:5: no binding 'app.triag'; did you mean app.triage?" in problems
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    assert load_keymap(folder, binding_ids()) == (
        {},
        [f"{folder}: is a directory; the default keys are in use"],
    )


def test_a_huge_or_unknown_heavy_keys_toml_never_stalls_the_console(tmp_path):
    huge = tmp_path / "huge.toml"
    huge.write_text("[keys]\n" + "".join(f'"no.such{i}" = "x"\n' for i in range(200_000)))
    keymap, problems = load_keymap(huge, binding_ids())
    assert keymap == {} and len(problems) == 1
    assert "bytes, more than a key map holds (64 KiB): the default keys are in use" in problems[0]
    many = tmp_path / "many.toml"  # under the size bound, thousands of unknown ids
    many.write_text(
        '[keys]\n"app.triage" = "T"\n' + "".join(f'"x{i}" = "x"\n' for i in range(3_000))
    )
    keymap, problems = load_keymap(many, binding_ids())
    assert keymap == {"app.triage": "T"}
    assert (
        len(problems) == 21
        and problems[-1] == f"{many}: 2980 more unknown binding ids (press ? to see the ids)"
    )
