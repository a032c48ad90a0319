"""Deploying on other vendors' accelerators over real OpenSSH (issue 30): vLLM on 8 Intel
Gaudi 3 cards (Habana's runtime and HABANA_VISIBLE_DEVICES, its vendor's image) and Ollama
on an AMD Instinct (its VRAM read by amd-smi), each a real sshd in its own network
namespace with a simulated node behind it; preflight names a missing Habana runtime with
its fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.core.profile import load
from tests.conftest import unavailable
from tests.harness.cli import run as fleetdeck
from tests.harness.deployfleet import sim_behind_openssh
from tests.harness.netns import netns_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "tests" / "data" / "accelerator-deploys.toml"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, client_key):
    reason = netns_available()
    if reason:
        unavailable(reason)
    root = tmp_path_factory.mktemp("accel-deploy")
    with sim_behind_openssh(load(PROFILE), root, client_key, 111, deployed=False) as (fleet, _):
        env = dict(os.environ, XDG_STATE_HOME=str(root / "state"), PYTHONPATH=str(REPO))
        yield fleet, env


def test_preflight_names_a_missing_habana_runtime_with_its_fix(hosts):
    fleet, env = hosts
    profile = str(fleet.profile_path)
    fleet.inject("g3-a", "no-habana-runtime")
    try:
        plan = fleetdeck(env, "plan", profile, "preflight", "--limit", "g3-a")
        out = plan.stdout + plan.stderr
        assert plan.returncode != 0, out[-2000:]
        assert "docker has no habana runtime" in out, out[-2000:]
        assert "habanalabs-container-runtime" in out and "/usr/bin/habana-container-runtime" in out
    finally:
        fleet.clear("g3-a", "no-habana-runtime")
    again = fleetdeck(env, "plan", profile, "preflight", "--limit", "g3-a")
    assert "docker has no habana runtime" not in again.stdout + again.stderr


def test_vllm_on_gaudi_and_ollama_on_amd_are_deployed_to_ready(hosts):
    fleet, env = hosts
    profile = str(fleet.profile_path)
    plan = fleetdeck(env, "plan", profile, "deploy")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
    out = plan.stdout
    # the Gaudi server: Habana's runtime, its cards by index, its vendor's image
    assert "runtime: habana" in out and "HABANA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7" in out
    assert "registry.example.invalid/habana/vllm-gaudi:1.22.0" in out
    assert "driver: nvidia" not in out and "device_ids" not in out
    run = fleetdeck(env, "run", profile, "deploy", "--yes")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    said = run.stdout
    assert "Intel Gaudi HPUs for vLLM: 0, 1, 2, 3, 4, 5, 6, 7" in said, said[-3000:]
    assert "through Habana's container runtime" in said
    # the AMD provider: its VRAM from amd-smi (192 GiB), so the 48 GB tier fits
    assert "1 GPU(s), 206 GB: qwen2.5:32b fit" in said, said[-3000:]
    assert "vLLM serves Qwen/Qwen3-32B-FP8 on 8 HPUs" in run.stdout
    container = fleet.nodes["g3-a"].containers.get("vllm")
    assert container is not None and container.state == "running"
    assert container.devices == tuple(str(i) for i in range(8))  # what the runtime was told
    written = (fleet.nodes["g3-a"].home / "vllm" / "docker-compose.yml").read_text()
    assert "    runtime: habana" in written and "nvidia" not in written
    assert fleet.nodes["mi300x-a"].ollama.version == "0.12.6"
    again = fleetdeck(env, "plan", profile, "deploy")
    assert "0 steps will change" in again.stdout, again.stdout[-2000:]
