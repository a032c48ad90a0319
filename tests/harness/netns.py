"""OpenSSH test hosts each in a network namespace of their own, so that every host has its
own 127.0.0.1 (as real machines do) and a simulated node's private services can sit behind
a real sshd. Reached from the test over a veth pair: 10.231.N.1 here, 10.231.N.2 there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from console.sim.containers import COMPOSE_SUBNET
from tests.harness.sshd import SshHost, make_host


def netns_available() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"fdchk{os.getpid() % 100000}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if done.returncode != 0:
        return f"cannot create a network namespace: {done.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class NetnsHost:
    netns: str
    veth: str
    host: SshHost

    def stop(self) -> None:
        self.host.stop()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)


def start_netns_host(
    root: Path, name: str, index: int, client_pub: Path, env: dict[str, str] | None = None
) -> NetnsHost:
    """index 1…250: the host answers at 10.231.<index>.2:22 inside namespace fdt<pid>-<i>."""
    tag = f"{os.getpid() % 10000}"
    netns, veth = f"fdt{tag}-{index}", f"fdv{tag}x{index}"
    ip("netns", "add", netns)
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    ip("addr", "add", f"10.231.{index}.1/30", "dev", veth)
    ip("link", "set", veth, "up")
    ip("-n", netns, "addr", "add", f"10.231.{index}.2/30", "dev", "eth0")
    ip("-n", netns, "link", "set", "eth0", "up")
    ip("-n", netns, "link", "set", "lo", "up")
    # the compose network's addresses, as docker's bridge gives them on a real host, so
    # that a simulated container's unpublished port (the chain RPC) has its own address
    ip("-n", netns, "addr", "add", COMPOSE_SUBNET, "dev", "lo")
    host = make_host(root, name, f"10.231.{index}.2", client_pub, env, port=22)
    host.netns = netns
    host.start()
    return NetnsHost(netns, veth, host)
