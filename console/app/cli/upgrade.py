"""The upgrade action's options of `fleetdeck run` (--to, --manifest, --rollback), read
into the patch the engine's upgrade steps take (actions/stacks/gonka_upgrade.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from console.app.cli.group import EXIT_INVALID, EXIT_USAGE


def UPGRADE_OPTIONS(command):  # noqa: N802 - a decorator named as the others are
    """run's options for an upgrade."""
    command = click.option(
        "--rollback", is_flag=True, help="upgrade: relink each API's previous version"
    )(command)
    command = click.option(
        "--manifest",
        type=click.Path(dir_okay=False, path_type=Path),
        help="upgrade: the release manifest (TOML: [patches.VERSION] url, sha256)",
    )(command)
    return click.option(
        "--to", "upgrade_to", metavar="VERSION", help="upgrade: the API patch to install"
    )(command)


def upgrade_patch(action: str, to: str | None, manifest: Path | None, rollback: bool):
    """(the patch, whether to roll back) from run's upgrade options; usage errors exit."""
    from actions.engine import StepFailed
    from actions.stacks.gonka_upgrade import read_manifest

    if not (to or manifest or rollback):
        if action == "upgrade":
            click.echo("fleetdeck run: upgrade needs --to VERSION and --manifest FILE", err=True)
            sys.exit(EXIT_USAGE)
        return None, False
    if action != "upgrade":
        click.echo("fleetdeck run: --to, --manifest and --rollback belong to upgrade", err=True)
        sys.exit(EXIT_USAGE)
    if rollback:
        if to or manifest:
            click.echo("fleetdeck run: --rollback undoes the last patch: no --to", err=True)
            sys.exit(EXIT_USAGE)
        return None, True
    if not (to and manifest):
        click.echo("fleetdeck run: upgrade needs --to VERSION and --manifest FILE", err=True)
        sys.exit(EXIT_USAGE)
    try:
        return read_manifest(manifest, to), False
    except StepFailed as exc:
        click.echo(f"fleetdeck run: {exc}", err=True)
        sys.exit(EXIT_INVALID)
