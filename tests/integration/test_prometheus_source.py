"""A fleet read from a real Prometheus (Debian's package, tests/harness/prometheus.py)
scraping simulated dcgm-exporters (console/sim/exporters.py: one per node, on its own
loopback port, in dcgm-exporter's format): the GKE seed's three clusters of 100 GPU nodes,
with no node in the profile and no SSH at all; one cluster's Kubernetes API beside it, a
fake one (tests/harness/kubeapi.py) speaking the real NodeList, since no kube-apiserver can
be installed here."""

from __future__ import annotations

import json
import os
import time

import pytest

from console.core.monitor.pipeline import live_status
from console.core.profile import load
from console.sim.exporters import Exporters, fleet
from tests.harness import prometheus
from tests.harness.cli import run as fleetdeck
from tests.harness.kubeapi import FakeKubeApi, gke_node, gke_pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not prometheus.available(), reason="prometheus is not installed"),
]
SCRAPE_S = 2.0
KUBE_TOKEN = "kube-token-7c2e"  # noqa: S105 - the fake API server's
CLUSTERS = {"us-central1": 100, "europe-west4": 100, "asia-southeast1": 100}


@pytest.fixture(scope="module")
def gke(tmp_path_factory):
    exporters = Exporters(fleet(CLUSTERS))
    exporters.start()
    targets: dict[str, list[int]] = {}
    for e in exporters.nodes.values():
        targets.setdefault(e.cluster, []).append(e.port)
    prom = prometheus.start(tmp_path_factory.mktemp("prom"), targets, SCRAPE_S)
    # Prometheus takes its targets in a few seconds: wait for every one's first scrape
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(prom.query("up == 1")) < 300:
        time.sleep(0.5)
    yield exporters, prom
    prom.stop()
    exporters.stop()


def write_profile(tmp_path, url: str):
    path = tmp_path / "gke.toml"
    path.write_text(
        '[fleet]\nname = "gke-inference"\nstack = "vllm"\n'
        "[[sources]]\n"
        f'name = "gke"\nkind = "prometheus"\nurl = "{url}"\nselector = \'job="dcgm"\'\n'
        f'cluster_label = "cluster"\nscrape_interval_s = {SCRAPE_S}\ngpus = 8\n'
        + "".join(f'[[clusters]]\nname = "{c}"\n' for c in CLUSTERS)
    )
    return path


