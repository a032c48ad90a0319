"""Status sources beside the SSH probe: Prometheus (the nodes' GPU exporters' series) and a
stack's own metrics endpoint (Stack.metrics: one GET per serving node gives all its
workers' GPUs). Each polls on its own thread at its own interval and hands the Tracker the
same observations a probe line gives (METRICS), with when the values were taken; a node
whose exporter or worker is gone is SILENT (its values stay, stale); a source that does
not answer says so once (Tracker.source_state), not as one red row per node.

Nodes a Prometheus source finds that the profile does not list join the fleet
(`discover`): a pool of 100 GKE nodes needs no 100 hand-written entries.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Protocol

import httpx

from console.core.monitor.observe import METRICS, SILENT, Observation
from console.core.monitor.readings import ReadingError
from console.core.monitor.tracker import Tracker
from console.core.profile.schema import (
    Cluster,
    FleetProfile,
    KubernetesSource,
    Node,
    PrometheusSource,
    StackMetricsSource,
)
from console.core.secrets import SecretError, resolve
from console.core.sources.events import EventWatch
from console.core.sources.kubernetes import (
    KubeError,
    list_nodes,
    list_pods,
    load_kubeconfig,
    node_of,
    pod_containers,
)
from console.core.sources.prometheus import PrometheusReader, SourceError
from console.core.stacks import STACKS
from console.core.state import Kube
from console.core.text import printable
from console.core.transport.ssh import Pool, SshError
from console.core.transport.sshhttp import node_client

METRIC_SIGNALS = ["gpus", "events"]


class StatusSource(Protocol):
    """What the Monitor starts and stops: the SSH source (ssh_source.py) and each poller
    here. Each reads its nodes and hands the tracker typed observations (observe.py)."""

    name: str

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Start reading until `stop` is set; the threads it started (the Monitor joins them)."""
        ...

    def stop(self) -> None:
        """Unblock what waits on the network (the stop event is set already)."""
        ...

    def complete(self) -> bool:
        """It has answered, or failed, once for what it reads."""
        ...


