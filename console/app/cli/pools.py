"""`fleetdeck pools`: the profile's Kubernetes sources, node pool by node pool: how many
nodes and how many Ready, GPUs allocatable against capacity, and each node that needs
someone (NotReady, cordoned) by name. One paged list per cluster, no SSH."""

from __future__ import annotations

import json
import sys

import click

from console.app.cli.common import load_or_exit
from console.app.cli.group import EXIT_FAILED, EXIT_INVALID, cli


@cli.command("pools")
@click.argument("profile", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print the pools as JSON")
def pools_cmd(profile: str, as_json: bool) -> None:
    """Each Kubernetes source's node pools: GPUs allocatable vs capacity, NotReady and
    cordoned nodes. Exit 4 when a node is NotReady or a source cannot be read."""
    from console.core.sources.kubernetes import pools_lines, read_source

    model = load_or_exit(profile).model
    sources = [s for s in model.sources if s.kind == "kubernetes"]
    if not sources:
        click.echo(
            f"fleetdeck: {profile} has no Kubernetes source: add a [[sources]] table with "
            'kind = "kubernetes" and its kubeconfig',
            err=True,
        )
        sys.exit(EXIT_INVALID)
    docs = [
        {"source": s.name} | read_source(s.kubeconfig, s.context, s.selector, s.pool_label)
        for s in sources
    ]
    trouble = any("error" in d or any(p["not_ready"] for p in d["pools"]) for d in docs)
    if as_json:
        click.echo(json.dumps({"schema": 1, "sources": docs}, indent=1))
    else:
        for doc in docs:
            for _, line in pools_lines(doc["source"], doc):
                click.echo(line)
    sys.exit(EXIT_FAILED if trouble else 0)
