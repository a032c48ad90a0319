"""The Ollama deploy over real OpenSSH, on the ollama-providers example: six providers,
each a real sshd in its own network namespace with a bare simulated node behind it (GPUs
of its tier, systemd, no Ollama). The install script is the simulator's stand-in
(console/sim/tools/ollama_install.sh, by file://); what it installs answers as Ollama.

The bind is checked inside each node's namespace with the real `ss`, and by connecting to
the node's own addresses from inside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.profile import load
from console.sim.ollama import GENERATION_S
from tests.conftest import unavailable
from tests.harness.cli import run as fleetdeck
from tests.harness.deployfleet import sim_behind_openssh
from tests.harness.netns import netns_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "profiles" / "ollama-providers.toml"
INSTALLER = REPO / "console" / "sim" / "tools" / "ollama_install.sh"
TIERS = {
    "use-4090-1": ["llama3.1:8b"],
    "use-h100-1": ["llama3.3:70b", "llama3.1:8b"],
    "euw-l40s-1": ["qwen2.5:32b"],
    "euw-l4-1": ["llama3.1:8b"],
    "apse-a100-1": ["llama3.3:70b"],
    "apse-4090-1": ["llama3.1:8b"],
}
CONNECT = (
    "import socket,sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], 11434), timeout=2).close(); print('open')\n"
    "except OSError as e:\n"
    "    print('refused', e)\n"
)


@pytest.fixture(scope="module")
def providers(tmp_path_factory, client_key):
    reason = netns_available()
    if reason:
        unavailable(reason)
    root = tmp_path_factory.mktemp("ollama")
    with sim_behind_openssh(load(EXAMPLE), root, client_key, 71, deployed=False) as (
        fleet,
        hosts,
    ):
        env = dict(os.environ, XDG_STATE_HOME=str(root / "state"), PYTHONPATH=str(REPO))
        yield fleet, hosts, env


def inside(netns: str, *command: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, *command], capture_output=True, text=True, timeout=30
    )
    return done.stdout + done.stderr


def test_each_provider_is_deployed_to_ready_with_its_tier_and_a_rerun_changes_nothing(providers):
    fleet, hosts, env = providers
    profile = str(fleet.profile_path)
    assert all(n.ollama.version is None for n in fleet.nodes.values())  # bare hosts
    plan = fleetdeck(env, "plan", profile, "deploy")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
    assert "install Ollama 0.12.6" in plan.stdout
    assert f"curl -fsSL file://{INSTALLER} | env OLLAMA_VERSION=0.12.6 sh" in plan.stdout
    assert '+Environment="OLLAMA_HOST=127.0.0.1:11434"' in plan.stdout
    assert '+Environment="OLLAMA_NUM_PARALLEL=16"' in plan.stdout
    run = fleetdeck(env, "run", profile, "deploy", "--yes")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
    for name, models in TIERS.items():
        node = fleet.nodes[name]
        assert node.ollama.version == "0.12.6"
        assert node.ollama.models == models  # the tier's models, pulled
        assert sorted(node.ollama.in_memory()) == sorted(models)  # and warmed
        unit = node.units.get("ollama")
        assert unit is not None and unit.active and unit.enabled
        assert unit.environment["OLLAMA_HOST"] == "127.0.0.1:11434"
        assert unit.environment["OLLAMA_NUM_PARALLEL"] == "16"
        assert unit.environment["OLLAMA_KEEP_ALIVE"] == "30m"
        # the drop-in sits beside the unit file systemd named, not in this machine's /etc
        drop_in = node.home / ".sim/root/etc/systemd/system/ollama.service.d/fleetdeck.conf"
        assert drop_in.read_text().startswith(f"# written by fleetdeck for {name}")
        assert not Path("/etc/systemd/system/ollama.service.d/fleetdeck.conf").exists()
    assert run.stdout.count("listening on 127.0.0.1 only") == len(TIERS)
    # inside a node: Ollama's port listens on the loopback only
    for name in ("use-4090-1", "euw-l4-1"):
        h = hosts[name]
        lines = inside(h.netns, "ss", "-ltnH", "sport = :11434").splitlines()
        assert [line.split()[3] for line in lines] == ["127.0.0.1:11434"], lines
        assert inside(h.netns, sys.executable, "-c", CONNECT, h.host.address).startswith("refused")
        assert inside(h.netns, sys.executable, "-c", CONNECT, "127.0.0.1").startswith("open")
    restarts = {n: node.units.get("ollama").restarts for n, node in fleet.nodes.items()}
    again = fleetdeck(env, "plan", profile, "deploy")
    assert "0 steps will change" in again.stdout, again.stdout[-3000:]
    rerun = fleetdeck(env, "run", profile, "deploy", "--yes")
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    assert rerun.stdout.count(": 5 unchanged") == len(TIERS), rerun.stdout[-2000:]
    assert {n: node.units.get("ollama").restarts for n, node in fleet.nodes.items()} == restarts


def test_a_drop_in_opening_ollama_to_the_world_is_refused_naming_it(providers):
    fleet, hosts, env = providers
    profile = str(fleet.profile_path)
    node, h = fleet.nodes["apse-4090-1"], hosts["apse-4090-1"]
    # an operator's own drop-in, read after fleetdeck's: Ollama on every address
    rogue = node.home / ".sim/root/etc/systemd/system/ollama.service.d/zz-public.conf"
    rogue.write_text('[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0:11434"\n')
    try:
        node.units.daemon_reload()
        node.units.act("ollama", "restart")
        assert inside(h.netns, sys.executable, "-c", CONNECT, h.host.address).startswith("open")
        run = fleetdeck(env, "run", profile, "deploy", "--yes", "--limit", "apse-4090-1")
        assert run.returncode == 4, run.stdout[-3000:]
        assert "another drop-in overrides fleetdeck's" in run.stdout, run.stdout[-2000:]
        assert "systemd configures OLLAMA_HOST=0.0.0.0:11434" in run.stdout
    finally:
        rogue.unlink()
        node.units.daemon_reload()
        node.units.act("ollama", "restart")


def loadtest(env, profile: str, node: str, timeout: str = "2s"):
    import json

    done = fleetdeck(
        env,
        "loadtest",
        profile,
        "--limit",
        node,
        "--concurrency",
        "100",
        "--requests",
        "200",
        "--timeout",
        timeout,
        "--json",
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.startswith("{") else done


def test_one_request_at_a_time_misses_the_slo_and_the_deployed_parallelism_serves_them_all(
    providers,
):
    fleet, _, env = providers
    path = fleet.profile_path
    text = path.read_text()
    node = "use-4090-1"
    try:
        # Ollama's default: the plan says what it means for an SLO of 100 concurrent
        path.write_text(text.replace("num_parallel = 16", "num_parallel = 1"))
        plan = fleetdeck(env, "plan", str(path), "deploy", "--limit", node)
        assert "us-east: Ollama serves one request at a time (num_parallel = 1" in plan.stdout
        assert "the SLO asks for 100 concurrent" in plan.stdout
        assert fleetdeck(env, "run", str(path), "deploy", "--yes", "--limit", node).returncode == 0
        assert fleet.nodes[node].units.get("ollama").environment["OLLAMA_NUM_PARALLEL"] == "1"
        rc, slow = loadtest(env, str(path), node)
        assert rc == 4, slow
        n = slow["nodes"][0]
        assert n["node"] == node and n["requests"] == 200 and not n["slo_met"]
        assert n["timeouts"] > 10  # queued behind one another, past the 2 s deadline
        assert n["p95_s"] is None and "p95 over the timeout" in n["missed"][0]
        assert any("no answer in 2 s" in e for e in n["first_errors"])
        # the deploy sets the parallelism the profile asks for: 16 at once. Every request is
        # answered, and nearly all sooner than one at a time could have generated them (200
        # in a row). Whether that is under 2 s is this machine's load, not the deploy's
        # behaviour: the timeout is long, and the verdict follows the figures
        path.write_text(text)
        assert fleetdeck(env, "run", str(path), "deploy", "--yes", "--limit", node).returncode == 0
        assert fleet.nodes[node].units.get("ollama").environment["OLLAMA_NUM_PARALLEL"] == "16"
        rc, fast = loadtest(env, str(path), node, timeout="30s")
        n = fast["nodes"][0]
        assert n["timeouts"] == 0 and n["errors"] == 0 and n["tokens_per_s"] > 0, fast
        assert n["p95_s"] < 200 * GENERATION_S, n  # 200 generations in a row take that long
        assert n["slo_met"] == (n["p95_s"] < 2.0) and rc == (0 if n["slo_met"] else 4)
        assert fast["fleet_result"]["requests"] == 200
        # both are kept, and the node's history shows its last measured SLO
        shown = fleetdeck(env, "journal", str(path))
        assert shown.returncode == 0 and "loadtest" in shown.stdout, shown.stdout[-1000:]
    finally:
        path.write_text(text)


def test_the_provider_container_must_share_the_hosts_network_to_reach_ollama(providers):
    fleet, _, env = providers
    path = fleet.profile_path
    text = path.read_text()
    node = fleet.nodes["use-h100-1"]
    c = node.containers.create("golem-provider", "golemfactory/provider:0.17.0")
    node.containers.start("golem-provider")
    try:
        path.write_text(
            text.replace("[stack]\n", '[stack]\nprovider_container = "golem-provider"\n', 1)
        )
        run = fleetdeck(env, "run", str(path), "deploy", "--yes", "--limit", "use-h100-1")
        assert run.returncode == 4, run.stdout[-2000:]
        assert "golem-provider runs on the 'default' network" in run.stdout
        assert "network_mode: host" in run.stdout
        c.network_mode = "host"  # as `docker run --network host` made it
        run = fleetdeck(env, "run", str(path), "deploy", "--yes", "--limit", "use-h100-1")
        assert run.returncode == 0, run.stdout[-2000:]
        assert "golem-provider reaches Ollama on the host" in run.stdout
    finally:
        path.write_text(text)
        node.containers.stop("golem-provider")
