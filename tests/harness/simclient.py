"""Client helpers for tests against a simulated fleet: SSH in, run, HTTP through forwards."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko


@dataclass
class NodeAccess:
    address: str
    port: int
    key: Path
    known_hosts: Path
    user: str = "fleetdeck"

    def connect(self, timeout: float = 10) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            self.address,
            port=self.port,
            username=self.user,
            key_filename=str(self.key),
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
        return client


def run(
    client: paramiko.SSHClient, command: str, stdin: str | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    chan_in, out, err = client.exec_command(command, timeout=timeout)
    if stdin is not None:
        chan_in.write(stdin)
    chan_in.channel.shutdown_write()
    text, errors = out.read().decode(), err.read().decode()
    return out.channel.recv_exit_status(), text, errors


def http(
    client: paramiko.SSHClient,
    port: int,
    method: str = "GET",
    path: str = "/",
    body: object = None,
    host: str = "127.0.0.1",
    timeout: float = 15,
) -> tuple[int, bytes]:
    """One HTTP request through a direct-tcpip forward to the node's host:port."""
    chan = client.get_transport().open_channel(
        "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
    )
    chan.settimeout(timeout)
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    chan.sendall(head.encode() + payload)
    data = b""
    while True:
        chunk = chan.recv(65536)
        if not chunk:
            break
        data += chunk
    chan.close()
    head_bytes, _, content = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, content


def rpc_host(node) -> str:
    """Where a simulated Gonka network node's chain RPC answers: the `node` container's
    address (its compose file publishes only P2P since 0.2.9)."""
    return node.container_address("node")


def http_json(
    client: paramiko.SSHClient,
    port: int,
    method: str = "GET",
    path: str = "/",
    body: object = None,
    host: str = "127.0.0.1",
) -> tuple[int, object]:
    status, content = http(client, port, method, path, body, host)
    return status, json.loads(content) if content else None


@contextlib.contextmanager
def small_sim_fleet(
    root: Path, profile: str = "sim-small.toml", epoch_blocks: int = 240
) -> Iterator:
    """tests/data/sim-small.toml (or another profile there) simulated in this process (fast
    blocks and ticks: an epoch of 240 blocks is 48 s), on an address block of its own;
    stopped, and its block freed, at the end."""
    from console.core.profile import load
    from console.sim.daemon import claim_block
    from console.sim.fleet import SimFleet

    block, lock = claim_block()
    fleet = SimFleet(
        load(Path(__file__).resolve().parents[1] / "data" / profile),
        root,
        block=block,
        block_time=0.2,
        tick=0.2,
        epoch_blocks=epoch_blocks,
    )
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()
        lock.close()
