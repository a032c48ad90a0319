"""`fleetdeck run` refusals that need no servers: unreachable nodes, no terminal, bad options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness.profiles import unreachable_profile

REPO = Path(__file__).resolve().parents[2]


def fleetdeck(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = unreachable_profile(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *[a.replace("PROFILE", str(profile)) for a in args]],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_unreachable_nodes_are_not_reported_as_nothing_to_do(tmp_path):
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "net\n  ! preflight  cannot check: net: connection refused" in done.stdout
    assert "1 step cannot be checked (see above); nothing was run" in done.stderr
    assert "nothing to do" not in done.stdout


def test_bad_options_and_unknown_actions_are_refused_before_connecting(tmp_path):
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--batch", "0")
    assert done.returncode == 1 and "--batch 0: a batch needs at least one node" in done.stderr
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--max-fail", "120%")
    assert done.returncode == 1 and "between 0% and 100%" in done.stderr
    done = fleetdeck(tmp_path, "plan", "PROFILE", "teardown")
    assert done.returncode == 1 and "unknown action 'teardown'; one of: deploy" in done.stderr
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--resume")
    assert done.returncode == 1 and "no earlier deploy run of nowhere to resume" in done.stderr


def test_journal_lists_runs_and_a_runs_steps(tmp_path):
    from console.journal import DONE, FAILED, Journal
    from console.secrets import Redactor

    journal = Journal(tmp_path / "fleetdeck" / "journal.sqlite", Redactor())
    run = journal.start_run("deploy", "nowhere", "p.toml", {})
    journal.plan_steps(run, "net", ["firewall", "models"])
    journal.set_step(run, "net", "firewall", "running", attempt=True)
    journal.line(run, "net", "firewall", "stdout", "Rule added")
    journal.set_step(run, "net", "firewall", DONE, summary="4 firewall changes")
    journal.set_step(run, "net", "models", FAILED, error="exit 1: hf download", attempt=True)
    journal.finish_run(run, "failed")
    journal.close()
    listing = fleetdeck(tmp_path, "journal", "PROFILE")
    assert listing.returncode == 0, listing.stderr
    assert run in listing.stdout and "deploy" in listing.stdout and "failed" in listing.stdout
    steps = fleetdeck(tmp_path, "journal", "PROFILE", run, "--lines")
    assert "net            firewall       done" in steps.stdout
    assert "4 firewall changes" in steps.stdout and "      | Rule added" in steps.stdout
    assert "models         failed" in steps.stdout and "exit 1: hf download" in steps.stdout
    missing = fleetdeck(tmp_path, "journal", "PROFILE", "20990101-nope")
    assert missing.returncode == 1 and "no run 20990101-nope of nowhere" in missing.stderr
