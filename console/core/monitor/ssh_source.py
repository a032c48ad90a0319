"""The SSH status source: one long-lived probe per node streams a JSON line per interval
over that node's single pooled connection; HTTP collectors poll chain and services over
channels of that same connection (console/core/transport/sshhttp.py), kept open between
rounds. Each node has its own reader thread, so a slow or hung node never delays the
others; a node that stops answering keeps its last values, marked stale with their age.
What it sees it emits as observations (observe.py), read where they are made, as any other
source's are. The Monitor (monitor.py) starts it beside the profile's other sources."""

from __future__ import annotations

import base64
import contextlib
import functools
import random
import shlex
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import paramiko

from console.core.accelerators import ACCELERATORS
from console.core.monitor import collect
from console.core.monitor.observe import COLLECTED, PROBE, UNREACHABLE, Observation
from console.core.monitor.readings import ReadingError
from console.core.monitor.startwindow import Start, StartWindow
from console.core.monitor.tracker import Tracker
from console.core.profile.schema import Cluster, FleetProfile, Node, StackSection
from console.core.stacks import STACKS
from console.core.stacks.collectors import COLLECTORS
from console.core.state import NodeStatus
from console.core.text import printable_json
from console.core.transport.ssh import HostKeyChanged, Pool, SshError, targets_of
from console.core.transport.sshhttp import ChannelTransport, node_client

PROBE_SOURCE = Path(__file__).resolve().parent.parent / "probe.py"
SOURCE = "ssh"
LATENCY_EVERY = 15.0  # seconds between synthetic inference requests per node
# A chain node's collector reads the whole chain (peers, validator set, participants,
# versions, its admin's view) on the node's full rounds: every FULL_EVERY_S, every
# interval when the interval is longer, at most every FULL_INTERVALS intervals when it is
# short, and on the round after one that could not read it; between them only what moves
# with each block (the stack's collector says what: two requests of nine on a chain
# node). Services' health is asked every round: what a service said decides whether the
# node serves, and so its alerts and its uptime.
FULL_EVERY_S, FULL_INTERVALS = 10.0, 5


# the probe's dear readings (df, process lists) every ten intervals, at least every 5 s
SLOW_INTERVALS, SLOW_MIN_S = 10, 5.0


MAIN = '\nif __name__ == "__main__":'


def probe_script(parts: tuple[Path, ...] = ()) -> str:
    """The probe's source, with every accelerator vendor's part and the stacks' probe parts
    put before its main(): a vendor's adds its reader to the probe's DEVICES (as text
    compiled on the node only where its programs are, when it names them), a stack's its
    readers to EXTRA."""
    head, tail = PROBE_SOURCE.read_text().split(MAIN, 1)
    vendors = "".join(
        f"\nDEVICES.append(later({a.name!r}, {a.probe_needs!r}, {a.probe_part.read_text()!r}))\n"
        if a.probe_needs
        else f"\n{a.probe_part.read_text()}\nDEVICES.append(devices)\n"
        for a in ACCELERATORS.values()
    )
    stacks = "".join(
        f"\n{part.read_text()}\nEXTRA.extend((k, Every(s), f) for k, s, f in readers())\n"
        for part in parts
    )
    return head + vendors + stacks + MAIN + tail


def probe_parts(stack: str) -> tuple[Path, ...]:
    """The probe parts a node of `stack` runs: its own and those of the stacks it builds on."""
    info = STACKS.get(stack)
    if info is None:
        return ()
    mine = (info.probe_part,) if info.probe_part else ()
    return tuple(dict.fromkeys(sum((probe_parts(s) for s in info.builds_on), ()) + mine))


@functools.lru_cache(maxsize=64)
def probe_command(interval: float, paths: tuple[str, ...], parts: tuple[Path, ...] = ()) -> str:
    script = probe_script(parts).encode()
    blob = base64.b64encode(zlib.compress(script, 9)).decode()
    slow = max(SLOW_MIN_S, SLOW_INTERVALS * interval)
    args = f" --interval {interval} --slow {slow}" + "".join(
        f" --path {shlex.quote(p)}" for p in paths
    )
    # binascii is built in; base64's module costs each start ~2 ms of imports
    return (
        f'python3 -u -c "import binascii,zlib;exec(zlib.decompress(binascii.a2b_base64('
        f"'{blob}')))\"{args}"
    )