def wait(monitor, predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = monitor.snapshot()
        if predicate(state):
            return state, time.monotonic()
        time.sleep(0.1)
    return monitor.snapshot(), None


def test_status_json_lists_300_gpu_nodes_from_prometheus_alone(gke, tmp_path):
    _, prom = gke
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    done = fleetdeck(env, "status", str(write_profile(tmp_path, prom.url)), "--json")
    assert done.returncode in (0, 2), done.stdout[-2000:] + done.stderr
    doc = json.loads(done.stdout)
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert len(nodes) == 300
    assert {n["cluster"] for n in nodes.values()} == set(CLUSTERS)
    one = nodes["europe-west4-gpu-42"]
    assert one["cluster"] == "europe-west4" and len(one["gpus"]) == 8
    assert one["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3" and one["gpus"][0]["temp_c"] > 0
    assert one["sources"]["gpus"]["source"] == "gke"
    assert one["sources"]["gpus"]["age_s"] < 3 * SCRAPE_S
    assert one["gpu_source"] == "dcgm-exporter via prometheus 'gke'"


async def test_the_console_shows_each_value_with_its_source_and_age(gke, tmp_path):
    """The console itself, live on the Prometheus-only profile: 300 rows, and a node's
    screen says where each of its values came from and how old it is."""
    from console.app.tui import FleetdeckApp
    from screens.node import NodeScreen
    from tests.harness.pilot import drawn, until

    _, prom = gke
    app = FleetdeckApp(load(write_profile(tmp_path, prom.url)), live=True)
    async with app.run_test(size=(160, 40)) as pilot:

        def all_rows():
            state = app.last_state
            return state is not None and sum(len(n.gpus) == 8 for n in state.nodes.values()) == 300

        assert await until(pilot, all_rows, 30)
        await drawn(pilot)
        await pilot.press("enter")
        opened = await until(pilot, lambda: isinstance(app.screen, NodeScreen), 5)
        assert opened, (app.screen, app.focused, app.screen.query_one("#nodes").row_count)
        screen = app.screen
        assert await until(pilot, lambda: screen.query_one("#node-sources").display, 5)
        line = str(screen.query_one("#node-sources").render())
        assert line.startswith("values: GPUs gke ") and " · Xids gke " in line
        assert " · containers — · system — · chain — · services —" in line
        age = int(line.split("GPUs gke ")[1].split("s")[0])
        assert 0 <= age <= 3 * SCRAPE_S
        assert "dcgm-exporter via prometheus 'gke'" in str(screen.query_one("#events").render())


def test_kubernetes_and_prometheus_read_the_same_nodes_each_its_part(gke, tmp_path):
    """A GKE cluster's nodes from its (fake) Kubernetes API and their GPUs from Prometheus:
    one row per node, its GPUs from one source and its Ready, cordon, allocatable GPUs and
    inference pods from the other; a NotReady node, one whose device plugin holds a GPU
    back, a pod in a crash loop and one whose image does not pull, each alerted."""
    _, prom = gke
    nodes = []
    for i in range(1, 101):
        state = {"ready": "False"} if i == 3 else {"allocatable": 7} if i == 4 else {}
        state = {"cordoned": True} if i == 5 else state
        nodes.append(gke_node(f"us-central1-gpu-{i}", "a3-high", 8, "nvidia-h100-80gb", **state))
    pods = [gke_pod(f"vllm-{i}", f"us-central1-gpu-{i}") for i in range(1, 101) if i != 6]
    pods[6] = gke_pod("vllm-8", "us-central1-gpu-8", crash=14)  # its model does not fit
    pods.append(gke_pod("vllm-6", "us-central1-gpu-6", pull=True))
    pods.append(gke_pod("other", "us-central1-gpu-9", namespace="kube-system"))
    api = FakeKubeApi(KUBE_TOKEN, nodes, pods).start()
    try:
        config = tmp_path / "kubeconfig"
        config.write_text(api.kubeconfig())
        path = write_profile(tmp_path, prom.url)
        path.write_text(
            path.read_text()
            + f'[[sources]]\nname = "gke-us"\nkind = "kubernetes"\nkubeconfig = "{config}"\n'
            'cluster = "us-central1"\ninterval_s = 2\nnamespaces = ["inference"]\n'
            'pod_selector = "app=vllm"\n'
        )
        monitor = live_status(load(path))
        monitor.start()
        try:

            def both(s):
                return len(s.nodes) == 300 and all(
                    n.kube is not None and len(n.gpus) == 8
                    for n in s.nodes.values()
                    if n.cluster == "us-central1"
                )

            state, at = wait(monitor, both, 20)
            assert at is not None
            three = state.nodes["us-central1-gpu-3"]
            assert three.source_of("gpus")[0] == "gke" and three.source_of("kube")[0] == "gke-us"
            assert three.kube.ready is False and three.kube.pool == "a3-high"
            kinds = {(a.node, a.kind): a for a in state.alerts}
            assert kinds[("us-central1-gpu-3", "kube_not_ready")].severity == "critical"
            short = kinds[("us-central1-gpu-4", "kube_gpus_unallocatable")]
            assert short.summary == "Kubernetes offers 7 of 8 GPUs"
            assert kinds[("us-central1-gpu-5", "kube_cordoned")].severity == "info"
            # the inference pods are the nodes' containers: a crash loop, an image not pulled
            eight = state.nodes["us-central1-gpu-8"]
            assert eight.pods and [c.name for c in eight.containers] == ["vllm-8/vllm"]
            assert eight.source_of("containers")[0] == "gke-us"
            loop = kinds[("us-central1-gpu-8", "container_restarting:vllm-8/vllm")]
            assert loop.severity == "critical" and loop.evidence == "14 restarts, last exit code 1"
            pull = kinds[("us-central1-gpu-6", "container_waiting:vllm-6/vllm")]
            assert pull.summary == "container vllm-6/vllm is waiting: ImagePullBackOff"
            assert [c.name for c in state.nodes["us-central1-gpu-9"].containers] == ["vllm-9/vllm"]
            assert not any(a.kind.startswith("container_missing") for a in state.alerts)
            assert state.nodes["europe-west4-gpu-1"].kube is None  # no source says it
        finally:
            monitor.stop()
    finally:
        api.stop()


def test_xid_heat_a_dead_exporter_and_a_dead_prometheus(gke, tmp_path):
    exporters, prom = gke
    monitor = live_status(load(write_profile(tmp_path, prom.url)))
    monitor.start()
    try:
        state, _ = wait(
            monitor,
            lambda s: len(s.nodes) == 300 and all(len(n.gpus) == 8 for n in s.nodes.values()),
            20,
        )
        assert len(state.nodes) == 300
        assert monitor.complete()
        assert [a for a in state.alerts if a.severity == "critical"] == []
        assert {state.condition(n) for n in state.nodes.values()} == {"up"}

        exporters.xid("us-central1-gpu-7", 3, 79)  # GPU 3 falls off the bus
        exporters.hot("asia-southeast1-gpu-9")
        exporters.kill("europe-west4-gpu-5")
        killed = time.monotonic()
        dead = "europe-west4-gpu-5"
        state, at = wait(monitor, lambda s: s.condition(s.nodes[dead]) == "stale", 15)
        assert at is not None, state.nodes[dead]
        # within two scrape intervals, the tracker's own second of slack, and however late
        # this loaded machine ran the monitor (its heartbeat measures that) and Prometheus
        slack = 1.0 + max(1.0, monitor.console_lag(time.time()))
        assert at - killed <= 2 * SCRAPE_S + slack, f"stale after {at - killed:.1f} s"
        # why, once Prometheus's own scrape of the dead exporter has failed (on a loaded
        # machine the values' age can say "stale" a scrape before Prometheus says up == 0)
        said = "does not answer Prometheus 'gke' (up == 0)"
        state, at = wait(monitor, lambda s: said in (s.nodes[dead].error or ""), 15)
        assert at is not None, state.nodes[dead].error
        assert state.condition(state.nodes[dead]) == "stale"
        assert len(state.nodes[dead].gpus) == 8  # its last values stay, marked stale

        def alerted(s):
            kinds = {(a.node, a.kind) for a in s.alerts}
            return {
                ("us-central1-gpu-7", "gpu_lost"),
                ("asia-southeast1-gpu-9", "gpu_hot"),
            } <= kinds

        state, at = wait(monitor, alerted, 15)
        assert at is not None, [(a.node, a.kind) for a in state.alerts]
        lost = next(a for a in state.alerts if a.kind == "gpu_lost")
        assert lost.summary == "GPU 3 is lost (fell off the bus)" and "Xid 79" in lost.evidence
        hot = next(a for a in state.alerts if a.kind == "gpu_hot")
        assert hot.severity == "critical" and "92 °C" in hot.summary
        assert state.condition(state.nodes["us-central1-gpu-1"]) == "up"

        prom.stop()  # the source itself goes down: one message, not 300 red nodes
        state, at = wait(monitor, lambda s: any("source_down" in a.kind for a in s.alerts), 15)
        assert at is not None
        time.sleep(3 * SCRAPE_S)  # long past the nodes' staleness
        state = monitor.snapshot()
        down = [a for a in state.alerts if a.kind.startswith("source_down")]
        assert len(down) == 1
        assert down[0].summary == (
            "status source 'gke' does not answer: 300 nodes' values are old, not the nodes down"
        )
        # no node is called down for it (the one whose exporter died before stays so)
        assert [a.node for a in state.alerts if a.kind == "unreachable"] == [dead]
        assert {state.condition(n) for n in state.nodes.values()} == {"stale"}
    finally:
        monitor.stop()
