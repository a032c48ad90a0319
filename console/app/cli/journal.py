"""`fleetdeck journal`: what was run, step by step, and what the console did."""

from __future__ import annotations

import sys
import time

import click

from console.app.cli.common import load_or_exit
from console.app.cli.group import EXIT_INVALID, cli


@cli.command("journal")
@click.argument("profile", type=click.Path())
@click.argument("run_id", required=False, metavar="[RUN]")
@click.option("--node", help="only this node's steps")
@click.option("--lines", "with_lines", is_flag=True, help="with each step's output lines")
def journal_cmd(profile: str, run_id: str | None, node: str | None, with_lines: bool) -> None:
    """What was run on the fleet: its runs, or one run's steps node by node."""
    from console.core.journal import Journal, JournalError, state_dir
    from console.core.text import printable

    fleet = load_or_exit(profile).model.fleet.name
    if not (state_dir() / "journal.sqlite").exists():
        click.echo(f"no action has run yet (journal: {state_dir() / 'journal.sqlite'})")
        return
    try:
        journal = Journal()
    except JournalError as exc:
        click.echo(f"fleetdeck journal: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    try:
        if run_id is None:
            console_trail(journal, fleet, node)
            runs = journal.runs(fleet)
            if not runs:
                click.echo(f"no runs of {fleet} in {journal.path}")
            for r in runs:
                started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started))
                took = f"{r.finished - r.started:7.1f} s" if r.finished else "  (open)"
                nodes = len({x.node for x in journal.steps(r.id)})
                click.echo(
                    f"{r.id}  {r.action:<8} {started}  {took}  {r.outcome or 'unfinished':<10} "
                    f"{nodes} nodes"
                )
            return
        run = journal.run(run_id)
        if run is None or run.fleet != fleet:
            click.echo(f"fleetdeck journal: no run {run_id} of {fleet}", err=True)
            sys.exit(EXIT_INVALID)
        click.echo(f"run {run.id}: {run.action} of {run.fleet}, {run.outcome or 'unfinished'}")
        for step in journal.steps(run.id, node):
            took = (
                f"{step.finished - step.started:6.1f} s"
                if step.started and step.finished
                else "       "
            )
            tries = f" ×{step.attempts}" if step.attempts > 1 else ""
            click.echo(
                f"  {step.node:<14} {step.step:<14} {step.state:<10}{tries:<4} {took}  "
                f"{printable(step.error or step.summary)}"
            )
            if with_lines:
                for line in journal.lines(run.id, step.node, step.step):
                    click.echo(f"      | {printable(line)}")
    finally:
        journal.close()


def console_trail(journal, fleet: str, node: str | None) -> None:
    """What was done from the console (newest first), and the acknowledgements held."""
    from console.core.text import printable

    done = journal.console_actions(fleet, node)
    if done:
        click.echo("from the console:")
    for a in done[:50]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.t))
        detail = f"  {printable(a.detail)}" if a.detail else ""
        click.echo(
            f"  {when}  {a.node:<14} {a.action:<15} {printable(a.target):<28} {a.result:<6} "
            f"by {a.user}{detail}"
        )
    acks = [a for a in journal.acks(fleet) if node is None or a.node == node]
    if acks:
        click.echo("acknowledged (until the alert changes; withdraw with a on triage):")
    for a in acks:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(a.t))
        click.echo(f"  {a.node:<14} {a.kind:<32} {printable(a.summary)}  ({when}, {a.user})")
    if done or acks:
        click.echo("runs:")
