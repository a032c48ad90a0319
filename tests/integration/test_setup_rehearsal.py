"""`fleetdeck setup --answers … --rehearse --yes`, headless, as a newcomer would script it:
the example answers (two Gonka clusters) become the profile, and a fresh simulated fleet
of it goes through keys, deploy, registration and the doctor. A node that goes down during
the deploy stops the setup at that stage, naming the node; once it is back, the same
command resumes there (the stages already done are shown done) and finishes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.app.setup.answers import load_answers
from console.app.setup.writer import profile_text
from tests.harness.cli import run

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "profiles" / "setup" / "first-fleet-answers.toml"


def fleetdeck(env, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(env, *args, cwd=cwd, timeout=600)


def test_rehearsal_from_answers_to_a_verified_fleet_resumes_after_a_node_failed(short_tmp):
    answers = short_tmp / "answers.toml"
    answers.write_text(EXAMPLE.read_text())
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        XDG_STATE_HOME=str(short_tmp / "state"),
        XDG_DATA_HOME=str(short_tmp / "data"),
    )
    env.pop("PYTHON_KEYRING_BACKEND", None)  # as on a headless machine: no keyring
    sim = short_tmp / "first-fleet-rehearsal" / "sim"
    setup = subprocess.Popen(
        [sys.executable, "-m", "console.app.cli", "setup", "--answers", str(answers)]
        + ["--rehearse", "--yes"],
        env=env,
        cwd=short_tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said = []
    try:
        assert setup.stdout is not None
        for line in setup.stdout:
            said.append(line)
            if line.startswith("── stage 3/6: deploy"):  # a node goes down during the deploy
                down = fleetdeck(env, short_tmp, "sim", "fault", str(sim), "c1-ml2", "host-down")
                assert down.returncode == 0, down.stderr
        setup.wait(timeout=600)
    finally:
        if setup.poll() is None:
            setup.kill()
    first = "".join(said)
    try:
        assert setup.returncode == 4, first[-3000:]
        profile = short_tmp / "first-fleet.toml"  # what the answers wrote, byte for byte
        assert profile.read_text() == profile_text(load_answers(answers), answers.name)
        assert "── stage 1/6: make the account keys (2 steps to do)" in first
        assert "✓ keys" in first
        failed = [line for line in said if line.startswith("c1-ml2") and "✗" in line]
        assert failed and any("refused" in line or "SSH" in line for line in failed), first
        assert "setup stopped at deploy" in first
        assert "`fleetdeck setup first-fleet.toml --rehearse` resumes there" in first
        assert (sim.parent / "mnemonics.txt").stat().st_mode & 0o077 == 0
        # the node is back: the same command goes on from the deploy
        assert fleetdeck(env, short_tmp, "sim", "clear", str(sim), "c1-ml2").returncode == 0
        again = fleetdeck(env, short_tmp, "setup", "first-fleet.toml", "--rehearse", "--yes")
        out = again.stdout
        assert again.returncode == 0, out[-4000:] + again.stderr[-2000:]
        assert "── stage 1/6: make the account keys: ✓ done already" in out
        assert "── stage 3/6: deploy" in out and "✓ deploy" in out
        assert "deploy: ✓ done already" not in out
        assert "✓ register" in out and "✓ verify" in out and "✓ serve" in out
        assert re.search(r"(?m)^\(fleet\)\s+3\s.*✓ met$", out), out  # the 3 ML nodes answer
        assert out.count("✓ participant:") == 2  # both clusters on the chain
        assert "setup complete: first-fleet is deployed and verified" in out
        done = fleetdeck(env, short_tmp, "setup", "first-fleet.toml", "--rehearse", "--yes")
        assert done.returncode == 0
        for stage in ("keys", "deploy", "register"):
            assert f"{stage}" in done.stdout
        # keys, preflight, deploy, register: nothing left to do. On a loaded machine a plan
        # check can time out, and its stage then runs again to see (changing nothing)
        unsure = done.stdout.count("(its plan could not check every node: run, and see)")
        assert done.stdout.count(": ✓ done already") + unsure == 4, done.stdout
        assert " steps to do)" not in done.stdout, done.stdout
    finally:
        fleetdeck(env, short_tmp, "sim", "down", str(sim))
        time.sleep(0.1)
