"""`fleetdeck proposals`: the governance proposals in their voting period, with when each
ends and how each Gonka cluster's cold key voted."""

from __future__ import annotations

import sys
import time

import click

from console.app.cli.common import ACCEPT_NEW, engine_for, load_or_exit
from console.app.cli.group import EXIT_FAILED, cli
from console.core.stacks import STACKS


@cli.command("proposals")
@click.argument("profile", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print them as JSON")
@ACCEPT_NEW
def proposals_cmd(profile: str, as_json: bool, accept_new_host_keys: bool) -> None:
    """List the proposals being voted on, each with its end and each cluster's vote (read
    through each cluster's network node). A vote is signed where the cold key lives:
    `fleetdeck signing-kit PROFILE` prints the command. Exit 4 when a cluster could not
    be read."""
    import json

    from actions.engine import NodeContext, StepFailed
    from actions.stacks.gonka_gov import ballots

    loaded = load_or_exit(profile, after="")
    fleet = loaded.model
    engine, pool = engine_for(loaded, accept_new_host_keys, journal=False)
    failed = False
    found: dict[int, dict] = {}  # proposal id -> what it is, and each cluster's vote
    try:
        for cluster in fleet.clusters:
            if fleet.cluster_stack(cluster) != "gonka":
                continue
            roles = STACKS["gonka"].singleton_roles  # the cluster's network node
            net = next((n for n in cluster.nodes if n.role in roles), None)
            if net is None:
                continue
            try:
                read = ballots(NodeContext(engine, cluster, net))
            except Exception as exc:  # unreachable or unreadable: said, and on to the next
                reason = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
                click.echo(f"{cluster.name}: cannot read {net.name}: {reason}", err=True)
                failed = True
                continue
            for b in read:
                entry = found.setdefault(
                    b.proposal.id,
                    {
                        "id": b.proposal.id,
                        "title": b.proposal.title,
                        "kinds": list(b.proposal.kinds),
                        "voting_end": b.proposal.voting_end,
                        "expedited": b.proposal.expedited,
                        "votes": {},
                    },
                )
                entry["votes"][cluster.name] = b.vote
    finally:
        pool.close()
    listed = sorted(found.values(), key=lambda e: (e["voting_end"] or 0, e["id"]))
    if as_json:
        click.echo(json.dumps({"proposals": listed}, indent=1))
    elif not listed:
        click.echo("no proposal is in its voting period")
    now = time.time()
    for e in [] if as_json else listed:
        end = e["voting_end"]
        when = (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end)) + f" (in {_left(end - now)})"
            if end
            else "unknown"
        )
        what = ", ".join(e["kinds"]) or "text"
        click.echo(f"#{e['id']} {e['title']} ({what}{', expedited' if e['expedited'] else ''})")
        click.echo(f"   voting ends {when}")
        for name, vote in e["votes"].items():
            click.echo(f"   {name}: {vote or 'not voted'}")
    if any(v is None for e in listed for v in e["votes"].values()) and not as_json:
        click.echo(f"to vote: fleetdeck signing-kit {profile} prints the command per cluster")
    if failed:
        sys.exit(EXIT_FAILED)


def _left(seconds: float) -> str:
    if seconds <= 0:
        return "ended"
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
