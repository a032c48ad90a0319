"""`fleetdeck status` on a simulated fleet behind real OpenSSH hosts, one network namespace
per host, so that each node's private services sit on its own 127.0.0.1 and are reached
only through SSH forwards, as on a correctly firewalled machine."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.monitor.pipeline import live_status
from console.core.profile import load
from console.sim.containers import ADDRESSES, COMPOSE_SUBNET
from console.sim.fleet import SimFleet
from tests.conftest import unavailable
from tests.harness.deployfleet import sim_behind_openssh
from tests.harness.netns import netns_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PRIVATE = {26657, 9100, 9200, 5050, 8080, 11434}


@pytest.fixture(scope="module")
def behind_openssh(tmp_path_factory, client_key):
    reason = netns_available()
    if reason:
        unavailable(reason)
    profile = load(REPO / "tests" / "data" / "sim-small.toml")
    root = tmp_path_factory.mktemp("netns")
    with sim_behind_openssh(profile, root, client_key, 1, deployed=True) as (fleet, hosts):
        yield fleet, hosts


def status(profile: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "console.app.cli", "status", "--json", str(profile)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)


def listeners_in(netns: str) -> set[tuple[str, int]]:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", "/proc/net/tcp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = set()
    for line in out.splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":
            hexip, hexport = local.split(":")
            ip = ".".join(str(int(hexip[i : i + 2], 16)) for i in (6, 4, 2, 0))
            found.add((ip, int(hexport, 16)))
    return found


def check_against_sim(doc: dict, fleet: SimFleet, source: str) -> None:
    assert doc["summary"]["reachable"] == 4 and doc["summary"]["critical"] == 0
    nodes = {n["name"]: n for n in doc["nodes"]}
    for name, node in fleet.nodes.items():
        got = nodes[name]
        assert got["reachable"], got["error"]
        assert [g["uuid"] for g in got["gpus"]] == [g.uuid for g in node.gpu_snapshot().gpus]
        if got["gpus"]:
            assert got["gpu_source"] == source
        assert {c["name"]: c["state"] for c in got["containers"]} == {
            c.name: c.state for c in node.containers.snapshot()
        }
        assert all(s["ok"] for s in got["services"]), got["services"]
    chain = nodes["net"]["chain"]
    assert abs(chain["height"] - fleet.chains["c1"].height()) <= 25
    assert chain["validator_in_set"] and chain["peers"] == 4
    assert {m["id"] for m in chain["ml_nodes"]} == {"ml1", "ml2"}


def test_status_over_real_sshd_over_pynvml_then_nvidia_smi(behind_openssh):
    fleet, hosts = behind_openssh
    check_against_sim(status(fleet.profile_path), fleet, "nvml")
    links = [n.home / "lib" / "libnvidia-ml.so.1" for n in fleet.nodes.values()]
    targets = [link.resolve() for link in links]
    for link in links:
        link.unlink()  # no NVML library anywhere: every probe falls back to nvidia-smi
    try:
        check_against_sim(status(fleet.profile_path), fleet, "nvidia-smi")
    finally:
        for link, target in zip(links, targets, strict=True):
            link.symlink_to(target)


def test_private_services_listen_on_the_nodes_loopback_only(behind_openssh):
    fleet, hosts = behind_openssh
    compose = ipaddress.ip_network(COMPOSE_SUBNET)
    for name, host in hosts.items():
        listening = listeners_in(host.netns)
        private = {(ip, port) for ip, port in listening if port in PRIVATE}
        assert private, f"{name} should serve something privately"
        # the node's loopback, or a container's address on the compose network (which a
        # real host keeps on its docker bridge, unrouted): never the host's own address
        for ip, port in private:
            inside = ip == "127.0.0.1" or ipaddress.ip_address(ip) in compose
            assert inside and ip != host.host.address, (name, ip, port)
        assert (host.host.address, 22) in listening  # SSH is what the world reaches
    assert (hosts["net"].host.address, 8000) in listeners_in(hosts["net"].netns)  # the proxy
    # the chain RPC, unpublished as in Gonka 0.2.9: only at the `node` container's address
    # (the status test above read the chain through it)
    rpc = {ip for ip, port in listeners_in(hosts["net"].netns) if port == 26657}
    assert rpc == {ADDRESSES["node"]}


def test_the_live_pipeline_opens_no_port_on_the_nodes(behind_openssh):
    """The console's pipeline (kept-open forwards, persistent HTTP clients, the streaming
    probe) adds no listener on any node while it runs: it reads the private services
    through the SSH connection it has, as the status test above does."""
    fleet, hosts = behind_openssh
    before = {name: listeners_in(host.netns) for name, host in hosts.items()}
    monitor = live_status(load(fleet.profile_path), system_known_hosts=False)
    monitor.start()
    try:
        assert monitor.wait_complete(90)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the collectors have read through their forwards
            state = monitor.snapshot()
            if state.nodes["net"].chain is not None and all(
                n.services and all(s.ok for s in n.services)
                for name, n in state.nodes.items()
                if name != "net"
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the collectors read nothing: {monitor.snapshot().nodes}")
        clients, channels = monitor.http_channels()
        assert clients > 0 and channels >= clients
        during = {name: listeners_in(host.netns) for name, host in hosts.items()}
    finally:
        monitor.stop()
    assert during == before
