"""The action engine: steps, plan (what would change) and apply (make it so), with a journal.

A step knows how to tell whether it is already done (`check`, which also says what it
would change, command for command) and how to do it (`apply`). `plan()` runs every check
on every target node and changes nothing. `apply()` runs each node's steps in order, many
nodes at once (the profile's parallelism), with per-step throttles, rolling batches,
retries with backoff, a failure budget, pause and cancel; every step's start, output and
outcome is written to the journal as it happens and handed to subscribers. After an apply
the step's check runs again and must find nothing left to do: a step that does not
converge fails instead of passing silently.
"""

from __future__ import annotations

import contextlib
import math
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from invoke.exceptions import CommandTimedOut

from actions.types import (  # noqa: F401 - re-exported: steps import them from here
    Action,
    Change,
    Event,
    EventKind,
    Output,
    PlanItem,
    RunResult,
    Step,
    StepFailed,
    StepRefused,
    StepSkipped,
)
from console.core.accelerators import ACCELERATORS
from console.core.journal import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED,
    RUNNING,
    SKIPPED,
    UNCHANGED,
    Journal,
)
from console.core.profile import Profile
from console.core.profile.schema import Cluster, FleetProfile, Node
from console.core.runlock import RunLock
from console.core.secrets import REDACTOR, Redactor, SecretError, resolve
from console.core.transport.ssh import CommandTimeout, ConnectionLost, Pool, SshError


