"""Each vendor's exporter read through a real Prometheus (Debian's package): simulated
dcgm-exporter, Gaudi metric exporter and AMD device metrics exporters (with and without its
`amd_` prefix, console/sim/exporters.py) scraped by it, and `fleetdeck status --json`
showing every device with its vendor, model, source and age, and an AMD GPU's fatal AFID
error as a critical alert (issue 30). The Gaudi exporter
answers 429 when scraped more often than every 5 s, as the real one does: scraped at 6 s
its cards are read; a second one scraped every 2 s is refused half the time."""

from __future__ import annotations

import json
import os
import time

import pytest

from console.sim.exporters import Exporter, Exporters
from tests.harness import prometheus
from tests.harness.cli import run as fleetdeck

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not prometheus.available(), reason="prometheus is not installed"),
]
SCRAPE_S = 6.0  # the Gaudi exporter allows one scrape per 5 s
NODES = {  # node: (gpu type, the AMD exporter's field prefix)
    "h100": ("H100", ""),
    "gaudi": ("Gaudi 3", ""),
    "mi300x": ("MI300X", "amd_"),
    "mi250x": ("MI250X", ""),
}


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    exporters = Exporters(
        [Exporter(n, "mixed", 8, t, prefix=p) for n, (t, p) in NODES.items()]
        + [Exporter("gaudi-hasty", "hasty", 8, "Gaudi 3")]
    )
    exporters.nodes["mi250x"].faults.afid_fatal = 5  # its firmware reported a fatal AFID
    exporters.start()
    ports = exporters.ports()
    targets = {"mixed": [(ports[n], {"node": n}) for n in NODES]}
    hasty = {"hasty": [(ports["gaudi-hasty"], {"node": "gaudi-hasty"})]}
    prom = prometheus.start(
        tmp_path_factory.mktemp("prom"), targets, SCRAPE_S, jobs={"hasty": (2.0, hasty)}
    )
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(prom.query('up{job="dcgm"} == 1')) < len(NODES):
        time.sleep(0.5)
    yield exporters, prom
    prom.stop()
    exporters.stop()


def test_status_json_shows_every_vendors_devices_with_source_and_age(scraped, tmp_path):
    exporters, prom = scraped
    profile = tmp_path / "mixed.toml"
    profile.write_text(
        '[fleet]\nname = "mixed"\nstack = "vllm"\n'
        "[[sources]]\n"
        f'name = "prom"\nkind = "prometheus"\nurl = "{prom.url}"\nselector = \'job="dcgm"\'\n'
        f'node_label = "node"\ncluster_label = "cluster"\nscrape_interval_s = {SCRAPE_S}\n'
        'gpus = 8\n[[clusters]]\nname = "mixed"\n'
    )
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    done = fleetdeck(env, "status", str(profile), "--json")
    assert done.returncode in (0, 2), done.stdout[-2000:] + done.stderr
    nodes = {n["name"]: n for n in json.loads(done.stdout)["nodes"]}
    assert set(nodes) == set(NODES)
    want = {
        "h100": ("nvidia", "NVIDIA H100 80GB HBM3", "dcgm-exporter"),
        "gaudi": ("gaudi", None, "gaudi-metric-exporter"),
        "mi300x": ("amd", "Instinct MI300X", "device-metrics-exporter"),
        "mi250x": ("amd", "Instinct MI250X", "device-metrics-exporter"),
    }
    for name, (vendor, model, source) in want.items():
        node = nodes[name]
        assert node["gpu_source"] == f"{source} via prometheus 'prom'", node["gpu_source"]
        assert node["sources"]["gpus"]["source"] == "prom"
        assert node["sources"]["gpus"]["age_s"] <= 3 * SCRAPE_S
        gpus = node["gpus"]
        assert len(gpus) == 8 and [g["index"] for g in gpus] == list(range(8)), name
        for g in gpus:
            assert g["vendor"] == vendor and (model is None or g["name"] == model), g
            for key in ("util", "mem_used_mib", "mem_total_mib", "temp_c", "power_w"):
                assert isinstance(g[key], (int, float)), (name, key, g)
    gaudi = nodes["gaudi"]["gpus"]
    assert {g["mem_total_mib"] for g in gaudi} == {131072}  # bytes, in MiB
    assert {g["power_limit_w"] for g in gaudi} == {900.0}  # milliwatts, in W
    assert all(g["uuid"] and g["serial"].startswith("AM") for g in gaudi)
    assert {g["mem_total_mib"] for g in nodes["mi300x"]["gpus"]} == {196592}
    # the fatal AFID error (the exporter's severity="fatal" series alone) on its GPU
    fatal = {(n, g["index"]) for n in NODES for g in nodes[n]["gpus"] if g.get("fatal_errors")}
    assert fatal == {("mi250x", 5)}
    alerts = {(a["node"], a["kind"]): a for a in json.loads(done.stdout)["alerts"]}
    afid = alerts[("mi250x", "amdgpu_afid:5")]
    assert afid["severity"] == "critical" and "amd-smi reset -G -g 5" in afid["next_step"]
    assert exporters.nodes["gaudi"].refused == 0  # scraped every 6 s: never refused


def test_the_gaudi_exporter_refuses_a_scrape_within_five_seconds(scraped):
    exporters, prom = scraped
    hasty = exporters.nodes["gaudi-hasty"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and hasty.refused == 0:
        time.sleep(0.5)
    assert hasty.refused > 0
    (target,) = [t for t in prom.targets() if t["labels"].get("job") == "hasty"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "429" not in target.get("lastError", ""):
        time.sleep(1)
        (target,) = [t for t in prom.targets() if t["labels"].get("job") == "hasty"]
    assert "429" in target["lastError"], target
