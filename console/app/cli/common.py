"""What every command shares: loading a profile or exiting with its problems, the
engine and its SSH pool, this machine's SSH setup, --limit and the exit codes."""

from __future__ import annotations

import sys

import click

from console.app.cli.group import EXIT_INVALID
from console.core.profile import ProfileError, load


def load_or_exit(profile: str, after: str = "nothing was run: fix the profile first"):
    """The profile, or its problems (file, line, fix) on stderr and exit 1."""
    try:
        return load(profile)
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        if after:
            click.echo(after, err=True)
        sys.exit(EXIT_INVALID)


def engine_for(loaded, accept_new_host_keys: bool, journal: bool = True):
    """The engine and its pool; with `journal`, the journal that records runs (a damaged
    one is moved aside, and the operator told, before a new one is started)."""
    from actions.engine import open_engine
    from console.core.journal import JournalError
    from console.core.transport.ssh import Pool

    local_ssh_or_exit(loaded.model)
    pool = Pool.for_profile(loaded.model, accept_new=accept_new_host_keys)
    try:
        engine = open_engine(
            loaded, pool, journal, say=lambda w: click.echo(f"fleetdeck: {w}", err=True)
        )
    except JournalError as exc:
        pool.close()
        click.echo(f"fleetdeck: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    return engine, pool


def local_ssh_or_exit(fleet) -> None:
    """This machine's SSH setup first: a missing key file or a broken known_hosts is one
    message naming the file and the fix (exit 1), not every node 'unreachable'."""
    from console.core.transport.ssh import local_problems

    errors, warnings = local_problems(fleet)
    for warning in warnings:
        click.echo(f"fleetdeck: warning: {warning}", err=True)
    if errors:
        for error in errors:
            click.echo(f"fleetdeck: {error}", err=True)
        click.echo("nothing was contacted: fix this machine's SSH setup first", err=True)
        sys.exit(EXIT_INVALID)


def action_or_exit(name: str, model=None):
    """The action named `name`, as it is for this profile (its stacks' deploy)."""
    from actions.deploy import action_named

    try:
        return action_named(name, model)
    except KeyError as exc:
        click.echo(f"fleetdeck: {exc.args[0]}", err=True)
        sys.exit(EXIT_INVALID)


ACCEPT_NEW = click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="trust and record host keys seen for the first time",
)
LIMIT = click.option(
    "--limit",
    multiple=True,
    help="only these nodes, roles or clusters (repeat, or separate with commas)",
)


def limit_words(values: tuple[str, ...]) -> list[str]:
    """The --limit words; an empty one is refused: `--limit "$NODE"` with NODE unset must
    not mean the whole fleet."""
    words = [w.strip() for v in values for w in v.split(",")]
    if any(not w for w in words):
        raise click.BadParameter(
            "an empty value would mean the whole fleet: name nodes, roles or clusters "
            "(or leave --limit out to mean every node)",
            param_hint="--limit",
        )
    return words


def watch_feed(fleet, attach: str | None, alone: bool):
    """Where this command reads status from a running watch: (socket, token), or None to
    read the fleet itself. `--attach SOCKET` names one (a forwarded socket: its token in
    SOCKET.token beside it, or $FLEETDECK_WATCH_TOKEN); else the watch of this fleet on
    this machine, if one runs; `--alone` never attaches."""
    import os
    from pathlib import Path

    from console.core.journal import state_dir
    from console.core.monitor.feed import FeedError, connect, feed_paths, read_token

    if alone:
        return None
    if attach is not None:
        sock = Path(attach)
        token = os.environ.get("FLEETDECK_WATCH_TOKEN")
        try:
            token = token or read_token(sock.with_name(sock.name + ".token"))
            conn, _, _ = connect(sock, token)
            conn.close()
        except FeedError as exc:
            click.echo(f"fleetdeck: --attach: {exc}", err=True)
            sys.exit(EXIT_INVALID)
        return sock, token
    sock, token_path = feed_paths(state_dir(), fleet.fleet.name)
    if not sock.exists():
        return None
    try:
        token = read_token(token_path)
        conn, _, _ = connect(sock, token)
        conn.close()
    except FeedError:
        return None  # a watch that died left its socket: read the fleet alone
    return sock, token
