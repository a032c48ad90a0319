"""Immutable status snapshots: the fleet as last seen, node by node, with alerts.

Every value carries the time it was taken; a node that stops answering keeps its last
values, marked stale with their age. Screens and `fleetdeck status --json` read these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

SEVERITIES = ("critical", "warning", "info")


DOWN_AFTER = 15  # intervals without a line after which a stale node reads down


@dataclass(frozen=True)
class Gpu:
    """One accelerator (a GPU, a Gaudi HPU), in words every vendor's reading fills."""

    index: int | None
    name: str | None = None
    uuid: str | None = None
    util: int | None = None
    mem_used_mib: int | None = None
    mem_total_mib: int | None = None
    temp_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    throttle: tuple[str, ...] = ()
    ecc_uncorrected: int | None = None
    processes: int = 0
    lost: bool = False
    error: str | None = None
    vendor: str = ""  # its adapter's name (console/core/accelerators/)
    serial: str | None = None
    bus: str | None = None  # its PCI address, where its reader names it
    health: str | None = None  # its driver's word for its state, where it has one
    links: int | None = None  # its fabric ports, where it has them and they were read
    links_down: tuple[int, ...] = ()  # those of them down
    rows_pending: bool | None = None  # memory rows waiting to be replaced at a reset
    fatal_errors: int | None = None  # errors its firmware reported fatal (AMD's AFIDs)


# a vendor's event on a node: (time, device index or None, its code, vendor)
Event = tuple[float, int | None, int, str]


@dataclass(frozen=True)
class Container:
    name: str
    image: str | None
    state: str
    health: str | None
    restarts: int
    started_at: str | None
    exit_code: int | None
    addresses: tuple[str, ...] = ()  # on its compose network(s)
    published: tuple[tuple[int, str, int], ...] = ()  # (port, host IP, host port)


@dataclass(frozen=True)
class Disk:
    path: str
    total_gb: float | None
    free_gb: float | None
    used_pct: float | None
    error: str | None = None


@dataclass(frozen=True)
class System:
    hostname: str | None = None
    os: str | None = None
    kernel: str | None = None
    uptime_s: float | None = None
    load1: float | None = None
    mem_total_mib: int | None = None
    mem_available_mib: int | None = None
    disks: tuple[Disk, ...] = ()
    driver: str | None = None
    docker: str | None = None


@dataclass(frozen=True)
class Service:
    """One HTTP endpoint the node should answer: ok, latency, what it said."""

    name: str
    ok: bool
    latency_ms: float | None
    status: int | None
    detail: str = ""
    # endpoint: it answers or not; placement: where its models run (ok: all on the GPU)
    kind: str = "endpoint"


@dataclass(frozen=True)
class Chain:
    height: int | None = None
    block_time: float | None = None  # unix time of the latest block
    catching_up: bool | None = None
    peers: int | None = None
    validator_in_set: bool | None = None
    voting_power: int | None = None
    epoch: int | None = None
    phase: str | None = None
    blocks_to_poc: int | None = None
    participant_weight: int | None = None
    in_epoch: bool | None = None
    # what the host runs, as its API says (`/v1/versions`): its API's release with its patch
    # level, the chain node's, and each ML node's image version where the host says them
    api_version: str | None = None
    node_version: str | None = None
    ml_versions: tuple[tuple[str, str], ...] | None = None
    confirmation_poc: bool | None = None  # a confirming round of the epoch event runs now
    window_at: int | None = None  # the block where the safe window before the next event opens
    # the participant's inferences served and missed, this epoch and the last (the chain's
    # participant statistics): the miss rate operators watch
    inferences: int | None = None
    missed: int | None = None
    last_epoch_inferences: int | None = None
    last_epoch_missed: int | None = None
    ml_nodes: tuple[tuple[str, str, bool], ...] = ()  # (id, current status, enabled)
    setup_failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kube:
    """The node as its Kubernetes API says ([[sources]] kind = "kubernetes")."""

    pool: str
    ready: bool | None  # None: no Ready condition reported
    not_ready_why: str = ""
    cordoned: bool = False
    gpus_capacity: int = 0
    gpus_allocatable: int = 0
    accelerator: str = ""
    vendor: str = ""  # whose device plugin offers its accelerators (an adapter's name)
    unhealthy: tuple[int, ...] = ()  # devices its vendor's health check labels unhealthy


