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
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.setup.rehearsal import secrets_env
from tests.conftest import unavailable
from tests.harness.cli import run

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def screen_of(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = screen_of(session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} did not appear within {timeout} s; the screen:\n{screen}")


def gone(session: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode:
            return True
        time.sleep(0.2)
    return False


def fleetdeck(env, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(env, *args, cwd=cwd, timeout=600)


def test_the_wizard_rehearses_a_fleet_by_keys_resumes_and_replays(short_tmp):
    if shutil.which("tmux") is None:
        unavailable("tmux is not installed")
    work = short_tmp / "work"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PYTHON_KEYRING_BACKEND", None)  # a new user's machine: no keyring configured
    env |= {"XDG_STATE_HOME": str(short_tmp / "state"), "XDG_DATA_HOME": str(short_tmp / "data")}
    exports = " ".join(
        shlex.quote(f"{k}={env[k]}") for k in ("PYTHONPATH", "XDG_STATE_HOME", "XDG_DATA_HOME")
    )
    python = shlex.quote(sys.executable)
    setup = f"env -u PYTHON_KEYRING_BACKEND {exports} {python} -m console.cli setup"
    session = f"fd-setup-{os.getpid()}"
    sim = work / "first-fleet-rehearsal" / "sim"

    def start(args: str) -> None:
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "130",
                "-y",
                "40",
                "-c",
                str(work),
                f"{setup} {args}",
            ],
            check=True,
        )

    try:
        started = time.monotonic()
        start("--rehearse")
        wait_for(session, r"question 1\b", 30)
        for n in range(1, 6):  # fleet, stack, ssh user, key, two clusters: the defaults
            tmux("send-keys", "-t", session, "Enter")
            wait_for(session, rf"question {n + 1}\b", 10)
        screen = wait_for(session, r"Cluster 1: its name", 5)
        tmux("send-keys", "-t", session, "Enter")  # c1
        wait_for(session, r"Cluster 1: how many ml nodes", 5)
        tmux("send-keys", "-t", session, "Escape")  # back to the cluster's name
        wait_for(session, r"Cluster 1: its name", 5)
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, r"Cluster 1: how many ml nodes", 5)
        time.sleep(0.5)  # the input has the focus
        tmux("send-keys", "-t", session, "1")  # one ML node, not two (it replaces the default)
        wait_for(session, r"▊  1 ", 5)
        tmux("send-keys", "-t", session, "Enter")
        screen = wait_for(session, r"Cluster 1: its 2 machines' addresses", 5)
        assert "192.0.2.10 192.0.2.11" in screen
        for _ in range(11):  # the rest: the defaults
            tmux("send-keys", "-t", session, "Enter")
            time.sleep(0.3)
        screen = wait_for(session, r"The profile, to be saved as first-fleet.toml", 10)
        assert 'name = "first-fleet"' in screen and not (work / "first-fleet.toml").exists()
        tmux("send-keys", "-t", session, "y")
        wait_for(session, r"» 3\. deploy", 60)
        tmux("send-keys", "-t", session, "q")  # quit during the deploy
        assert gone(session, 30), screen_of(session)
        profile = work / "first-fleet.toml"
        assert profile.exists() and (work / "first-fleet.answers.toml").exists()
        # resumed, and a node goes down as the deploy starts again: it fails there, named
        start("first-fleet.toml --rehearse")
        wait_for(session, r"» 3\. deploy", 120)
        down = fleetdeck(env, work, "sim", "fault", str(sim), "c2-ml1", "host-down")
        assert down.returncode == 0, down.stderr
        screen = wait_for(session, r"✗ stopped at deploy", 120)
        assert re.search(r"✓ 1\. make the account keys\s+done already", screen), screen
        assert "✗ 3. deploy" in screen and "r runs it again" in screen
        assert "c2-ml1" in screen
        assert fleetdeck(env, work, "sim", "clear", str(sim), "c2-ml1").returncode == 0
        tmux("send-keys", "-t", session, "r")
        screen = wait_for(session, r"✓ setup complete: first-fleet", 240)
        for line in (
            "✓ 2. preflight (with fixes)",
            "✓ 3. deploy",
            "✓ 4. register each cluster",
            "✓ 5. verify (the doctor's checks)",
            "✓ 6. one answer from every serving node",
        ):
            assert line in screen, screen
        assert time.monotonic() - started < 600
        tmux("send-keys", "-t", session, "q")
        assert gone(session, 30)
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
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        fleetdeck(env, work, "sim", "down", str(sim))
        fleetdeck(env, work, "sim", "down", str(short_tmp / "again" / "reh" / "sim"))
