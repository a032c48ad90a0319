"""Two Gonka clusters on two releases (issue 31): the simulator answers the v0.2.14 host in
v0.2.14's shapes and the v0.2.15-post5 host in v0.2.15's (reference/gonka-0.2.15.md
§3.2), and the console reads the same chain state from both."""

from __future__ import annotations

import time

import httpx
import pytest

from console.core.monitor.monitor import Monitor
from console.core.profile import load
from console.core.transport.ssh import Pool
from tests.harness.simclient import small_sim_fleet

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("releases-sim")
    with small_sim_fleet(root, "sim-two-releases.toml") as sim:
        yield sim


def api(fleet, node: str, path: str) -> httpx.Response:
    return httpx.get(f"http://{fleet.nodes[node].public_address}:8000{path}", timeout=10)


def test_each_host_answers_in_its_releases_shapes(fleet):
    old, new = (
        api(fleet, "net-old", "/v1/epochs/latest"),
        api(fleet, "net-new", "/v1/epochs/latest"),
    )
    assert isinstance(old.json()["epoch_params"]["epoch_length"], int)
    assert isinstance(new.json()["epoch_params"]["epoch_params"]["epoch_length"], str)
    assert new.json()["is_confirmation_poc_active"] is False
    assert "deprecation" not in old.headers and new.headers["deprecation"] == "true"
    old_p = api(fleet, "net-old", "/v1/epochs/current/participants").json()
    new_p = api(fleet, "net-new", "/v1/epochs/current/participants").json()
    assert isinstance(old_p["active_participants"]["participants"][0]["weight"], int)
    assert isinstance(new_p["active_participants"]["participants"][0]["weight"], str)
    assert isinstance(new_p["active_participants"]["epoch_id"], str)
    versions = api(fleet, "net-new", "/v1/versions").json()
    assert versions["api_version"] == "v0.2.15-post5" and versions["mlnodes"]
    assert "mlnodes" not in api(fleet, "net-old", "/v1/versions").json()
    assert api(fleet, "net-old", "/v1/poc-batches/3").status_code == 200
    assert api(fleet, "net-new", "/v1/poc-batches/3").status_code == 404


def test_the_console_reads_the_same_chain_from_both_releases(fleet):
    profile = load(fleet.profile_path)
    profile.set_value(("alerts", "probe_interval_s"), 0.5)
    pool = Pool.for_profile(profile.model, system_known_hosts=False)
    mon = Monitor(profile.model, pool, latency_every=60)
    mon.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            nodes = mon.snapshot().nodes
            chains = [nodes[n].chain for n in ("net-old", "net-new")]
            if all(c is not None and c.in_epoch is not None for c in chains):
                break
            time.sleep(0.1)
        old, new = chains
        assert old is not None and new is not None, "no chain state read"
        for chain in (old, new):
            assert chain.in_epoch is True and chain.participant_weight, chain
            assert chain.epoch is not None and chain.phase and chain.blocks_to_poc is not None
        assert type(old.participant_weight) is type(new.participant_weight) is int
        assert old.participant_weight == new.participant_weight
        # the same alerts from both: none about the chain
        kinds = {(a.node, a.kind) for a in mon.snapshot().alerts if a.node.startswith("net-")}
        assert kinds == set(), kinds
    finally:
        mon.stop()
        pool.close()
