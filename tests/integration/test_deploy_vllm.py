"""The vLLM deploy over real OpenSSH: two servers of 4 GPUs, each a real sshd in its own
network namespace with a simulated node behind it (GPUs, docker, hf). The GPUs go to the
container by id, never `count: all`; a host with a GPU missing fails, saying so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.profile import load
from tests.conftest import unavailable
from tests.harness.cli import run as fleetdeck
from tests.harness.deployfleet import sim_behind_openssh
from tests.harness.netns import netns_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "tests" / "data" / "vllm-servers.toml"


@pytest.fixture(scope="module")
def servers(tmp_path_factory, client_key):
    reason = netns_available()
    if reason:
        unavailable(reason)
    root = tmp_path_factory.mktemp("vllm")
    with sim_behind_openssh(load(PROFILE), root, client_key, 41, deployed=False) as (fleet, _):
        env = dict(os.environ, XDG_STATE_HOME=str(root / "state"), PYTHONPATH=str(REPO))
        yield fleet, env


def test_a_vllm_deploy_names_each_gpu_and_serves_the_model(servers):
    fleet, env = servers
    profile = str(fleet.profile_path)
    plan = fleetdeck(env, "plan", profile, "deploy")
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr
    assert 'device_ids: ["0", "1", "2", "3"]' in plan.stdout
    assert '"127.0.0.1:8000:8000"' in plan.stdout and "count: all" not in plan.stdout
    run = fleetdeck(env, "run", profile, "deploy", "--yes")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert "vLLM serves Qwen/Qwen3-32B-FP8 on 4 GPUs" in run.stdout
    for name in ("v1-a", "v1-b"):
        container = fleet.nodes[name].containers.get("vllm")
        assert container is not None and container.state == "running"
        assert container.devices == ("0", "1", "2", "3")  # what docker was asked for
        written = (fleet.nodes[name].home / "vllm" / "docker-compose.yml").read_text()
        assert '"--tensor-parallel-size", "4"' in written
    again = fleetdeck(env, "plan", profile, "deploy")
    assert "0 steps will change" in again.stdout, again.stdout[-2000:]


def test_a_host_with_a_gpu_missing_fails_naming_it(servers):
    fleet, env = servers
    profile = str(fleet.profile_path)
    fleet.inject("v1-b", "gpu-xid79")  # GPU 0 falls off the bus
    try:
        # the container is recreated (its model arguments changed): on three GPUs it would
        # come up smaller, or die with vLLM's "World size (4) is larger…"
        path = Path(profile)
        path.write_text(
            path.read_text().replace('"--max-model-len", "32768"', '"--max-model-len", "16384"')
        )
        run = fleetdeck(env, "run", profile, "deploy", "--yes")
        assert run.returncode == 4
        assert "v1-b" in run.stdout and "nvidia-smi sees 3 of the 4 GPUs" in run.stdout
        assert "Xid 79" in run.stdout
        assert "v1-a server        | » recreate vllm (its compose file changed" in run.stdout
        b = fleet.nodes["v1-b"].containers.get("vllm")
        assert b.devices == ("0", "1", "2", "3")  # left as it was: not recreated on fewer
        a = fleet.nodes["v1-a"].containers.get("vllm")
        assert a.state == "running"
        # restarted as it is, the container asks for GPU 0 by id: the runtime refuses it
        sock = fleet.nodes["v1-b"].home / ".sim" / "docker.sock"
        restart = subprocess.run(
            [sys.executable, "-m", "console.sim.tools.docker", "restart", "vllm"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=dict(env, DOCKER_HOST=f"unix://{sock}"),
            timeout=60,
        )
        assert restart.returncode == 1
        assert "nvidia-container-cli: device error: 0: unknown device" in restart.stderr
        assert b.state != "running"
    finally:
        fleet.clear("v1-b", "gpu-xid79")


def test_a_model_the_disk_cannot_hold_is_not_fetched(servers):
    """The disk 99.3 % full: a model already there asks no more room, a missing one is
    refused before any byte is fetched (a 32B FP8 model, sized from its name)."""
    fleet, env = servers
    profile = str(fleet.profile_path)
    hub = fleet.nodes["v1-a"].home / "hf" / "hub"
    fleet.inject("v1-a", "disk-full")
    try:
        there = fleetdeck(env, "plan", profile, "deploy", "--limit", "v1-a")
        assert there.returncode == 0 and "GB needed" not in there.stdout, there.stdout[-2000:]
        shutil.rmtree(hub)
        plan = fleetdeck(env, "plan", profile, "deploy", "--limit", "v1-a")
        said = "26 GB free under ~/hf, 52 GB needed for Qwen/Qwen3-32B-FP8"
        assert said in plan.stdout, plan.stdout[-2000:]
        run = fleetdeck(env, "run", profile, "deploy", "--yes", "--limit", "v1-a")
        assert run.returncode == 4 and said in run.stdout, run.stdout[-2000:]
        assert not hub.exists()  # nothing fetched, not even a directory made
    finally:
        fleet.clear("v1-a", "disk-full")
