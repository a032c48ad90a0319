"""`fleetdeck status`: every node's GPUs, containers, chain and alerts, once or --watch."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import click

from console.app.cli.common import load_or_exit, local_ssh_or_exit, watch_feed
from console.app.cli.group import ALONE, ATTACH, EXIT_CRITICAL, EXIT_INVALID, Finite, cli


@cli.command("status")
@click.argument("profile", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print the status document (schema 1)")
@click.option("--watch", is_flag=True, help="keep refreshing until Ctrl-C")
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="trust and record host keys seen for the first time",
)
@click.option(
    "--wait",
    "wait_s",
    type=Finite(min=0.5, max=3600),
    default=None,
    help="seconds to wait for every node, 0.5-3600 (default: connect timeout + 2 intervals)",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write what is seen to FILE (JSON lines) for fleetdeck replay FILE",
)
@ATTACH
@ALONE
def status_cmd(
    profile: str,
    as_json: bool,
    watch: bool,
    accept_new_host_keys: bool,
    wait_s: float | None,
    record: Path | None,
    attach: str | None,
    alone: bool,
) -> None:
    """Every node's GPUs, containers, chain and alerts. Exit 2 on a critical alert."""
    import json as jsonlib

    from console.core.gctune import quiet_collector
    from console.core.monitor.pipeline import live_status
    from console.core.status_table import render

    loaded = load_or_exit(profile, after="")
    fleet = loaded.model
    local_ssh_or_exit(fleet)
    feed = watch_feed(fleet, attach, alone)
    try:
        monitor = live_status(loaded, accept_new_host_keys, record=record, feed=feed)
    except OSError as exc:  # the recording's file
        click.echo(f"fleetdeck: cannot record to {record}: {exc.strerror}", err=True)
        sys.exit(EXIT_INVALID)
    quiet_collector()  # a long-lived process: as the console does
    monitor.start()
    state = None
    try:
        monitor.wait_complete(
            wait_s if wait_s is not None else fleet.ssh.connect_timeout + 2 * monitor.interval + 5
        )
        while True:
            state = monitor.snapshot()
            if as_json:
                click.echo(jsonlib.dumps(state.to_json(), indent=None if watch else 1))
            elif watch and sys.stdout.isatty():
                # in place: home, the compact table cut to the terminal, clear the rest
                width = shutil.get_terminal_size().columns
                click.echo("\x1b[H" + render(state, fleet, width) + "\x1b[J", nl=False)
            elif watch:  # piped: one compact table per refresh
                click.echo(render(state, fleet, 80) + "\n")
            else:
                click.echo(render(state, fleet))
            if not watch:
                break
            time.sleep(monitor.interval)
    except KeyboardInterrupt:
        pass
    finally:
        monitor.stop()
    if state is None:
        sys.exit(130)  # interrupted before the first snapshot
    if state.critical():
        sys.exit(EXIT_CRITICAL)
