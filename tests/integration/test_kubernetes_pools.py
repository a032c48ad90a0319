"""`fleetdeck pools` against a fake Kubernetes API server (tests/harness/kubeapi.py: no real
kube-apiserver can be installed here) speaking the real NodeList: the GKE seed's three
clusters of 100 GPU nodes as three pools, read in pages, grouped by node pool with GPUs
allocatable against capacity, NotReady and cordoned nodes named."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.harness.cli import run as fleetdeck
from tests.harness.kubeapi import FakeKubeApi, gke_node
from tests.harness.tlscerts import make_ca

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "kube-token-5e1c9a"  # noqa: S105 - the fake server's


@pytest.fixture
def kube():
    nodes = []
    for pool, accel in (("a3-mega", "nvidia-h100-mega-80gb"), ("a3-high", "nvidia-h100-80gb"),
                        ("g2-l4", "nvidia-l4")):  # fmt: skip
        for i in range(100):
            state = {}
            if pool == "a3-high" and i == 7:
                state = {"ready": "Unknown"}  # its kubelet stopped reporting
            if pool == "a3-high" and i == 8:
                state = {"allocatable": 7}  # a GPU the device plugin no longer offers
            if pool == "g2-l4" and i in (3, 4):
                state = {"cordoned": True}
            gpus = 1 if pool == "g2-l4" else 8
            nodes.append(gke_node(f"gke-fleet-{pool}-{i:03d}", pool, gpus, accel, **state))
    api = FakeKubeApi(TOKEN, nodes).start()
    yield api
    api.stop()


def profile(tmp_path, kubeconfig: str) -> str:
    path = tmp_path / "gke.toml"
    path.write_text(
        '[fleet]\nname = "gke-fleet"\nstack = "vllm"\n'
        "[[sources]]\n"
        f'name = "gke-us"\nkind = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
        '[[clusters]]\nname = "us"\n'
    )
    return str(path)


def test_the_node_pools_with_gpus_and_the_nodes_that_need_someone(kube, tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text(kube.kubeconfig())
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    done = fleetdeck(env, "pools", profile(tmp_path, str(config)))
    out = done.stdout
    assert done.returncode == 4, out + done.stderr  # a node is NotReady
    assert "gke-us (context gke_proj_us-central1_fleet): 3 pools, 300 nodes" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    assert rows["a3-high"][1:5] == ["100", "99", "0", "799/800"]  # nodes, ready, cordoned
    assert rows["a3-mega"][1:5] == ["100", "100", "0", "800/800"]
    assert rows["g2-l4"][1:5] == ["100", "100", "2", "100/100"]
    assert "✕ gke-fleet-a3-high-007  NotReady: NodeStatusUnknown: Kubelet stopped posting" in out
    assert "~ gke-fleet-g2-l4-003  cordoned (unschedulable)" in out
    assert "799/800 ! nvidia-h100-80gb" in out  # fewer GPUs allocatable than there are
    # read in pages: the server gives 120 a page, the client follows `continue`
    pages = [r for r in kube.requests if r.startswith("/api/v1/nodes")]
    assert len(pages) == 3 and "continue=120" in pages[1] and "continue=240" in pages[2]
    as_json = json.loads(fleetdeck(env, "pools", profile(tmp_path, str(config)), "--json").stdout)
    [pool] = [p for p in as_json["sources"][0]["pools"] if p["pool"] == "a3-high"]
    assert pool["not_ready"][0]["node"] == "gke-fleet-a3-high-007"
    assert (pool["gpus_capacity"], pool["gpus_allocatable"]) == (800, 799)


def test_a_wrong_token_or_an_exec_plugin_is_said_not_a_traceback(kube, tmp_path):
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    config = tmp_path / "kubeconfig"
    config.write_text(kube.kubeconfig().replace(TOKEN, "wrong"))
    done = fleetdeck(env, "pools", profile(tmp_path, str(config)))
    assert done.returncode == 4 and "nodes: HTTP 401 Unauthorized" in done.stdout
    config.write_text(
        kube.kubeconfig().replace(
            f"    token: {TOKEN}\n",
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
            "      command: gke-gcloud-auth-plugin\n",
        )
    )
    done = fleetdeck(env, "pools", profile(tmp_path, str(config)))
    assert done.returncode == 4
    assert "authenticates with gke-gcloud-auth-plugin" in done.stdout
    assert "service account's token" in done.stdout
    # a YAML error on the token's line: where, and what, but never the line itself
    config.write_text(kube.kubeconfig().replace(f"token: {TOKEN}", f"token: {TOKEN}: [x"))
    done = fleetdeck(env, "pools", profile(tmp_path, str(config)))
    said = done.stdout + done.stderr
    assert done.returncode == 4 and f"{config}:11:" in said and "not a kubeconfig (YAML" in said
    assert TOKEN not in said and "Traceback" not in said


@pytest.mark.parametrize(
    "signum",
    [None, signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
    ids=["answered", "SIGINT", "SIGTERM", "SIGKILL"],
)
def test_a_client_certificate_key_is_never_written_to_disk(tmp_path, tmp_path_factory, signum):
    """A kubeconfig with a client certificate: the API answers over TLS that requires it,
    and the key is on no disk while `pools` waits on the API, nor after it ends, however
    it ends (answered, Ctrl-C, SIGTERM, SIGKILL)."""
    hold = threading.Event()
    api = FakeKubeApi(
        TOKEN,
        [gke_node(f"gke-fleet-a3-{i}", "a3-high", 8, "nvidia-h100-80gb") for i in range(3)],
        tls=make_ca(),
        hold=hold,
    ).start()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    config = tmp_path / "kubeconfig"
    config.write_text(api.kubeconfig())
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), TMPDIR=str(scratch))
    key_line = api.tls.client.key.splitlines()[1]  # a line of the key's base64 body

    started = time.time() - 1
    # the other tests' folders (their dockerd layers, simulated fleets) are not this test's
    # to read: walking them under load outlasted the client's read timeout once
    others = tmp_path_factory.getbasetemp()
    others = others.parent if others.name.startswith("popen-gw") else others

    def key_files() -> list[Path]:
        """Files written since the test started that hold the key: read while the API holds
        its answer, so only the new ones are read (all of a busy /tmp outlasted the wait)."""
        found = []
        tmp = Path(tempfile.gettempdir())
        for root in (scratch, tmp, tmp_path / "state"):
            # os.walk skips what other tests remove meanwhile (rglob raised on a vanished dir)
            for folder, subfolders, files in os.walk(root):
                # a key written past TMPDIR lands in /tmp or a folder tempfile made there: two
                # levels of it are read, not every other run's trees (too slow under load)
                deep = root == tmp and len(Path(folder).relative_to(tmp).parts) >= 1
                subfolders[:] = [d for d in subfolders if Path(folder) / d != others and not deep]
                for path in (Path(folder) / f for f in files):
                    with contextlib.suppress(OSError):
                        new = path.is_file() and path.stat().st_mtime >= started
                        if new and key_line in path.read_bytes():
                            found.append(path)
        return found

    pools = subprocess.Popen(
        [sys.executable, "-m", "console.app.cli", "pools", profile(tmp_path, str(config))],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not api.requests and time.monotonic() < deadline:  # it waits on the API now
            time.sleep(0.05)
        assert api.requests, "pools never reached the API"
        assert key_files() == [] and list(scratch.iterdir()) == []
        if signum is not None:
            pools.send_signal(signum)
        hold.set()
        out, err = pools.communicate(timeout=60)
    finally:
        hold.set()
        if pools.poll() is None:
            pools.kill()
        api.stop()
    if signum is None:  # answered over TLS with the client certificate
        assert "gke-us (context gke_proj_us-central1_fleet): 1 pools, 3 nodes" in out, out + err
    assert "Traceback" not in err
    assert key_files() == [] and list(scratch.iterdir()) == []


def test_gaudi_and_amd_pools_count_their_own_resources(tmp_path):
    """`habana.ai/gaudi` and `amd.com/gpu` allocatable against capacity, as `nvidia.com/gpu`;
    an AMD device the exporter's health check labels unhealthy is named on its node."""
    unhealthy = {"metricsexporter.amd.com.gpu.3.state": "unhealthy"}
    nodes = [
        gke_node("gaudi-0", "gaudi3", 8, "", resource="habana.ai/gaudi"),
        gke_node("gaudi-1", "gaudi3", 8, "", resource="habana.ai/gaudi", allocatable=7),
        gke_node("mi300x-0", "mi300x", 8, "", resource="amd.com/gpu", labels=unhealthy),
    ]
    api = FakeKubeApi(TOKEN, nodes).start()
    try:
        config = tmp_path / "kubeconfig"
        config.write_text(api.kubeconfig())
        env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
        done = fleetdeck(env, "pools", profile(tmp_path, str(config)), "--json")
        pools = {p["pool"]: p for p in json.loads(done.stdout)["sources"][0]["pools"]}
        assert (pools["gaudi3"]["gpus_allocatable"], pools["gaudi3"]["gpus_capacity"]) == (15, 16)
        assert (pools["mi300x"]["gpus_allocatable"], pools["mi300x"]["gpus_capacity"]) == (8, 8)
    finally:
        api.stop()


