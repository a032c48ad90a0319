"""`fleetdeck sim up|fault|clear|faults|status|down`: a simulated fleet to rehearse on."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from console.app.cli.common import load_or_exit
from console.app.cli.group import EXIT_CANCELLED, EXIT_INVALID, Finite, cli


@cli.group("sim")
def sim_group() -> None:
    """Run a simulated fleet on this machine (for rehearsal, tests and benchmarks)."""


@sim_group.command("up")
@click.argument("profile", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--dir",
    "root",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="where the fleet keeps its sandboxes, key, known_hosts and profile.toml",
)
@click.option(
    "--block-time",
    default=1.0,
    show_default=True,
    type=Finite(min=0.05, max=3600),
    help="seconds per block (0.05 to 3600)",
)
@click.option(
    "--epoch-blocks",
    default=240,
    show_default=True,
    type=click.IntRange(min=60, max=100_000),
    help="blocks per epoch (a new participant joins at the next proof of compute)",
)
@click.option("--fresh", is_flag=True, help="bare nodes: nothing deployed yet")
def sim_up(profile: str, root: Path, block_time: float, epoch_blocks: int, fresh: bool) -> None:
    """Start the fleet of PROFILE in the background; returns when every node answers."""
    from console.sim import control

    try:
        load_or_exit(profile, after="nothing was started: fix the profile first")
        info = control.up(profile, root, block_time, fresh, epoch_blocks=epoch_blocks)
    except control.SimError as exc:
        click.echo(f"fleetdeck sim: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    except KeyboardInterrupt:
        click.echo("interrupted: the simulated fleet that was starting is stopped", err=True)
        sys.exit(EXIT_CANCELLED)
    click.echo(
        f"simulated fleet up: {info['nodes']} nodes (pid {info['pid']})\n"
        f"profile: {root / 'profile.toml'}\n"
        f"stop it: fleetdeck sim down {root}"
    )


@sim_group.command("fault")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("node")
@click.argument("kind")
def sim_fault(root: Path, node: str, kind: str) -> None:
    """Inject fault KIND into NODE (fleetdeck sim faults lists the kinds)."""
    sim_call(root, "POST", "/fault", {"node": node, "kind": kind})
    click.echo(f"{node}: {kind} injected")


@sim_group.command("clear")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("node", required=False)
@click.option("--kind", help="clear only this fault")
def sim_clear(root: Path, node: str | None, kind: str | None) -> None:
    """Clear the faults of NODE, or of every node."""
    result = sim_call(root, "POST", "/clear", {"node": node, "kind": kind})
    click.echo(f"cleared: {', '.join(result['cleared']) or 'nothing was injected'}")


@sim_group.command("faults")
def sim_faults() -> None:
    """List the fault kinds."""
    from console.sim.faults import FAULTS

    for kind, fault in FAULTS.items():
        click.echo(f"{kind:<15} {fault.description}")


@sim_group.command("status")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
def sim_status(root: Path) -> None:
    """Nodes, their addresses, containers and active faults."""
    result = sim_call(root, "GET", "/status")
    for name, node in result["nodes"].items():
        faults = ", ".join(node["faults"]) or "-"
        up = sum(state == "running" for state in node["containers"].values())
        click.echo(
            f"{name:<20} {node['address']}:{node['port']:<6} "
            f"containers {up}/{len(node['containers'])}  faults: {faults}"
        )


@sim_group.command("down")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
def sim_down(root: Path) -> None:
    """Stop the fleet and everything it started."""
    from console.sim import control

    if control.down(root):
        click.echo(f"simulated fleet in {root} stopped")
    else:
        click.echo(f"no simulated fleet runs in {root}")


def sim_call(root: Path, method: str, path: str, body: object = None):
    from console.sim import control

    try:
        return control.request(root, method, path, body)
    except control.SimError as exc:
        click.echo(f"fleetdeck sim: {exc}", err=True)
        sys.exit(EXIT_INVALID)
