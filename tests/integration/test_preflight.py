"""`fleetdeck plan|run PROFILE preflight` on a simulated fleet whose machines have what a
newcomer's rented hosts may have: a GPU answering [N/A], no NVIDIA container toolkit, only
the old docker-compose, a disk too small for the model cache, a private port open to the
world. The plan names each with its fix, the run applies the fixes, and what no command
can fix (the disk) stays, saying where there is room or what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.cli import run as fleetdeck

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
FAULTS = {
    "c1-ml1": "gpu-na",
    "c1-ml2": "no-toolkit",
    "c2-net": "compose-v1",
    "c2-ml1": "disk-full",
    "c1-net": "admin-public",
}


def test_preflight_finds_each_problem_and_fixes_what_a_command_can(short_tmp):
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(short_tmp / "state"))
    sim = short_tmp / "sim"
    profile = str(sim / "profile.toml")
    up = fleetdeck(
        env, "sim", "up", str(REPO / "tests/data/deploy-two-clusters.toml"), "--dir", str(sim)
    )
    assert up.returncode == 0, up.stderr
    try:
        for node, kind in FAULTS.items():
            assert fleetdeck(env, "sim", "fault", str(sim), node, kind).returncode == 0
        plan = fleetdeck(env, "plan", profile, "preflight")
        out = plan.stdout
        assert "reset GPU 0: it answers [N/A]" in out
        assert "$ sudo -n nvidia-smi --gpu-reset -i 0" in out
        assert "install the NVIDIA container toolkit" in out
        assert "$ sudo -n nvidia-ctk runtime configure --runtime=docker" in out
        assert "install the `docker compose` plugin (only docker-compose" in out
        assert "api publishes 9200 on every interface" in out and "$ docker stop api" in out
        assert "26 GB free under ~/hf, 260 GB needed for the node's models" in out
        assert "4 steps will change" in out, out
        run = fleetdeck(env, "run", profile, "preflight", "--yes")
        assert run.returncode == 4, run.stdout[-3000:]  # the disk: no command makes room
        nodes = sim / "nodes"
        assert not (nodes / "c1-ml1/.sim/gpu-na").exists()  # reset: the GPU answers
        assert not (nodes / "c1-ml2/.sim/no-nvidia-runtime").exists()  # the runtime is there
        assert (nodes / "c1-ml2/bin/nvidia-ctk").exists()
        assert not (nodes / "c2-net/.sim/no-compose-plugin").exists()
        ps = subprocess.run(
            [
                sys.executable,
                "-m",
                "console.sim.tools.docker",
                "ps",
                "-a",
                "--format",
                "{{.Names}} {{.State}}",
            ],
            env=dict(env, DOCKER_HOST=f"unix://{nodes / 'c1-net/.sim/docker.sock'}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "api exited" in ps.stdout.splitlines(), ps.stdout  # until the deploy rebinds it
        again = fleetdeck(env, "plan", profile, "preflight")
        assert "0 steps will change" in again.stdout, again.stdout
        assert "c2-ml1" in again.stdout and "260 GB needed" in again.stdout
        assert fleetdeck(env, "sim", "clear", str(sim), "c2-ml1").returncode == 0
        clean = fleetdeck(env, "plan", profile, "preflight")
        assert clean.returncode == 0 and "cannot be checked" not in clean.stdout, clean.stdout
    finally:
        fleetdeck(env, "sim", "down", str(sim))