class SourcePoller:
    """One source's loop: poll, hand over what it read, wait for the next interval."""

    def __init__(self, name: str, interval: float, tracker: Tracker, clock=time.time) -> None:
        self.name, self.interval, self.tracker, self.clock = name, interval, tracker, clock
        self.first_read = threading.Event()  # it answered, or failed, once
        self.last_read_s: float | None = None  # how long its last read took (the bench)

    def poll(self) -> None:
        raise NotImplementedError

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        t = threading.Thread(target=self.run, args=(stop,), daemon=True, name=f"source-{self.name}")
        t.start()
        return [t]

    def stop(self) -> None:
        pass  # its reads end at their own deadline; close() (a closer) ends its client

    def complete(self) -> bool:
        return self.first_read.is_set()

    def close(self) -> None:
        pass

    def note(self) -> str | None:
        """What its last read could not place, in words (None: nothing)."""
        return None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
                self.tracker.source_state(self.name, None, self.note())
            except SourceError as exc:
                self.tracker.source_state(self.name, str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug must not end this source's updates
                self.tracker.source_state(self.name, f"{type(exc).__name__}: {exc}")
            self.last_read_s = time.monotonic() - started
            self.first_read.set()
            if self.tracker.on_update is not None:
                self.tracker.on_update()
            stop.wait(max(0.2, self.interval - self.last_read_s))

    def observe(self, node: str, kind: str, data: dict) -> None:
        try:
            seen = Observation(node, self.clock(), self.name, kind, data)
        except ReadingError:
            return  # what the source said of this node cannot be read: its others can
        self.tracker.observe(seen, quiet=True)


class PrometheusPoller(SourcePoller):
    def __init__(
        self, source: PrometheusSource, fleet: FleetProfile, tracker: Tracker, clock=time.time
    ) -> None:
        super().__init__(source.name, source.scrape_interval_s, tracker, clock)
        self.source, self.fleet = source, fleet
        self.reader: PrometheusReader | None = None  # made at the first poll: its token
        self.clusters = {c.name: c for c in fleet.clusters}
        self.unplaced: set[str] = set()  # nodes it names that no cluster takes
        self.found: set[str] = set()  # nodes it found that the profile does not list

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def note(self) -> str | None:
        if not self.unplaced:
            return None
        some = ", ".join(sorted(self.unplaced)[:3])
        return f"{len(self.unplaced)} nodes it names are in no cluster ({some}…)"

    def poll(self) -> None:
        if self.reader is None:
            try:  # a token not in the keyring (yet) is this source's error, said once
                token = resolve(self.source.token) if self.source.token else None
            except SecretError as exc:
                raise SourceError(str(exc)) from exc
            self.reader = PrometheusReader(self.source, token)
        reading = self.reader.read()
        self.unplaced = set()
        known = self.tracker.names()
        for name, metrics in reading.nodes.items():
            data = dict(metrics.data)
            data.update(signals=METRIC_SIGNALS, taken=metrics.taken, interval=self.interval)
            if name not in known or name in self.found:
                found = self._place(name, metrics.cluster_label)
                if found is None:
                    continue
                data["found"] = found  # the tracker joins it (and a recording keeps it)
            self.observe(name, METRICS, data)
        for name, why in reading.silent.items():
            if name in known:
                self.observe(name, SILENT, {"error": why})

    def _place(self, name: str, label: str | None) -> dict | None:
        """Where a node the profile does not list belongs: its cluster (by the source's
        cluster label, else its `cluster`), role and GPUs; None where it is not to join."""
        if not self.source.discover:
            return None
        cluster = self.clusters.get(label or "") or self.clusters.get(self.source.cluster or "")
        if cluster is None:
            self.unplaced.add(name)
            return None
        self.found.add(name)
        stack = STACKS[self.fleet.cluster_stack(cluster)]
        role = self.source.role or stack.roles[0]
        return {"cluster": cluster.name, "role": role, "gpus": self.source.gpus}


class StackMetricsPoller(SourcePoller):
    """A stack's metrics endpoint on each of its serving nodes (a chain's network node
    serving its ML nodes' metrics), over the node's SSH connection or its public URL."""

    def __init__(
        self,
        source: StackMetricsSource,
        fleet: FleetProfile,
        tracker: Tracker,
        pool: Pool | None,
        clock=time.time,
    ) -> None:
        super().__init__(source.name, source.interval_s, tracker, clock)
        self.source, self.fleet, self.pool = source, fleet, pool
        self.events: dict[str, EventWatch] = {}  # per vendor
        self.servers: list[tuple[Cluster, Node]] = []
        for cluster, node in fleet.all_nodes():
            stack = STACKS[fleet.cluster_stack(cluster)]
            endpoint = stack.metrics
            if endpoint is None or endpoint.kind != source.kind or node.role != endpoint.role:
                continue
            if source.clusters and cluster.name not in source.clusters:
                continue
            self.servers.append((cluster, node))
        self._clients: dict[str, httpx.Client] = {}

    def close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()

    def _get(self, cluster: Cluster, node: Node) -> str:
        settings = self.fleet.stack_settings(cluster)
        endpoint = STACKS[self.fleet.cluster_stack(cluster)].metrics
        assert endpoint is not None
        if self.source.via == "public":
            base = node.public_url or getattr(settings, "public_url", None)
            if not base:
                raise SourceError(f"{node.name}: no public_url to read {endpoint.path} from")
            url = str(base).rstrip("/") + endpoint.path
            client = self._clients.setdefault(node.name, httpx.Client(timeout=10.0))
        else:
            if self.pool is None:
                raise SourceError(f"{node.name}: no SSH connection to read {endpoint.path}")
            port = int(getattr(settings, endpoint.port_setting))
            url = f"http://127.0.0.1:{port}{endpoint.path}"
            if node.name not in self._clients:
                self._clients[node.name] = node_client(self.pool, node.name, 10.0)[0]
            client = self._clients[node.name]
        try:
            r = client.get(url)
        except (httpx.HTTPError, SshError) as exc:
            self._clients.pop(node.name, None)
            raise SourceError(f"{node.name}{endpoint.path}: {type(exc).__name__}: {exc}") from exc
        if r.status_code != 200:
            raise SourceError(f"{node.name}{endpoint.path}: HTTP {r.status_code}")
        return r.text

    def poll(self) -> None:
        failed = []
        known = self.tracker.names()
        for cluster, server in self.servers:
            endpoint = STACKS[self.fleet.cluster_stack(cluster)].metrics
            assert endpoint is not None
            try:
                text = self._get(cluster, server)
            except SourceError as exc:
                failed.append(str(exc))
                continue
            taken = self.clock()
            members = {n.name for n in cluster.nodes}
            for worker, entry in endpoint.read(text).items():
                if worker not in known or worker not in members:
                    continue  # a worker of another participant, or one the profile lacks
                if not entry.get("up", True):
                    self.observe(
                        worker,
                        SILENT,
                        {
                            "error": f"{server.name}{endpoint.path} says it is down (up == 0)",
                            "down": True,
                        },
                    )
                    continue
                watch = self.events.setdefault(endpoint.vendor, EventWatch(endpoint.vendor))
                events = [
                    event
                    for gpu, code, count in entry.get("event_totals") or ()
                    for event in watch.total(worker, gpu, code, count, taken)
                ]
                watch.read(worker)
                data = {
                    "gpus": [g | {"vendor": endpoint.vendor} for g in entry.get("gpus") or []],
                    "events": events,
                    "gpu_source": f"{server.name}{endpoint.path}",
                    "signals": METRIC_SIGNALS,
                    "taken": taken,
                    "interval": self.interval,
                }
                self.observe(worker, METRICS, data)
        # where some serving nodes answer, theirs are read and the others' workers age
        if failed and len(failed) == len(self.servers):
            raise SourceError("; ".join(failed))


class KubernetesPoller(SourcePoller):
    """A Kubernetes source with a `cluster`: its node list, paged, every interval; each
    node's Ready condition, cordon and GPUs allocatable against capacity; with
    `namespaces`, the pods there are the containers of the nodes they run on."""

    def __init__(
        self, source: KubernetesSource, fleet: FleetProfile, tracker: Tracker, clock=time.time
    ) -> None:
        super().__init__(source.name, source.interval_s, tracker, clock)
        self.source, self.fleet = source, fleet
        self.cluster = next(c for c in fleet.clusters if c.name == source.cluster)
        self.role = source.role or STACKS[fleet.cluster_stack(self.cluster)].roles[0]
        self._access = None

    def poll(self) -> None:
        try:
            if self._access is None:
                self._access = load_kubeconfig(Path(self.source.kubeconfig), self.source.context)
            items = list_nodes(self._access, self.source.selector)
        except KubeError as exc:
            raise SourceError(str(exc)) from exc
        pods: dict[str, list[dict]] = {}
        try:
            for namespace in self.source.namespaces:
                for pod in list_pods(self._access, namespace, self.source.pod_selector):
                    on, containers = pod_containers(pod)
                    pods.setdefault(on, []).extend(containers)
        except KubeError as exc:
            raise SourceError(str(exc)) from exc
        taken = self.clock()
        for item in items:
            node = node_of(item, self.source.pool_label)
            if printable(node.name) != node.name:
                continue  # Kubernetes' names are DNS labels: this one is not, and not shown
            kube = {f.name: getattr(node, f.name) for f in fields(Kube)}  # what state keeps
            data = {"kube": kube, "signals": ["kube"], "taken": taken, "interval": self.interval}
            if self.source.namespaces:  # the inference pods on it are its containers
                data.update(containers=pods.get(node.name, []), pods=True)
                data["signals"] = ["kube", "containers"]
            found = {"cluster": self.cluster.name, "role": self.role, "gpus": node.gpus_capacity}
            self.observe(node.name, METRICS, {**data, "found": found})


def pollers_for(
    fleet: FleetProfile, tracker: Tracker, pool: Pool | None, clock: Callable[[], float]
) -> list[SourcePoller]:
    """The profile's [[sources]] that feed the live status, in order of trust."""
    out: list[SourcePoller] = []
    for source in fleet.sources:
        if source.kind == "prometheus":
            out.append(PrometheusPoller(source, fleet, tracker, clock))
        elif source.kind == "kubernetes" and source.cluster:
            out.append(KubernetesPoller(source, fleet, tracker, clock))
        elif isinstance(source, StackMetricsSource):
            out.append(StackMetricsPoller(source, fleet, tracker, pool, clock))
    return out
