"""Two Gonka clusters on two releases (issue 31): the simulator answers the v0.2.14 host in
v0.2.14's shapes and the v0.2.15-post5 host in v0.2.15's (reference/gonka-0.2.15.md
§3.2), and the console reads the same chain state from both."""

from __future__ import annotations

import time

import httpx
import pytest

from console.core.monitor.monitor import Monitor
from console.core.profile import load
from console.core.status_table import render
from console.core.transport.ssh import Pool
from tests.harness.cli import run as fleetdeck
from tests.harness.simclient import NodeAccess, small_sim_fleet
from tests.harness.simclient import run as on_node

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("releases-sim")
    # epochs of 1,000 blocks: the first PoC starts 801 blocks (160 s) in, so that no run of
    # this module's upgrades meets one it did not inject (a run waits out PoC, issue 31;
    # with 240-block epochs a PoC came every 48 s and a slow run met one now and then)
    with small_sim_fleet(root, "sim-two-releases.toml", epoch_blocks=1000) as sim:
        for name in ("net-old", "net-new"):  # a deployed host's Cosmovisor: current -> genesis
            join = sim.nodes[name].home / "gonka/deploy/join"
            for home, binary in ((".inference", "inferenced"), (".dapi", "decentralized-api")):
                cosmovisor = join / home / "cosmovisor"
                (cosmovisor / "genesis/bin").mkdir(parents=True)
                (cosmovisor / "genesis/bin" / binary).write_bytes(
                    b"the release's " + binary.encode()
                )
                (cosmovisor / "current").symlink_to("genesis")
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


@pytest.fixture(scope="module")
def monitor(fleet):
    profile = load(fleet.profile_path)
    profile.set_value(
        ("alerts", "probe_interval_s"), 1.0
    )  # lines are counted where it matters, not seconds
    pool = Pool.for_profile(profile.model, system_known_hosts=False)
    mon = Monitor(profile.model, pool, latency_every=60)
    mon.start()
    try:
        yield mon
    finally:
        mon.stop()
        pool.close()


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def chains(mon):
    nodes = mon.snapshot().nodes
    return [nodes[n].chain for n in ("net-old", "net-new")]


def test_the_console_reads_the_same_chain_from_both_releases(fleet, monitor):
    assert wait_until(
        lambda: all(c is not None and c.api_version is not None for c in chains(monitor))
    ), "no chain state read"
    old, new = chains(monitor)
    for chain in (old, new):
        assert chain.in_epoch is True and chain.participant_weight, chain
        assert chain.epoch is not None and chain.phase and chain.blocks_to_poc is not None
        assert chain.inferences > 0 and chain.last_epoch_inferences > 0, chain
    assert type(old.participant_weight) is type(new.participant_weight) is int
    assert old.participant_weight == new.participant_weight
    # what each host runs, and the drift between them
    assert (old.api_version, old.ml_versions) == ("v0.2.14", None)  # not patched: no ML nodes
    assert (new.api_version, new.node_version) == ("v0.2.15-post5", "v0.2.15")
    assert new.ml_versions == (("ml-new", "3.0.16"),)
    state = monitor.snapshot()
    assert state.to_json()["summary"]["behind"] == [
        {"node": "net-old", "runs": "v0.2.14", "newest": "v0.2.15-post5"}
    ]
    profile = load(fleet.profile_path).model
    assert "behind: net-old runs v0.2.14 (v0.2.15-post5 elsewhere)" in render(state, profile)
    # the same alerts from both: none about the chain
    kinds = {(a.node, a.kind) for a in monitor.snapshot().alerts if a.node.startswith("net-")}
    assert kinds == set(), kinds


def misses(mon, node: str):
    return [a for a in mon.snapshot().alerts if a.node == node and a.kind == "inference_misses"]


