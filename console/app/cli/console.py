"""`fleetdeck PROFILE` (the console) and `fleetdeck demo` (the console on a simulated
fleet, torn down however the console ends)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from console.app.cli.common import load_or_exit, local_ssh_or_exit, watch_feed
from console.app.cli.group import ALONE, ATTACH, EXIT_INVALID, Finite, cli
from console.core.profile import load


@cli.command("open", hidden=True)
@click.argument("profile", type=click.Path())
@click.option("--read-only", is_flag=True, help="refuse every action that changes a node")
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="trust host keys seen for the first time without asking",
)
@ATTACH
@ALONE
def open_cmd(
    profile: str, read_only: bool, accept_new_host_keys: bool, attach: str | None, alone: bool
) -> None:
    """Open the console on PROFILE."""
    loaded = load_or_exit(profile, after="")
    from console.app.tui import FleetdeckApp

    while True:  # the palette's "Switch profile" ends the app with the next profile's path
        local_ssh_or_exit(loaded.model)
        feed = watch_feed(loaded.model, attach, alone)
        app = FleetdeckApp(
            loaded, read_only=read_only, accept_new_host_keys=accept_new_host_keys, feed=feed
        )
        following = app.run()
        if not following:
            return
        loaded = load_or_exit(following, after="")


@cli.command("replay")
@click.argument("recording", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--speed",
    type=Finite(min=0.1, max=1000),
    default=1.0,
    show_default=True,
    help="how many times faster than it was recorded",
)
def replay_cmd(recording: Path, speed: float) -> None:
    """Open the console on RECORDING (made by fleetdeck status --record), read-only."""
    from console.app.tui import FleetdeckApp
    from console.core.monitor.recording import RecordingError, Replay

    try:
        replay = Replay(recording, speed)
    except RecordingError as exc:
        click.echo(f"fleetdeck: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    skipped = replay.skipped_text()
    if skipped:
        click.echo(f"fleetdeck: {skipped}", err=True)
    note = f"REPLAY {recording.name}" + (f" ×{speed:g}" if speed != 1 else "")
    app = FleetdeckApp(
        replay.profile, live=False, source=replay.snapshot, read_only=True, note=note
    )
    replay.start()
    try:
        app.run()
    finally:
        replay.stop()


@cli.command("demo")
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    help="keep the simulated fleet here (default: a temporary directory)",
)
@click.option("--read-only", is_flag=True, help="refuse every action that changes a node")
def demo_cmd(root: Path | None, read_only: bool) -> None:
    """Start the simulated demo fleet and open the console on it (F: fault menu)."""
    import shutil
    import tempfile
    import threading
    from importlib.resources import as_file, files

    from console.app.tui import FleetdeckApp
    from console.sim import control

    made = root is None
    if root is None:
        # fleets of demos whose console died before its simulator could stop
        for gone in control.leftovers(Path(tempfile.gettempdir()), DEMO_PREFIX):
            click.echo(f"removed the simulated fleet a closed demo left in {gone}")
        root = Path(tempfile.mkdtemp(prefix=DEMO_PREFIX))
    click.echo(f"starting the simulated fleet in {root} …")

    once = threading.Lock()
    torn: list[bool] = []

    def teardown() -> None:
        # once: the finally below and a signal's last resort may both come here, and the
        # second must wait for the first to end before the process exits
        with once:
            if torn:
                return
            torn.append(True)
            control.down(root)
            if made:
                shutil.rmtree(root, ignore_errors=True)

    try:
        with as_file(files("profiles") / "demo.toml") as demo:
            # owned: the simulator stops by itself if this process dies (even by SIGKILL)
            control.up(str(demo), root, owner=os.getpid(), remove=made)
        app = FleetdeckApp(load(root / "profile.toml"), sim_root=root, read_only=read_only)
        run_then_tear_down(app, teardown)
    except control.SimError as exc:
        click.echo(f"fleetdeck demo: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        teardown()
    if app.return_code:
        sys.exit(app.return_code)


DEMO_PREFIX = "fleetdeck-demo-"


def run_then_tear_down(app, teardown: Callable[[], None], grace: float = 5.0) -> None:
    """Run the console, then `teardown` (which must be safe to call twice) whichever way it
    ends. A signal's last resort stays armed to the very end: the interpreter's own exit can
    hang on a worker thread (an SSH connect to a fleet just stopped), and a closed terminal
    must still end the console."""
    end_on_signals(app, teardown, grace)
    try:
        app.run()
    finally:
        teardown()


def end_on_signals(app, teardown: Callable[[], None], grace: float = 5.0) -> None:
    """SIGHUP (the terminal closed: window, SSH session or tmux session gone) and SIGTERM end
    the console as `q` does, so what it started is stopped; if it has not ended within
    `grace` seconds (a terminal that is gone can block its last writes, a worker thread its
    exit), tear down and exit. The last resort is never cancelled: it stays armed until the
    process ends."""
    import signal
    import threading

    def ending(signum, frame) -> None:
        def last_resort() -> None:
            teardown()
            os._exit(128 + signum)

        timer = threading.Timer(grace, last_resort)
        timer.daemon = True
        timer.start()
        app.exit(return_code=128 + signum)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, ending)
