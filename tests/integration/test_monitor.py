"""Live status of a simulated fleet: the probe, the collectors, staleness and alerts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.monitor.monitor import Monitor
from console.core.profile import load
from console.core.profile.schema import SshSource, StackMetricsSource
from console.core.transport.ssh import Pool
from console.sim.fleet import SimFleet
from tests.harness.simclient import small_sim_fleet

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
INTERVAL = 0.5


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with small_sim_fleet(tmp_path_factory.mktemp("monitor-sim")) as sim:
        yield sim


def simulated_profile(sim: SimFleet):
    profile = load(sim.profile_path)
    profile.set_value(("alerts", "probe_interval_s"), INTERVAL)
    profile.set_value(("alerts", "chain_stall_s"), 2.0)
    profile.set_value(("alerts", "inference_p95_s"), 2.0)
    return profile.model


@pytest.fixture
def monitor(fleet, monkeypatch):
    from console.core.monitor import ssh_source as module

    # the dear readings (df: the disk-full fault) every 2 intervals, not every 5 s: quicker
    monkeypatch.setattr(module, "SLOW_INTERVALS", 2)
    monkeypatch.setattr(module, "SLOW_MIN_S", 1.0)
    forget_kernel_log(fleet)
    model = simulated_profile(fleet)
    pool = Pool.for_profile(model, system_known_hosts=False)
    mon = Monitor(model, pool, latency_every=0.5)
    mon.start()
    assert mon.wait_complete(20)
    yield mon
    mon.stop()
    pool.close()


def forget_kernel_log(fleet):
    # an earlier test's Xids stay in the nodes' kernel logs, which a new probe reads
    for node in fleet.nodes.values():
        (node.home / ".sim" / "kmsg").unlink(missing_ok=True)


def wait_until(predicate, timeout=20.0):  # generous: CI machines are slow and shared
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def kinds(mon, node):
    return {a.kind.split(":")[0] for a in mon.snapshot().alerts if a.node == node}


def test_status_json_reports_the_simulated_state(fleet):
    """`fleetdeck status --json`: GPUs (over pynvml, and over nvidia-smi where NVML is
    missing), containers and chain values match what the simulator holds."""
    nvml = fleet.nodes["ml2"].home / "lib" / "libnvidia-ml.so.1"
    target = nvml.resolve()
    nvml.unlink()  # ml2 has no NVML library: the probe falls back to nvidia-smi
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "console.app.cli", "status", "--json", str(fleet.profile_path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
    finally:
        nvml.symlink_to(target)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == 1 and doc["summary"] == {
        "nodes": 4,
        "reachable": 4,
        "critical": 0,
        "warning": 0,
        "versions": {"net": "v0.2.14"},  # each host's API, as /v1/versions says
        "behind": [],
    }
    nodes = {n["name"]: n for n in doc["nodes"]}
    for name, node in fleet.nodes.items():
        got = nodes[name]
        assert got["reachable"] and not got["stale"]
        sim_gpus = node.gpu_snapshot().gpus
        assert [g["uuid"] for g in got["gpus"]] == [g.uuid for g in sim_gpus]
        assert [g["name"] for g in got["gpus"]] == [g.name for g in sim_gpus]
        assert [g["mem_total_mib"] for g in got["gpus"]] == [g.memory_total_mib for g in sim_gpus]
        assert all(0 <= g["util"] <= 100 and 20 < g["temp_c"] < 95 for g in got["gpus"])
        assert got["gpu_source"] == ("nvidia-smi" if name == "ml2" else "nvml")
        assert {c["name"]: c["state"] for c in got["containers"]} == {
            c.name: c.state for c in node.containers.snapshot()
        }
        assert got["system"]["hostname"] == name
    chain = nodes["net"]["chain"]
    assert abs(chain["height"] - fleet.chains["c1"].height()) <= 25
    assert chain["peers"] == 4 and chain["validator_in_set"] is True
    assert chain["phase"] in (
        "PoCGenerate",
        "PoCGenerateWindDown",
        "PoCValidate",
        "PoCValidateWindDown",
        "Inference",
    )
    assert {m["id"] for m in chain["ml_nodes"]} == {"ml1", "ml2"}
    services = {s["name"]: s["ok"] for s in nodes["ml1"]["services"]}
    assert services["ml node"] and services["inference"]


@pytest.mark.parametrize("kind", ["host-down", "host-hung"])
def test_a_dead_node_goes_stale_and_never_holds_up_the_others(fleet, monitor, kind):
    before = monitor.snapshot().nodes["ml2"]
    assert before.reachable and before.gpus
    fleet.inject("ml2", kind)
    try:
        assert wait_until(lambda: not monitor.snapshot().nodes["ml2"].reachable, 2 * INTERVAL + 3)
        state = monitor.snapshot()
        dead = state.nodes["ml2"]
        assert dead.gpus == before.gpus or len(dead.gpus) == len(before.gpus)  # kept
        assert dead.seen_at is not None and dead.age(state.taken_at) > 0
        assert "unreachable" in kinds(monitor, "ml2")
        # every other node kept updating: each has a line taken after the dead one was
        # called down (waited on, not slept: a loaded machine delays lines, not streams)
        detected = time.time()

        def others_fresh() -> bool:
            nodes = monitor.snapshot().nodes
            return all(n.seen_at > detected and n.reachable for k, n in nodes.items() if k != "ml2")

        assert wait_until(others_fresh, 4 * INTERVAL + 3), {
            k: (round(detected - (n.seen_at or 0), 2), n.reachable)
            for k, n in monitor.snapshot().nodes.items()
        }
    finally:
        fleet.clear("ml2", kind)
    assert wait_until(lambda: monitor.snapshot().nodes["ml2"].reachable, 20)
    assert "unreachable" not in kinds(monitor, "ml2")


ALERTS = {  # fault kind: (node, alert kind it raises)
    "gpu-hot": ("ml1", "gpu_hot"),
    "gpu-xid79": ("ml1", "gpu_lost"),
    "gpu-ecc": ("ml1", "gpu_ecc"),
    "crash-loop": ("ml1", "container_restarting"),
    "slow-link": ("ml1", "slow_link"),
    "unhealthy": ("ml1", "container_unhealthy"),
    "chain-stalled": ("net", "chain_stalled"),
    "catching-up": ("net", "chain_catching_up"),
    "no-peers": ("net", "chain_no_peers"),
    "jailed": ("net", "validator_not_in_set"),
    "disk-full": ("prov1", "disk_full"),
    "inference-slow": ("prov1", "service_slow"),
    "inference-503": ("ml1", "service_down"),
    "ports-public": ("ml1", "port_public"),
    "cpu-fallback": ("prov1", "gpu_fallback"),
}


@pytest.mark.parametrize("fault", list(ALERTS))
def test_each_fault_raises_its_alert_and_clearing_clears_it(fleet, monitor, fault):
    node, alert = ALERTS[fault]
    assert alert not in kinds(monitor, node)
    fleet.inject(node, fault)
    try:
        assert wait_until(lambda: alert in kinds(monitor, node)), kinds(monitor, node)
        found = next(a for a in monitor.snapshot().alerts if a.kind.startswith(alert))
        assert found.evidence and found.next_step and found.since <= time.time()
    finally:
        fleet.clear(node, fault)
    assert wait_until(lambda: alert not in kinds(monitor, node)), kinds(monitor, node)


def test_one_fault_is_one_alert_with_its_xid_in_words(fleet, monitor):
    fleet.inject("ml1", "gpu-ecc")  # uncorrectable ECC comes with Xid 48
    try:
        assert wait_until(lambda: "gpu_ecc" in kinds(monitor, "ml1"))
        time.sleep(2 * INTERVAL)
        mine = [a for a in monitor.snapshot().alerts if a.node == "ml1"]
        (ecc,) = mine  # the Xid explains the ECC alert: said there, not as a second alert
        assert ecc.kind == "gpu_ecc:0" and ecc.severity == "critical"
        assert re.search(r"; Xid 48 at \d\d:\d\d:\d\d", ecc.evidence), ecc.evidence
    finally:
        fleet.clear("ml1", "gpu-ecc")
    fleet.inject("ml1", "gpu-xid79")
    try:
        assert wait_until(lambda: "gpu_lost" in kinds(monitor, "ml1"))
        time.sleep(2 * INTERVAL)
        # (the Xid 48 of the ECC fault above stays on record for ten minutes)
        mine = [a for a in monitor.snapshot().alerts if a.node == "ml1" and a.kind != "xid:48"]
        (lost,) = mine  # not also "7 of 8 visible", not also an Xid 79 alert
        assert lost.summary == "GPU 0 is lost (fell off the bus)"
        assert "None" not in lost.evidence and "?" not in lost.summary
        assert re.search(r"Xid 79 at \d\d:\d\d:\d\d", lost.evidence), lost.evidence
    finally:
        fleet.clear("ml1", "gpu-xid79")


def test_a_slow_link_is_slow_but_up(fleet, monitor):
    fleet.inject("ml2", "slow-link")
    try:
        time.sleep(3 * INTERVAL)
        assert monitor.snapshot().nodes["ml2"].reachable
        assert "unreachable" not in kinds(monitor, "ml2")
    finally:
        fleet.clear("ml2", "slow-link")


def test_host_keys_unknown_refused_changed_alerted(fleet, tmp_path):
    profile = load(fleet.profile_path)
    empty = tmp_path / "known_hosts"
    profile.set_value(("ssh", "known_hosts"), str(empty))
    path = tmp_path / "p.toml"
    profile.save(path)
    cli = [sys.executable, "-m", "console.app.cli", "status", "--json", str(path)]
    refused = json.loads(
        subprocess.run(cli, capture_output=True, text=True, cwd=REPO, timeout=120).stdout
    )
    assert refused["summary"]["reachable"] == 0
    assert all("unknown host key" in n["error"] for n in refused["nodes"])
    assert not empty.exists()

    accepted = subprocess.run(
        cli + ["--accept-new-host-keys"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert json.loads(accepted.stdout)["summary"]["reachable"] == 4
    assert len(empty.read_text().splitlines()) == 4

    # now one node's key "changes": its recorded key is replaced by another one's
    lines = empty.read_text().splitlines()
    forged = [lines[0].split()[0] + " " + " ".join(lines[1].split()[1:])] + lines[1:]
    empty.write_text("\n".join(forged) + "\n")
    changed = subprocess.run(
        cli + ["--accept-new-host-keys"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert changed.returncode == 2
    doc = json.loads(changed.stdout)
    bad = [a for a in doc["alerts"] if a["kind"] == "host_key_changed"]
    assert len(bad) == 1 and bad[0]["severity"] == "critical"
    assert empty.read_text() == "\n".join(forged) + "\n"  # a changed key is never rewritten


def test_xids_from_before_the_console_started_are_read_from_the_kernel_log(fleet):
    # NVML tells a probe only the events that happen while it listens; an Xid 79 at 03:12
    # must still be on the card when the on-call opens the console at 03:15
    forget_kernel_log(fleet)
    fleet.inject("ml2", "gpu-ecc")  # Xid 48 on GPU 0, which stays visible
    fleet.inject("ml2", "gpu-xid79")  # and GPU 0 falls off the bus: no tool names its index
    before = time.time()
    model = simulated_profile(fleet)
    pool = Pool.for_profile(model, system_known_hosts=False)
    mon = Monitor(model, pool, latency_every=0.5)
    try:
        time.sleep(1.0)
        mon.start()
        assert mon.wait_complete(20)
        assert wait_until(lambda: len(mon.snapshot().nodes["ml2"].events) >= 2)
        events = mon.snapshot().nodes["ml2"].events
        assert sorted((gpu, xid, v) for _, gpu, xid, v in events) == [
            (0, 48, "nvidia"),
            (0, 79, "nvidia"),
        ], events
        assert all(before - 5 < t < before + 1 for t, *_ in events), (before, events)
        lost = next(a for a in mon.snapshot().alerts if a.node == "ml2" and a.kind == "gpu_lost")
        assert re.search(r"Xid 79 at \d\d:\d\d:\d\d", lost.evidence), lost.evidence
        # a probe that reconnects reads the kernel log again: each event is still there once
        mon.stop()
        mon = Monitor(model, pool, latency_every=0.5)
        mon.start()
        assert mon.wait_complete(20)
        time.sleep(3 * INTERVAL)
        assert len(mon.snapshot().nodes["ml2"].events) == 2
    finally:
        mon.stop()
        pool.close()
        fleet.clear("ml2", "gpu-xid79")
        fleet.clear("ml2", "gpu-ecc")
        forget_kernel_log(fleet)


def test_the_collectors_keep_their_connections_open(monitor):
    # a new forwarded channel per request was most of the console's CPU (issue 18): the
    # HTTP clients are kept across rounds, each connection an SSH channel held open, and
    # no local port is opened for them
    time.sleep(10 * INTERVAL)  # ten collection rounds: a channel per request would be 30+
    clients, channels = monitor.http_channels()
    assert clients > 0 and channels > 0
    endpoints = 6  # chain RPC, public API, admin API, ML node, inference, latency at most
    assert channels <= endpoints * clients, (clients, channels)
    assert monitor.pool.forward_channels() == (0, 0)
    # and the values stay fresh
    state = monitor.snapshot()
    chains = [n for n in state.nodes.values() if n.chain_at is not None]
    assert chains and all(state.taken_at - n.chain_at < 3 * INTERVAL for n in chains)


def test_the_chain_is_read_whole_every_few_rounds_and_only_its_block_between(monitor, monkeypatch):
    """A network node's peers, validator set, participants and admin view change slowly:
    read whole every FULL_EVERY_S (here five intervals: 2.5 s), and between, only the
    block and the epoch; the values shown stay whole and fresh throughout."""
    from console.core.stacks import gonka_status

    real, reads = gonka_status.read_chain, []

    def recorded(http, *args, kept=None, **kwargs):
        reads.append((time.monotonic(), kept is None))
        return real(http, *args, kept=kept, **kwargs)

    monkeypatch.setattr(gonka_status, "read_chain", recorded)
    assert wait_until(lambda: sum(whole for _, whole in reads) >= 2)
    whole_at = [at for at, whole in reads if whole]
    between = [
        sum(1 for at, whole in reads if a < at < b and not whole)
        for a, b in zip(whole_at, whole_at[1:], strict=False)
    ]
    assert all(b - a >= 2.5 - INTERVAL for a, b in zip(whole_at, whole_at[1:], strict=False))
    assert between and all(n >= 1 for n in between), between  # rounds slow under load
    net = monitor.snapshot().nodes["net"]
    assert net.chain is not None and net.chain.peers is not None and net.chain.epoch is not None
    assert time.time() - net.chain_at < 3 * INTERVAL


def test_a_node_written_into_the_profile_is_watched_without_a_restart(fleet):
    """A provision run writes machines into the profile while the console runs: the
    monitor takes each one as it joins (its own probe stream), the others go on."""
    forget_kernel_log(fleet)
    profile = load(fleet.profile_path)
    profile.set_value(("alerts", "probe_interval_s"), INTERVAL)
    full = profile.model
    profile.remove_node("ml2")
    pool = Pool.for_profile(profile.model, system_known_hosts=False)
    mon = Monitor(profile.model, pool, collect_http=False)
    mon.start()
    try:
        assert mon.wait_complete(20)
        assert "ml2" not in mon.snapshot().nodes
        assert mon.grow(full) == ["ml2"]
        assert mon.grow(full) == []  # once
        assert wait_until(lambda: mon.snapshot().nodes["ml2"].reachable)
        joined = mon.snapshot().nodes["ml2"]
        assert joined.cluster == "c1" and joined.gpus
        assert all(n.reachable for n in mon.snapshot().nodes.values())
    finally:
        mon.stop()
        pool.close()


def test_a_model_on_the_cpu_is_critical_within_two_probe_intervals(fleet, monitor):
    """Ollama's /api/ps says how much of a model sits in GPU memory: a provider whose model
    fell back to the CPU is said within two intervals, with those sizes and the next step."""
    assert "gpu_fallback" not in kinds(monitor, "prov1")
    fleet.inject("prov1", "cpu-fallback")
    injected = time.monotonic()
    try:
        assert wait_until(lambda: "gpu_fallback" in kinds(monitor, "prov1"), 10)
        took = time.monotonic() - injected
        alert = next(a for a in monitor.snapshot().alerts if a.kind.startswith("gpu_fallback"))
        # two intervals, and slack for a loaded machine (the suite runs two workers)
        assert took <= 2 * INTERVAL + 1.5, f"{took:.2f} s"
        assert alert.severity == "critical"
        assert re.search(r"\d+ % on the CPU \([\d.]+ of [\d.]+ GB in GPU memory\)", alert.evidence)
        assert "nvidia-smi" in alert.next_step
    finally:
        fleet.clear("prov1", "cpu-fallback")


def test_the_network_nodes_mlnode_metrics_alone_fill_its_ml_nodes_gpus(fleet):
    """Gonka's /v1/mlnodes/metrics, one GET on the network node (over its SSH connection),
    fills ml1's and ml2's GPU rows with no SSH to either; `mlnode_up == 0` is that ML node
    down; an Xid counted there is an alert on the ML node it names."""
    forget_kernel_log(fleet)
    model = simulated_profile(fleet).model_copy(
        update={
            "sources": [
                StackMetricsSource(name="mlnode-metrics", kind="gonka-metrics", interval_s=0.5),
                SshSource(name="ssh", kind="ssh", roles=["network", "provider"]),
            ]
        }
    )
    pool = Pool.for_profile(model, system_known_hosts=False)
    mon = Monitor(model, pool, latency_every=0.5)
    mon.start()
    try:

        def filled():
            nodes = mon.tracker.nodes()
            return [len(nodes["ml1"].gpus), len(nodes["ml2"].gpus)] == [8, 4]

        assert wait_until(filled), mon.tracker.node("ml1")
        assert mon.wait_complete(20)
        state = mon.snapshot()
        ml1 = state.nodes["ml1"]
        sim = fleet.nodes["ml1"].gpu_snapshot()
        assert [g.index for g in ml1.gpus] == list(range(8))
        assert all(
            abs(g.temp_c - s.temperature) <= 14 for g, s in zip(ml1.gpus, sim.gpus, strict=True)
        )
        assert ml1.source_of("gpus")[0] == "mlnode-metrics"
        assert ml1.gpu_source == "net/v1/mlnodes/metrics"
        assert state.condition(ml1) == "up"
        assert pool.connected() == {"net", "prov1"}  # never an SSH session to an ML node

        fleet.inject("ml2", "gpu-xid79")
        fleet.inject("ml1", "unhealthy")
        try:
            assert wait_until(lambda: mon.snapshot().condition(mon.tracker.node("ml1")) == "down")
            state = mon.snapshot()
            [down] = [a for a in state.alerts if a.node == "ml1"]
            assert down.summary == "node reported down"
            assert "net/v1/mlnodes/metrics says it is down (up == 0)" in down.evidence
            assert wait_until(lambda: {"gpu_missing", "xid"} <= kinds(mon, "ml2"))
            xid = next(a for a in mon.snapshot().alerts if a.kind == "xid:79")
            assert xid.node == "ml2" and "GPU 0" in xid.summary
        finally:
            fleet.clear("ml1")
            fleet.clear("ml2")
        assert wait_until(lambda: mon.snapshot().condition(mon.tracker.node("ml1")) == "up")
        assert pool.connected() == {"net", "prov1"}
    finally:
        mon.stop()
        pool.close()
