"""The Monitor: the live status pipeline. It owns the Tracker that keeps FleetState live
and the sources that feed it, each a StatusSource (sources.py): the SSH source (ssh_source.py:
probes and HTTP collectors over each node's one connection) and the profile's other
[[sources]] (Prometheus, Kubernetes, a stack's metrics endpoint), started and stopped
together; and a heartbeat that says when this process itself was late (a starved console
must not call every node stale). pipeline.py builds it, with a recording if asked."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

from console.core.monitor.sources import SourcePoller, pollers_for
from console.core.monitor.ssh_source import LATENCY_EVERY, SshSource
from console.core.monitor.tracker import CONSOLE, Tracker  # noqa: F401 - CONSOLE: part of the API
from console.core.profile.schema import FleetProfile
from console.core.state import FleetState
from console.core.transport.ssh import Pool

HEARTBEAT_S = 0.25


class Monitor:
    def __init__(
        self,
        fleet: FleetProfile,
        pool: Pool,
        interval: float | None = None,
        on_update: Callable[[], None] | None = None,
        clock=time.time,
        collect_http: bool = True,
        latency_every: float = LATENCY_EVERY,
    ) -> None:
        self.fleet = fleet
        self.pool = pool
        self.interval = interval or fleet.alerts.probe_interval_s
        self.on_update = on_update
        self.clock = clock
        self.tracker = Tracker(fleet, self.interval, clock, on_update)
        self.closers: list[Callable[[], None]] = []  # run by stop(): the pool, a recording
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []  # the SSH source's and the heartbeat
        self._polling: list[threading.Thread] = []  # the other sources' pollers
        self._lag: deque[tuple[float, float]] = deque(maxlen=64)  # (when, seconds late)
        self._beat = 0.0  # when the heartbeat last went to sleep (monotonic)
        self.ssh = SshSource(
            fleet,
            pool,
            self.tracker,
            self.interval,
            clock,
            collect_http,
            latency_every,
            lag=self.console_lag,
        )
        # the profile's other sources (Prometheus, a stack's metrics endpoint), polled
        # beside the probes into the same tracker
        self.sources: list[SourcePoller] = pollers_for(fleet, self.tracker, pool, clock)
        self.closers.extend(p.close for p in self.sources)

    @property
    def attempts(self) -> int:
        return self.ssh.attempts

    def grow(self, fleet: FleetProfile) -> list[str]:
        """Watch the nodes `fleet` has that this monitor does not (a provision run wrote
        them into the profile while the console runs): each gets its probe stream, as the
        first ones did. Returns their names."""
        known = self.tracker.nodes()
        new = [(c, n) for c, n in fleet.all_nodes() if n.name not in known]
        self.fleet = self.tracker.fleet = fleet
        for cluster, node in new:
            self.tracker.add(cluster, node)
        self.ssh.grow(fleet, new)
        return [n.name for _, n in new]

    def http_channels(self) -> tuple[int, int]:
        """(nodes with an HTTP client, SSH channels their clients opened, in all)."""
        return self.ssh.http_channels()

    # -- life cycle
    def start(self) -> None:
        for source in self.sources:
            self._polling.extend(source.start(self._stop))
        self._threads.extend(self.ssh.start(self._stop))
        t = threading.Thread(target=self._heartbeat, daemon=True, name="heartbeat")
        t.start()
        self._threads.append(t)

    def _heartbeat(self) -> None:
        """How late this process wakes up: a starved console (its machine loaded, its
        process stopped) sees every node go stale at once, and must say it is the one."""
        while True:
            asked = self._beat = time.monotonic()
            if self._stop.wait(HEARTBEAT_S):
                return
            self.note_lag(time.monotonic() - asked - HEARTBEAT_S)

    def note_lag(self, late: float) -> None:
        if late > 0.05:
            self._lag.append((self.clock(), late))

    def console_lag(self, now: float) -> float:
        """The longest this process was late to wake in the last two intervals and a bit."""
        recent = [late for at, late in list(self._lag) if now - at <= 2 * self.interval + 1]
        # a heartbeat not yet woken after a stop is late by now too
        overdue = time.monotonic() - self._beat - HEARTBEAT_S if self._beat else 0.0
        return max([*recent, overdue], default=0.0)

    def stop(self) -> None:
        self._stop.set()
        self.ssh.stop()
        deadline = time.monotonic() + 2  # in all: not 2 s per stuck node
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        # a poller waiting on a silent server holds nothing to tidy: not waited on for long
        # (`status` would hang on after its answer, for a source it already called down)
        for t in self._polling:
            t.join(timeout=0.1)
        self.ssh.close()
        for close in self.closers:
            with contextlib.suppress(Exception):
                close()

    # -- reading the state
    def snapshot(self) -> FleetState:
        now = self.clock()
        return self.tracker.snapshot(now, self.console_lag(now))

    def complete(self) -> bool:
        """Every source has answered (or failed) once: each SSH node, its collectors, and
        every other source."""
        return self.ssh.complete() and all(s.complete() for s in self.sources)

    def wait_complete(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the first pass; a source still silent then is said
        down (status's exit 2), not left out: a status that waited on it is no green."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.complete():
                return True
            time.sleep(0.05)
        for source in self.sources:
            if not source.complete():
                self.tracker.source_state(source.name, f"no answer within {timeout:g} s")
        return self.complete()
