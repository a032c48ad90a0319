"""`fleetdeck provision list|destroy`: the fleet's machines in the clouds against the
profile. Making machines is the `provision` action (`fleetdeck plan|run PROFILE provision`)."""

from __future__ import annotations

import sys

import click

from console.app.cli.common import load_or_exit
from console.app.cli.group import EXIT_FAILED, EXIT_INVALID, cli

MARK = {
    "ok": "✓",
    "orphan": "!",
    "gone": "✕",
    "surplus": "!",
    "stopped": "~",
    "moved": "~",
    "missing": "·",
}


@cli.group("provision")
def provision_group() -> None:
    """The fleet's cloud machines: list them against the profile, destroy some.

    \b
    fleetdeck plan PROFILE provision          what would be made, call for call
    fleetdeck run PROFILE provision           make it (--resume after a failure)
    fleetdeck provision list PROFILE          cloud and profile, reconciled
    fleetdeck provision destroy PROFILE NAME  terminate machines, drop their nodes

    Credentials are references in each pool (credentials = "keyring:fleetdeck/aws"):
    EC2 takes ACCESS_KEY_ID:SECRET_ACCESS_KEY, GCE the service account's JSON key,
    Azure TENANT_ID:SUBSCRIPTION_ID:CLIENT_ID:CLIENT_SECRET."""


@provision_group.command("list")
@click.argument("profile", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def list_cmd(profile: str, as_json: bool) -> None:
    """Machines tagged for the fleet and the profile's provisioned nodes, reconciled:
    orphans (billing, in no profile), nodes whose machine is gone, stopped or moved.

    Exit 0 when they agree, 4 when something needs the operator."""
    import json

    from actions.provision.inventory import OK, Inventory
    from actions.types import StepFailed

    loaded = load_or_exit(profile, after="")
    if not loaded.model.provision:
        click.echo(f"{profile}: no [provision] pools: nothing to list", err=True)
        sys.exit(EXIT_INVALID)
    try:
        findings = Inventory(loaded).findings()
    except StepFailed as exc:
        click.echo(f"fleetdeck provision list: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps([f.as_json() for f in findings], indent=1))
    else:
        for kind in ("orphan", "gone", "surplus", "stopped", "moved", "missing", "ok"):
            for f in (f for f in findings if f.kind == kind):
                click.echo(f"{MARK[kind]} {kind:<8} {f.text}")
        counts = {k: sum(1 for f in findings if f.kind == k) for k in MARK}
        click.echo(", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no machines")
    if any(f.kind not in (OK, "missing") for f in findings):
        sys.exit(EXIT_FAILED)


@provision_group.command("destroy")
@click.argument("profile", type=click.Path())
@click.argument("names", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="do not ask for the names to be typed again")
def destroy_cmd(profile: str, names: tuple[str, ...], yes: bool) -> None:
    """Terminate the machines of NAMES (profile nodes, or orphans' instance ids) and remove
    the nodes from the profile. Asks for the names to be typed again first."""
    from actions.provision.inventory import Inventory
    from actions.types import StepFailed
    from console.core.journal import Journal

    loaded = load_or_exit(profile)
    inventory = Inventory(loaded)
    try:
        targets = inventory.resolve(list(names))
    except StepFailed as exc:
        click.echo(f"fleetdeck provision destroy: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    for name, machine, node in targets:
        doing = []
        if machine is not None:
            doing.append(f"terminate {machine.id} ({machine.state}, {machine.public_ip})")
        if node is not None:
            doing.append(f"remove node {node.name} from {loaded.file}")
            if machine is None:
                doing.append("(its machine is already gone)")
        click.echo(f"{name}: " + " and ".join(doing[:2]) + " ".join([""] + doing[2:]))
    if not yes:
        typed = click.prompt(
            "type the names again, separated by spaces, to destroy them", default=""
        )
        if sorted(typed.split()) != sorted(names):
            click.echo("not confirmed; nothing was destroyed")
            sys.exit(EXIT_INVALID)
    journal = Journal(recover=True)
    fleet = loaded.model.fleet.name

    def say(line: str) -> None:
        click.echo(line)

    for target in targets:
        name, machine, _ = target
        try:
            inventory.destroy([target], say)
        except StepFailed as exc:
            journal.record(
                fleet, name, "destroy", machine.id if machine else "", "failed", str(exc)
            )
            click.echo(f"fleetdeck provision destroy: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        journal.record(fleet, name, "destroy", machine.id if machine else "", "done")