@dataclass(frozen=True)
class NodeStatus:
    name: str
    cluster: str
    role: str
    stack: str
    expected_gpus: int | None = None
    reachable: bool = False
    error: str | None = None  # why the node cannot be read right now
    host_key_changed: bool = False
    probe_at: float | None = None  # when the last probe line was taken (node clock)
    seen_at: float | None = None  # when it arrived here
    # how much later than usual its lines arrive (arrival minus probe time, less the
    # smallest such gap seen: clock skew cancels out); a slow link, not a down host
    link_delay_s: float | None = None
    gpus: tuple[Gpu, ...] = ()
    gpu_source: str | None = None
    gpu_error: str | None = None
    events: tuple[Event, ...] = ()  # recent device events (a driver's error codes)
    containers: tuple[Container, ...] = ()
    container_error: str | None = None
    system: System = field(default_factory=System)
    chain: Chain | None = None
    chain_at: float | None = None
    chain_error: str | None = None
    services: tuple[Service, ...] = ()
    util_history: tuple[float, ...] = ()  # mean GPU utilization per probe line
    # what its stack's own probe part read (Stack.read_probe): a provider's status
    provider: Any = None
    provider_error: str | None = None
    # where each signal's value came from and when it was taken: (signal, source, at);
    # empty for a status built by hand, where every signal counts as read
    sources: tuple[tuple[str, str, float], ...] = ()
    interval_s: float | None = None  # how often its last source refreshes; the probe's if None
    source_down: str | None = None  # the sources it is read from do not answer (why)
    kube: Kube | None = None  # what Kubernetes says of it, where a source reads that
    pods: bool = False  # its containers are Kubernetes pods' (pod/container), not compose's
    reported_down: bool = False  # a source says it is down (`mlnode_up == 0`), not silent

    def source_of(self, signal: str) -> tuple[str, float] | None:
        """(source, when taken) of one signal's value, or None where nothing gave it."""
        for sig, source, at in self.sources:
            if sig == signal:
                return source, at
        return None

    def reads(self, signal: str) -> bool:
        """A source gives this signal for the node (a Prometheus-read node has no containers:
        none is not 'none deployed')."""
        return not self.sources or any(sig == signal for sig, _, _ in self.sources)

    def age(self, now: float) -> float | None:
        return None if self.seen_at is None else max(0.0, now - self.seen_at)

    def stale(self, now: float, interval: float) -> bool:
        """No values for more than two of its source's intervals (plus a little slack)."""
        age = self.age(now)
        return age is None or age > 2 * (self.interval_s or interval) + 1.0

    def live(self, now: float, interval: float) -> bool:
        """Its values are current: reachable and not stale."""
        return self.reachable and not self.stale(now, interval)

    def down(self, now: float, interval: float) -> bool:
        """Stale for long enough to be called down (DOWN_AFTER intervals, at least a minute)."""
        age = self.age(now)
        return age is not None and age > max(60.0, DOWN_AFTER * (self.interval_s or interval))


@dataclass(frozen=True)
class Alert:
    node: str
    kind: str
    severity: str
    summary: str
    since: float
    evidence: str
    next_step: str


@dataclass(frozen=True)
class SourceHealth:
    """A status source beside SSH ([[sources]]), as the console last heard from it."""

    name: str
    ok: bool
    read_at: float | None  # when it last answered
    error: str | None = None  # why it does not answer now
    note: str | None = None  # what it read but could not place (nodes in no cluster)


@dataclass(frozen=True)
class Tally:
    up: int  # nodes live now
    gpus_seen: int  # GPUs of live nodes, not lost
    gpus_busy: int  # of those, at 50 % or more
    critical: int
    warning: int
    height: int | None  # the highest chain height any node reports
    # per device vendor (its adapter's name): (vendor, busy, seen), most devices first
    by_vendor: tuple[tuple[str, int, int], ...] = ()
    clock: NodeStatus | None = None  # the node whose chain is highest: the epoch clock's


