"""Simulated containers of a node, shaped as the Docker Engine API reports them.

Container names and images follow the real stacks: Gonka's deploy/join compose files
(`tmkms`, `node`, `api`, `bridge`, `proxy`; `mlnode-308` and `inference` from
docker-compose.mlnode.yml), `ollama`, and `vllm`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from console.sim.chain import rfc3339

GONKA_TAG = "0.2.14"
# service -> (image, compose file it comes from)
SERVICES: dict[str, tuple[str, str]] = {
    "tmkms": (
        f"ghcr.io/product-science/tmkms-softsign-with-keygen:{GONKA_TAG}",
        "docker-compose.yml",
    ),
    "node": (f"ghcr.io/product-science/inferenced:{GONKA_TAG}", "docker-compose.yml"),
    "api": (f"ghcr.io/product-science/api:{GONKA_TAG}", "docker-compose.yml"),
    "bridge": (f"ghcr.io/product-science/bridge:{GONKA_TAG}", "docker-compose.yml"),
    "proxy": (f"ghcr.io/product-science/proxy:{GONKA_TAG}", "docker-compose.yml"),
    "mlnode-308": ("ghcr.io/gonka-ai/mlnode:3.0.16", "docker-compose.mlnode.yml"),
    "inference": ("nginx:1.28.0", "docker-compose.mlnode.yml"),
    "ollama": ("ollama/ollama:0.5.1", "docker-compose.yml"),
    "vllm": ("vllm/vllm-openai:v0.11.0", "docker-compose.yml"),
    # since Gonka 0.2.12 (last: the compose addresses of the others stay as they were)
    "versiond": (f"ghcr.io/product-science/versiond:{GONKA_TAG}", "docker-compose.yml"),
}
HEALTHCHECKED = {"proxy", "mlnode-308", "vllm"}
# what Gonka's compose files publish, with their defaults: (port, host IP, host port)
# (reference/real/gonka). The chain node publishes only P2P since 0.2.9: its RPC (26657)
# is reached at the container's own address.
EVERY = "0.0.0.0"  # noqa: S104 - a published port's host IP, as docker reports it
PUBLISHED: dict[str, tuple[tuple[int, str, int], ...]] = {
    "node": ((26656, EVERY, 5000),),
    "api": ((9100, EVERY, 9100), (9200, "127.0.0.1", 9200)),
    "proxy": ((80, EVERY, 8000), (443, EVERY, 8443)),
    "inference": ((8080, EVERY, 8080), (5000, EVERY, 5050)),
}
# each container's address on its compose network, as docker's IPAM hands them out. Only a
# node behind a real host in its own network namespace uses them (the harness puts the subnet
# on that namespace's loopback); on the simulator that shares this machine a container's
# address is the node's own loopback address, so nothing simulated is ever sent off 127/8.
COMPOSE_SUBNET = "172.18.0.0/16"
ADDRESSES = {service: f"172.18.0.{i + 2}" for i, service in enumerate(SERVICES)}


def compose_address(service: str) -> str:
    return ADDRESSES.get(service, "172.18.0.250")


# what a deployed node of each stack runs, as each release ships it: Gonka's compose files
# (the network node's five services, and versiond since 0.2.12; an ML node's two, which a
# network node that serves a model runs too), vLLM's one container; Ollama is a host unit.
# The simulator's own knowledge of the releases, not the product's registry: an emulator
# that asked the product what to run could not catch the product being wrong about it.
DEPLOYED: dict[tuple[str, str], tuple[str, ...]] = {
    ("gonka", "network"): ("tmkms", "node", "api", "bridge", "proxy"),
    ("gonka", "ml"): ("mlnode-308", "inference"),
    ("vllm", "server"): ("vllm",),
}
MODEL_SERVICES = {"gonka": ("mlnode-308", "inference")}
OPTIONAL = {("gonka", "network"): ("versiond",)}


def expected_services(stack: str, role: str, serves_model: bool) -> list[str]:
    """The containers a fully deployed node of this stack and role runs."""
    names = list(DEPLOYED.get((stack, role), ()))
    extra = MODEL_SERVICES.get(stack, ()) if serves_model else ()
    return names + [n for n in extra if n not in names]


def deployed_services(stack: str, role: str, serves_model: bool) -> list[str]:
    """What a deploy of the simulator's release leaves running: the expected ones, then
    the release's optional ones (versiond)."""
    names = expected_services(stack, role, serves_model)
    return names + [n for n in OPTIONAL.get((stack, role), ()) if n not in names]


# a well-deployed Gonka node's private ports (reference/protocols.md §1.1: 9100, 9200, 5050
# and 8080 stay off the world): on the node's loopback, and on its private address only where
# another node calls them (a remote ML node's PoC callbacks to the API's 9100; the network
# node's calls to an ML node's 8080 and 5050). (container port, host IP, host port)
CALLBACK, ADMIN = 9100, 9200
ML_PORTS = ((8080, 8080), (5000, 5050))  # (container, host): management/PoC, inference


