"""The README's exit-code table, for every command: a bad value for any option that takes
one (a number that is not finite or out of range, a choice that is not one, a path that
does not exist, an unknown option) is a usage error, exit 64, naming the option; never
exit 70 or a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest

import console.app.cli as fleetdeck
from console.app.cli import EXIT_USAGE, cli

REPO = Path(__file__).resolve().parents[2]
PROFILE = str(REPO / "tests" / "data" / "sim-small.toml")


def commands(group: click.Group = cli, path: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if name == "open":  # `fleetdeck PROFILE`: the console itself (its options: demo's)
            continue
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def bad_value(param: click.Option) -> str | None:
    """A value the option must refuse, or None where any text is a value."""
    kind = param.type
    if param.is_flag or param.count:
        return None
    if isinstance(kind, (click.types._NumberRangeBase, click.types.FloatParamType)):
        return "nan"
    if isinstance(kind, click.types.IntParamType):
        return "many"
    if isinstance(kind, click.Choice):
        return "no-such-choice"
    if isinstance(kind, click.Path) and kind.exists:
        return "/nonexistent/for/sure"
    if getattr(kind, "name", "") in ("duration", "DURATION"):
        return "soon"
    return None


def arguments(command: click.Command, tmp: Path) -> list[str]:
    """A plausible value for each argument: the failure must be the option's."""
    out = []
    for param in command.params:
        if isinstance(param, click.Argument):
            kind = param.type
            if isinstance(kind, click.Path) and not kind.file_okay:
                out.append(str(tmp))
            elif isinstance(kind, click.Path):
                out.append(PROFILE)
            elif isinstance(kind, click.Choice):
                out.append(kind.choices[0])
            else:
                out.append("deploy" if param.name == "action" else "x")
            if param.nargs == -1:
                continue
    return out


CASES = (
    [
        pytest.param(
            path, option.opts[0], bad_value(option), id=f"{' '.join(path)} {option.opts[0]}"
        )
        for path, command in commands()
        for option in command.params
        if isinstance(option, click.Option) and bad_value(option) is not None
    ]
    + [
        pytest.param(path, "--no-such-option", None, id=f"{' '.join(path)} --no-such-option")
        for path, _ in commands()
    ]
    + [  # options that take text and check it themselves
        pytest.param(("loadtest",), "--timeout", "soon", id="loadtest --timeout soon"),
        pytest.param(("loadtest",), "--timeout", "0s", id="loadtest --timeout 0s"),
        pytest.param(("loadtest",), "--max-time", "x", id="loadtest --max-time x"),
        pytest.param(("run",), "--batch", "0", id="run --batch 0"),
        pytest.param(("run",), "--max-fail", "120%", id="run --max-fail 120%"),
        pytest.param(("plan",), "--limit", "", id="plan --limit ''"),
    ]
)


@pytest.mark.parametrize(("path", "option", "value"), CASES)
def test_a_bad_option_value_is_a_usage_error(path, option, value, tmp_path, monkeypatch, capsys):
    command = dict(commands())[path]
    args = [*path, *arguments(command, tmp_path), option] + ([] if value is None else [value])
    monkeypatch.setattr(sys, "argv", ["fleetdeck", *args])
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with pytest.raises(SystemExit) as ended:
        fleetdeck.main()
    said = capsys.readouterr().err
    assert ended.value.code == EXIT_USAGE, (args, said)
    assert option in said and "Traceback" not in said, said


def test_every_command_is_covered():
    covered = {c.values[0] for c in CASES}
    assert covered == {p for p, _ in commands()}
    assert len(CASES) > len(covered) + 10  # options with values, not only unknown ones
