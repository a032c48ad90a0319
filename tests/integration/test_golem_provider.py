"""A Golem provider's status, read on a real OpenSSH host whose `golemsp` prints the real
output (reference/real/golem): in `fleetdeck status --json` and on the node screen."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from tests.harness.cli import run as fleetdeck

pytestmark = pytest.mark.integration


def provider_profile(tmp_path: Path, host, client_key: Path, known_hosts: Path) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(
        f"""[fleet]
name = "golem-providers"
stack = "golem"

[ssh]
user = "root"
key = "{client_key}"
known_hosts = "{known_hosts}"

[[clusters]]
name = "eu"

[[clusters.nodes]]
name = "provider-eu-1"
host = "{host.address}"
port = {host.port}
role = "provider"
"""
    )
    return path


def test_a_golem_providers_status_is_read_from_golemsp(ssh_hosts, client_key, tmp_path, reference):
    sample = reference / "real" / "golem" / "golemsp_status_sample_v0.12.2.txt"
    host = ssh_hosts.start("golem1")
    tool = host.sandbox / "bin" / "golemsp"
    # the real command's output, without the file's own comment and prompt lines
    tool.write_text(
        '#!/bin/sh\n[ "$1" = status ] || exit 2\n'
        f"grep -v -e '^#' -e '^\\$' {shlex.quote(str(sample))}\n"
    )
    tool.chmod(0o755)
    profile = provider_profile(tmp_path, host, client_key, ssh_hosts.known_hosts)
    proc = fleetdeck(dict(os.environ), "status", "--json", str(profile), timeout=120)
    doc = json.loads(proc.stdout)
    node = doc["nodes"][0]
    assert node["reachable"], proc.stderr
    golem = node["provider"]
    assert golem["running"] is True and golem["node_name"] == "lato"
    assert golem["wallet"] == "0x2a14f8ae0272bd4c38ed1b40c66e88ed719dab69"
    assert (golem["network"], golem["tasks_total"], golem["vm"]) == ("mainnet", 509, "valid")
    assert node["provider_error"] is None
    assert not any(a["kind"].startswith("golem") for a in doc["alerts"])

    # the provider stops: golemsp says so, and the node has a critical alert
    tool.write_text(
        "#!/bin/sh\n"
        f"grep -v -e '^#' -e '^\\$' {shlex.quote(str(sample))} "
        "| sed 's/Service    is running/Service    is not running/'\n"
    )
    proc = fleetdeck(dict(os.environ), "status", "--json", str(profile), timeout=120)
    doc = json.loads(proc.stdout)
    assert doc["nodes"][0]["provider"]["running"] is False
    down = [a for a in doc["alerts"] if a["kind"] == "golem_down"]
    assert down and down[0]["severity"] == "critical" and proc.returncode == 2
