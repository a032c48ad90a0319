"""The Monitor: the SSH status source, feeding the Tracker that keeps FleetState live,
and the profile's other sources beside it (console/core/monitor/sources.py).

One long-lived probe per node streams a JSON line per interval over that node's single
pooled connection; HTTP collectors poll chain and services over channels of that same
connection (console/core/transport/sshhttp.py), kept open between rounds. Each node has
its own reader thread, so a slow or hung node never delays the others; a node that stops
answering keeps its last values, marked stale with their age. What it sees goes to the
Tracker as observations (console/core/monitor/observe.py), as any other source's would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import shlex
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path

import httpx
import paramiko

from console.core.monitor import collect
from console.core.monitor.observe import COLLECTED, PROBE, UNREACHABLE, Observation
from console.core.monitor.readings import ReadingError
from console.core.monitor.sources import SourcePoller, pollers_for
from console.core.monitor.tracker import CONSOLE, Tracker  # noqa: F401 - CONSOLE: part of the API
from console.core.profile_schema import Cluster, FleetProfile, Node, StackSection
from console.core.stacks import STACKS
from console.core.stacks.collectors import COLLECTORS
from console.core.state import FleetState, NodeStatus
from console.core.transport.ssh import HostKeyChanged, Pool, SshError, targets_of
from console.core.transport.sshhttp import ChannelBackend, node_client

PROBE_SOURCE = Path(__file__).resolve().parent.parent / "probe.py"
SOURCE = "ssh"
LATENCY_EVERY = 15.0  # seconds between synthetic inference requests per node


# the probe's dear readings (df, process lists) every ten intervals, at least every 5 s
SLOW_INTERVALS, SLOW_MIN_S = 10, 5.0


def probe_command(interval: float, paths: list[str]) -> str:
    blob = base64.b64encode(zlib.compress(PROBE_SOURCE.read_bytes(), 9)).decode()
    slow = max(SLOW_MIN_S, SLOW_INTERVALS * interval)
    args = f" --interval {interval} --slow {slow}" + "".join(
        f" --path {shlex.quote(p)}" for p in paths
    )
    return (
        f'python3 -u -c "import base64,zlib;exec(zlib.decompress(base64.b64decode('
        f"'{blob}')))\"{args}"
    )


HEARTBEAT_S = 0.25
FIRST_LINE_S = 30.0  # a probe's first line: its interpreter starting on a loaded node
# nodes between connecting and their probe's first line at once: hundreds of handshakes
# and interpreter starts together starve this machine (and a simulated fleet's), and every
# one of them then misses its time; in waves, each start is quick
STARTING_AT_ONCE = 48
BACKOFF_MAX_S = 60.0


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
        self.latency_every = latency_every
        self.fleet = fleet
        self.pool = pool
        self.interval = interval or fleet.alerts.probe_interval_s
        self.on_update = on_update
        self.clock = clock
        self.collect_http = collect_http
        self.tracker = Tracker(fleet, self.interval, clock, on_update)
        self.closers: list[Callable[[], None]] = []  # run by stop(): the pool, a recording
        self.attempts = 0  # probe starts tried (a reconnect storm shows here)
        self._starting = threading.BoundedSemaphore(STARTING_AT_ONCE)
        self._clients: dict[str, tuple[httpx.Client, ChannelBackend]] = {}
        self._model: dict[str, str | None] = {}
        self._collected: set[str] = set()
        self._last_latency: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lag: deque[tuple[float, float]] = deque(maxlen=64)  # (when, seconds late)
        self._beat = 0.0  # when the heartbeat last went to sleep (monotonic)
        self._channels: dict[str, paramiko.Channel] = {}
        self._commands: dict[str, str] = {}  # the probe's command line, per node
        self._settings: dict[str, StackSection] = {}  # each node's cluster's stack settings
        self._ssh: set[str] = set()  # the nodes the SSH probe watches (all, unless limited)
        for cluster, node in fleet.all_nodes():
            self._prepare(cluster, node)
        # the profile's other sources (Prometheus, a stack's metrics endpoint), polled
        # beside the probes into the same tracker
        self.sources: list[SourcePoller] = pollers_for(fleet, self.tracker, pool, clock)
        self.closers.extend(p.close for p in self.sources)

    def _prepare(self, cluster: Cluster, node: Node) -> None:
        settings = self.fleet.stack_settings(cluster)
        # the disks that matter: the deploy dir and the model cache; the root fs otherwise
        paths = [p for p in (settings.deploy_dir, settings.hf_home) if p] or ["/"]
        self._commands[node.name] = probe_command(self.interval, paths)
        self._settings[node.name] = settings
        models = [node.model] if node.model else list(node.models)
        self._model[node.name] = models[0] if models else None
        if self.fleet.probed_by_ssh(cluster, node):
            self._ssh.add(node.name)

    def grow(self, fleet: FleetProfile) -> list[str]:
        """Watch the nodes `fleet` has that this monitor does not (a provision run wrote
        them into the profile while the console runs): each gets its probe stream, as the
        first ones did. Returns their names."""
        known = self.tracker.nodes()
        new = [(c, n) for c, n in fleet.all_nodes() if n.name not in known]
        self.fleet = self.tracker.fleet = fleet
        names = {n.name for _, n in new}
        self.pool.add([t for t in targets_of(fleet) if t.name in names])
        for cluster, node in new:
            self._prepare(cluster, node)
            self.tracker.add(cluster, node)
            if node.name not in self._ssh:
                continue
            if not self._stop.is_set() and self._threads:  # started: watch it now
                t = threading.Thread(
                    target=self._stream, args=(node.name,), daemon=True, name=f"probe-{node.name}"
                )
                t.start()
                self._threads.append(t)
        return [n.name for _, n in new]

    # -- life cycle
    def start(self) -> None:
        for poller in self.sources:
            t = threading.Thread(
                target=poller.run, args=(self._stop,), daemon=True, name=f"source-{poller.name}"
            )
            t.start()
            self._threads.append(t)
        for name in self.tracker.nodes():
            if name not in self._ssh:
                continue
            t = threading.Thread(
                target=self._stream, args=(name,), daemon=True, name=f"probe-{name}"
            )
            t.start()
            self._threads.append(t)
        if self.collect_http:
            t = threading.Thread(target=self._collect_loop, daemon=True, name="collect")
            t.start()
            self._threads.append(t)
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
        for chan in list(self._channels.values()):
            with contextlib.suppress(Exception):
                chan.close()
        deadline = time.monotonic() + 2  # in all: not 2 s per stuck node
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for name in list(self._clients):
            self._drop_http_client(name)
        for close in self.closers:
            with contextlib.suppress(Exception):
                close()

    # -- the probe stream of one node
    def _backoff(self, failures: int) -> float:
        """Seconds before the next attempt after `failures` in a row: doubling from the
        interval up to ten intervals (a minute at most), jittered, so that a fleet that lost
        its link (or a console just started on hundreds of nodes) does not reconnect all at
        once, over and over."""
        cap = min(BACKOFF_MAX_S, 10 * self.interval)  # a fixed host is back soon enough
        base = min(cap, self.interval * 2 ** max(0, failures - 1))
        return base * random.uniform(0.5, 1.0)  # noqa: S311 - spreading retries, not a secret

    def _stream(self, name: str) -> None:
        failures = 0
        while not self._stop.is_set():
            if not self._starting.acquire(timeout=0.5):
                continue  # a wave of starts is on: wait for a slot (or for stop)
            slot = [True]  # held until the probe's first line, or the attempt's end
            try:
                failures, pause = self._attempt(name, failures, slot)
            finally:
                self._free(slot)
            self._stop.wait(pause)  # a backoff never holds a slot

    def _free(self, slot: list[bool]) -> None:
        if slot[0]:
            slot[0] = False
            self._starting.release()

    def _attempt(self, name: str, failures: int, slot: list[bool]) -> tuple[int, float]:
        """One probe stream of a node, from connecting to its end: (failures in a row, how
        long to wait before the next)."""
        try:
            chan = self.pool.open_stream(name, self._commands[name])
        except HostKeyChanged as exc:
            self._unreachable(name, exc.reason, host_key_changed=True)
            return failures, max(self.interval, 5)
        except SshError as exc:
            self.attempts += 1
            self._unreachable(name, exc.reason)
            return failures + 1, self._backoff(failures + 1)
        except Exception as exc:  # noqa: BLE001 - a bug must not end this node's updates
            self._unreachable(name, f"probe start: {type(exc).__name__}: {exc}")
            return failures + 1, self._backoff(failures + 1)
        self.attempts += 1
        self._channels[name] = chan
        # the first line has time for the probe to start on a loaded node; after it, a
        # silent channel is a hung node: given up on after two intervals
        chan.settimeout(max(FIRST_LINE_S, 2 * self.interval + 1))
        reason, lines = self._read(name, chan, lambda: self._free(slot))
        self._channels.pop(name, None)
        with contextlib.suppress(Exception):
            chan.close()
        if self._stop.is_set():
            return failures, 0.0
        self.pool.drop(name)
        self._unreachable(name, reason)
        failures = 0 if lines else failures + 1
        return failures, (min(self.interval, 1.0) if lines else self._backoff(failures))

    def _read(
        self, name: str, chan: paramiko.Channel, started: Callable[[], None] = lambda: None
    ) -> tuple[str, int]:
        """Why the stream ended, and how many lines it gave; `started` is called at the
        first line."""
        buf = b""
        lines = 0
        try:
            while not self._stop.is_set():
                try:
                    data = chan.recv(65536)
                except TimeoutError:
                    if self.console_lag(self.clock()) > self.interval:
                        continue  # fleetdeck was the one asleep: give the node its time
                    raise
                if not data:
                    err = b""
                    with contextlib.suppress(Exception):
                        while chan.recv_stderr_ready():
                            err += chan.recv_stderr(65536)
                    tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
                    status = chan.recv_exit_status() if chan.exit_status_ready() else None
                    said = f"probe exited ({status}): {tail[0]}" if tail[0] else "connection closed"
                    return said, lines
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self._line(name, line)
                    if not lines:  # the probe runs: from now on, two intervals of silence
                        chan.settimeout(2 * self.interval + 1)
                        started()
                    lines += 1
        except TimeoutError:
            if not lines:
                return f"the probe printed nothing in {chan.gettimeout():.0f} s (host hung?)", 0
            return f"no answer for {2 * self.interval + 1:.0f} s (host hung?)", lines
        except (OSError, EOFError, paramiko.SSHException) as exc:
            return f"connection lost: {exc}", lines
        return "stopped", lines

    def _line(self, name: str, raw: bytes) -> None:
        try:
            line = json.loads(raw)
        except ValueError:
            return  # a partial or foreign line; the next one will do
        if not isinstance(line, dict):
            return
        try:
            seen = Observation(name, self.clock(), SOURCE, PROBE, line)
        except ReadingError:
            return  # a line of the wrong shape: the next one will do
        self.tracker.observe(seen)

    def _unreachable(self, name: str, error: str, host_key_changed: bool = False) -> None:
        data = {"error": error, "host_key_changed": host_key_changed}
        self.tracker.observe(Observation(name, self.clock(), SOURCE, UNREACHABLE, data))

    # -- HTTP collectors
    def _collect_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            names = [
                n for n, s in self.tracker.nodes().items() if n in self._ssh and self._wants_http(s)
            ]
            self.pool.fan_out(names, self._collect_one)
            self._stop.wait(max(0.2, self.interval - (time.monotonic() - started)))

    def _wants_http(self, status: NodeStatus) -> bool:
        return COLLECTORS[status.stack].wants(status.role, self.tracker.serves_model[status.name])

    def _http_client(self, name: str) -> httpx.Client:
        """The node's HTTP client, kept across rounds: its keep-alive connections are SSH
        channels held open, instead of a new channel per request."""
        if name not in self._clients:
            self._clients[name] = node_client(self.pool, name, collect.TIMEOUT)
        return self._clients[name][0]

    def http_channels(self) -> tuple[int, int]:
        """(nodes with an HTTP client, SSH channels their clients opened, in all)."""
        backends = [backend for _, backend in list(self._clients.values())]
        return len(backends), sum(b.opened for b in backends)

    def _drop_http_client(self, name: str) -> None:
        held = self._clients.pop(name, None)
        if held is not None:
            client, _ = held
            with contextlib.suppress(Exception):
                client.close()

    def _collect_one(self, name: str) -> None:
        status = self.tracker.node(name)
        if not status.reachable:
            if status.error is not None:  # decided: unreachable; nothing to collect
                self._collected.add(name)
            self._drop_http_client(name)  # its channels went with the connection
            return
        http = collect.NodeHttp(name, self._http_client(name))
        changes: dict = {}
        collector = COLLECTORS[status.stack]
        settings = self._settings[name]
        if status.role in STACKS[status.stack].chain_roles:
            try:
                chain = collector.chain(http, settings, status)
                changes.update(chain=chain, chain_at=self.clock(), chain_error=None)
            except (httpx.HTTPError, SshError, KeyError, ValueError) as exc:
                changes.update(chain=None, chain_error=f"{type(exc).__name__}: {exc}")
        now = time.monotonic()
        measure = now - self._last_latency.get(name, 0) >= self.latency_every
        if measure:
            self._last_latency[name] = now
        try:
            services = collector.services(
                http,
                settings,
                status.role,
                self.tracker.serves_model[name],
                self._model[name],
                measure,
            )
            old = {s.name: s for s in status.services}
            if not measure:  # keep the last latency measurement between rounds
                services += [s for n, s in old.items() if n.endswith("latency")]
            changes["services"] = tuple(services)
        except SshError:
            pass
        if changes:
            self.tracker.observe(Observation(name, self.clock(), SOURCE, COLLECTED, changes))
        self._collected.add(name)

    # -- reading the state
    def snapshot(self) -> FleetState:
        now = self.clock()
        return self.tracker.snapshot(now, self.console_lag(now))

    def complete(self) -> bool:
        """Every node has answered or failed once, and the HTTP collectors ran once."""
        nodes = [n for n in self.tracker.nodes().values() if n.name in self._ssh]
        first_pass = all(n.seen_at is not None or n.error is not None for n in nodes)
        first_pass = first_pass and all(p.first_read.is_set() for p in self.sources)
        if not self.collect_http:
            return first_pass
        wanted = {n.name for n in nodes if self._wants_http(n)}
        return first_pass and wanted <= self._collected

    def wait_complete(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the first pass; a source still silent then is said
        down (status's exit 2), not left out: a status that waited on it is no green."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.complete():
                return True
            time.sleep(0.05)
        for poller in self.sources:
            if not poller.first_read.is_set():
                self.tracker.source_state(poller.name, f"no answer within {timeout:g} s")
        return self.complete()
