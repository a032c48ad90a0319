"""`fleetdeck plan` and `fleetdeck run`: what an action would change, then doing it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from actions.report import plural
from console.app.cli.common import (
    ACCEPT_NEW,
    LIMIT,
    action_or_exit,
    engine_for,
    limit_words,
    load_or_exit,
)
from console.app.cli.group import EXIT_FAILED, EXIT_INVALID, EXIT_USAGE, cli
from console.app.cli.mnemonic import recoverer, revealer
from console.app.cli.upgrade import UPGRADE_OPTIONS, upgrade_patch


@cli.command("plan")
@click.argument("profile", type=click.Path())
@click.argument("action")
@LIMIT
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON (schema 1)")
@ACCEPT_NEW
def plan_cmd(
    profile: str, action: str, limit: tuple[str, ...], as_json: bool, accept_new_host_keys: bool
) -> None:
    """Show what ACTION would change on each node, command for command; change nothing.

    Exit 0 when every step could be checked, 4 when some could not."""
    import json as jsonlib

    from actions.engine import StepFailed
    from actions.report import plan_json, plan_text

    loaded = load_or_exit(profile)
    act = action_or_exit(action, loaded.model)
    engine, pool = engine_for(loaded, accept_new_host_keys, journal=False)
    try:
        items = engine.plan(act, limit_words(limit))
        notes = engine.notes(act)
    except StepFailed as exc:
        click.echo(f"fleetdeck plan: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        pool.close()
    fleet = loaded.model.fleet.name
    if as_json:
        click.echo(jsonlib.dumps(plan_json(act.name, fleet, items, notes), indent=1))
    else:
        click.echo(plan_text(act.name, fleet, items, notes))
    if any(i.status == "error" for i in items):
        sys.exit(EXIT_FAILED)


FORCE_HELP = "go on with restarts a stack says must wait now (the journal keeps REASON)"


@cli.command("run")
@click.argument("profile", type=click.Path())
@click.argument("action")
@LIMIT
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option(
    "--resume",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[RUN]",
    help="continue a run from each node's first unfinished step (default: the latest run)",
)
@click.option("--batch", help="rolling batches: N nodes or P% at a time")
@click.option("--max-fail", help="stop starting new work once more than N or P% of nodes fail")
@click.option("--pause-on-failure", is_flag=True, help="at the first failure, ask before going on")
@click.option("--json", "as_json", is_flag=True, help="print events as JSON lines")
@click.option("--force", "force_reason", metavar="REASON", default="", help=FORCE_HELP)
@UPGRADE_OPTIONS
@click.option(
    "--mnemonic-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="keys: write new cold keys' mnemonics to this new file (0600), not the terminal",
)
@click.option(
    "--recover",
    is_flag=True,
    help="keys: import missing cold keys from their mnemonics (asked, or on stdin as "
    "`CLUSTER: words…` lines)",
)
@ACCEPT_NEW
def run_cmd(
    profile: str,
    action: str,
    limit: tuple[str, ...],
    yes: bool,
    resume: str | None,
    batch: str | None,
    max_fail: str | None,
    pause_on_failure: bool,
    as_json: bool,
    force_reason: str,
    upgrade_to: str | None,
    manifest: Path | None,
    rollback: bool,
    mnemonic_file: Path | None,
    recover: bool,
    accept_new_host_keys: bool,
) -> None:
    """Run ACTION on the fleet: plan, confirm, apply; every step goes to the journal.

    Exit 0 when every node succeeded, 4 when a node failed or the run stopped, 130 when
    cancelled (resume it with --resume)."""
    import json as jsonlib
    import signal
    import threading

    from actions.engine import StepFailed, check_options
    from actions.report import (
        event_json,
        event_line,
        plan_counts,
        plan_text,
        run_summary,
    )
    from console.core.runlock import FleetBusy

    loaded = load_or_exit(profile)
    act = action_or_exit(action, loaded.model)
    fleet = loaded.model.fleet.name
    try:
        check_options(batch, max_fail)
    except StepFailed as exc:  # a bad value of an option: usage, as click's own are
        click.echo(f"fleetdeck run: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    out_lock = threading.Lock()
    reveal = revealer(mnemonic_file, as_json, out_lock)  # a bad --mnemonic-file: said first
    patch = upgrade_patch(act.name, upgrade_to, manifest, rollback)  # usage: said first
    engine, pool = engine_for(loaded, accept_new_host_keys)
    engine.reveal = reveal
    engine.force_reason = force_reason.strip()
    engine.upgrade, engine.rollback = patch
    if recover:
        engine.recover = recoverer(out_lock)
    words = limit_words(limit)
    if resume == "latest":
        last = engine.journal.latest_run(fleet, act.name)
        if last is None:
            click.echo(f"fleetdeck run: no earlier {act.name} run of {fleet} to resume", err=True)
            sys.exit(EXIT_INVALID)
        resume = last.id
    if resume:  # said before anything is confirmed: which run goes on
        earlier = engine.journal.run(resume)
        if earlier is None:
            click.echo(f"fleetdeck run: no run {resume} in {engine.journal.path}", err=True)
            sys.exit(EXIT_INVALID)
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(earlier.started))
        if as_json:  # --json output stays one JSON document per line
            resuming = {"event": "resume", "run": earlier.id, "action": earlier.action}
            resuming |= {"started": earlier.started, "outcome": earlier.outcome}
            click.echo(jsonlib.dumps(resuming))
        else:
            click.echo(
                f"resuming run {earlier.id} ({earlier.action}, started {started}, "
                f"{earlier.outcome or 'unfinished'})"
            )
    items: list = []  # the plan shown and confirmed (none with --yes)
    try:
        if not yes:
            items = engine.plan(act, words)
            click.echo(plan_text(act.name, fleet, items, engine.notes(act)))
            counts = plan_counts(items)
            if not counts["change"] and not resume:
                if counts["error"]:
                    n = counts["error"]
                    click.echo(
                        f"{plural(n, 'step')} cannot be checked (see above); nothing was run",
                        err=True,
                    )
                    sys.exit(EXIT_FAILED)
                click.echo("nothing to do")
                return
            if not sys.stdin.isatty():
                click.echo(
                    "fleetdeck run: not a terminal; pass --yes to run without asking", err=True
                )
                sys.exit(EXIT_INVALID)
            if counts["error"]:
                click.echo(
                    f"note: {plural(counts['error'], 'step')} cannot be checked (see above); "
                    "they will be tried, and fail where the node is still unreachable",
                    err=True,
                )
            if act.destructive:
                typed = click.prompt(f"type the fleet's name ({fleet}) to {act.name}", default="")
                if typed != fleet:
                    click.echo("not confirmed; nothing was changed")
                    sys.exit(EXIT_INVALID)
            elif not click.confirm(f"{act.name} {fleet}?"):
                sys.exit(EXIT_INVALID)
    except StepFailed as exc:
        click.echo(f"fleetdeck run: {exc}", err=True)
        pool.close()
        sys.exit(EXIT_INVALID)
    width = max((len(n.name) for _, n in loaded.model.all_nodes()), default=8)

    def show(event) -> None:
        text = jsonlib.dumps(event_json(event)) if as_json else event_line(event, width)
        if text is not None:
            with out_lock:
                click.echo(text)

    def ask(node: str, error: str) -> bool:
        with out_lock:
            click.echo(f"{node} failed: {error}")
            return sys.stdin.isatty() and click.confirm("go on with the other nodes?")

    engine.subscribe(show)
    box: dict = {}
    finished = threading.Event()

    def work() -> None:
        try:
            box["result"] = engine.apply(
                act,
                words,
                batch=batch,
                max_fail=max_fail,
                pause_on_failure=ask if pause_on_failure else None,
                resume=resume,
                profile_path=str(Path(profile).resolve()),
                planned=items,
            )
        except StepFailed as exc:
            box["error"] = str(exc)
        except FleetBusy as exc:  # another run of the fleet: this one did not start
            box["busy"] = str(exc)
        except Exception as exc:  # reported below, after the pool is closed
            box["error"] = f"internal error: {exc!r}"
        finally:
            finished.set()

    # Ctrl-C cancels (running steps finish), a second one aborts them; neither raises in
    # this thread, whose Thread.join an interrupt would leave returning early
    def interrupted(signum, frame) -> None:
        # the engine first, then the words: a second signal that lands while the first is
        # said runs this again inside the write, and must find the run cancelled already
        if engine.cancelled.is_set():
            engine.abort()
            click.echo("aborting: running steps stop at their next command", err=True)
        else:
            engine.cancel()
            click.echo(
                "cancelling: running steps finish, nothing new starts (Ctrl-C again to abort)",
                err=True,
            )

    # SIGTERM (a service manager, `kill`) and SIGHUP (the terminal closed) as Ctrl-C: the
    # run is cancelled and recorded, not cut mid-step with steps left running
    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupted) for sig in stopping}
    worker = threading.Thread(target=work, name="run")
    worker.start()
    try:
        while not finished.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pool.close()
    if "error" in box:
        click.echo(f"fleetdeck run: {box['error']}", err=True)
        sys.exit(EXIT_INVALID)
    if "busy" in box:
        click.echo(f"fleetdeck run: {box['busy']}", err=True)
        sys.exit(EXIT_FAILED)
    result = box["result"]
    if as_json:
        click.echo(
            jsonlib.dumps(
                {
                    "event": "result",
                    "run": result.run_id,
                    "outcome": result.outcome,
                    "nodes": result.states,
                }
            )
        )
    else:
        click.echo(run_summary(result, act.name, profile))
    if result.outcome == "cancelled":
        sys.exit(130)
    if result.outcome != "succeeded":
        sys.exit(EXIT_FAILED)
