"""`fleetdeck setup`: answers → a commented profile → its stages (machines, keys, preflight,
deploy, registration, verification), each the command an operator runs; `--rehearse` does all of
it on a fresh simulated fleet first. Resumable: run it again and it goes on where it
stopped. On a terminal without --answers the wizard asks the questions
(console/app/setup/app.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from console.app.cli.group import EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID, cli

EXAMPLE = Path(__file__).resolve().parents[3] / "profiles" / "setup" / "first-fleet-answers.toml"


@cli.command("setup")
@click.argument("profile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--answers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"the answers to every question, as TOML (an example: {EXAMPLE.name})",
)
@click.option("--rehearse", is_flag=True, help="do it all on a fresh simulated fleet")
@click.option(
    "--dir",
    "rehearsal_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="where the rehearsal's fleet lives (default: FLEET-rehearsal/ here)",
)
@click.option("--yes", is_flag=True, help="save the profile and run each stage without asking")
@click.option("--write-only", is_flag=True, help="write the profile from --answers and stop there")
@click.option(
    "--mnemonic-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write new account keys' mnemonics to this new 0600 file (else the terminal)",
)
def setup_cmd(
    profile: Path | None,
    answers: Path | None,
    rehearse: bool,
    rehearsal_dir: Path | None,
    yes: bool,
    write_only: bool,
    mnemonic_file: Path | None,
) -> None:
    """From answers to a registered, serving fleet. Exit 0 when every stage passed, 4
    when one failed (run it again to resume there), 1 on bad answers."""
    from console.app.setup.answers import AnswersError, load_answers
    from console.app.setup.rehearsal import fleet_up
    from console.app.setup.stages import SETTLE_S, run_stages, stages_for
    from console.app.setup.writer import profile_text
    from console.core.profile import ProfileError, load

    if write_only and answers is None:
        raise click.UsageError("--write-only writes the profile of --answers FILE")
    if mnemonic_file is not None:  # refused now, not at the keys stage minutes in
        from console.app.cli.mnemonic import check_destination

        check_destination(mnemonic_file)
    if answers is None and sys.stdin.isatty() and sys.stdout.isatty():
        from console.app.setup.app import SetupApp

        app = SetupApp(profile, rehearse, rehearsal_dir, mnemonic_file)
        sys.exit(app.run() or 0)
    if answers is None:
        if profile is None or not profile.exists():
            click.echo(
                "fleetdeck setup: without a terminal the questions need answers: give them "
                f"in a file with --answers (an example: {EXAMPLE})",
                err=True,
            )
            sys.exit(EXIT_INVALID)
        text = profile.read_text()  # resume the setup of this profile
    else:
        try:
            a = load_answers(answers)
        except AnswersError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_INVALID)
        try:
            text = profile_text(a, answers.name)
        except ProfileError as exc:  # what the answers make, refused by the profile's rules
            click.echo(f"{answers}: these answers make a profile that is refused:\n{exc}", err=True)
            sys.exit(EXIT_INVALID)
        profile = profile or Path(f"{a.fleet}.toml")
        try:
            if profile.exists() and profile.read_text() != text:
                click.echo(
                    f"fleetdeck setup: {profile} exists and is not what these answers write: "
                    f"move it away, or run `fleetdeck setup {profile}` to go on with it",
                    err=True,
                )
                sys.exit(EXIT_INVALID)
            if not profile.exists():
                click.echo(text)
                confirmed = yes or write_only or click.confirm(f"save this profile as {profile}?")
                if not confirmed:
                    sys.exit(EXIT_CANCELLED)
                profile.write_text(text)
                click.echo(f"saved {profile}")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            click.echo(f"fleetdeck setup: {profile}: cannot be the profile: {why}", err=True)
            sys.exit(EXIT_INVALID)
        if write_only:
            return
    try:
        model = load(str(profile)).model
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    env = dict(os.environ)
    target = profile.resolve()  # the stages' commands are run with absolute paths
    if rehearse:
        root = (rehearsal_dir or Path(f"{model.fleet.name}-rehearsal")).resolve()
        click.echo(f"rehearsal: a simulated fleet of {profile} under {root}/sim")
        try:
            target, env = fleet_up(text, root, env)
        except RuntimeError as exc:
            click.echo(f"fleetdeck setup: the simulated fleet did not start: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        model = load(str(target)).model
        # simulated keys: their mnemonics are kept beside the fleet, not asked for
        mnemonic_file = mnemonic_file or root / "mnemonics.txt"
    if not yes and not click.confirm(f"run the stages on {model.fleet.name} now?", default=True):
        sys.exit(EXIT_CANCELLED)
    stages = stages_for(model, mnemonic_file)
    try:
        failed = run_stages(
            target, stages, env, click.echo, model.fleet.name, settle_s=SETTLE_S if rehearse else 0
        )
    except KeyboardInterrupt:
        click.echo(f"\nstopped: `fleetdeck setup {profile}` goes on from here", err=True)
        sys.exit(EXIT_CANCELLED)
    if failed:
        again = f"fleetdeck setup {profile}" + (" --rehearse" if rehearse else "")
        click.echo(f"setup stopped at {failed}: fix what it said, then `{again}` resumes there")
        sys.exit(EXIT_FAILED)
    click.echo(f"setup complete: {model.fleet.name} is deployed and verified")
    if rehearse:
        click.echo(
            f"the rehearsal's fleet is still up: `fleetdeck {target}` to look at it, "
            f"`fleetdeck sim down {target.parent}` to stop it"
        )
