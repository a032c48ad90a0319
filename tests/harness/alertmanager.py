"""A real Alertmanager (Debian's `prometheus-alertmanager`, installed by the test command)
on loopback, routing every alert to a webhook receiver in the test process that keeps
each notification it is sent. Clustering is off (no gossip port); short group waits, so
a page arrives within a second or two of its post."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness.channels import ChannelServer
from tests.harness.procs import free_port, stop, wait_for

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def available() -> bool:
    return Path(BINARY).exists()


class Receiver:
    """The webhook receiver (the channels' stand-in server, tests/harness/channels.py):
    every notification Alertmanager posts, in order."""

    def __init__(self) -> None:
        self.server = ChannelServer().start()
        self.url = self.server.url("/hook")

    @property
    def notifications(self) -> list[dict]:
        return [g.body for g in self.server.sent("/hook")]

    def alerts(self, status: str | None = None, **labels: str) -> list[dict]:
        """Each alert of each notification (with the notification's status), matching."""
        return [
            a
            for n in self.notifications
            for a in n["alerts"]
            if (status is None or a["status"] == status)
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]

    def close(self) -> None:
        self.server.stop()


def receiver() -> Receiver:
    return Receiver()


@dataclass
class Alertmanager:
    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        stop(self.proc)

    def alerts(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v2/alerts", timeout=5).json()

    def silences(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v2/silences", timeout=5).json()


def start(workdir: Path, hook: str) -> Alertmanager:
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["alertname", "fleet", "node"],
            "group_wait": "1s",
            "group_interval": "5s",  # merges two watches' resolves, as a real one's 5 min does
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "hook", "webhook_configs": [{"url": hook, "send_resolved": True}]}],
    }
    (workdir / "alertmanager.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = workdir / "alertmanager.log"
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: one instance, no port beyond this one
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

    wait_for(ready, 60, "alertmanager", proc, str(log))
    return Alertmanager(url, proc, log)
