"""`fleetdeck pools`: the profile's Kubernetes sources, node pool by node pool: how many
nodes and how many Ready, GPUs allocatable against capacity, and each node that needs
someone (NotReady, cordoned) by name. One paged list per cluster, no SSH."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from console.cli.common import load_or_exit
from console.cli.group import EXIT_FAILED, EXIT_INVALID, cli


@cli.command("pools")
@click.argument("profile", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print the pools as JSON")
def pools_cmd(profile: str, as_json: bool) -> None:
    """Each Kubernetes source's node pools: GPUs allocatable vs capacity, NotReady and
    cordoned nodes. Exit 4 when a node is NotReady or a source cannot be read."""
    from console.sources.kubernetes import KubeError, list_nodes, load_kubeconfig, pools_of

    model = load_or_exit(profile).model
    sources = [s for s in model.sources if s.kind == "kubernetes"]
    if not sources:
        click.echo(
            f"fleetdeck: {profile} has no Kubernetes source: add a [[sources]] table with "
            'kind = "kubernetes" and its kubeconfig',
            err=True,
        )
        sys.exit(EXIT_INVALID)
    doc, trouble = [], False
    for source in sources:
        try:
            access = load_kubeconfig(Path(source.kubeconfig), source.context)
            pools = pools_of(list_nodes(access, source.selector), source.pool_label)
        except KubeError as exc:
            trouble = True
            doc.append({"source": source.name, "error": str(exc)})
            if not as_json:
                click.echo(f"✕ {source.name}: {exc}")
            continue
        trouble = trouble or any(p.not_ready for p in pools)
        doc.append(
            {
                "source": source.name,
                "context": access.context,
                "pools": [
                    {
                        "pool": p.name,
                        "nodes": len(p.nodes),
                        "ready": len(p.nodes) - len(p.not_ready),
                        "gpus_capacity": p.capacity,
                        "gpus_allocatable": p.allocatable,
                        "accelerators": p.accelerators,
                        "not_ready": [
                            {"node": n.name, "why": n.not_ready_why} for n in p.not_ready
                        ],
                        "cordoned": [n.name for n in p.cordoned],
                    }
                    for p in pools
                ],
            }
        )
        if as_json:
            continue
        total = sum(len(p.nodes) for p in pools)
        click.echo(f"{source.name} (context {access.context}): {len(pools)} pools, {total} nodes")
        click.echo(
            f"  {'POOL':<22}{'NODES':>6}{'READY':>7}{'CORDONED':>10}  GPUS ALLOC/CAP  ACCELERATOR"
        )
        for p in pools:
            short = p.allocatable < p.capacity
            click.echo(
                f"  {p.name:<22}{len(p.nodes):>6}{len(p.nodes) - len(p.not_ready):>7}"
                f"{len(p.cordoned):>10}  {f'{p.allocatable}/{p.capacity}':>14}"
                f"{' !' if short else '  '} {', '.join(p.accelerators) or '-'}"
            )
            for n in p.not_ready:
                click.echo(f"    ✕ {n.name}  NotReady: {n.not_ready_why}")
            for n in p.cordoned:
                click.echo(f"    ~ {n.name}  cordoned (unschedulable)")
    if as_json:
        click.echo(json.dumps({"schema": 1, "sources": doc}, indent=1))
    sys.exit(EXIT_FAILED if trouble else 0)
