"""The Docker SDK on a node, over the pool's SSH connection.

docker-py's own `ssh://` mode opens a second connection of its own, reading ~/.ssh/config
and ~/.ssh/known_hosts only (reference/libraries.md §4.7): it would bypass fleetdeck's
known_hosts, the profile's key and ProxyJump. Here its SSH adapter runs on the connection
the pool already holds and verified; each HTTP connection is one `docker system
dial-stdio` channel on it, as docker-py does itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
from docker.transport.sshconn import SSHHTTPAdapter

from console.core.times import rfc3339_seconds
from console.core.transport.ssh import Pool

API_VERSION = "1.41"  # Engine 20.10; newer engines accept it too (libraries.md §4)


class _PooledSshAdapter(SSHHTTPAdapter):
    def __init__(self, pool: Pool, node: str, timeout: int) -> None:
        self.fleet_pool = pool
        self.node = node
        super().__init__(f"ssh://{node}", timeout=timeout)

    def _create_paramiko_client(self, base_url: str) -> None:
        self.ssh_params = {}
        self.ssh_client = self.fleet_pool.connection(self.node).client

    def _connect(self) -> None:  # reconnects through the pool (backoff, host keys) if dropped
        self.ssh_client = self.fleet_pool.connection(self.node).client

    def close(self) -> None:  # the connection is the pool's to close
        self.pools.clear()


def docker_api(pool: Pool, node: str, timeout: int = 30) -> docker.APIClient:
    """A low-level Docker client for `node`'s engine."""
    # the unix URL is never used: the adapter mounted below serves every request
    api = docker.APIClient(base_url="unix:///nonexistent", version=API_VERSION, timeout=timeout)
    adapter = _PooledSshAdapter(pool, node, timeout)
    # the URL docker-py gives its ssh:// clients: it reads raw sockets by it
    api.base_url = "http+docker://ssh"
    api.mount("http+docker://ssh", adapter)
    api._custom_adapter = adapter
    return api


def log_lines(
    api: docker.APIClient,
    container: str,
    tail: int | str = 500,
    follow: bool = True,
    since: float | None = None,
    timestamps: bool = False,
) -> Iterator[str]:
    """A container's log, line by line (stdout and stderr merged), then new lines as they
    come when `follow`. Ends when the container stops or the client is closed. With
    `timestamps`, each line starts with the engine's RFC 3339 time (see split_stamp)."""
    rest = b""
    extra = {"since": since} if since is not None else {}
    for chunk in api.logs(
        container, stream=True, follow=follow, tail=tail, timestamps=timestamps, **extra
    ):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace").rstrip("\r")
    if rest:
        yield rest.decode(errors="replace")


def split_stamp(line: str) -> tuple[float | None, str]:
    """(epoch seconds, text) of a line logged with timestamps ('2026-11-29T05:05:23.1Z x')."""
    stamp, _, text = line.partition(" ")
    at = rfc3339_seconds(stamp) if stamp[:4].isdigit() and "T" in stamp else None
    return (at, text) if at is not None else (None, line)
