"""`fleetdeck notify test PROFILE`: a test page through each paging channel of the
profile, and what each answered; resolved at once where a channel keeps incidents open
(Alertmanager, PagerDuty). Exit 4 when a channel did not take it."""

from __future__ import annotations

import socket
import sys
import time

import click

from console.app.cli.common import load_or_exit
from console.app.cli.group import EXIT_FAILED, EXIT_INVALID, cli


@cli.group("notify")
def notify_group() -> None:
    """The paging channels of a profile ([paging])."""


@notify_group.command("test")
@click.argument("profile", type=click.Path())
def notify_test(profile: str) -> None:
    """Send a test page through each channel and say what each answered."""
    from console.app.cli.watch import channels_or_exit
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
