"""Small profiles that tests write on the fly."""

from __future__ import annotations

from pathlib import Path

from tests.harness.procs import free_port

UNREACHABLE = """
[fleet]
name = "nowhere"
stack = "gonka"
[ssh]
connect_timeout = 2
known_hosts = "{kh}"
[stack]
ref = "v0.2.14"
[[clusters]]
name = "c1"
[[clusters.nodes]]
name = "net"
host = "127.0.0.1"
port = {port}
role = "network"
"""


def unreachable_profile(directory: Path) -> Path:
    """A one-node Gonka fleet `nowhere` whose node's SSH port nobody listens on."""
    path = directory / "nowhere.toml"
    path.write_text(UNREACHABLE.format(kh=directory / "known_hosts", port=free_port()))
    return path
