"""`fleetdeck check` and `fleetdeck import-inventory`: profiles in and out."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from actions.report import plural
from console.app.cli.group import EXIT_INVALID, cli
from console.core.atomic import atomic_write_text
from console.core.profile import ProfileError, load
from console.core.stacks import STACKS


@cli.command("check")
@click.argument("profiles", nargs=-1, required=True, type=click.Path(dir_okay=True))
def check_cmd(profiles: tuple[str, ...]) -> None:
    """Validate PROFILES; print every problem with its file, line and field."""

    bad = 0
    for path in profiles:
        try:
            profile = load(path)
        except ProfileError as exc:
            bad += 1
            n = len(exc.problems)
            click.echo(f"{path}: {n} problem{'s' if n != 1 else ''}", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}".replace("\n", "\n  "), err=True)
            continue
        model = profile.model
        gpus = sum(n.gpus or 0 for _, n in model.all_nodes())
        click.echo(
            f"{path}: ok ({model.fleet.name}: {plural(len(model.clusters), 'cluster')}, "
            f"{plural(len(model.all_nodes()), 'node')}, {gpus} GPUs expected)"
        )
        pools = model.provision.pools if model.provision else []
        have = {n.name for _, n in model.all_nodes()}
        to_make = sum(1 for p in pools for i in range(1, p.count + 1) if p.node_name(i) not in have)
        if to_make:
            click.echo(
                f"  {plural(to_make, 'machine')} of {plural(len(pools), 'pool')} still to "
                f"provision: fleetdeck plan {path} provision"
            )
        for note in profile.unused_settings() + profile.renamed_settings():
            click.echo(f"  note: {note}")
        gaps: dict[str, list[str]] = {}  # what is missing -> the clusters it is missing in
        for c in model.clusters:
            for gap in STACKS[model.cluster_stack(c)].deploy_gaps(model, c):
                gaps.setdefault(gap, []).append(c.name)
        if gaps:
            click.echo("  not ready to deploy:")
            for gap, where in gaps.items():
                named = (
                    "every cluster"
                    if len(where) == len(model.clusters) > 1
                    else f"cluster{'s' if len(where) > 1 else ''} {', '.join(where)}"
                )
                click.echo(f"    {named}: {gap.replace('PROFILE', path)}")
            click.echo(f"  fill them with `fleetdeck setup {path}` (or in the profile itself)")
    if bad:
        sys.exit(EXIT_INVALID)


@cli.command("import-inventory")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="profile file to write"
)
@click.option("--name", help="fleet name (default: the inventory's file name)")
@click.option("--force", is_flag=True, help="overwrite OUTPUT if it exists")
def import_inventory_cmd(inventory: str, output: str, name: str | None, force: bool) -> None:
    """Turn an Ansible INI INVENTORY (Gonka plan groups) into a fleet profile."""
    from console.core.stacks.gonka_inventory import import_inventory

    if Path(output).exists() and not force:
        click.echo(f"{output}: already exists; pass --force to overwrite it", err=True)
        sys.exit(EXIT_INVALID)
    folder = Path(output).resolve().parent
    if not folder.is_dir():
        click.echo(f"{output}: the folder {folder} does not exist; create it first", err=True)
        sys.exit(EXIT_INVALID)
    try:
        result = import_inventory(inventory, name)
    except ProfileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_INVALID)
    atomic_write_text(output, result.text, mode=0o644)
    profile = load(output)
    click.echo(
        f"{output}: wrote {plural(len(profile.model.clusters), 'cluster')}, "
        f"{plural(len(profile.model.all_nodes()), 'node')}"
    )
    if result.notes:
        click.echo(
            f"not carried over ({len(result.notes)}; also listed at the top of {output}):", err=True
        )
        for note in result.notes:
            click.echo(f"  - {note}", err=True)
