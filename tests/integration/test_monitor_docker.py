"""Container status over a real OpenSSH host from a real dockerd matches `docker ps`."""

from __future__ import annotations

import subprocess
import time

import pytest

from console.core.monitor.monitor import Monitor
from console.core.profile import loads
from console.core.transport.ssh import Pool
from tests.harness.dockerd import TEST_IMAGE

pytestmark = pytest.mark.integration


def test_probe_sees_running_exited_and_unhealthy_as_docker_ps_does(ssh_hosts, client_key, dockerd):
    client = dockerd.client()
    made = []
    try:
        made.append(
            client.containers.run(
                TEST_IMAGE, ["sleep", "600"], name="fd-running", network_mode="none", detach=True
            )
        )
        crashed = client.containers.run(
            TEST_IMAGE, ["sh", "-c", "exit 3"], name="fd-crashed", network_mode="none", detach=True
        )
        made.append(crashed)
        crashed.wait(timeout=30)
        made.append(
            client.containers.run(
                TEST_IMAGE,
                ["sleep", "600"],
                name="fd-unhealthy",
                network_mode="none",
                detach=True,
                healthcheck={
                    "test": ["CMD", "false"],
                    "interval": 200_000_000,
                    "timeout": 1_000_000_000,
                    "retries": 1,
                },
            )
        )
        deadline = time.monotonic() + 30
        while client.containers.get("fd-unhealthy").health != "unhealthy":
            assert time.monotonic() < deadline
            time.sleep(0.2)

        host = ssh_hosts.start("dockhost", env={"DOCKER_HOST": dockerd.url})
        profile = loads(f"""
[fleet]
name = "dock"
stack = "vllm"
[ssh]
user = "root"
key = "{client_key}"
port = {host.port}
known_hosts = "{ssh_hosts.known_hosts}"
[[clusters]]
name = "c"
[[clusters.nodes]]
name = "dockhost"
host = "{host.address}"
role = "server"
""")
        pool = Pool.for_profile(profile.model, system_known_hosts=False)
        monitor = Monitor(profile.model, pool, interval=0.5, collect_http=False)
        monitor.start()
        try:
            assert monitor.wait_complete(20)
            node = monitor.snapshot().nodes["dockhost"]
        finally:
            monitor.stop()
            pool.close()
        assert node.reachable, node.error
        seen = {c.name: c for c in node.containers}
        ps = subprocess.run(
            [
                "docker",
                "-H",
                dockerd.url,
                "ps",
                "-a",
                "--format",
                "{{.Names}} {{.State}} {{.Status}}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        states = {line.split()[0]: line.split()[1] for line in ps.splitlines()}
        for name in ("fd-running", "fd-crashed", "fd-unhealthy"):
            assert seen[name].state == states[name]
        assert seen["fd-crashed"].state == "exited" and seen["fd-crashed"].exit_code == 3
        assert "Exited (3)" in ps
        assert seen["fd-unhealthy"].health == "unhealthy" and "(unhealthy)" in ps
        assert seen["fd-running"].health is None
        assert node.system.docker  # the engine's version, read from the socket
    finally:
        for c in made:
            c.remove(force=True)
        client.close()
