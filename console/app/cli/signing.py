"""`fleetdeck signing-kit`: what a cold key kept on another machine must sign, as commands."""

from __future__ import annotations

import sys

import click

from console.app.cli.common import ACCEPT_NEW, engine_for, load_or_exit
from console.app.cli.group import EXIT_FAILED, cli
from console.core.stacks import STACKS


@cli.command("signing-kit")
@click.argument("profile", type=click.Path())
@click.option("--cluster", "only", multiple=True, help="only this cluster (repeat for more)")
@click.option(
    "--node",
    "node_url",
    help="the chain RPC the other machine sends to (default: the cluster's seed_rpc_url)",
)
@ACCEPT_NEW
def signing_kit_cmd(
    profile: str, only: tuple[str, ...], node_url: str | None, accept_new_host_keys: bool
) -> None:
    """Print, per Gonka cluster, the commands its cold key must sign now on the machine
    that keeps it (grant, register a funded account, unjail); then run `fleetdeck doctor`
    to see them take effect. Exit 4 when a cluster could not be read."""
    from actions.engine import NodeContext
    from actions.stacks.gonka_signing import kit

    loaded = load_or_exit(profile, after="")
    fleet = loaded.model
    engine, pool = engine_for(loaded, accept_new_host_keys, journal=False)
    failed = False
    try:
        for cluster in fleet.clusters:
            if fleet.cluster_stack(cluster) != "gonka" or (only and cluster.name not in only):
                continue
            roles = STACKS["gonka"].singleton_roles  # the cluster's network node
            net = next((n for n in cluster.nodes if n.role in roles), None)
            if net is None:
                continue
            ctx = NodeContext(engine, cluster, net)
            url = node_url or ctx.settings.seed_rpc_url
            click.echo(
                f"# cluster {cluster.name}: on the machine that keeps the cold key "
                f"{ctx.settings.account_key_name} ({ctx.settings.account_address})"
            )
            if not url:
                click.echo("#   no seed_rpc_url in the profile: pass --node URL", err=True)
                failed = True
                continue
            try:
                signings = kit(ctx, url)
            except Exception as exc:  # unreachable or unreadable: said, and on to the next
                click.echo(f"#   cannot read {net.name}: {exc}", err=True)
                failed = True
                continue
            if not signings:
                click.echo("#   nothing to sign: the chain has it all\n")
                continue
            for i, s in enumerate(signings, 1):
                click.echo(f"# {i}. {s.why}\n{s.command}")
            click.echo(f"# then, here: fleetdeck doctor {profile}\n")
    finally:
        pool.close()
    if failed:
        sys.exit(EXIT_FAILED)
