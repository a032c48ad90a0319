"""`fleetdeck setup --rehearse` under tmux, in an empty directory, answered by keys as a new
user would (no Pilot): every question's default taken (one answer changed, one question
gone back to), the profile reviewed and saved, the stages started; q during the deploy;
then, with a node down, `fleetdeck setup PROFILE --rehearse` resumes at the deploy, shows
the node's failure, and after the node is back r retries it to the end: two clusters
registered and the doctor green. The answers it kept replay headless to the same profile."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.app.setup.rehearsal import secrets_env
from tests.harness.cli import run
from tests.harness.terminal import Terminal

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def question_number(term: Terminal) -> str:
    found = re.search(r"question (\d+)\b", term.screen())
    return found.group(1) if found else "none"


def answer(term: Terminal, key: str, shown: str) -> None:
    """A key, and what it does shown: the question on screen holds the focus already (its
    input is focused as it mounts, before it is drawn), so no key is sent twice."""
    term.keys(key)
    term.wait_for_match(shown, 30)


def fleetdeck(env, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(env, *args, cwd=cwd, timeout=600)


def test_the_wizard_rehearses_a_fleet_by_keys_resumes_and_replays(short_tmp):
    term = Terminal("fd-setup")
    work = short_tmp / "work"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PYTHON_KEYRING_BACKEND", None)  # a new user's machine: no keyring configured
    env |= {"XDG_STATE_HOME": str(short_tmp / "state"), "XDG_DATA_HOME": str(short_tmp / "data")}
    exports = " ".join(
        shlex.quote(f"{k}={env[k]}") for k in ("PYTHONPATH", "XDG_STATE_HOME", "XDG_DATA_HOME")
    )
    python = shlex.quote(sys.executable)
    setup = f"env -u PYTHON_KEYRING_BACKEND {exports} {python} -m console.app.cli setup"
    sim = work / "first-fleet-rehearsal" / "sim"

    def start(args: str) -> None:
        term.start(f"{setup} {args}", cwd=work, width=130)

    try:
        started = time.monotonic()
        start("--rehearse")
        term.wait_for_match(r"question 1\b", 30)
        for n in range(1, 6):  # fleet, stack, ssh user, key, two clusters: the defaults
            term.keys("Enter")
            term.wait_for_match(rf"question {n + 1}\b", 10)
        screen = term.wait_for_match(r"Cluster 1: its name", 5)
        term.keys("Enter")  # c1
        term.wait_for_match(r"Cluster 1: how many ml nodes", 5)
        term.keys("Escape")  # back to the cluster's name
        term.wait_for_match(r"Cluster 1: its name", 5)
        term.keys("Enter")
        term.wait_for_match(r"Cluster 1: how many ml nodes", 5)
        # one ML node, not two: typed over the default (the focused input holds it selected)
        answer(term, "1", shown=r"▊  1 ")
        answer(term, "Enter", shown=r"Cluster 1: its 2 machines' addresses")
        assert "192.0.2.10 192.0.2.11" in term.screen()
        for _ in range(11):  # the rest: the defaults, each taken once the next is shown
            now = question_number(term)
            answer(term, "Enter", shown=rf"question (?!{now}\b)\d+|The profile, to be saved")
        screen = term.wait_for_match(r"The profile, to be saved as first-fleet.toml", 10)
        assert 'name = "first-fleet"' in screen and not (work / "first-fleet.toml").exists()
        term.keys("y")
        term.wait_for_match(r"» 3\. deploy", 60)
        term.keys("q")  # quit during the deploy
        assert term.gone(30), term.screen()
        profile = work / "first-fleet.toml"
        assert profile.exists() and (work / "first-fleet.answers.toml").exists()
        # resumed, and a node goes down as the deploy starts again: it fails there, named
        start("first-fleet.toml --rehearse")
        term.wait_for_match(r"» 3\. deploy", 120)
        down = fleetdeck(env, work, "sim", "fault", str(sim), "c2-ml1", "host-down")
        assert down.returncode == 0, down.stderr
        screen = term.wait_for_match(r"✗ stopped at deploy", 120)
        assert re.search(r"✓ 1\. make the account keys\s+done already", screen), screen
        assert "✗ 3. deploy" in screen and "r runs it again" in screen
        assert "c2-ml1" in screen
        assert fleetdeck(env, work, "sim", "clear", str(sim), "c2-ml1").returncode == 0
        term.keys("r")
        screen = term.wait_for_match(r"✓ setup complete: first-fleet", 240)
        for line in (
            "✓ 2. preflight (with fixes)",
            "✓ 3. deploy",
            "✓ 4. register each cluster",
            "✓ 5. verify (the doctor's checks)",
            "✓ 6. one answer from every serving node",
        ):
            assert line in screen, screen
        assert time.monotonic() - started < 600
        term.keys("q")
        assert term.gone(30)
        # the doctor is green: both clusters participants, in the epoch, nothing to fix
        sim_env = env | secrets_env(sim / "secrets.env")
        doctor = fleetdeck(sim_env, work, "doctor", str(sim / "profile.toml"))
        assert doctor.returncode == 0, doctor.stdout
        assert doctor.stdout.count("✓ participant:") == 2
        assert "  ! " not in doctor.stdout and "  ✗ " not in doctor.stdout, doctor.stdout
        # the answers it kept, replayed headless, write the same profile byte for byte
        again = short_tmp / "again"
        again.mkdir()
        replay = fleetdeck(
            env,
            again,
            "setup",
            "--answers",
            str(work / "first-fleet.answers.toml"),
            "--write-only",
        )
        assert replay.returncode == 0, replay.stderr
        assert (again / "first-fleet.toml").read_bytes() == profile.read_bytes(), replay.stdout
    finally:
        term.stop()
        fleetdeck(env, work, "sim", "down", str(sim))
        fleetdeck(env, work, "sim", "down", str(short_tmp / "again" / "reh" / "sim"))
