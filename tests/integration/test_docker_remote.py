"""The Docker SDK over the pool's own verified SSH connection, against a real dockerd:
log tail and follow, restart, stop."""

from __future__ import annotations

import itertools
import threading

import pytest

from console.core.transport.dockerremote import docker_api, log_lines
from console.core.transport.ssh import Pool, Target
from tests.harness.dockerd import TEST_IMAGE

pytestmark = pytest.mark.integration
LOOP = 'i=0; while true; do echo "line $i [/] [@click=app.quit]x"; i=$((i+1)); sleep 0.1; done'


def test_logs_follow_restart_and_stop_over_the_pooled_connection(ssh_hosts, client_key, dockerd):
    local = dockerd.client()
    container = local.containers.run(
        TEST_IMAGE, ["sh", "-c", LOOP], name="fd-talker", network_mode="none", detach=True
    )
    host = ssh_hosts.start("dockremote", env={"DOCKER_HOST": dockerd.url})
    pool = Pool(
        [Target("dockremote", host.address, host.port, "root", str(client_key))],
        ssh_hosts.known_hosts,
        system_known_hosts=False,
    )
    try:
        api = docker_api(pool, "dockremote")
        assert api.version()["ApiVersion"]
        # the SDK rides the pool's connection: no second SSH connection, no ~/.ssh reads
        assert api._custom_adapter.ssh_client is pool.connection("dockremote").client
        tail = list(itertools.islice(log_lines(api, "fd-talker", tail=3, follow=False), 10))
        assert 1 <= len(tail) <= 3 and all(line.startswith("line ") for line in tail)
        first = int(tail[-1].split()[1])
        followed = list(itertools.islice(log_lines(api, "fd-talker", tail=1), 6))
        assert int(followed[-1].split()[1]) > first  # new lines arrive while following
        assert followed[-1].endswith("[/] [@click=app.quit]x")

        started = api.inspect_container("fd-talker")["State"]["StartedAt"]
        api.restart("fd-talker", timeout=1)
        state = api.inspect_container("fd-talker")["State"]
        assert state["Running"] and state["StartedAt"] != started

        # a follow ends when the container stops
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(log_lines(api, "fd-talker", 1)))
        reader.start()
        api.stop("fd-talker", timeout=1)
        reader.join(15)
        assert not reader.is_alive() and lines
        assert local.containers.get("fd-talker").status == "exited"
    finally:
        pool.close()
        container.remove(force=True)
