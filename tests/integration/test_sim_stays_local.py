"""A simulated fleet never makes this machine send traffic off loopback.

A whole deploy of a bare two-cluster Gonka fleet on the embedded simulator (`fleetdeck sim
up --fresh`, then `fleetdeck run … deploy --yes`, both as an operator runs them), with every
connect() recorded: the simulator's and fleetdeck's own by an audit hook put on their Python
path, the simulated nodes' programs (the deploy's health waits, the probe, the fake tools)
by the node's own network module. Every destination must lie in 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

from console.profile import load
from console.sim.deployrepo import make_gonka_repo
from tests.harness.deployfleet import KEYRING_ENTRY, PROFILE, REPO

AUDIT = REPO / "tests" / "harness" / "connect_audit"


def fleetdeck(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_whole_simulated_deploy_connects_only_to_loopback(tmp_path: Path):
    url, tag = make_gonka_repo(tmp_path / "gonka-repo")
    profile = load(PROFILE)
    profile.set_value(("stack", "repo"), url)
    profile.set_value(("stack", "ref"), tag)
    profile.save(tmp_path / "fleet.toml")
    keyring = tmp_path / "keyring.json"
    keyring.write_text(json.dumps({KEYRING_ENTRY: "local only"}))
    log = tmp_path / "connects.log"
    env = dict(
        os.environ,
        PYTHONPATH=f"{AUDIT}:{REPO}",
        FLEETDECK_CONNECT_LOG=str(log),
        PYTHON_KEYRING_BACKEND="tests.harness.keyring_file.FileKeyring",
        FLEETDECK_TEST_KEYRING=str(keyring),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    sim = tmp_path / "sim"
    up = fleetdeck(env, "sim", "up", str(tmp_path / "fleet.toml"), "--dir", str(sim), "--fresh")
    assert up.returncode == 0, up.stderr
    try:
        run = fleetdeck(env, "run", str(sim / "profile.toml"), "deploy", "--yes")
    finally:
        fleetdeck(env, "sim", "down", str(sim))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "run " in run.stdout and ": succeeded" in run.stdout

    seen = [line.split() for line in log.read_text().splitlines()]
    # every kind of process was recorded: fleetdeck and the simulator (their audit hook),
    # and programs on the simulated nodes (the node's network module)
    assert {kind for _, kind, _, _ in seen} >= {"seen", "ok"}
    assert len({pid for pid, *_ in seen}) >= 3
    loopback = ipaddress.ip_network("127.0.0.0/8")
    away = [" ".join(line) for line in seen if ipaddress.ip_address(line[2]) not in loopback]
    assert not away, "connects outside 127.0.0.0/8:\n" + "\n".join(away)
    # the chain's RPC was waited for at the node container's address, on loopback
    assert "CometBFT RPC answers at http://127." in run.stdout