@dataclass(frozen=True)
class FleetState:
    nodes: Mapping[str, NodeStatus]
    alerts: tuple[Alert, ...]
    taken_at: float
    interval: float
    console_lag_s: float = 0.0  # how late fleetdeck's own process woke lately
    console_usage: str = ""  # fleetdeck's own CPU and memory, when it is live
    sources: tuple[SourceHealth, ...] = ()  # the [[sources]] beside SSH, each one's health

    @cached_property
    def tally(self) -> Tally:
        """The fleet's counts the summary shows, made once per state (the console makes
        them on its snapshot thread: 3,000 nodes of 8 GPUs are milliseconds)."""
        up = seen = busy = 0
        height, clock = None, None
        kinds: dict[str, list[int]] = {}
        for n in self.nodes.values():
            if n.chain is not None and n.chain.height and n.chain.height > (height or 0):
                height, clock = n.chain.height, n
            if not n.live(self.taken_at, self.interval):
                continue  # a stale node's last GPU values are not counted as busy now
            up += 1
            for g in n.gpus:
                if not g.lost:
                    seen += 1
                    working = (g.util or 0) >= 50
                    busy += working
                    kind = kinds.setdefault(g.vendor, [0, 0])
                    kind[0] += working
                    kind[1] += 1
        critical = sum(a.severity == "critical" for a in self.alerts)
        warning = sum(a.severity == "warning" for a in self.alerts)
        by_vendor = sorted(((v, b, s) for v, (b, s) in kinds.items()), key=lambda k: -k[2])
        return Tally(up, seen, busy, critical, warning, height, tuple(by_vendor), clock)

    def critical(self) -> list[Alert]:
        return [a for a in self.alerts if a.severity == "critical"]

    def condition(self, node: NodeStatus, alerts: list[Alert] | None = None) -> str:
        """One word (or two) for a node, the same in the console and `status`: key changed,
        up, degraded, not deployed, connecting, down, stale, down since."""
        if node.host_key_changed:
            return "key changed"
        if node.live(self.taken_at, self.interval):
            mine = [a for a in self.alerts if a.node == node.name] if alerts is None else alerts
            if any(a.severity in ("critical", "warning") for a in mine):
                return "degraded"
            if any(a.kind == "not_deployed" for a in mine):
                return "not deployed"
            return "up"
        if node.source_down:  # its source is the one down: the node is not known to be
            return "stale"
        if node.reported_down:
            return "down"
        if node.seen_at is None:
            return "down" if node.error else "connecting"
        return "down since" if node.down(self.taken_at, self.interval) else "stale"

    def to_json(self) -> dict[str, Any]:
        """The stable `fleetdeck status --json` document (schema version 1)."""
        now = self.taken_at
        nodes = []
        for n in self.nodes.values():
            d = asdict(n)
            d["stale"] = n.stale(now, self.interval)
            d["age_s"] = None if n.age(now) is None else round(n.age(now), 2)
            d["events"] = [{"t": t, "gpu": g, "code": c, "vendor": v} for t, g, c, v in n.events]
            d.pop("util_history")
            d["sources"] = {
                sig: {"source": src, "age_s": round(max(0.0, now - at), 2)}
                for sig, src, at in n.sources
            }
            if n.chain is not None:
                d["chain"]["ml_nodes"] = [
                    {"id": i, "status": s, "enabled": e} for i, s, e in n.chain.ml_nodes
                ]
            nodes.append(d)
        return {
            "schema": 1,
            "taken_at": now,
            "interval_s": self.interval,
            "nodes": nodes,
            "alerts": [asdict(a) for a in self.alerts],
            "sources": [asdict(h) for h in self.sources],
            "summary": {
                "nodes": len(self.nodes),
                "reachable": sum(n.reachable for n in self.nodes.values()),
                "critical": len(self.critical()),
                "warning": sum(a.severity == "warning" for a in self.alerts),
                "versions": {
                    n.name: n.chain.api_version
                    for n in self.nodes.values()
                    if n.chain is not None and n.chain.api_version
                },
                "behind": [{"node": n, "runs": v, "newest": new} for n, v, new in self.behind()],
            },
        }

    def behind(self) -> list[tuple[str, str, str]]:
        """(node, what it runs, the newest any host runs) for each host whose API is of an
        older release or patch than another host's: drift across the fleet."""
        runs = {
            n.name: n.chain.api_version
            for n in self.nodes.values()
            if n.chain is not None and n.chain.api_version
        }
        if len(set(runs.values())) < 2:
            return []
        newest = max(runs.values(), key=release_key)
        return [(n, v, newest) for n, v in runs.items() if release_key(v) < release_key(newest)]


def release_key(version: str) -> tuple[int, ...]:
    """ "v0.2.15-post5" -> (0, 2, 15, 5), "v0.2.15" -> (0, 2, 15, 0): releases and their
    patches in order (anything not a number counts as 0)."""
    core, _, patch = version.lstrip("v").partition("-")
    numbers = [int(x) if x.isdigit() else 0 for x in core.split(".")]
    digits = "".join(ch for ch in patch if ch.isdigit())
    return (*numbers, int(digits) if digits else 0)