def test_a_host_missing_30_percent_is_critical_and_5_percent_is_tolerated(fleet, monitor):
    fleet.inject("net-new", "inference-misses")
    try:
        assert wait_until(lambda: misses(monitor, "net-new"))
        (alert,) = misses(monitor, "net-new")
        assert alert.severity == "critical" and "missed 30% of inference requests" in (
            alert.summary
        ), alert
        chain = monitor.snapshot().nodes["net-new"].chain
        assert f"missed {chain.missed} of {chain.missed + chain.inferences} (30%)" in (
            alert.evidence
        ), alert
        assert "last epoch: missed" in alert.evidence  # the last epoch beside it (1 %)
        assert misses(monitor, "net-old") == []  # its host only
    finally:
        fleet.clear("net-new", "inference-misses")
    assert wait_until(lambda: not misses(monitor, "net-new"))
    fleet.inject("net-old", "inference-misses-low")
    try:
        assert wait_until(
            lambda: (
                (c := chains(monitor)[0]).missed
                and 0.04 <= c.missed / (c.missed + c.inferences) <= 0.06
            )
        )
        seen = monitor.snapshot().taken_at
        assert wait_until(lambda: monitor.snapshot().taken_at >= seen + 1.0)  # two intervals
        assert misses(monitor, "net-old") == []
    finally:
        fleet.clear("net-old", "inference-misses-low")


def test_a_confirmation_poc_holds_changes_on_its_cluster_only(fleet, monitor):
    from console.core.rows import epoch_clock
    from console.core.stacks import stack_of

    profile = load(fleet.profile_path).model
    gonka = stack_of(profile, "ml-new")
    fleet.inject("net-new", "cpoc-running")
    try:
        assert wait_until(lambda: chains(monitor)[1].confirmation_poc is True)
        state = monitor.snapshot()
        held = gonka.hold_changes(profile, state, "ml-new")
        assert held.startswith("a confirmation PoC runs on cluster new: a restart now"), held
        assert gonka.hold_changes(profile, state, "ml-old") is None  # the other cluster's
        clock = epoch_clock(state.nodes["net-new"]).plain
        assert clock.startswith("confirmation PoC runs: hold changes"), clock
    finally:
        fleet.clear("net-new", "cpoc-running")
    assert wait_until(lambda: chains(monitor)[1].confirmation_poc is False)


