"""The pages' own commands. `fleetdeck notify test PROFILE`: a test page through each
paging channel of the profile, and what each answered; resolved at once where a channel
keeps incidents open (Alertmanager, PagerDuty); exit 4 when a channel did not take it.
`fleetdeck mute` / `unmute`: a node's pages held back for a while, kept in the journal
(the watch and consoles read it) and mirrored as an Alertmanager silence where there is
one."""

from __future__ import annotations

import socket
import sys
import time

import click

from console.app.cli.common import load_or_exit
from console.app.cli.group import EXIT_FAILED, EXIT_INVALID, cli
from console.app.cli.history import Span
from console.app.cli.watch import channels_or_exit
from console.core.journal import operator


@cli.group("notify")
def notify_group() -> None:
    """The paging channels of a profile ([paging])."""


@notify_group.command("test")
@click.argument("profile", type=click.Path())
def notify_test(profile: str) -> None:
    """Send a test page through each channel and say what each answered."""
    from console.core.paging.words import test_page
    from console.core.secrets import REDACTOR

    fleet = load_or_exit(profile, after="").model
    channels = channels_or_exit(fleet)
    if not channels:
        click.echo("fleetdeck: [paging] names no channel to test", err=True)
        sys.exit(EXIT_INVALID)
    host = socket.gethostname()
    failed = 0
    for channel in channels:
        page = test_page(fleet.fleet.name, host, time.time())
        sent = channel.deliver("page", [page], time.time())
        said = f"{channel.name}: {'✓' if sent.ok else '✗'} {sent.said}"
        if sent.ok and channel.keeps_open:
            closed = channel.deliver("resolve", [page], time.time())
            said += f"; resolved: {closed.said}"
        click.echo(REDACTOR.redact(said))
        failed += not sent.ok
    if failed:
        sys.exit(EXIT_FAILED)


@cli.command("mute")
@click.argument("profile", type=click.Path())
@click.argument("node", required=False)
@click.option("--kind", default="*", help="the alert kind (unreachable, gpu_xid…); all by default")
@click.option("--for", "span", type=Span(), default="2h", show_default=True, help="30m, 2h, 1d")
@click.option("--reason", default="", help="why: the journal and the silence keep it")
@click.option("--list", "listing", is_flag=True, help="the mutes running now")
def mute_cmd(profile: str, node: str | None, kind: str, span: float, reason: str, listing: bool):
    """Hold back a node's pages for a while (the watch honours it within seconds; where
    [paging] names an Alertmanager, a silence mirrors it there)."""
    from console.core.journal import Journal

    fleet = load_or_exit(profile, after="").model
    journal = Journal()
    try:
        if listing:
            for m in journal.mutes(fleet.fleet.name, time.time()):
                ends = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.until))
                click.echo(f"{m.node} {m.kind}: until {ends}, by {m.user}: {m.reason}")
            return
        if node is None or fleet.node(node) is None:
            click.echo(f"fleetdeck: mute which node? ({node!r} is not one of {profile})", err=True)
            sys.exit(EXIT_INVALID)
        until = time.time() + span
        silence = ""
        am = alertmanager_of(fleet)
        if am is not None:
            try:
                silence = am.silence(fleet.fleet.name, node, kind, until, operator(), reason)
            except Exception as exc:  # noqa: BLE001 - said, and the mute holds in fleetdeck
                click.echo(
                    f"! Alertmanager took no silence ({type(exc).__name__}): "
                    "the watch holds the pages back itself",
                    err=True,
                )
        journal.mute(fleet.fleet.name, node, kind, until, reason, silence)
    finally:
        journal.close()
    ends = time.strftime("%Y-%m-%d %H:%M", time.localtime(until))
    click.echo(
        f"muted: {node} {'every alert' if kind == '*' else kind} until {ends}"
        + (f" (Alertmanager silence {silence})" if silence else "")
    )


@cli.command("unmute")
@click.argument("profile", type=click.Path())
@click.argument("node")
@click.option("--kind", default="*", help="the kind the mute named; all by default")
def unmute_cmd(profile: str, node: str, kind: str) -> None:
    """End a mute (and its Alertmanager silence)."""
    from console.core.journal import Journal

    fleet = load_or_exit(profile, after="").model
    journal = Journal()
    try:
        gone = journal.unmute(fleet.fleet.name, node, kind)
    finally:
        journal.close()
    if gone is None:
        click.echo(f"fleetdeck: no mute of {node} {kind} in {fleet.fleet.name}", err=True)
        sys.exit(EXIT_INVALID)
    am = alertmanager_of(fleet) if gone.silence else None
    if am is not None:
        try:
            am.expire(gone.silence)
        except Exception as exc:  # noqa: BLE001
            click.echo(
                f"! the silence {gone.silence} was not expired ({type(exc).__name__})", err=True
            )
    click.echo(f"unmuted: {node} {kind}")


def alertmanager_of(fleet):
    """The profile's Alertmanager as a client, or None."""
    from console.core.paging.channels import alertmanager_for
    from console.core.secrets import SecretError

    try:
        return alertmanager_for(fleet, socket.gethostname())
    except SecretError as exc:
        click.echo(f"fleetdeck: {exc}", err=True)
        sys.exit(EXIT_INVALID)
