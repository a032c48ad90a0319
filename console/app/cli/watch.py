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
    from console.core.gctune import quiet_collector
    from console.core.history.burn import burn_pages
    from console.core.history.store import History, history_path
    from console.core.history.uptime import uptime
    from console.core.journal import Journal, state_dir
    from console.core.monitor.export import MetricsServer, render
    from console.core.monitor.feed import FeedServer, feed_paths
    from console.core.monitor.pipeline import live_status
    from console.core.paging.pager import Pager
    from console.core.paging.rules import due
    from console.core.secrets import REDACTOR

    fleet = loaded.model
    name = fleet.fleet.name
    journal = Journal(recover=True)

    def journaled(action: str, page, result: str, detail: str) -> None:
        journal.record(name, page.node, action, page.kind, result, detail)

    def say(line: str) -> None:  # a channel's answer may quote what it was sent
        click.echo(f"{time.strftime('%H:%M:%S')} {REDACTOR.redact(line)}")

    history = History(history_path(state_dir(), name))
    pager = Pager(
        channels,
        state_dir() / "watch" / f"{name}.json",
        time.time,
        journaled,
        say,
        clear_s=fleet.paging.clear_s,
    )
    monitor = live_status(loaded, accept_new)
    # consoles of this fleet on this machine attach to it instead of opening their own
    feed = FeedServer(*feed_paths(state_dir(), name), name, monitor.interval)
    monitor.tracker.hooks.append(feed)
    monitor.closers.append(feed.close)
    quiet_collector()  # a long-lived process, as the console is
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    metrics = MetricsServer(metrics_port) if metrics_port is not None else None
    if metrics is not None:
        monitor.closers.append(metrics.close)
    monitor.start()
    try:
        monitor.wait_complete(fleet.ssh.connect_timeout + 2 * monitor.interval + 5)
        nodes = len(fleet.all_nodes())
        say(
            f"watching {name}: {nodes} nodes every {monitor.interval:g} s, paging through "
            + ", ".join(c.name for c in channels)
        )
        if pager.sent:
            say(f"{len(pager.sent)} pages sent before this start are still open")
        # nothing is judged before every node has answered once (or failed): at start,
        # an alert not yet seen is not an alert resolved
        if metrics is not None:
            say(f"metrics on http://127.0.0.1:{metrics.port}/metrics")
        burning: dict = {}
        ratios: dict = {}
        burn_at = 0.0
        while not stop.is_set():
            state = monitor.snapshot()
            now = time.time()
            history.add(state, now)
            if now - burn_at >= BURN_EVERY_S:  # a query over hours of buckets: not each line
                burning, burn_at = burn_pages(history, fleet, now), now
                if metrics is not None:
                    window = fleet.slo.window_days * 86400
                    ratios = {u.name: u.uptime for u in uptime(history, fleet, now - window, now)}
            pages = due(fleet, state, now, pager.sent) | burning
            pager.observe(pages, unknown(state))
            if metrics is not None:
                metrics.text = render(state, name, len(pager.sent), ratios)
            stop.wait(monitor.interval)
    finally:
        monitor.stop()
        journal.close()
        history.close()
    say("stopped: pages sent stay open until a watch sees them clear")


BURN_EVERY_S = 60.0


def unknown(state) -> set[str]:
    """Nodes whose alerts cannot be judged now: not yet looked at, or all of them while
    the watch itself wakes too late to tell a silent node from its own delay."""
    if state.console_lag_s > state.interval:
        return set(state.nodes)
    return {n for n, s in state.nodes.items() if s.seen_at is None and not s.error}


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
