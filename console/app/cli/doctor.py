"""`fleetdeck doctor`: is each Gonka cluster a working participant? (schema in README)"""

from __future__ import annotations

import sys

import click

from console.app.cli.common import ACCEPT_NEW, engine_for, load_or_exit
from console.app.cli.group import EXIT_CRITICAL, cli

MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "unknown": "?"}


@cli.command("doctor")
@click.argument("profile", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON (schema 1)")
@ACCEPT_NEW
def doctor_cmd(profile: str, as_json: bool, accept_new_host_keys: bool) -> None:
    """Check each Gonka cluster's registration: keys, participant, permissions and fee
    allowance (warned 30 days before they expire), the setup report, ML nodes, epoch.

    Exit 0 when nothing fails, 2 when a check fails or a network node cannot be read."""
    import json as jsonlib

    from actions.doctors import UNKNOWN, Finding, doctor_of
    from actions.engine import NodeContext

    loaded = load_or_exit(profile, after="")
    fleet = loaded.model
    engine, pool = engine_for(loaded, accept_new_host_keys, journal=False)
    targets = [
        (cluster, node, doctor)
        for cluster in fleet.clusters
        if (doctor := doctor_of(fleet.cluster_stack(cluster)))
        for node in cluster.nodes
        if node.role == doctor.role
    ]

    by_name = {node.name: (cluster, node, doctor) for cluster, node, doctor in targets}

    def examine(name: str) -> list[Finding]:
        cluster, node, doctor = by_name[name]
        try:
            return doctor.diagnose(NodeContext(engine, cluster, node))
        except Exception as exc:  # unreachable, or unreadable: that cluster's finding
            return [Finding("network_node", UNKNOWN, f"{name}: {exc}")]

    try:
        results = pool.fan_out(list(by_name), examine)
    finally:
        pool.close()
    clusters = [
        {
            "cluster": cluster.name,
            "network_node": node.name,
            "checks": [f.as_json() for f in results[node.name]],
        }
        for cluster, node, _ in targets
    ]
    bad = any(c["status"] in ("fail", "unknown") for cl in clusters for c in cl["checks"])
    if as_json:
        doc = {"schema": 1, "fleet": fleet.fleet.name, "ok": not bad, "clusters": clusters}
        click.echo(jsonlib.dumps(doc, indent=1))
    else:
        for cl in clusters:
            click.echo(f"{cl['cluster']} (network node {cl['network_node']})")
            for c in cl["checks"]:
                click.echo(f"  {MARKS.get(c['status'], '?')} {c['id']}: {c['message']}")
                if c["fix"]:
                    click.echo(f"      fix: {c['fix']}")
        if not targets:
            click.echo("no cluster in this profile has registration checks")
    if bad:
        sys.exit(EXIT_CRITICAL)