def deployed_bindings(
    role: str, serves_model: bool, address: str, remote_ml: bool
) -> dict[str, tuple[tuple[int, str, int], ...]]:
    def on(*ips: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(ips))  # one binding when the address is the loopback

    out: dict[str, tuple[tuple[int, str, int], ...]] = {}
    if role == "network":
        callback = on("127.0.0.1", address) if remote_ml else on("127.0.0.1")
        out["api"] = tuple((CALLBACK, ip, CALLBACK) for ip in callback) + (
            (ADMIN, "127.0.0.1", ADMIN),
        )
    if role == "ml" or serves_model:
        ips = on("127.0.0.1", address) if role == "ml" else on("127.0.0.1")
        out["inference"] = tuple((c, ip, h) for c, h in ML_PORTS for ip in ips)
    return out


def image_id(image: str) -> str:
    """An image's ID: the same wherever it is read (a container's Image, images/json's Id)."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


@dataclass
class Container:
    name: str
    image: str
    project: str
    service: str
    id: str
    created: float
    state: str = "created"  # created | running | restarting | exited
    exit_code: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    restart_count: int = 0
    health: str | None = None  # starting | healthy | unhealthy (None: no healthcheck)
    failing_streak: int = 0
    logs: list[tuple[float, str, str]] = field(default_factory=list)  # (time, stream, line)
    # (container port, host IP, host port) as created (compose's ports, after overrides);
    # None: what Gonka's compose files publish (PUBLISHED)
    ports: tuple[tuple[int, str, int], ...] | None = None
    devices: tuple[str, ...] = ()  # the GPU device ids it asked for (DeviceRequests)
    network_mode: str = "default"  # HostConfig.NetworkMode: "host" shares the node's network
    # service -> its address on the compose network (asked each time: a node may be placed
    # behind a real host after its containers exist)
    address_of: Callable[[str], str] = compose_address

    def log(self, line: str, stream: str = "stdout") -> None:
        self.logs.append((time.time(), stream, line))
        del self.logs[:-2000]

    # -- the Docker Engine API shapes
    def summary(self) -> dict:
        """GET /containers/json item."""
        summary = {
            "Id": self.id,
            "Names": [f"/{self.name}"],
            "Image": self.image,
            "ImageID": image_id(self.image),
            "Command": "/entrypoint.sh",
            "Created": int(self.created),
            "Ports": [],
            "Labels": self.labels(),
            "State": self.state,
            "Status": self.status_text(),
            "HostConfig": {"NetworkMode": self.network_mode},
            "NetworkSettings": {"Networks": self.networks()},
            "Mounts": [],
        }
        if self.state == "running":
            summary["Ports"] = [
                {"IP": ip, "PrivatePort": port, "PublicPort": host_port, "Type": "tcp"}
                for port, ip, host_port in self.bindings()
            ]
        return summary

    def bindings(self) -> tuple[tuple[int, str, int], ...]:
        return PUBLISHED.get(self.service, ()) if self.ports is None else self.ports

    def networks(self) -> dict[str, dict]:
        """NetworkSettings.Networks: the compose network; an address only while running."""
        running = self.state == "running"
        address = self.address_of(self.service)
        compose = address.startswith("172.18.")
        return {
            f"{self.project}_default": {
                "Aliases": [self.service, self.id[:12]],
                "Gateway": ("172.18.0.1" if compose else address) if running else "",
                "IPAddress": address if running else "",
                "IPPrefixLen": (16 if compose else 32) if running else 0,
                "MacAddress": "02:42:ac:12:00:02" if running else "",
            }
        }

    def published_ports(self) -> dict[str, list[dict] | None]:
        """NetworkSettings.Ports of `docker inspect` (empty while stopped)."""
        if self.state != "running":
            return {}
        out: dict[str, list[dict] | None] = {}
        for port, ip, host_port in self.bindings():
            out.setdefault(f"{port}/tcp", []).append({"HostIp": ip, "HostPort": str(host_port)})
        return out

    def labels(self) -> dict[str, str]:
        return {
            "com.docker.compose.project": self.project,
            "com.docker.compose.service": self.service,
            "com.docker.compose.container-number": "1",
            "com.docker.compose.oneoff": "False",
        }

    def status_text(self) -> str:
        now = time.time()
        if self.state == "running":
            text = f"Up {_ago(now - self.started_at)}"
            if self.health:
                text += f" ({self.health})" if self.health != "starting" else " (health: starting)"
            return text
        if self.state == "restarting":
            return f"Restarting ({self.exit_code}) {_ago(now - self.finished_at)} ago"
        if self.state == "exited":
            return f"Exited ({self.exit_code}) {_ago(now - self.finished_at)} ago"
        return "Created"

    def inspect(self) -> dict:
        """GET /containers/{id}/json."""
        state = {
            "Status": self.state,
            "Running": self.state == "running",
            "Paused": False,
            "Restarting": self.state == "restarting",
            "OOMKilled": False,
            "Dead": False,
            "Pid": 4242 if self.state == "running" else 0,
            "ExitCode": self.exit_code,
            "Error": "",
            "StartedAt": rfc3339(self.started_at) if self.started_at else "0001-01-01T00:00:00Z",
            "FinishedAt": rfc3339(self.finished_at) if self.finished_at else "0001-01-01T00:00:00Z",
        }
        if self.health:
            state["Health"] = {
                "Status": self.health,
                "FailingStreak": self.failing_streak,
                "Log": [],
            }
        return {
            "Id": self.id,
            "Created": rfc3339(self.created),
            "Path": "/entrypoint.sh",
            "Args": [],
            "State": state,
            "Image": self.summary()["ImageID"],
            "Name": f"/{self.name}",
            "RestartCount": self.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "HostConfig": {
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
                "NetworkMode": self.network_mode,
            },
            "Config": {
                "Hostname": self.id[:12],
                "Image": self.image,
                "Labels": self.labels(),
                "Env": [],
                "Cmd": None,
                "Tty": False,  # the SDK reads it to know whether logs are multiplexed
                "OpenStdin": False,
                "AttachStdout": True,
                "AttachStderr": True,
                "User": "",
                "WorkingDir": "",
            },
            "NetworkSettings": {"Ports": self.published_ports(), "Networks": self.networks()},
            "Mounts": [],
        }


def _ago(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 60:
        return "Less than a second" if s < 1 else f"{s} seconds"
    if s < 3600:
        return "About a minute" if s < 120 else f"{s // 60} minutes"
    if s < 86400:
        return "About an hour" if s < 7200 else f"{s // 3600} hours"
    return f"{s // 86400} days"


class ContainerSet:
    """A node's containers; thread-safe; calls `on_change` after every state change."""

    def __init__(
        self,
        node: str,
        project: str,
        on_change: Callable[[], None],
        address_of: Callable[[str], str] = compose_address,
    ) -> None:
        self.node = node
        self.project = project
        self.on_change = on_change
        self.address_of = address_of
        self.items: dict[str, Container] = {}
        self.lock = threading.RLock()
        self.events: list[dict] = []

    def get(self, ref: str) -> Container | None:
        with self.lock:
            ref = ref.lstrip("/")
            if ref in self.items:
                return self.items[ref]
            return next((c for c in self.items.values() if c.id.startswith(ref)), None)

    def running(self, name: str) -> bool:
        c = self.items.get(name)
        return c is not None and c.state == "running"

    def healthy(self, name: str) -> bool:
        c = self.items.get(name)
        return c is not None and c.state == "running" and c.health != "unhealthy"

    def create(
        self,
        service: str,
        image: str | None = None,
        ports: tuple[tuple[int, str, int], ...] | None = None,
    ) -> Container:
        with self.lock:
            existing = self.items.get(service)
            if existing:
                return existing
            image = image or SERVICES.get(service, (f"{service}:latest", ""))[0]
            cid = hashlib.sha256(f"{self.node}/{service}/{time.time()}".encode()).hexdigest()
            c = Container(service, image, self.project, service, cid, time.time(), ports=ports)
            c.address_of = self.address_of
            self.items[service] = c
            self._event(c, "create")
        return c

    def start(self, name: str) -> Container:
        with self.lock:
            c = self.items[name]
            if c.state != "running":
                c.state, c.exit_code, c.started_at = "running", 0, time.time()
                c.health = "healthy" if c.service in HEALTHCHECKED else None
                c.failing_streak = 0
                c.log(f"{c.service} started")
                self._event(c, "start")
        self.on_change()
        return c

    def stop(self, name: str, exit_code: int = 0) -> Container:
        with self.lock:
            c = self.items[name]
            if c.state in ("running", "restarting"):
                c.state, c.exit_code, c.finished_at = "exited", exit_code, time.time()
                c.log(f"{c.service} stopped")
                self._event(c, "die")
        self.on_change()
        return c

    def remove(self, name: str) -> None:
        with self.lock:
            c = self.items.pop(name, None)
            if c:
                self._event(c, "destroy")
        self.on_change()

    def up(self, services: list[str]) -> list[Container]:
        started = []
        for s in services:
            self.create(s)
            started.append(self.start(s))
        return started

    def _event(self, c: Container, action: str) -> None:
        now = time.time()
        self.events.append(
            {
                "status": action,
                "id": c.id,
                "from": c.image,
                "Type": "container",
                "Action": action,
                "Actor": {"ID": c.id, "Attributes": {"name": c.name, "image": c.image}},
                "scope": "local",
                "time": int(now),
                "timeNano": int(now * 1e9),
            }
        )
        del self.events[:-500]

    def snapshot(self) -> list[Container]:
        with self.lock:
            return list(self.items.values())
