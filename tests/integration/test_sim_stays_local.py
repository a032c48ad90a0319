"""A simulated fleet never makes this machine send traffic off loopback.

A whole deploy of a bare two-cluster Gonka fleet on the embedded simulator (`fleetdeck sim
up --fresh`, then `fleetdeck run … deploy --yes`, both as an operator runs them), with every
connect() recorded: the simulator's and fleetdeck's own by an audit hook put on their Python
path, the simulated nodes' programs (the deploy's health waits, the probe, the fake tools)
by the node's own network module. Every destination must lie in 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from tests.harness.deployfleet import REPO, embedded_deploy_fleet, fleetdeck

AUDIT = REPO / "tests" / "harness" / "connect_audit"


def test_a_whole_simulated_deploy_connects_only_to_loopback(short_tmp: Path):
    log = short_tmp / "connects.log"
    audited = dict(os.environ, FLEETDECK_CONNECT_LOG=str(log))
    with embedded_deploy_fleet(short_tmp, audited) as fleet:
        fleet.env["PYTHONPATH"] = f"{AUDIT}:{REPO}"
        run = fleetdeck(
            fleet.env, "run", str(short_tmp / "sim" / "profile.toml"), "deploy", "--yes"
        )
        # the profile names account keys kept elsewhere (public keys, no addresses): the
        # register plan takes each address from what the network node derives from it
        plan = fleetdeck(fleet.env, "plan", str(short_tmp / "sim" / "profile.toml"), "register")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "run " in run.stdout and ": succeeded" in run.stdout
    registering = re.findall(r"register participant (gonka1\w+) at", plan.stdout)
    assert len(set(registering)) == 2, plan.stdout[-3000:] + plan.stderr[-1000:]

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
