"""`fleetdeck watch PROFILE`: the fleet watched without a console. The same sources,
tracker and alert rules as the console, as a long-running process that pages ([paging])
through Alertmanager or its channels, keeps the fleet's history (for `fleetdeck uptime`
and `history`, and burn-rate pages against [slo]) and serves consoles that attach. It
keeps what it sent in the state directory (watch/FLEET.json), so a restart sends nothing
twice. `--unit` prints a systemd unit that runs it."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import click

from console.app.cli.common import load_or_exit, local_ssh_or_exit
from console.app.cli.group import EXIT_INVALID, cli


@cli.command("watch")
@click.argument("profile", type=click.Path())
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="trust and record host keys seen for the first time",
)
@click.option(
    "--metrics",
    "metrics_port",
    type=click.IntRange(0, 65535),
    default=None,
    help="serve its view as Prometheus metrics on 127.0.0.1:PORT/metrics",
)
@click.option("--unit", is_flag=True, help="print a systemd unit that runs this watch, and exit")
def watch_cmd(
    profile: str, accept_new_host_keys: bool, metrics_port: int | None, unit: bool
) -> None:
    """Watch the fleet headless and page on its alerts ([paging] in the profile)."""
    loaded = load_or_exit(profile, after="")
    fleet = loaded.model
    if unit:
        click.echo(systemd_unit(Path(profile).resolve(), fleet.fleet.name), nl=False)
        return
    local_ssh_or_exit(fleet)
    channels = channels_or_exit(fleet)
    if not channels:
        click.echo(
            "fleetdeck: [paging] names no channel: the watch would page no one\n"
            '    fix: add alertmanager = "http://127.0.0.1:9093" to [paging], or a '
            "[[paging.channels]] (slack, telegram, pagerduty, discord, webhook)",
            err=True,
        )
        sys.exit(EXIT_INVALID)
    run_watch(loaded, channels, accept_new_host_keys, metrics_port)


def channels_or_exit(fleet) -> list:
    from console.core.paging.channels import channels_for
    from console.core.secrets import SecretError

    try:
        return channels_for(fleet, socket.gethostname())
    except SecretError as exc:
        click.echo(f"fleetdeck: {exc}", err=True)
        sys.exit(EXIT_INVALID)


def run_watch(loaded, channels: list, accept_new: bool, metrics_port: int | None = None) -> None:
    from console.app.watcher import Watcher
    from console.core.gctune import quiet_collector
    from console.core.runlock import FleetBusy
    from console.core.secrets import REDACTOR

    def say(line: str) -> None:  # a channel's answer may quote what it was sent
        click.echo(f"{time.strftime('%H:%M:%S')} {REDACTOR.redact(line)}")

    try:
        watcher = Watcher(loaded, channels, accept_new, metrics_port, say)
    except FleetBusy as exc:
        click.echo(
            f"fleetdeck: another watch of {loaded.model.fleet.name} runs here: {exc}", err=True
        )
        sys.exit(EXIT_INVALID)
    quiet_collector()  # a long-lived process, as the console is
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watcher.run(stop)


def systemd_unit(profile: Path, fleet: str) -> str:
    """A unit that keeps this watch running: restarted when it exits, with this user's
    environment for the state directory (secrets stay in the keyring or an EnvironmentFile
    the operator writes, never in the unit)."""
    command = shlex.join([os.path.abspath(sys.executable), "-m", "console.app.cli"])
    return (
        "[Unit]\n"
        f"Description=fleetdeck watch: {fleet}\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={command} watch {shlex.quote(str(profile))}\n"
        "Restart=always\n"
        "RestartSec=5\n"
        "# secrets the profile references as env:NAME, in a file only this user reads\n"
        f"EnvironmentFile=-%h/.config/fleetdeck/{fleet}.env\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )
