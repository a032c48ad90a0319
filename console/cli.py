"""`fleetdeck …` subcommands. `fleetdeck PROFILE` opens the console on a profile."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from actions.report import plural
from console import __version__
from console.atomic import atomic_write_text
from console.profile import ProfileError, load

EXIT_INVALID = 1
EXIT_CRITICAL = 2
EXIT_FAILED = 4
EXIT_USAGE = 64  # sysexits' EX_USAGE: apart from 2, which status keeps for a critical alert
EXIT_INTERNAL = 70
EXIT_CANCELLED = 130


class _FleetdeckGroup(click.Group):
    """A group whose first argument may be a profile path instead of a command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["open", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_FleetdeckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fleetdeck")
def cli() -> None:
    """fleetdeck: one terminal console for GPU inference fleets.

    \b
    fleetdeck PROFILE                 open the console on a fleet profile
    fleetdeck status PROFILE          every node's GPUs, containers, chain, alerts
    fleetdeck plan PROFILE deploy     what a deploy would change (dry run)
    fleetdeck run PROFILE deploy      plan, confirm, apply; --resume after a failure
    fleetdeck journal PROFILE [RUN]   what was run, step by step
    fleetdeck demo                    the console on a simulated fleet
    fleetdeck sim up|fault|down …     a simulated fleet to rehearse on (sim --help)
    fleetdeck check PROFILE...        validate profiles
    fleetdeck import-inventory INI    turn an Ansible inventory into a profile
    """


@cli.command("check")
@click.argument("profiles", nargs=-1, required=True, type=click.Path(dir_okay=True))
def check_cmd(profiles: tuple[str, ...]) -> None:
    """Validate PROFILES; print every problem with its file, line and field."""

    bad = 0
    for path in profiles:
        try:
            profile = load(path)
        except ProfileError as exc:
            bad += 1
            n = len(exc.problems)
            click.echo(f"{path}: {n} problem{'s' if n != 1 else ''}", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}".replace("\n", "\n  "), err=True)
            continue
        model = profile.model
        gpus = sum(n.gpus or 0 for _, n in model.all_nodes())
        click.echo(
            f"{path}: ok ({model.fleet.name}: {plural(len(model.clusters), 'cluster')}, "
            f"{plural(len(model.all_nodes()), 'node')}, {gpus} GPUs expected)"
        )
    if bad:
        sys.exit(EXIT_INVALID)


@cli.command("import-inventory")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="profile file to write"
)
@click.option("--name", help="fleet name (default: the inventory's file name)")
@click.option("--force", is_flag=True, help="overwrite OUTPUT if it exists")
def import_inventory_cmd(inventory: str, output: str, name: str | None, force: bool) -> None:
    """Turn an Ansible INI INVENTORY (Gonka plan groups) into a fleet profile."""
    from console.inventory import import_inventory

    if Path(output).exists() and not force:
        click.echo(f"{output}: already exists; pass --force to overwrite it", err=True)
        sys.exit(EXIT_INVALID)
    folder = Path(output).resolve().parent
    if not folder.is_dir():
        click.echo(f"{output}: the folder {folder} does not exist; create it first", err=True)
        sys.exit(EXIT_INVALID)
    try:
        result = import_inventory(inventory, name)
    except ProfileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_INVALID)
    atomic_write_text(output, result.text, mode=0o644)
    profile = load(output)
    click.echo(
        f"{output}: wrote {plural(len(profile.model.clusters), 'cluster')}, "
        f"{plural(len(profile.model.all_nodes()), 'node')}"
    )
    if result.notes:
        click.echo(
            f"not carried over ({len(result.notes)}; also listed at the top of {output}):", err=True
        )
        for note in result.notes:
            click.echo(f"  - {note}", err=True)


@cli.group("sim")
def sim_group() -> None:
    """Run a simulated fleet on this machine (for rehearsal, tests and benchmarks)."""


