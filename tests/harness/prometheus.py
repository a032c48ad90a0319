"""A real Prometheus (Debian's `prometheus` package, installed by the test command) on
loopback, scraping the simulated dcgm-exporters (console/sim/exporters.py): each cluster
is a static target group with a `cluster` label, as a GKE cluster's own Prometheus (or
Managed Service for Prometheus) labels its series."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness.procs import free_port, stop, wait_for

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"


def available() -> bool:
    return Path(BINARY).exists()


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen
    log: Path
    port: int

    def stop(self) -> None:
        stop(self.proc)

    def query(self, promql: str) -> list:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        return r.json()["data"]["result"]


def config(targets: dict[str, list[int]], interval: float) -> str:
    """prometheus.yml: one job, a static group per cluster (JSON is YAML)."""
    groups = [
        {"targets": [f"127.0.0.1:{p}" for p in ports], "labels": {"cluster": cluster}}
        for cluster, ports in targets.items()
    ]
    doc = {
        "global": {"scrape_interval": _duration(interval), "scrape_timeout": _duration(interval)},
        "scrape_configs": [{"job_name": "dcgm", "static_configs": groups}],
    }
    return json.dumps(doc, indent=1)


def _duration(seconds: float) -> str:
    """Prometheus's duration: whole units only ("2s", "1500ms")."""
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


def start(
    workdir: Path, targets: dict[str, list[int]], interval: float, port: int | None = None
) -> Prometheus:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(config(targets, interval))
    port = port or free_port()
    log = workdir / "prometheus.log"
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 60, "prometheus", proc, str(log))
    return Prometheus(url, proc, log, port)
