"""The setup's stages after the profile is written: each is the `fleetdeck` command an
operator would run by hand (the same engine, journal and output), run as its own process.

A stage that has nothing left to do is planned first and shown as done, so quitting, or a
failure, then `fleetdeck setup PROFILE` again, resumes at the first stage with work left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actions.deploy import actions
from actions.doctors import doctor_of
from console.core.profile.schema import FleetProfile
from console.core.stacks import STACKS

SETTLE_S = 120.0  # a rehearsal waits this long for the doctor's warnings to clear


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    action: str | None  # the action it runs (planned first); None: a check, run each time
    command: tuple[str, ...]  # fleetdeck's arguments, after the profile


def stages_for(model: FleetProfile, mnemonic_file: Path | None = None) -> list[Stage]:
    """The stages this fleet needs, in order: machines to rent, keys, preflight, deploy,
    registration, the registration doctor, and one answer from every serving node."""
    stacks = {model.cluster_stack(c) for c in model.clusters}

    def applies(action: str) -> bool:
        known = actions()[action]().stacks if action != "deploy" else ()
        return not known or bool(stacks & set(known))

    out = []
    if model.provision is not None:
        out.append(Stage("provision", "rent the machines", "provision", ("provision",)))
    if applies("keys"):
        keys = ("keys", "--mnemonic-file", str(mnemonic_file)) if mnemonic_file else ("keys",)
        out.append(Stage("keys", "make the account keys", "keys", keys))
    out.append(Stage("preflight", "preflight (with fixes)", "preflight", ("preflight",)))
    out.append(Stage("deploy", "deploy", "deploy", ("deploy",)))
    if applies("register"):
        out.append(Stage("register", "register each cluster", "register", ("register",)))
    if any(doctor_of(s) for s in stacks):
        out.append(Stage("verify", "verify (the doctor's checks)", None, ("doctor",)))
    if any(STACKS[s].inference is not None for s in stacks):
        out.append(
            Stage(
                "serve",
                "one answer from every serving node",
                None,
                (
                    "loadtest",
                    "--concurrency",
                    "1",
                    "--requests",
                    "1",
                    "--timeout",
                    "60s",
                    "--answers-only",
                ),
            )
        )
    return out


def fleetdeck(
    env: dict[str, str], *args: str, capture: bool = False
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console.app.cli", *args],
        env=env,
        text=True,
        capture_output=capture,
        check=False,
    )


def changes_left(env: dict[str, str], profile: Path, action: str) -> int | None:
    """Steps the action would still change; None when its plan cannot say."""
    plan = fleetdeck(env, "plan", str(profile), action, "--json", capture=True)
    try:
        items = json.loads(plan.stdout)["items"]
    except (ValueError, KeyError):
        return None
    if any(i["status"] == "error" for i in items):
        return None
    return sum(1 for i in items if i["status"] == "change")


def ran_since_edit(profile: Path, action: str, fleet: str) -> bool:
    """Whether the journal's latest run of `action` on this profile succeeded after the
    profile last changed (a stage whose plan still shows work for a later stage to make
    possible: the warm key, made after the deploy, keeps `keys` planning a change)."""
    from console.core.journal import Journal, JournalError

    try:
        journal = Journal()
    except JournalError:
        return False
    try:
        runs = [r for r in journal.runs(fleet, action) if Path(r.profile) == profile]
    finally:
        journal.close()
    last = runs[0] if runs else None
    return (
        last is not None
        and last.outcome == "succeeded"
        and last.finished is not None
        and last.finished >= profile.stat().st_mtime
    )


def streamed(env: dict[str, str], say: Callable[[str], None], *args: str, started=None) -> int:
    """A fleetdeck command with its output handed to `say` line by line; its exit code.
    `started(process)` lets a caller stop it (the wizard's quit)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.app.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    if started is not None:
        started(proc)
    assert proc.stdout is not None
    for line in proc.stdout:
        say(line.rstrip("\n"))
    return proc.wait()


def checked(
    env: dict[str, str],
    say: Callable[[str], None],
    stage: Stage,
    profile: Path,
    settle_s: float,
    started=None,
    stopped: Callable[[], bool] = lambda: False,
) -> int:
    """A check stage; run again, quietly, while it only warns and `settle_s` allows."""
    deadline = time.monotonic() + settle_s
    while not stopped():
        lines: list[str] = []
        code = streamed(
            env, lines.append, stage.command[0], str(profile), *stage.command[1:], started=started
        )
        warnings = [line.strip() for line in lines if line.lstrip().startswith("! ")]
        if code != 0 or not warnings or time.monotonic() >= deadline:
            for line in lines:
                say(line)
            return code
        say(f"  waiting: {warnings[0]}")
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    return 130  # stopped while it waited


def run_stages(
    profile: Path,
    stages: list[Stage],
    env: dict[str, str],
    say: Callable[[str], None],
    fleet: str,
    run_args: tuple[str, ...] = ("--yes",),
    on_stage: Callable[[str, str, str], None] = lambda name, state, note: None,
    started=None,
    settle_s: float = 0.0,
    stopped: Callable[[], bool] = lambda: False,
) -> str | None:
    """Each stage in turn; the name of the stage that failed, or None when all passed.
    `on_stage(name, state, note)`: pending → running → done | skipped | failed.
    `stopped()`: true once the caller quits; no command starts after that.
    `settle_s`: how long the verification may wait for its warnings to clear (a newly
    registered participant joins at the next proof of compute: seconds on a rehearsal's
    simulated chain, hours on the real one, where it is not waited for)."""
    for i, stage in enumerate(stages, start=1):
        if stopped():  # the wizard quit: start nothing more
            return stage.name
        head = f"── stage {i}/{len(stages)}: {stage.title}"
        on_stage(stage.name, "running", "")
        if stage.action is not None:
            # the journal first: a stage whose last run succeeded since the profile changed is
            # done whatever its plan says, and asking every node for that plan takes seconds
            done = ran_since_edit(profile, stage.action, fleet)
            left = None if done else changes_left(env, profile, stage.action)
            if done or left == 0:
                say(f"{head}: ✓ done already")
                on_stage(stage.name, "skipped", "done already")
                continue
            say(
                f"{head} ({left} steps to do)"
                if left is not None
                else f"{head} (its plan could not check every node: run, and see)"
            )
            if stopped():
                return stage.name
            code = streamed(
                env, say, "run", str(profile), *stage.command, *run_args, started=started
            )
        else:
            say(head)
            code = checked(env, say, stage, profile, settle_s, started, stopped)
        if code != 0:
            say(f"✗ stage {stage.name} failed (exit {code}): what it printed says why")
            on_stage(stage.name, "failed", f"exit {code}")
            return stage.name
        say(f"✓ {stage.name}")
        on_stage(stage.name, "done", "")
    return None