FIRST_LINE_S = 30.0  # a probe's first line: its interpreter starting on a loaded node
# a first line back within QUICK_S lets one more node start at once, one later than SLOW_S
# halves how many may (startwindow.py: sized by what comes back, not a fixed wave)
QUICK_S, SLOW_S = 3.0, FIRST_LINE_S / 3
BACKOFF_MAX_S = 60.0


class SshSource:
    """The nodes the profile has SSH reach to, probed and collected from (a StatusSource)."""

    name = SOURCE

    def __init__(
        self,
        fleet: FleetProfile,
        pool: Pool,
        tracker: Tracker,
        interval: float,
        clock: Callable[[], float] = time.time,
        collect_http: bool = True,
        latency_every: float = LATENCY_EVERY,
        lag: Callable[[float], float] = lambda now: 0.0,
    ) -> None:
        self.fleet, self.pool, self.tracker = fleet, pool, tracker
        self.interval, self.clock = interval, clock
        self.collect_http, self.latency_every = collect_http, latency_every
        self.console_lag = lag  # how late this process woke lately (the Monitor's heartbeat)
        self.attempts = 0  # probe starts tried (a reconnect storm shows here)
        self.starts = StartWindow(QUICK_S, SLOW_S)
        self._clients: dict[str, tuple[httpx.Client, ChannelTransport]] = {}
        self._model: dict[str, str | None] = {}
        self._collected: set[str] = set()
        self._last_latency: dict[str, float] = {}
        self._last_full: dict[str, float] = {}
        self.full_every = max(interval, min(FULL_EVERY_S, FULL_INTERVALS * interval))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._channels: dict[str, paramiko.Channel] = {}
        self._commands: dict[str, str] = {}  # the probe's command line, per node
        self._settings: dict[str, StackSection] = {}  # each node's cluster's stack settings
        self._ssh: set[str] = set()  # the nodes the SSH probe watches (all, unless limited)
        for cluster, node in fleet.all_nodes():
            self._prepare(cluster, node)

    def _prepare(self, cluster: Cluster, node: Node) -> None:
        settings = self.fleet.stack_settings(cluster)
        # the disks that matter: the deploy dir and the model cache; the root fs otherwise
        paths = [p for p in (settings.deploy_dir, settings.hf_home) if p] or ["/"]
        parts = probe_parts(self.fleet.cluster_stack(cluster))
        self._commands[node.name] = probe_command(self.interval, tuple(paths), parts)
        self._settings[node.name] = settings
        models = [node.model] if node.model else list(node.models)
        self._model[node.name] = models[0] if models else None
        if self.fleet.probed_by_ssh(cluster, node):
            self._ssh.add(node.name)

    def grow(self, fleet: FleetProfile, new: list[tuple[Cluster, Node]]) -> None:
        """Watch `new` nodes too (a provision run wrote them into the profile)."""
        self.fleet = fleet
        names = {n.name for _, n in new}
        self.pool.add([t for t in targets_of(fleet) if t.name in names])
        for cluster, node in new:
            self._prepare(cluster, node)
        for _, node in new:
            if node.name in self._ssh and not self._stop.is_set() and self._threads:
                self._spawn(self._stream, node.name, f"probe-{node.name}")

    # -- life cycle (the StatusSource contract)
    def start(self, stop: threading.Event) -> list[threading.Thread]:
        self._stop = stop
        for name in self.tracker.nodes():
            if name in self._ssh:
                self._spawn(self._stream, name, f"probe-{name}")
        if self.collect_http:
            self._spawn(self._collect_loop, None, "collect")
        return self._threads

    def _spawn(self, target, arg, name: str) -> None:
        args = (arg,) if arg is not None else ()
        t = threading.Thread(target=target, args=args, daemon=True, name=name)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Close the streams (the stop event is set: their threads end); the HTTP clients
        go after the threads (Monitor.stop joins them between)."""
        for chan in list(self._channels.values()):
            with contextlib.suppress(Exception):
                chan.close()

    def close(self) -> None:
        for name in list(self._clients):
            self._drop_http_client(name)

    def complete(self) -> bool:
        """Every node has answered or failed once, and the HTTP collectors ran once."""
        nodes = [n for n in self.tracker.nodes().values() if n.name in self._ssh]
        first_pass = all(n.seen_at is not None or n.error is not None for n in nodes)
        if not self.collect_http:
            return first_pass
        wanted = {n.name for n in nodes if self._wants_http(n)}
        return first_pass and wanted <= self._collected

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
            start = self.starts.enter(timeout=0.5)
            if start is None:
                continue  # as many as the window allows are starting: wait (or stop)
            try:
                failures, pause = self._attempt(name, failures, start)
            finally:
                start.neutral()  # a start that did not size the window gives its slot back
            self._stop.wait(pause)  # a backoff never holds a slot

    def _attempt(self, name: str, failures: int, start: Start) -> tuple[int, float]:
        """One probe stream of a node, from connecting to its end: (failures in a row, how
        long to wait before the next). `start` is held until the probe's first line."""
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
        reason, lines = self._read(name, chan, start.answered, start.silent)
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
        self,
        name: str,
        chan: paramiko.Channel,
        started: Callable[[], None] = lambda: None,
        silent: Callable[[], None] = lambda: None,
    ) -> tuple[str, int]:
        """Why the stream ended, and how many lines it gave; `started` is called at the
        first line, `silent` when none came in its time."""
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
                silent()
                return f"the probe printed nothing in {chan.gettimeout():.0f} s (host hung?)", 0
            return f"no answer for {2 * self.interval + 1:.0f} s (host hung?)", lines
        except (OSError, EOFError, paramiko.SSHException) as exc:
            return f"connection lost: {exc}", lines
        return "stopped", lines

    def _line(self, name: str, raw: bytes) -> None:
        try:
            line = printable_json(raw)  # read again by the Observation, not walked again
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

    def _http_client(self, name: str) -> tuple[httpx.Client, ChannelTransport]:
        """The node's HTTP client and its transport, kept across rounds: its keep-alive
        connections are SSH channels held open, instead of a new channel per request."""
        if name not in self._clients:
            self._clients[name] = node_client(self.pool, name, collect.TIMEOUT)
        return self._clients[name]

    def http_channels(self) -> tuple[int, int]:
        """(nodes with an HTTP client, SSH channels their clients opened, in all)."""
        transports = [transport for _, transport in list(self._clients.values())]
        return len(transports), sum(t.backend.opened for t in transports)

    def _drop_http_client(self, name: str) -> None:
        held = self._clients.pop(name, None)
        if held is not None:
            client, _ = held
            with contextlib.suppress(Exception):
                client.close()

    def _full_round(self, name: str, status: NodeStatus, now: float) -> bool:
        """Whether this round reads the node's whole chain (FULL_EVERY_S above)."""
        if status.chain is None or now - self._last_full.get(name, -1e9) >= self.full_every:
            self._last_full[name] = now
            return True
        return False

    def _collect_one(self, name: str) -> None:
        status = self.tracker.node(name)
        if not status.reachable:
            if status.error is not None:  # decided: unreachable; nothing to collect
                self._collected.add(name)
            self._drop_http_client(name)  # its channels went with the connection
            self._last_full.pop(name, None)  # back, it is asked everything at once
            return
        http = collect.NodeHttp(name, *self._http_client(name))
        changes: dict = {}
        collector = COLLECTORS[status.stack]
        settings = self._settings[name]
        now = time.monotonic()
        if status.role in STACKS[status.stack].chain_roles:
            try:
                chain = collector.chain(http, settings, status, self._full_round(name, status, now))
                changes.update(chain=chain, chain_at=self.clock(), chain_error=None)
            except (httpx.HTTPError, SshError, KeyError, ValueError) as exc:
                changes.update(chain=None, chain_error=f"{type(exc).__name__}: {exc}")
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