@sim_group.command("up")
@click.argument("profile", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--dir",
    "root",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="where the fleet keeps its sandboxes, key, known_hosts and profile.toml",
)
@click.option(
    "--block-time",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.05, max=3600),
    help="seconds per block (0.05 to 3600)",
)
@click.option("--fresh", is_flag=True, help="bare nodes: nothing deployed yet")
def sim_up(profile: str, root: Path, block_time: float, fresh: bool) -> None:
    """Start the fleet of PROFILE in the background; returns when every node answers."""
    from console.sim import control

    try:
        load(profile)
        info = control.up(profile, root, block_time, fresh)
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except control.SimError as exc:
        click.echo(f"fleetdeck sim: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    except KeyboardInterrupt:
        click.echo("interrupted: the simulated fleet that was starting is stopped", err=True)
        sys.exit(EXIT_CANCELLED)
    click.echo(
        f"simulated fleet up: {info['nodes']} nodes (pid {info['pid']})\n"
        f"profile: {root / 'profile.toml'}\n"
        f"stop it: fleetdeck sim down {root}"
    )


@sim_group.command("fault")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("node")
@click.argument("kind")
def sim_fault(root: Path, node: str, kind: str) -> None:
    """Inject fault KIND into NODE (fleetdeck sim faults lists the kinds)."""
    _sim_call(root, "POST", "/fault", {"node": node, "kind": kind})
    click.echo(f"{node}: {kind} injected")


@sim_group.command("clear")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("node", required=False)
@click.option("--kind", help="clear only this fault")
def sim_clear(root: Path, node: str | None, kind: str | None) -> None:
    """Clear the faults of NODE, or of every node."""
    result = _sim_call(root, "POST", "/clear", {"node": node, "kind": kind})
    click.echo(f"cleared: {', '.join(result['cleared']) or 'nothing was injected'}")


@sim_group.command("faults")
def sim_faults() -> None:
    """List the fault kinds."""
    from console.sim.faults import FAULTS

    for kind, fault in FAULTS.items():
        click.echo(f"{kind:<15} {fault.description}")


@sim_group.command("status")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
def sim_status(root: Path) -> None:
    """Nodes, their addresses, containers and active faults."""
    result = _sim_call(root, "GET", "/status")
    for name, node in result["nodes"].items():
        faults = ", ".join(node["faults"]) or "-"
        up = sum(state == "running" for state in node["containers"].values())
        click.echo(
            f"{name:<20} {node['address']}:{node['port']:<6} "
            f"containers {up}/{len(node['containers'])}  faults: {faults}"
        )


@sim_group.command("down")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
def sim_down(root: Path) -> None:
    """Stop the fleet and everything it started."""
    from console.sim import control

    if control.down(root):
        click.echo(f"simulated fleet in {root} stopped")
    else:
        click.echo(f"no simulated fleet runs in {root}")


def _sim_call(root: Path, method: str, path: str, body: object = None):
    from console.sim import control

    try:
        return control.request(root, method, path, body)
    except control.SimError as exc:
        click.echo(f"fleetdeck sim: {exc}", err=True)
        sys.exit(EXIT_INVALID)


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
    type=click.FloatRange(min=0.5, max=3600),
    default=None,
    help="seconds to wait for every node, 0.5-3600 (default: connect timeout + 2 intervals)",
)
def status_cmd(
    profile: str, as_json: bool, watch: bool, accept_new_host_keys: bool, wait_s: float | None
) -> None:
    """Every node's GPUs, containers, chain and alerts. Exit 2 on a critical alert."""
    import json as jsonlib

    from console.monitor.monitor import Monitor
    from console.ssh import Pool
    from console.status_table import render

    try:
        loaded = load(profile)
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    fleet = loaded.model
    _local_ssh_or_exit(fleet)
    pool = Pool.for_profile(fleet, accept_new=accept_new_host_keys)
    monitor = Monitor(fleet, pool)
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
        pool.close()
    if state is None:
        sys.exit(130)  # interrupted before the first snapshot
    if state.critical():
        sys.exit(EXIT_CRITICAL)


def _load_or_exit(profile: str):
    try:
        return load(profile)
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        click.echo("nothing was run: fix the profile first", err=True)
        sys.exit(EXIT_INVALID)


def _engine(loaded, accept_new_host_keys: bool, journal: bool = True):
    """The engine and its pool; with `journal`, the journal that records runs (a damaged
    one is moved aside, and the operator told, before a new one is started)."""
    from actions.engine import Engine
    from console.journal import Journal, JournalError
    from console.ssh import Pool

    record = None
    if journal:
        try:
            record = Journal(recover=True)
        except JournalError as exc:
            click.echo(f"fleetdeck: {exc}", err=True)
            sys.exit(EXIT_INVALID)
        if record.moved_aside:
            click.echo(
                f"fleetdeck: the journal {record.path} could not be read; it was moved aside "
                f"to {record.moved_aside} and a new one started",
                err=True,
            )
    _local_ssh_or_exit(loaded.model)
    pool = Pool.for_profile(loaded.model, accept_new=accept_new_host_keys)
    return Engine(loaded, pool, record), pool


def _local_ssh_or_exit(fleet) -> None:
    """This machine's SSH setup first: a missing key file or a broken known_hosts is one
    message naming the file and the fix (exit 1), not every node 'unreachable'."""
    from console.ssh import local_problems

    errors, warnings = local_problems(fleet)
    for warning in warnings:
        click.echo(f"fleetdeck: warning: {warning}", err=True)
    if errors:
        for error in errors:
            click.echo(f"fleetdeck: {error}", err=True)
        click.echo("nothing was contacted: fix this machine's SSH setup first", err=True)
        sys.exit(EXIT_INVALID)


def _action_or_exit(name: str):
    from actions.deploy import action_named

    try:
        return action_named(name)
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