def sh_path(path: str) -> str:
    """A remote path for a shell command: quoted, with a leading ~/ left to the shell."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


class NodeContext:
    """What a step sees of its node: the profile's view of it and a way to run commands."""

    def __init__(
        self,
        engine: Engine,
        cluster: Cluster,
        node: Node,
        on_line: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.profile = engine.profile.model
        self.cluster = cluster
        self.node = node
        self.stack = self.profile.cluster_stack(cluster)
        self.settings = self.profile.stack_settings(cluster)  # [stack] with the cluster's own
        self.on_line = on_line
        self.timeout: float | None = None
        self.facts: dict[str, Any] = {}  # what earlier checks of this node learned
        self.local = False  # set per step: a local step's commands run on this machine
        self.read_only = False  # set while a check or a forecast runs: it may change nothing
        user = node.user or self.profile.ssh.user
        self.sudo = "" if user == "root" else "sudo -n "

    @property
    def name(self) -> str:
        return self.node.name

    def secret(self, key: str) -> str:
        ref = self.profile.secrets.get(key)
        if ref is None:
            raise StepFailed(
                f"the profile has no secret {key!r}: add it to [secrets] as a reference, "
                f'e.g. {key} = "keyring:fleetdeck/{key}"'
            )
        try:
            return resolve(ref, self.engine.redactor)
        except SecretError as exc:
            raise StepFailed(str(exc)) from None

    def run(
        self,
        command: str,
        stdin: str | None = None,
        check: bool = True,
        quiet: bool = False,
        timeout: float | None = None,
    ) -> Output:
        """Run `command` on the node (or locally for a local step). Output lines stream to
        the journal unless `quiet` (checks read state; only what changes things is logged)."""
        if self.read_only and changes(command):
            raise StepFailed(
                f"a check may not change the node (plan mode): {self._short(command)}: "
                "move it to the step's apply"
            )
        on_line = None if quiet else self.on_line
        timeout = timeout or self.timeout or self.profile.ssh.command_timeout
        # a cancelled run lets its running steps finish; only an abort stops them
        if self.engine.aborted.is_set():
            raise StepFailed("aborted")
        if self.local:
            out = self._run_here(command, stdin, timeout, on_line)
        else:
            try:
                result = self.engine.pool.run(
                    self.name, command, timeout=timeout, stdin=stdin, on_line=on_line
                )
            except (CommandTimedOut, CommandTimeout):
                raise StepFailed(
                    f"timed out after {timeout:.0f} s: {self._short(command)}"
                ) from None
            out = Output(result.exited, result.stdout, result.stderr)
        if check and out.exit != 0:
            detail = _gist((out.stderr.strip() or out.stdout.strip()).splitlines())
            raise StepFailed(
                f"exit {out.exit}: {self._short(command)}"
                + (f": {' / '.join(detail)}" if detail else "")
            )
        return out

    def _run_here(
        self,
        command: str,
        stdin: str | None,
        timeout: float,
        on_line: Callable[[str, str], None] | None,
    ) -> Output:
        """A local step's command, on the operator's machine (provisioning, key files)."""
        try:
            done = subprocess.run(  # noqa: S603 - the step's own command, values quoted by it
                ["/bin/sh", "-c", command],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise StepFailed(f"timed out after {timeout:.0f} s: {self._short(command)}") from None
        if on_line is not None:
            for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
                for line in text.splitlines():
                    on_line(stream, line)
        return Output(done.returncode, done.stdout, done.stderr)

    @staticmethod
    def _short(command: str) -> str:
        first = command.strip().splitlines()[0] if command.strip() else command
        return first if len(first) <= 120 else first[:117] + "..."

    def home_path(self, path: str) -> str:
        """A profile path with ~ resolved against the node's home (config files need
        absolute paths; commands could leave ~ to the shell, a file cannot)."""
        if path == "~" or path.startswith("~/"):
            home = self.facts.get("home")
            if home is None:
                home = self.run('printf %s "$HOME"', quiet=True).stdout.strip()
                self.facts["home"] = home
            return home + path[1:]
        return path

    # -- files
    def read(self, path: str) -> tuple[str, str] | None:
        """(mode in octal, text) of a remote file, or None when it does not exist."""
        p = sh_path(path)
        out = self.run(
            f"if [ -f {p} ]; then stat -c %a {p} && cat {p}; else exit 3; fi",
            check=False,
            quiet=True,
        )
        if out.exit == 3:
            return None
        if out.exit != 0:
            raise StepFailed(f"cannot read {path}: {out.stderr.strip()}")
        mode, _, text = out.stdout.partition("\n")
        return mode.strip(), text

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a remote file atomically; its content travels on stdin, never in argv.

        The temporary file is created under umask 077, so a secret is never readable by
        others, not even for the moment before chmod."""
        if self.read_only:
            raise StepFailed(
                f"a check may not change the node (plan mode): it writes {path}: move the "
                "write to the step's apply"
            )
        p = sh_path(path)
        self.run(
            f'umask 077 && d=$(dirname {p}) && mkdir -p "$d" && '
            f't=$(mktemp "$d/.fleetdeck.XXXXXX") && cat > "$t" && '
            f'chmod {mode:o} "$t" && mv -f "$t" {p}',
            stdin=text,
            quiet=True,
        )


def open_engine(
    profile: Profile,
    pool: Pool,
    with_journal: bool = True,
    say: Callable[[str], None] | None = None,
) -> Engine:
    """The engine of a plan or a run, for the command line and the console alike: with the
    journal that records runs (a damaged one is moved aside, and `say` told, before a new
    one is started); raises JournalError when no journal can be had."""
    journal = None
    if with_journal:
        journal = Journal(recover=True)
        if journal.moved_aside and say is not None:
            say(
                f"the journal {journal.path} could not be read; it was moved aside to "
                f"{journal.moved_aside} and a new one started"
            )
    return Engine(profile, pool, journal)


class Engine:
    def __init__(
        self,
        profile: Profile,
        pool: Pool,
        journal: Journal | None,  # None: plans only (a plan needs no journal)
        redactor: Redactor = REDACTOR,
        parallelism: int | None = None,
    ) -> None:
        self.profile = profile
        self.pool = pool
        self.journal = journal
        self.redactor = redactor
        self._planned: dict[tuple[str, str], PlanItem] = {}
        self.parallelism = parallelism or profile.model.ssh.parallelism
        # a run told to go on where a stack says changes must wait now (`run --force
        # REASON`): its steps go on, and journal the reason (a stack's actions read it)
        self.force_reason = ""
        # an upgrade's patch (actions/stacks/gonka_upgrade.py: `run upgrade --to`), or its
        # undoing (`--rollback`)
        self.upgrade: Any = None
        self.rollback = False
        self.cancelled = threading.Event()  # nothing new starts; running steps finish
        self.aborted = threading.Event()  # running steps stop at their next command
        self._unpaused = threading.Event()
        self._unpaused.set()  # cleared while paused
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._throttles: dict[str, threading.Semaphore] = {}
        self._failed_nodes: set[str] = set()
        self._budget_exceeded = False
        self.running = False  # an apply is under way
        # shows a new key's mnemonic to the operator, once: (cluster, address, mnemonic);
        # None where there is no safe place for it (the step then refuses to make a key)
        self.reveal: Callable[[str, str, str], None] | None = None
        # gives an existing key's mnemonic, for `keys --recover`: (cluster) -> mnemonic
        self.recover: Callable[[str], str] | None = None
        self.profile_lock = threading.Lock()  # steps that write the profile take turns

    # -- subscribers
    def subscribe(self, fn: Callable[[Event], None]) -> None:
        self._subscribers.append(fn)

    def _emit(self, event: Event) -> None:
        for fn in list(self._subscribers):
            with contextlib.suppress(Exception):  # a broken screen must not stop the run
                fn(event)

    # -- targets
    def targets(
        self, limit: Iterable[str] = (), action: Action | None = None
    ) -> list[tuple[Cluster, Node]]:
        return targets(self.profile.model, limit, action)

    def _applies(self, step: Step, ctx: NodeContext) -> bool:
        if step.roles and ctx.node.role not in step.roles:
            return False
        return step.when is None or step.when(ctx)

    # -- plan
    def plan(self, action: Action, limit: Iterable[str] = ()) -> list[PlanItem]:
        """Every check on every target node; nothing is changed."""
        targets = self.targets(limit, action)

        def node_plan(pair: tuple[Cluster, Node]) -> list[PlanItem]:
            cluster, node = pair
            ctx = NodeContext(self, cluster, node)
            items: list[PlanItem] = []
            earlier_change = False
            changed: list[str] = []
            for step in action.steps:
                if not self._applies(step, ctx):
                    items.append(
                        PlanItem(node.name, step.name, "skipped", reason="not for this node")
                    )
                    continue
                because = [s for s in step.after if s in changed]
                if because and step.foresee is not None:
                    ctx.timeout, ctx.local = step.timeout, step.local
                    try:
                        change = asked_again_if_lost(step.foresee, ctx, because)
                    except (StepFailed, SshError) as exc:
                        items.append(PlanItem(node.name, step.name, "error", reason=str(exc)))
                        continue
                    if change is not None:
                        earlier_change = True
                        changed.append(step.name)
                        items.append(PlanItem(node.name, step.name, "change", self._masked(change)))
                        continue
                if earlier_change and step.apply is None:
                    reason = "checked after the changes above"
                    items.append(PlanItem(node.name, step.name, "after", reason=reason))
                    continue
                ctx.timeout, ctx.local = step.timeout, step.local
                try:
                    change = asked_again_if_lost(step.check, ctx)
                except StepSkipped as exc:
                    items.append(PlanItem(node.name, step.name, "skipped", reason=self._say(exc)))
                    continue
                except (StepFailed, SshError) as exc:
                    items.append(PlanItem(node.name, step.name, "error", reason=self._say(exc)))
                    if isinstance(exc, SshError):
                        break  # the node cannot be reached: its other checks would say the same
                    continue
                if change is None:
                    passes = "passes" if step.apply is None else ""  # a check-only step
                    items.append(PlanItem(node.name, step.name, "unchanged", reason=passes))
                else:
                    earlier_change = True
                    changed.append(step.name)
                    items.append(PlanItem(node.name, step.name, "change", self._masked(change)))
            return items

        with ThreadPoolExecutor(max_workers=max(1, min(self.parallelism, len(targets)))) as ex:
            items = [item for items in ex.map(node_plan, targets) for item in items]
        # nodes of a stack this action does not know are said, not silently left out
        for cluster, node in uncovered(self.profile.model, limit, action):
            stack = self.profile.model.cluster_stack(cluster)
            why = f"no {action.name} for stack {stack} yet"
            items.append(PlanItem(node.name, action.name, "skipped", reason=why))
        return items

    def notes(self, action: Action) -> list[str]:
        """What the plan must say besides its steps (what a cloud's driver cannot do)."""
        if action.notes is None:
            return []
        try:
            return [self.redactor.redact(n) for n in action.notes(self.profile.model)]
        except StepFailed as exc:
            return [self._say(exc)]

    def _as_planned(self, node: str, step: Step, change: Change) -> None:
        """An exact step's change must be the one its plan showed (when there was one)."""
        shown = self._planned.get((node, step.name))
        if shown is None:
            return
        now = self._masked(change)
        if shown.change is None or (shown.change.commands, shown.change.diff) != (
            now.commands,
            now.diff,
        ):
            raise StepFailed(
                f"{step.name} on {node} is not what the plan showed (the node or the profile "
                "changed since): nothing was written; plan again"
            )

    def _masked(self, change: Change) -> Change:
        r = self.redactor.redact
        return Change(r(change.summary), tuple(r(c) for c in change.commands), r(change.diff))

    def _say(self, exc: BaseException) -> str:
        return self.redactor.redact(str(exc))

    # -- apply
    def apply(
        self,
        action: Action,
        limit: Iterable[str] = (),
        batch: str | None = None,
        max_fail: str | None = None,
        pause_on_failure: Callable[[str, str], bool] | None = None,
        resume: str | None = None,
        profile_path: str = "",
        planned: Iterable[PlanItem] = (),
    ) -> RunResult:
        """Run the action. `batch`: N nodes or P% at a time, each batch finished before the
        next starts. `max_fail`: P% (or N) failed nodes after which no new work starts.
        `pause_on_failure(node, error)`: asked once, at the first failure; False cancels.
        `resume`: a run id whose finished steps are kept; the rest runs. `planned`: the
        plan the operator confirmed (an exact step holds the run to it)."""
        if self.journal is None:
            raise StepFailed("no journal to record the run in: nothing was run")
        if action.serial:  # one node at a time, none started after one failed
            batch = batch or "1"
            max_fail = "0" if max_fail is None else max_fail
        self._planned = {(i.node, i.step): i for i in planned}
        # one run of a fleet at a time (FleetBusy names the one in progress)
        self._run_lock = RunLock(self.profile.model.fleet.name, self.journal.path.parent / "locks")
        self._stale_note = self._run_lock.acquire(action.name)
        self.running = True
        try:
            return self._apply(
                action, list(limit), batch, max_fail, pause_on_failure, resume, profile_path
            )
        finally:
            self.running = False
            self._run_lock.release()

    def _apply(
        self,
        action: Action,
        limit: list[str],
        batch: str | None,
        max_fail: str | None,
        pause_on_failure: Callable[[str, str], bool] | None,
        resume: str | None,
        profile_path: str,
    ) -> RunResult:
        model = self.profile.model
        if resume:
            run = self.journal.run(resume)
            if run is None:
                raise StepFailed(f"no run {resume} in the journal {self.journal.path}")
            if run.action != action.name or run.fleet != model.fleet.name:
                raise StepFailed(
                    f"run {resume} was {run.action} of {run.fleet}, not {action.name} of "
                    f"{model.fleet.name}"
                )
            limit = limit or list(run.options.get("limit", []))
            run_id = resume
            self.journal.reopen_run(run_id)
        targets = self.targets(limit, action)
        if not resume:
            options = {"limit": limit, "batch": batch, "max_fail": max_fail}
            run_id = self.journal.start_run(action.name, model.fleet.name, profile_path, options)
        self._run_lock.name_run(run_id)
        said = f"{action.name} on {len(targets)} nodes"
        self._emit(
            Event(
                EventKind.RUN,
                run_id,
                state=RUNNING,
                text=f"{said}; {self._stale_note}" if self._stale_note else said,
            )
        )
        done_before: dict[str, set[str]] = {}
        for _, node in targets:
            self.journal.plan_steps(run_id, node.name, [s.name for s in action.steps])
            done_before[node.name] = {
                r.step for r in self.journal.steps(run_id, node.name) if r.state in FINISHED
            }
        self._throttles = {
            s.name: threading.Semaphore(s.throttle) for s in action.steps if s.throttle
        }
        self._failed_nodes = set()
        self._budget_exceeded = False
        budget = _fail_budget(max_fail, len(targets))
        asked = threading.Lock()

        def on_failure(node: str, error: str) -> None:
            with self._lock:
                self._failed_nodes.add(node)
                if budget is not None and len(self._failed_nodes) > budget:
                    self._budget_exceeded = True
            if pause_on_failure is not None and asked.acquire(blocking=False):
                self._unpaused.clear()  # no step starts while the operator decides
                go_on = pause_on_failure(node, error)
                if not go_on:
                    self.cancelled.set()
                self._unpaused.set()

        states: dict[str, dict[str, str]] = {}

        def node_run(pair: tuple[Cluster, Node]) -> None:
            cluster, node = pair
            states[node.name] = self._run_node(
                action, run_id, cluster, node, done_before[node.name], on_failure
            )

        for group in _batches(targets, batch):
            if self.cancelled.is_set() or self._budget_exceeded:
                for _, node in group:
                    states[node.name] = self._mark_rest(
                        action, run_id, node.name, done_before[node.name]
                    )
                continue
            workers = max(1, min(self.parallelism, len(group)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as ex:
                list(ex.map(node_run, group))
        if self.cancelled.is_set():
            outcome = "cancelled"
        elif self._budget_exceeded:
            outcome = "stopped"
        elif self._failed_nodes:
            outcome = "failed"
        else:
            outcome = "succeeded"
        self.journal.finish_run(run_id, outcome)
        self._emit(Event(EventKind.RUN, run_id, state=outcome))
        return RunResult(run_id, outcome, states)

    def cancel(self) -> None:
        self.cancelled.set()
        self._unpaused.set()

    def abort(self) -> None:
        """Cancel, and stop running steps at their next command (a second Ctrl-C)."""
        self.aborted.set()
        self.cancel()

    def _stopping(self) -> bool:
        self._unpaused.wait()
        return self.cancelled.is_set() or self._budget_exceeded

    def _mark_rest(self, action: Action, run_id: str, node: str, done: set[str]) -> dict[str, str]:
        out = {}
        for step in action.steps:
            if step.name in done:
                out[step.name] = DONE
                continue
            self.journal.set_step(run_id, node, step.name, CANCELLED)
            self._emit(Event(EventKind.STATE, run_id, node, step.name, CANCELLED))
            out[step.name] = CANCELLED
        return out

    def _run_node(
        self,
        action: Action,
        run_id: str,
        cluster: Cluster,
        node: Node,
        done: set[str],
        on_failure: Callable[[str, str], None],
    ) -> dict[str, str]:
        states: dict[str, str] = {}
        current = {"step": ""}

        def on_line(stream: str, line: str) -> None:
            line = self.redactor.redact(line)
            self.journal.line(run_id, node.name, current["step"], stream, line)
            step = steps_by_name[current["step"]]
            m = step.progress.search(line) if step.progress else None
            if m:
                pct = float(m.group("pct"))
                self._emit(Event(EventKind.PROGRESS, run_id, node.name, step.name, progress=pct))
            self._emit(Event(EventKind.LINE, run_id, node.name, current["step"], text=line))

        steps_by_name = {s.name: s for s in action.steps}
        ctx = NodeContext(self, cluster, node, on_line)
        for i, step in enumerate(action.steps):
            if step.name in done:
                states[step.name] = DONE
                continue
            if self._stopping():
                for rest in action.steps[i:]:
                    if rest.name not in done:
                        self.journal.set_step(run_id, node.name, rest.name, CANCELLED)
                        self._emit(Event(EventKind.STATE, run_id, node.name, rest.name, CANCELLED))
                        states[rest.name] = CANCELLED
                break
            current["step"] = step.name
            if not self._applies(step, ctx):
                self.journal.set_step(run_id, node.name, step.name, SKIPPED)
                self._emit(Event(EventKind.STATE, run_id, node.name, step.name, SKIPPED))
                states[step.name] = SKIPPED
                continue
            throttle = self._throttles.get(step.name)
            with throttle if throttle else contextlib.nullcontext():
                state, error = self._attempts(step, ctx, run_id)
            states[step.name] = state
            if state == FAILED:
                for rest in action.steps[i + 1 :]:
                    states[rest.name] = "pending"
                on_failure(node.name, error)
                break
        return states

    def _attempts(self, step: Step, ctx: NodeContext, run_id: str) -> tuple[str, str]:
        node = ctx.name
        ctx.timeout, ctx.local = step.timeout, step.local
        error = ""
        for attempt in range(1, step.retries + 2):
            self.journal.set_step(run_id, node, step.name, RUNNING, attempt=True)
            limit = step.timeout or ctx.profile.ssh.command_timeout
            self._emit(
                Event(
                    EventKind.STATE,
                    run_id,
                    node,
                    step.name,
                    RUNNING,
                    attempt=attempt,
                    timeout=limit,
                )
            )
            try:
                try:
                    change = checked(step.check, ctx)
                except StepSkipped as exc:
                    why = self._say(exc)
                    self.journal.set_step(run_id, node, step.name, SKIPPED, summary=why)
                    self._emit(Event(EventKind.STATE, run_id, node, step.name, SKIPPED, text=why))
                    return SKIPPED, ""
                if change is None:
                    passed = "passed" if step.apply is None else ""  # a check-only step
                    self.journal.set_step(run_id, node, step.name, UNCHANGED, summary=passed)
                    self._emit(
                        Event(EventKind.STATE, run_id, node, step.name, UNCHANGED, text=passed)
                    )
                    return UNCHANGED, ""
                if step.apply is None:
                    raise StepFailed(f"check-only step reported a change: {change.summary}")
                if step.exact:
                    self._as_planned(node, step, change)
                summary = self.redactor.redact(change.summary)
                self.journal.set_step(run_id, node, step.name, RUNNING, summary=summary)
                self._emit(Event(EventKind.LINE, run_id, node, step.name, text=f"» {summary}"))
                step.apply(ctx, change)
                if step.verify is not None:
                    step.verify(ctx)
                else:
                    left = checked(step.check, ctx)
                    if left is not None:
                        raise StepFailed(f"applied, but the check still finds: {left.summary}")
                self.journal.set_step(run_id, node, step.name, DONE)
                self._emit(Event(EventKind.STATE, run_id, node, step.name, DONE))
                return DONE, ""
            except (StepFailed, SshError) as exc:
                error = self._say(exc)
                final = isinstance(exc, StepRefused)
                wedged = isinstance(exc, CommandTimeout)
            except Exception as exc:  # a bug in a step must fail the step, not the run
                error = self._say(f"{type(exc).__name__}: {exc}")
                final = wedged = False
            self.journal.line(run_id, node, step.name, "error", error)
            self._emit(Event(EventKind.LINE, run_id, node, step.name, text=f"✗ {error}"))
            if attempt <= step.retries and not self.cancelled.is_set() and not final:
                self._emit(
                    Event(
                        EventKind.STATE,
                        run_id,
                        node,
                        step.name,
                        "retrying",
                        text=error,
                        attempt=attempt,
                    )
                )
                if self.cancelled.wait(step.backoff * 2 ** (attempt - 1)):
                    break
                self.pool.reset_backoff(node)
                # A fresh connection only after a command hung: the pool already drops one
                # that is gone, and a live one carries other steps' commands and tunnels
                # (the window check asks the network node's API over it).
                if wedged:
                    self.pool.drop(node)
                continue
            break
        self.journal.set_step(run_id, node, step.name, FAILED, error=error)
        self._emit(Event(EventKind.STATE, run_id, node, step.name, FAILED, text=error))
        return FAILED, error


def asked_again_if_lost(check: Callable[..., Change | None], *args: Any) -> Change | None:
    """A check whose SSH channel dropped is asked once more (checks change nothing): a
    channel closed by a loaded host must not show a converged node as uncheckable."""
    try:
        return checked(check, *args)
    except ConnectionLost:
        return checked(check, *args)


def checked(check: Callable[..., Change | None], ctx: NodeContext, *args: Any) -> Change | None:
    """A check (or a forecast) run read-only: its context refuses writes and commands that
    change a node, so a check that would change something fails loudly, in a plan too."""
    was, ctx.read_only = ctx.read_only, True
    try:
        return check(ctx, *args)
    finally:
        ctx.read_only = was


# commands that change a node, at a command's start (after `sudo -n`, `;`, `&&`, `|`, `(`),
# and output redirected to a file: what a read-only context refuses. Reads (cat, stat, df,
# docker inspect, systemctl show, python3 -c of a reading script) pass; so does `docker
# exec`, whose command inside is the check's own to keep read-only.
DEVICE_TOOLS_THAT_CHANGE = "|".join(
    re.escape(tool) for a in ACCELERATORS.values() for tool in a.tools_that_change
)
CHANGES = re.compile(
    r"(?:^|[;&|(]|\bsudo\s+(?:-n\s+)?|\benv\s+(?:\w+=\S*\s+)*)\s*(?:"
    r"mkdir|rm|rmdir|mv|cp|tee|chmod|chown|ln|touch|truncate|dd|kill|pkill|useradd"
    r"|systemctl\s+(?:start|stop|restart|reload|enable|disable|daemon-reload|mask)"
    r"|docker\s+(?:run|rm|rmi|stop|start|restart|kill|create|pull|load"
    r"|compose\s+(?:\S+\s+)*?(?:up|down|pull|rm|stop|start|restart|create))"
    r"|docker-compose\s+(?:\S+\s+)*?(?:up|down|pull|rm|stop|start|restart|create)"
    r"|apt-get\s+(?:\S+\s+)*?(?:install|remove|purge|update|upgrade)"
    r"|ufw\s+(?:\S+\s+)*?(?:allow|deny|enable|disable|delete|reset)"
    rf"|{DEVICE_TOOLS_THAT_CHANGE}|ollama\s+(?:pull|rm|create)|hf\s+download|huggingface-cli\s+download"
    r"|git\s+(?:clone|checkout|pull|fetch|reset|clean))\b"
    r"|[^2&]>>?\s*(?!/dev/null|&)[\"'$\w/~.]",
    re.MULTILINE,
)
QUOTED = re.compile(r"'[^']*'")  # a script given in single quotes (awk, python3 -c): not shell


def changes(command: str) -> bool:
    """Whether a shell command would change the node (CHANGES, outside single quotes)."""
    return bool(CHANGES.search(QUOTED.sub("''", command)))


CAUSE = re.compile(r"^\s*(fatal|error|panic|E)\b\s*:|^ERROR\b", re.IGNORECASE)


def _gist(lines: list[str]) -> list[str]:
    """The lines of a failed command's output worth a failure message: the first two that
    say the cause (git's `fatal:`, apt's `E:`, a Go `panic:`) and the last ones, no blanks."""
    lines = [line.strip() for line in lines if line.strip()]
    causes = [line for line in lines if CAUSE.match(line)][:2]
    if not causes:
        return lines[-3:]
    return causes + [line for line in lines[-2:] if line not in causes]


def targets(
    model: FleetProfile, limit: Iterable[str] = (), action: Action | None = None
) -> list[tuple[Cluster, Node]]:
    """The nodes a run touches: all of the action's stacks, or those named by `limit`
    (node names, roles, cluster names; `role:ml`, `cluster:c1` to be explicit). A name that
    matches no node at all is an error; one that names only nodes of other stacks is not
    (`uncovered` says what happens to those)."""
    everyone = action.targets(model) if action and action.targets else model.all_nodes()
    nodes = [
        (c, n)
        for c, n in everyone
        if action is None or not action.stacks or model.cluster_stack(c) in action.stacks
    ]
    words = [w for w in limit if w]
    if not words:
        return nodes
    named = _named(everyone, words)
    unknown = [w for w, hit in named.items() if not hit]
    if unknown:
        raise StepFailed(
            f"--limit {', '.join(unknown)}: no node, role or cluster of that name in "
            f"{model.fleet.name}"
        )
    chosen = set().union(*named.values())
    return [x for x in nodes if x[1].name in chosen]  # keep the profile's order


def _named(nodes: list[tuple[Cluster, Node]], words: list[str]) -> dict[str, set[str]]:
    """For each --limit word, the names of the nodes it matches."""
    out = {}
    for word in words:
        kind, _, value = word.partition(":") if ":" in word else ("", "", word)
        out[word] = {
            n.name
            for c, n in nodes
            if (kind in ("", "node") and n.name == value)
            or (kind in ("", "role") and n.role == value)
            or (kind in ("", "cluster") and c.name == value)
        }
    return out


def uncovered(
    model: FleetProfile, limit: Iterable[str], action: Action
) -> list[tuple[Cluster, Node]]:
    """The nodes `limit` names (all when empty) whose stack `action` does not know."""
    if not action.stacks:
        return []
    others = [(c, n) for c, n in model.all_nodes() if model.cluster_stack(c) not in action.stacks]
    words = [w for w in limit if w]
    if not words:
        return others
    named = set().union(*_named(others, words).values())
    return [(c, n) for c, n in others if n.name in named]


def _batches(
    targets: list[tuple[Cluster, Node]], batch: str | None
) -> list[list[tuple[Cluster, Node]]]:
    if not batch or not targets:
        return [targets]
    size = _count(batch, len(targets), "--batch")
    size = max(1, size)
    return [targets[i : i + size] for i in range(0, len(targets), size)]


def _fail_budget(max_fail: str | None, total: int) -> int | None:
    """How many failed nodes are tolerated; one more stops new work."""
    if max_fail is None:
        return None
    if max_fail.endswith("%"):
        pct = _percent(max_fail, "--max-fail")
        return math.floor(total * pct / 100)
    return _count(max_fail, total, "--max-fail")


def _percent(text: str, option: str) -> float:
    try:
        pct = float(text[:-1])
    except ValueError:
        raise StepFailed(
            f"{option} {text}: write a number of nodes or a percentage like 25%"
        ) from None
    if not 0 <= pct <= 100:
        raise StepFailed(f"{option} {text}: a percentage between 0% and 100%")
    return pct


def _count(text: str, total: int, option: str) -> int:
    if text.endswith("%"):
        return math.ceil(total * _percent(text, option) / 100)
    if not text.isdigit():
        raise StepFailed(f"{option} {text}: write a number of nodes or a percentage like 25%")
    return int(text)


def check_options(batch: str | None, max_fail: str | None) -> None:
    """Refuse malformed --batch / --max-fail before anything runs."""
    if batch is not None:
        _count(batch, 1, "--batch")
        if batch in ("0", "0%"):
            raise StepFailed("--batch 0: a batch needs at least one node")
    if max_fail is not None:
        _fail_budget(max_fail, 1)