def test_the_alerts_speak_the_device_plugins_vendor():
    from console.core.monitor.alerts import evaluate
    from console.core.profile.schema import AlertsSection
    from console.core.sources.kubernetes import node_of
    from console.core.state import Kube, NodeStatus

    def alerts(item: dict) -> dict:
        k = node_of(item, "cloud.google.com/gke-nodepool")
        kube = Kube(**{f: getattr(k, f) for f in Kube.__dataclass_fields__})
        node = NodeStatus(k.name, "c", "server", "vllm", reachable=True, seen_at=1.0, kube=kube)
        return {f.kind: f for f in evaluate(node, AlertsSection(), 1.0, 2.0)}

    gaudi = alerts(gke_node("g", "p", 8, "", resource="habana.ai/gaudi", allocatable=7))
    held = gaudi["kube_gpus_unallocatable"]
    assert held.summary == "Kubernetes offers 7 of 8 HPUs" and "habana.ai/gaudi" in held.evidence
    assert "habanalabs device plugin" in held.next_step
    amd = alerts(
        gke_node(
            "a", "p", 8, "", resource="amd.com/gpu",
            labels={"metricsexporter.amd.com.gpu.3.state": "unhealthy"},
        )
    )  # fmt: skip
    sick = amd["kube_device_unhealthy"]
    assert sick.summary == "AMD GPU 3 unhealthy" and sick.severity == "critical"
    assert "metricsexporter.amd.com.gpu.3.state=unhealthy" in sick.evidence
    assert "kube_gpus_unallocatable" not in amd