def _limit(values: tuple[str, ...]) -> list[str]:
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

    loaded = _load_or_exit(profile)
    act = _action_or_exit(action)
    engine, pool = _engine(loaded, accept_new_host_keys, journal=False)
    try:
        items = engine.plan(act, _limit(limit))
    except StepFailed as exc:
        click.echo(f"fleetdeck plan: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        pool.close()
    fleet = loaded.model.fleet.name
    if as_json:
        click.echo(jsonlib.dumps(plan_json(act.name, fleet, items), indent=1))
    else:
        click.echo(plan_text(act.name, fleet, items))
    if any(i.status == "error" for i in items):
        sys.exit(EXIT_FAILED)


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

    loaded = _load_or_exit(profile)
    act = _action_or_exit(action)
    fleet = loaded.model.fleet.name
    try:
        check_options(batch, max_fail)
    except StepFailed as exc:
        click.echo(f"fleetdeck run: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    engine, pool = _engine(loaded, accept_new_host_keys)
    words = _limit(limit)
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
    try:
        if not yes:
            items = engine.plan(act, words)
            click.echo(plan_text(act.name, fleet, items))
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
    out_lock = threading.Lock()

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
            )
        except StepFailed as exc:
            box["error"] = str(exc)
        except Exception as exc:  # reported below, after the pool is closed
            box["error"] = f"internal error: {exc!r}"
        finally:
            finished.set()

    # Ctrl-C cancels (running steps finish), a second one aborts them; neither raises in
    # this thread, whose Thread.join an interrupt would leave returning early
    def interrupted(signum, frame) -> None:
        if engine.cancelled.is_set():
            click.echo("aborting: running steps stop at their next command", err=True)
            engine.abort()
        else:
            click.echo(
                "cancelling: running steps finish, nothing new starts (Ctrl-C again to abort)",
                err=True,
            )
            engine.cancel()

    previous = signal.signal(signal.SIGINT, interrupted)
    worker = threading.Thread(target=work, name="run")
    worker.start()
    try:
        while not finished.wait(0.2):
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
        pool.close()
    if "error" in box:
        click.echo(f"fleetdeck run: {box['error']}", err=True)
        sys.exit(EXIT_INVALID)
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


@cli.command("journal")
@click.argument("profile", type=click.Path())
@click.argument("run_id", required=False, metavar="[RUN]")
@click.option("--node", help="only this node's steps")
@click.option("--lines", "with_lines", is_flag=True, help="with each step's output lines")
def journal_cmd(profile: str, run_id: str | None, node: str | None, with_lines: bool) -> None:
    """What was run on the fleet: its runs, or one run's steps node by node."""
    from console.journal import Journal, JournalError, state_dir
    from console.text import printable

    fleet = _load_or_exit(profile).model.fleet.name
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
            _console_trail(journal, fleet, node)
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


def _console_trail(journal, fleet: str, node: str | None) -> None:
    """What was done from the console (newest first), and the acknowledgements held."""
    from console.text import printable

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


@cli.command("open", hidden=True)
@click.argument("profile", type=click.Path())
@click.option("--read-only", is_flag=True, help="refuse every action that changes a node")
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="trust host keys seen for the first time without asking",
)
def open_cmd(profile: str, read_only: bool, accept_new_host_keys: bool) -> None:
    """Open the console on PROFILE."""
    try:
        loaded = load(profile)
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    from console.app import FleetdeckApp

    while True:  # the palette's "Switch profile" ends the app with the next profile's path
        _local_ssh_or_exit(loaded.model)
        app = FleetdeckApp(loaded, read_only=read_only, accept_new_host_keys=accept_new_host_keys)
        following = app.run()
        if not following:
            return
        try:
            loaded = load(following)
        except ProfileError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_INVALID)


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
    from importlib.resources import as_file, files

    from console.app import FleetdeckApp
    from console.sim import control

    made = root is None
    if root is None:
        # fleets of demos whose console died before its simulator could stop
        for gone in control.leftovers(Path(tempfile.gettempdir()), DEMO_PREFIX):
            click.echo(f"removed the simulated fleet a closed demo left in {gone}")
        root = Path(tempfile.mkdtemp(prefix=DEMO_PREFIX))
    click.echo(f"starting the simulated fleet in {root} …")

    def teardown() -> None:
        control.down(root)
        if made:
            shutil.rmtree(root, ignore_errors=True)

    ending: list = []  # the signal handlers' pending last resorts
    try:
        with as_file(files("profiles") / "demo.toml") as demo:
            # owned: the simulator stops by itself if this process dies (even by SIGKILL)
            control.up(str(demo), root, owner=os.getpid(), remove=made)
        app = FleetdeckApp(load(root / "profile.toml"), sim_root=root, read_only=read_only)
        ending = end_on_signals(app, teardown)
        app.run()
    except control.SimError as exc:
        click.echo(f"fleetdeck demo: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        for timer in ending:
            timer.cancel()
        teardown()
    if app.return_code:
        sys.exit(app.return_code)


DEMO_PREFIX = "fleetdeck-demo-"


def end_on_signals(app, teardown: Callable[[], None], grace: float = 5.0) -> list:
    """SIGHUP (the terminal closed: window, SSH session or tmux session gone) and SIGTERM end
    the console as `q` does, so what it started is stopped; if it cannot end within `grace`
    seconds (a terminal that is gone can block its last writes), tear down and exit. The
    list returned holds the pending last resorts, for the caller to cancel once it ended."""
    import signal
    import threading

    timers: list[threading.Timer] = []

    def ending(signum, frame) -> None:
        def last_resort() -> None:
            teardown()
            os._exit(128 + signum)

        timer = threading.Timer(grace, last_resort)
        timer.daemon = True
        timers.append(timer)
        timer.start()
        app.exit(return_code=128 + signum)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, ending)
    return timers


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except SystemExit:
        raise
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        click.echo("cancelled", err=True)
        sys.exit(EXIT_CANCELLED)
    except Exception as exc:  # the operator gets a sentence, not a traceback
        if os.environ.get("FLEETDECK_DEBUG"):
            raise
        click.echo(
            f"fleetdeck: internal error: {exc!r}\n"
            "run again with FLEETDECK_DEBUG=1 for the traceback, and report it",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
