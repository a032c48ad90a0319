"""The Tracker: the one owner of the fleet's node states, their staleness and alerts.

Sources hand it observations (console/core/monitor/observe.py); it keeps each node's status,
its GPU history and device events, and says what the fleet looks like now (`snapshot`),
whatever the source: the SSH monitor, Prometheus, a stack's metrics endpoint, Kubernetes,
a recording being replayed. A hook sees every observation as it comes in (a recording is
written from it).

Where several sources read one node, each signal (GPUs, device events, containers, …) is taken from
the most trusted one that gives it fresh (the profile's order of [[sources]], or [trust]);
the node keeps where each value came from and when (NodeStatus.sources). A source that
cannot read a node while another does is a warning on it, not the node down; a source that
does not answer at all is one alert for the fleet, and the nodes only it reads are stale.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from console.core.monitor import alerts as rules
from console.core.monitor import parse
from console.core.monitor.observe import (
    COLLECTED,
    METRICS,
    PROBE,
    SILENT,
    UNREACHABLE,
    Observation,
)
from console.core.monitor.readings import PROBE_SIGNALS, Reading
from console.core.profile.schema import SIGNALS, Cluster, FleetProfile, Node
from console.core.state import Alert, FleetState, NodeStatus, SourceHealth
from console.core.text import printable

HISTORY = 60  # GPU utilization samples kept per node (the sparkline)
CONSOLE = "fleetdeck"  # the node name of alerts about the console itself
EVENTS_KEEP_S = 600


class Tracker:
    def __init__(
        self,
        fleet: FleetProfile,
        interval: float,
        clock: Callable[[], float] = time.time,
        on_update: Callable[[], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.interval = interval
        self.clock = clock
        self.on_update = on_update
        self.hooks: list[Callable[[Observation], None]] = []  # e.g. a recording
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeStatus] = {}
        self._history: dict[str, deque[float]] = {}
        self._gap_floor: dict[str, float] = {}  # per node: the smallest arrival - probe time
        self._first_seen: dict[tuple[str, str], float] = {}
        self.serves_model: dict[str, bool] = {}
        self._rank = {  # per signal: source name -> its place in the order of trust
            signal: {name: i for i, name in enumerate(fleet.trust(signal))} for signal in SIGNALS
        }
        self._intervals: dict[str, float] = {}  # each source's refresh interval, as it said
        self._sources_down: dict[str, str] = {}  # source -> why it does not answer
        self._source_read: dict[str, float | None] = {}  # source -> when it last answered
        self._source_notes: dict[str, str | None] = {}  # source -> what it could not place
        self._judged: dict[str, tuple] = {}  # name -> (node, limits, findings): see _findings
        self._error_by: dict[str, str] = {}  # node -> the source whose error it shows
        for cluster, node in fleet.all_nodes():
            self.add(cluster, node)

    def add(self, cluster: Cluster, node: Node) -> None:
        """A node to track: the profile's, or one that joined it (a provision run)."""
        status = NodeStatus(
            node.name,
            cluster.name,
            node.role,
            self.fleet.cluster_stack(cluster),
            expected_gpus=node.gpus,
        )
        with self._lock:
            self._history[node.name] = deque(maxlen=HISTORY)
            self.serves_model[node.name] = bool(node.model or node.models)
            self._nodes[node.name] = status

    def join(self, cluster: Cluster, node: Node) -> bool:
        """A node a source found that the profile does not list (a GKE pool's): tracked from
        now on. False where it is tracked already."""
        with self._lock:
            if node.name in self._nodes:
                return False
        self.add(cluster, node)
        return True

    def _join_found(self, obs: Observation) -> bool:
        """A source's reading of a node it found carries where the node belongs ("found":
        cluster, role, GPUs), so that a recording of it replays with the node."""
        found = obs.reading.found if obs.kind == METRICS else None
        if found is None or printable(obs.node) != obs.node:
            return False  # (a name with control characters never becomes a row)
        cluster = next((c for c in self.fleet.clusters if c.name == found.cluster), None)
        if cluster is None:
            return False
        node = Node.model_construct(
            name=obs.node,
            host="",
            role=found.role,
            gpus=found.gpus,
            models=[],
            labels={"source": obs.source},
        )
        self.join(cluster, node)
        return True

    def source_state(self, source: str, error: str | None, note: str | None = None) -> None:
        """A source answers (None) or not (why): while it does not, the nodes read only
        from it keep their last values, stale, and the fleet gets one alert, not one each.
        `note`: what it read but could not place, said as an info alert."""
        note = printable(note) if note else None  # both read from servers: text from outside
        with self._lock:
            if error is None:
                self._sources_down.pop(source, None)
                self._source_read[source] = self.clock()
                self._source_notes[source] = note
            else:
                self._sources_down[source] = printable(error)
                self._source_read.setdefault(source, None)

    # -- in
    def names(self) -> set[str]:
        with self._lock:
            return set(self._nodes)

    def observe(self, obs: Observation, quiet: bool = False) -> None:
        """Takes what a source saw. `quiet`: the source tells on_update itself, once for
        all its nodes (a Prometheus read of 3,000 nodes is one update, not 3,000)."""
        if obs.node not in self._nodes and not self._join_found(obs):
            return  # a node the profile does not have (a recording of another profile)
        for hook in self.hooks:
            hook(obs)
        got = obs.reading
        if obs.kind == PROBE:
            self._probe(obs)
        elif obs.kind == UNREACHABLE:
            self._lost(obs, got.error or "unreachable", host_key_changed=got.host_key_changed)
        elif obs.kind == SILENT:
            self._lost(obs, got.error or "silent", reported_down=got.down)
        elif obs.kind == COLLECTED:
            changes = dict(got.collected)
            old = self.node(obs.node)
            signals = {s for s in ("chain", "services") if s in changes}
            taken = self._taken(old, signals, obs.source, obs.at)
            if "chain" not in taken:
                for key in ("chain", "chain_at", "chain_error"):
                    changes.pop(key, None)
            if "services" not in taken:
                changes.pop("services", None)
            if changes:
                self._set(obs.node, sources=_provenance(old, taken, obs.source, obs.at), **changes)
        elif obs.kind == METRICS:
            self._metrics(obs)
        if self.on_update is not None and not quiet:
            self.on_update()

    def _fresh_elsewhere(self, node: NodeStatus, source: str, at: float) -> bool:
        """Another source than `source` gives the node's values, fresh."""
        return any(
            src != source and at - when <= 2 * self._intervals.get(src, self.interval) + 1
            for sig, src, when in node.sources
            if sig != "kube"  # what Kubernetes says is of the node, not its values
        )

    def _lost(self, obs: Observation, error: str, **changes) -> None:
        """A source cannot read the node. Where another reads it, fresh, the node answers
        still: the error is said (a warning), its values are not called old."""
        old = self.node(obs.node)
        self._error_by[obs.node] = obs.source
        if self._fresh_elsewhere(old, obs.source, obs.at):
            changes.pop("reported_down", None)
            self._set(obs.node, error=error, **changes)
        else:
            self._set(obs.node, reachable=False, error=error, **changes)

    def _error_after(self, node: NodeStatus, source: str) -> str | None:
        """The node's error once `source` read it: gone if that source had said it."""
        if self._error_by.get(node.name, source) != source:
            return node.error  # another source's, which still stands
        self._error_by.pop(node.name, None)
        return None

    def _probe(self, obs: Observation) -> None:
        name, got = obs.node, obs.reading
        arrived = obs.at
        taken = got.taken
        delay = None
        if taken is not None:
            gap = arrived - taken
            floor = min(self._gap_floor.get(name, gap), gap)
            self._gap_floor[name] = floor
            delay = gap - floor
        with self._lock:
            old = self._nodes[name]
        mine = self._taken(old, PROBE_SIGNALS, obs.source, arrived)
        if mine != PROBE_SIGNALS:  # a more trusted source gives some of these, fresh
            self._metrics_from(obs, old, mine, arrived, None)
            return
        gpus = self._gpus(name, got)
        with self._lock:
            old = self._nodes[name]
            recent = parse.merge_events(old.events, got.events, arrived - EVENTS_KEEP_S)
            self._nodes[name] = replace(
                old,
                sources=_provenance(old, mine, obs.source, arrived),
                interval_s=None,
                reachable=True,
                error=self._error_after(old, obs.source),
                reported_down=False,
                host_key_changed=False,
                probe_at=taken,
                seen_at=arrived,
                link_delay_s=delay,
                gpus=gpus,
                gpu_source=got.gpu_source,
                gpu_error=got.gpu_error,
                events=recent,
                containers=got.containers,
                container_error=got.container_error,
                pods=False,
                system=got.system,
                util_history=tuple(self._history[name]),
                **got.provider,
            )

    def _gpus(self, name: str, got: Reading) -> tuple:
        """The GPUs a reading carries; their mean utilization joins the node's history."""
        utils = [g.util for g in got.gpus if g.util is not None and not g.lost]
        if utils:
            self._history[name].append(sum(utils) / len(utils))
        return got.gpus

    def _metrics(self, obs: Observation) -> None:
        got = obs.reading
        at = got.taken if got.taken is not None else obs.at
        if got.interval:
            self._intervals[obs.source] = got.interval
        old = self.node(obs.node)
        taken = self._taken(old, set(got.signals), obs.source, at)
        self._metrics_from(obs, old, taken, at, got.interval)

    def _metrics_from(
        self,
        obs: Observation,
        old: NodeStatus,
        taken: set[str],
        at: float,
        interval: float | None,
    ) -> None:
        """The signals of the reading this source may set (`taken`), set; the node answers."""
        got = obs.reading
        changes: dict = {}
        if "gpus" in taken:
            changes.update(
                gpus=self._gpus(obs.node, got),
                gpu_source=got.gpu_source,
                gpu_error=got.gpu_error,
                util_history=tuple(self._history[obs.node]),
            )
        if "events" in taken:
            changes["events"] = parse.merge_events(old.events, got.events, at - EVENTS_KEEP_S)
        if "containers" in taken:
            changes.update(
                containers=got.containers,
                container_error=got.container_error,
                pods=got.pods,
            )
        if "system" in taken and got.system is not None:
            changes["system"] = got.system
        if "kube" in taken and got.kube is not None:
            changes["kube"] = got.kube
        if not changes:
            return
        sources = _provenance(old, taken, obs.source, at)
        # the sources of its values (what Kubernetes says is of the node, not its values)
        others = {src for sig, src, _ in old.sources if sig != "kube"} - {obs.source}
        if "kube" in taken and others:  # Kubernetes' word: the values' age is their own
            self._set(obs.node, sources=sources, **changes)
            return
        newest = max(old.seen_at or 0.0, at)
        error = self._error_after(old, obs.source)
        changes.update(error=error, reported_down=old.reported_down and error is not None)
        self._set(
            obs.node,
            sources=sources,
            reachable=True,
            seen_at=newest,
            interval_s=interval if newest == at else old.interval_s,
            **changes,
        )

    def _taken(self, old: NodeStatus, signals: set[str], source: str, at: float) -> set[str]:
        """Of `signals`, those this source may set on the node: the ones no more trusted
        source gives, or gives no longer (its value older than two of its intervals)."""
        if not old.sources:
            return set(signals)
        out = set()
        for signal in signals:
            held = old.source_of(signal)
            if held is None or held[0] == source:
                out.add(signal)
                continue
            other, when = held
            rank = self._rank.get(signal, {})
            if rank.get(source, len(rank)) <= rank.get(other, len(rank)):
                out.add(signal)
            elif at - when > 2 * self._intervals.get(other, self.interval) + 1:
                out.add(signal)  # the trusted one went quiet: better a fresh value than none
        return out

    def _findings(self, name: str, node: NodeStatus, now: float, late: bool) -> list:
        """The node's alert findings. A live node without a chain part is judged on its
        values alone (no rule reads the clock then): while it is the same object, its
        findings are too, so a refresh of 3,000 nodes between two reads of their source
        judges none of them again."""
        limits, serves = self.fleet.alerts, self.serves_model[name]
        timeless = node.chain is None and node.reachable and not late
        held = self._judged.get(name)
        if timeless and held is not None and held[0] is node and held[1] is limits:
            return held[2]
        findings = rules.evaluate(node, limits, now, self.interval, serves, console_late=late)
        if timeless:
            self._judged[name] = (node, limits, findings)
        else:
            self._judged.pop(name, None)
        return findings

    def _set(self, name: str, **changes) -> None:
        with self._lock:
            self._nodes[name] = replace(self._nodes[name], **changes)

    # -- out
    def node(self, name: str) -> NodeStatus:
        with self._lock:
            return self._nodes[name]

    def nodes(self) -> dict[str, NodeStatus]:
        with self._lock:
            return dict(self._nodes)

    def snapshot(self, now: float | None = None, lag: float = 0.0) -> FleetState:
        """The fleet now: each node's state (stale ones marked), and the alerts, each with
        when it was first seen. `lag`: how late this process itself was (its own alert)."""
        now = self.clock() if now is None else now
        nodes = self.nodes()
        alerts: list[Alert] = []
        active: set[tuple[str, str]] = set()
        lagging = lag > self.interval  # fleetdeck itself was starved: its data is old
        if lagging:
            key = (CONSOLE, "console_lagging")
            active.add(key)
            alerts.append(
                Alert(
                    CONSOLE,
                    "console_lagging",
                    "warning",
                    "fleetdeck itself is lagging: node values are old, not the nodes down",
                    self._first_seen.setdefault(key, now),
                    f"this process woke {lag:.1f} s late (its machine loaded, or it was stopped)",
                    "check this machine (top, load, memory); the nodes may well be fine",
                )
            )
        with self._lock:
            sources_down = dict(self._sources_down)
        blind: dict[str, int] = dict.fromkeys(sources_down, 0)  # nodes each one leaves unread
        for name, node in nodes.items():
            unread = bool(sources_down) and _only_from(node, sources_down)
            if unread:  # its source is down, not (as far as anyone knows) the node
                why = "; ".join(sorted({sources_down[s] for _, s, _ in node.sources}))
                node = nodes[name] = replace(node, source_down=why)
                for s in {s for _, s, _ in node.sources}:
                    blind[s] += 1
            # stale because fleetdeck was late is not the node's fault: judged on its
            # last values, not marked unreachable
            elif node.reachable and node.stale(now, self.interval) and not lagging:
                node = replace(node, reachable=False, error=node.error or "probe silent")
                nodes[name] = node
            for f in self._findings(name, node, now, lagging or unread):
                key = (name, f.kind)
                active.add(key)
                since = self._first_seen.setdefault(key, now)
                alerts.append(
                    Alert(name, f.kind, f.severity, f.summary, since, f.evidence, f.next_step)
                )
        with self._lock:
            read, notes = dict(self._source_read), dict(self._source_notes)
        health = tuple(
            SourceHealth(
                name, name not in sources_down, at, sources_down.get(name), notes.get(name)
            )
            for name, at in read.items()
        )
        for h in health:
            if h.note and h.ok:
                key = (CONSOLE, f"source_note:{h.name}")
                active.add(key)
                alerts.append(
                    Alert(
                        CONSOLE,
                        key[1],
                        "info",
                        f"status source {h.name!r}: {h.note}",
                        self._first_seen.setdefault(key, now),
                        "they are read but shown nowhere",
                        "name their cluster: the source's cluster_label or cluster (fleetdeck "
                        "check PROFILE)",
                    )
                )
        for source, why in sources_down.items():
            key = (CONSOLE, f"source_down:{source}")
            active.add(key)
            count = blind.get(source, 0)
            if count or read.get(source) is not None:
                what = f"{count} nodes' values are old, not the nodes down"
            else:  # never answered: its nodes are not known at all, not known to be fine
                what = "nothing has been read from it, so its nodes are unknown"
            alerts.append(
                Alert(
                    CONSOLE,
                    key[1],
                    "critical",
                    f"status source {source!r} does not answer: {what}",
                    self._first_seen.setdefault(key, now),
                    why,
                    "check the source (its server, its URL and credentials in the profile's "
                    "[[sources]]); the nodes keep their last values, marked stale",
                )
            )
        for name, f in rules.behind_peers(nodes, self.fleet.alerts):
            key = (name, f.kind)
            active.add(key)
            since = self._first_seen.setdefault(key, now)
            alerts.append(
                Alert(name, f.kind, f.severity, f.summary, since, f.evidence, f.next_step)
            )
        for key in list(self._first_seen):
            if key not in active:
                del self._first_seen[key]
        order = {"critical": 0, "warning": 1, "info": 2}
        alerts = rules.compare_with_peers(alerts, nodes)
        alerts.sort(key=lambda a: (order.get(a.severity, 3), a.since, a.node))
        return FleetState(
            nodes, tuple(alerts), now, self.interval, console_lag_s=lag, sources=health
        )


def _only_from(node: NodeStatus, down: dict[str, str]) -> bool:
    """Every value the node has came from a source that is down now."""
    return bool(node.sources) and all(s in down for _, s, _ in node.sources)


def _provenance(
    old: NodeStatus, signals: set[str], source: str, at: float
) -> tuple[tuple[str, str, float], ...]:
    """The node's (signal, source, taken at) list with `signals` now from `source`."""
    kept = [entry for entry in old.sources if entry[0] not in signals]
    return tuple(sorted(kept + [(s, source, at) for s in signals]))