class PatchServer:
    """The patch's download, on a loopback address of its own (a node's 127.0.0.1 is its
    own): the binary, or, for the nodes named in `corrupt`, other bytes."""

    def __init__(self, good: bytes) -> None:
        import http.server
        import threading

        self.good, self.corrupt_next, self.asked = good, set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the library's name
                server.asked.append(self.path)
                body = server.good
                if len(server.asked) in server.corrupt_next:
                    body = server.good[:-7] + b"garbage"  # a broken mirror's answer
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        for last in range(2, 250):  # an address no simulated fleet's block uses
            try:
                self.httpd = http.server.ThreadingHTTPServer((f"127.250.{last}.1", 0), Handler)
                break
            except OSError:
                continue
        self.url = f"http://127.250.{self.httpd.server_address[0].split('.')[2]}.1:"
        self.url += f"{self.httpd.server_address[1]}/decentralized-api"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_an_api_hot_patch_goes_one_host_at_a_time_stops_at_a_bad_download_and_rolls_back(
    fleet, monitor, tmp_path
):
    import hashlib
    import os

    networks = ["net-old", "net-new"]  # the profile's order: the order they are patched in
    binary = b"\x7fELF decentralized-api v0.2.15-post7 " * 1000
    server = PatchServer(binary)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        '[patches."v0.2.15-post7"]\n'
        f'url = "{server.url}"\nsha256 = "{hashlib.sha256(binary).hexdigest()}"\n'
    )
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))

    def versions() -> dict[str, str | None]:
        chains_now = monitor.snapshot().nodes
        return {n: chains_now[n].chain.api_version for n in networks}

    profile = str(fleet.profile_path)
    upgrade = ("run", profile, "upgrade", "--to", "v0.2.15-post7", "--manifest", str(manifest))
    try:
        server.corrupt_next = {2}  # the second host's download comes back broken
        run = fleetdeck(env, *upgrade, "--yes")
        said = run.stdout + run.stderr
        assert run.returncode == 4, said
        assert "the download's sha256 is" in said and "the node stays on its version" in said
        # one host at a time, in order: the first patched and verified before the second began
        first, second = (said.index(f"{n} ") for n in networks)
        assert first < second and "the API answers v0.2.15-post7" in said, said
        assert wait_until(
            lambda: versions() == {"net-old": "v0.2.15-post7", "net-new": "v0.2.15-post5"}
        )
        new_dapi = fleet.nodes["net-new"].home / "gonka/deploy/join/.dapi/cosmovisor"
        assert os.readlink(new_dapi / "current") == "genesis"  # untouched
        assert not (new_dapi / "upgrades/v0.2.15-post7/bin/decentralized-api").exists()
        # run again: the first host has it (nothing to do), the second downloads it whole
        server.corrupt_next = set()
        again = fleetdeck(env, *upgrade, "--yes")
        assert again.returncode == 0, again.stdout + again.stderr
        assert wait_until(lambda: set(versions().values()) == {"v0.2.15-post7"})
        # an attempt cut after its relink left api stopped: running again starts it
        node = fleet.nodes["net-old"]
        access = NodeAccess(
            node.public_address, fleet.ssh.ports["net-old"], fleet.key_path, fleet.known_hosts_path
        )
        with access.connect() as client:
            assert on_node(client, "docker stop api")[0] == 0
        assert wait_until(lambda: api(fleet, "net-old", "/v1/versions").status_code == 502)
        restart = fleetdeck(env, *upgrade, "--yes")
        said = restart.stdout + restart.stderr
        assert restart.returncode == 0, said
        assert "current points to upgrades/v0.2.15-post7; start api" in said, said
        assert wait_until(lambda: set(versions().values()) == {"v0.2.15-post7"})
        # and back: each host's previous link again
        back = fleetdeck(env, "run", profile, "upgrade", "--rollback", "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
        assert wait_until(lambda: versions() == {"net-old": "v0.2.14", "net-new": "v0.2.15-post5"})
    finally:
        server.stop()


def test_a_chain_upgrade_passes_where_prepared_and_halts_where_not(fleet, monitor):
    """Last in this module: the new cluster's chain moves to v0.2.16 for good."""
    # net-new's operator prepared the upgrade's binary; net-old's did not
    prepared = fleet.nodes["net-new"].home / "gonka/deploy/join/.inference/cosmovisor"
    (prepared / "upgrades/v0.2.16/bin").mkdir(parents=True, exist_ok=True)
    (prepared / "upgrades/v0.2.16/bin/inferenced").write_bytes(b"v0.2.16's inferenced")

    def halted_alerts(node: str) -> list:
        return [
            a
            for a in monitor.snapshot().alerts
            if a.node == node and a.kind.startswith("chain_upgrade_halted")
        ]

    for name in ("net-old", "net-new"):
        fleet.inject(name, "chain-upgrade")
    try:
        old_chain = fleet.chains["old"]
        assert wait_until(lambda: old_chain.upgrade["outcome"] is not None, 60)
        assert old_chain.upgrade["outcome"] == "halted"
        lines: set = set()

        def alerted() -> bool:
            lines.add(monitor.snapshot().nodes["net-old"].probe_at)
            return bool(halted_alerts("net-old"))

        assert wait_until(alerted)
        assert len(lines) - 1 <= 3, sorted(lines)  # within two intervals of the halt
        (alert,) = halted_alerts("net-old")
        height = old_chain.upgrade["height"]
        assert alert.severity == "critical"
        assert (
            alert.summary
            == f"chain halted for the v0.2.16 upgrade at height {height}: no binary for it"
        )
        assert ".inference/cosmovisor/upgrades/v0.2.16/bin/inferenced is missing" in alert.evidence
        assert "docker start node" in alert.next_step
        # the prepared host passed the height on the new release, and says so
        assert wait_until(lambda: chains(monitor)[1].node_version == "v0.2.16", 60)
        assert fleet.chains["new"].upgrade["outcome"] == "upgraded"
        assert halted_alerts("net-new") == []
    finally:
        for name in ("net-old", "net-new"):
            fleet.clear(name, "chain-upgrade")
    assert wait_until(lambda: halted_alerts("net-old") == [])
