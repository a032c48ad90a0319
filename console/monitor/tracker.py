"""The Tracker: the one owner of the fleet's node states, their staleness and alerts.

Sources hand it observations (console/monitor/observe.py); it keeps each node's status,
its GPU history and Xid record, and says what the fleet looks like now (`snapshot`),
whatever the source: the SSH monitor, a recording being replayed, later others. A hook
sees every observation as it comes in (a recording is written from it).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from console.monitor import alerts as rules
from console.monitor import golem, parse
from console.monitor.observe import COLLECTED, PROBE, UNREACHABLE, Observation, collected_changes
from console.profile_schema import Cluster, FleetProfile, Node
from console.state import Alert, FleetState, NodeStatus
from console.text import printable, printable_tree

HISTORY = 60  # GPU utilization samples kept per node (the sparkline)
CONSOLE = "fleetdeck"  # the node name of alerts about the console itself
XID_KEEP_S = 600


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

    # -- in
    def observe(self, obs: Observation) -> None:
        if obs.node not in self._nodes:
            return  # a node the profile does not have (a recording of another profile)
        for hook in self.hooks:
            hook(obs)
        if obs.kind == PROBE:
            self._probe(obs)
        elif obs.kind == UNREACHABLE:
            self._set(
                obs.node,
                reachable=False,
                error=printable(str(obs.data.get("error") or "unreachable")),
                host_key_changed=bool(obs.data.get("host_key_changed")),
            )
        elif obs.kind == COLLECTED:
            try:
                changes = collected_changes(obs.data)
            except (TypeError, ValueError):  # a damaged recording's line: skipped, not fatal
                return
            self._set(obs.node, **changes)
        if self.on_update is not None:
            self.on_update()

    def _probe(self, obs: Observation) -> None:
        name = obs.node
        line = printable_tree(obs.data)  # node text never drives the terminal
        gpus = parse.gpus(line)
        utils = [g.util for g in gpus if g.util is not None and not g.lost]
        if utils:
            self._history[name].append(sum(utils) / len(utils))
        arrived = obs.at
        taken = line.get("t")
        delay = None
        if isinstance(taken, (int, float)):
            gap = arrived - taken
            floor = min(self._gap_floor.get(name, gap), gap)
            self._gap_floor[name] = floor
            delay = gap - floor
        provider = {}
        if isinstance(line.get("golem"), dict):  # read every slow period, kept between
            provider = golem.reading(line["golem"])
        with self._lock:
            old = self._nodes[name]
            recent = parse.merge_xids(old.xids, parse.xids(line), arrived - XID_KEEP_S)
            self._nodes[name] = replace(
                old,
                reachable=True,
                error=None,
                host_key_changed=False,
                probe_at=taken,
                seen_at=arrived,
                link_delay_s=delay,
                gpus=gpus,
                gpu_source=line.get("gpu_source"),
                gpu_error=line.get("gpu_error"),
                xids=recent,
                containers=parse.containers(line),
                container_error=line.get("container_error"),
                system=parse.system(line),
                util_history=tuple(self._history[name]),
                **provider,
            )

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
        for name, node in nodes.items():
            # stale because fleetdeck was late is not the node's fault: judged on its
            # last values, not marked unreachable
            if node.reachable and node.stale(now, self.interval) and not lagging:
                node = replace(node, reachable=False, error=node.error or "probe silent")
                nodes[name] = node
            for f in rules.evaluate(
                node,
                self.fleet.alerts,
                now,
                self.interval,
                self.serves_model[name],
                console_late=lagging,
            ):
                key = (name, f.kind)
                active.add(key)
                since = self._first_seen.setdefault(key, now)
                alerts.append(
                    Alert(name, f.kind, f.severity, f.summary, since, f.evidence, f.next_step)
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
        return FleetState(nodes, tuple(alerts), now, self.interval, console_lag_s=lag)
