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

    def targets(self) -> list[dict]:
        r = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        return r.json()["data"]["activeTargets"]


def config(targets: dict[str, list], interval: float, jobs: dict | None = None) -> str:
    """prometheus.yml: one job, a static group per cluster (JSON is YAML); a target may be
    (port, labels) for labels of its own (the node it is, as a relabelling would give).
    `jobs`: more jobs, {name: (interval, targets)} of the same shape."""

    def groups(of: dict[str, list]) -> list[dict]:
        out = []
        for cluster, ports in of.items():
            for p in ports:
                port, own = p if isinstance(p, tuple) else (p, {})
                out.append(
                    {"targets": [f"127.0.0.1:{port}"], "labels": {"cluster": cluster, **own}}
                )
        return out

    scrape = [{"job_name": "dcgm", "static_configs": groups(targets)}]
    for name, (every, more) in (jobs or {}).items():
        scrape.append(
            {
                "job_name": name,
                "scrape_interval": _duration(every),
                "scrape_timeout": _duration(every),
                "static_configs": groups(more),
            }
        )
    doc = {
        "global": {"scrape_interval": _duration(interval), "scrape_timeout": _duration(interval)},
        "scrape_configs": scrape,
    }
    return json.dumps(doc, indent=1)


def _duration(seconds: float) -> str:
    """Prometheus's duration: whole units only ("2s", "1500ms")."""
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


def start(
    workdir: Path,
    targets: dict[str, list],
    interval: float,
    port: int | None = None,
    jobs: dict | None = None,
) -> Prometheus:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(config(targets, interval, jobs))
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
