"""The watch's feed: what `fleetdeck watch` observes, served to consoles that attach.

The watch's Tracker hands each observation to a FeedServer (a hook, as a recording is),
which keeps the last few per node, source and kind and streams every new one, one JSON
line each (the recording's format), to each client on a unix socket that only this user
can open (0600 in a 0700 directory) and that asks a token first (a forwarded socket is
reachable by whoever reaches the forward). A client starts with a header (the fleet, the
interval) and the kept lines, so its own Tracker is where the watch's is within a line;
a heartbeat each interval says the watch is alive when nothing changes.

`Attached` is the client: the same interface the console and `status` read a Monitor
by (start, stop, snapshot, wait_complete, a pool for actions), fed from the socket,
opening no SSH session for status. When the watch stops answering, its time without
news is the console's lag: nodes are not called down for what the console could not see.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import queue
import secrets
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import TextIO

from console.core.monitor.observe import Observation
from console.core.monitor.tracker import Tracker
from console.core.profile.schema import FleetProfile

FORMAT = 1
KEPT = 10  # lines kept per node, source and kind: a new client's Tracker starts from them
QUEUE = 10_000  # lines a slow client may lag behind before it is dropped


def feed_paths(state_dir: Path, fleet: str) -> tuple[Path, Path]:
    """(the socket, its token file) of the watch of `fleet`."""
    base = state_dir / "watch"
    return base / f"{fleet}.sock", base / f"{fleet}.token"


class FeedServer:
    def __init__(self, sock_path: Path, token_path: Path, fleet: str, interval: float) -> None:
        self.sock_path, self.token_path = sock_path, token_path
        self.header = {"fleetdeck_feed": FORMAT, "fleet": fleet, "interval": interval}
        self.interval = interval
        self._kept: dict[tuple[str, str, str], deque[tuple[float, str]]] = {}
        self._clients: list[queue.Queue[str | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.token = secrets.token_urlsafe(24)
        sock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(sock_path.parent, 0o700)
        sock_path.unlink(missing_ok=True)
        token_path.unlink(missing_ok=True)  # made anew: an old file's mode is not ours to keep
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is made 0600 as it is bound: never open a moment
        try:
            self._server.bind(str(sock_path))
        finally:
            os.umask(old)
        self._server.listen(16)
        self._server.settimeout(0.5)
        self._threads = [
            threading.Thread(target=self._accept, daemon=True, name="feed"),
            threading.Thread(target=self._heartbeat, daemon=True, name="feed-beat"),
        ]
        for t in self._threads:
            t.start()

    # -- the tracker's hook
    def __call__(self, obs: Observation) -> None:
        # kept as its line: an Observation holds its parsed reading too, and a thousand of
        # them cost the watch ~50 MiB at 100 nodes where their lines cost a tenth of that
        line = obs.to_json()
        with self._lock:
            kept = self._kept.setdefault((obs.node, obs.source, obs.kind), deque(maxlen=KEPT))
            kept.append((obs.at, line))
            if self._clients:
                self._send(line)

    def _send(self, line: str) -> None:
        for q in list(self._clients):
            try:
                q.put_nowait(line)
            except queue.Full:  # too slow to follow: dropped (it reconnects and catches up)
                self._clients.remove(q)
                with contextlib.suppress(queue.Full):
                    q.put_nowait(None)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._clients:
                    self._send(json.dumps({"heartbeat": time.time()}))

    # -- clients
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        q: queue.Queue[str | None] = queue.Queue(QUEUE)
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            asked = conn.makefile("r", encoding="utf-8").readline(200).strip()
            if not hmac.compare_digest(asked.encode(), self.token.encode()):
                conn.sendall(b'{"error": "the token does not match the watch\'s"}\n')
                return
            conn.settimeout(30)
            with self._lock:
                kept = sorted(kept for k in self._kept.values() for kept in k)
                lines = [line for _, line in kept]
                self._clients.append(q)
            conn.sendall((json.dumps(self.header) + "\n").encode())
            conn.sendall("".join(line + "\n" for line in lines).encode())
            conn.sendall(b'{"caught_up": true}\n')  # what follows is live
            while not self._stop.is_set():
                try:
                    line = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if line is None:
                    return
                conn.sendall((line + "\n").encode())
        with self._lock, contextlib.suppress(ValueError):
            self._clients.remove(q)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self.sock_path.unlink(missing_ok=True)
        self.token_path.unlink(missing_ok=True)


class FeedError(Exception):
    """No watch answers at that socket, or it refused the token (the message says which)."""


def read_token(token_path: Path) -> str:
    try:
        return token_path.read_text().strip()
    except OSError as exc:
        raise FeedError(f"{token_path}: cannot read the watch's token ({exc.strerror})") from None


def connect(
    sock_path: Path, token: str, timeout: float = 5.0
) -> tuple[socket.socket, TextIO, dict]:
    """A connection to the watch at `sock_path`, the reader its lines are read through, and
    its header. Read every later line through that reader: reading the header, it may have
    taken the lines that followed it into its buffer already."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(sock_path))
        conn.sendall((token + "\n").encode())
        reader = conn.makefile("r", encoding="utf-8")
        header = json.loads(reader.readline() or "{}")
    except (OSError, ValueError) as exc:
        conn.close()
        raise FeedError(f"no watch answers at {sock_path} ({exc})") from None
    if "error" in header or header.get("fleetdeck_feed") != FORMAT:
        conn.close()
        raise FeedError(f"{sock_path}: {header.get('error', 'not a fleetdeck watch')}")
    conn.settimeout(None)
    return conn, reader, header


class Attached:
    """A console's status from a running watch (see the module's docstring)."""

    def __init__(self, fleet: FleetProfile, sock_path: Path, token: str, pool=None) -> None:
        self.fleet = fleet
        self.sock_path, self.token = sock_path, token
        self.conn, self.reader, header = connect(sock_path, token)
        if header.get("fleet") != fleet.fleet.name:
            self.conn.close()
            raise FeedError(
                f"{sock_path} is the watch of fleet {header.get('fleet')!r}, not "
                f"{fleet.fleet.name!r}"
            )
        self.interval = float(header.get("interval") or fleet.alerts.probe_interval_s)
        self.tracker = Tracker(fleet, self.interval, time.time, None)
        self.pool = pool  # for actions, connected only when one runs
        self.closers: list = []
        self.last_line = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.caught_up = threading.Event()  # the watch's kept lines are all in

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, daemon=True, name="attached")
        self._thread.start()

    def _follow(self) -> None:
        """Lines in, while the watch sends them; reconnected with backoff when it stops."""
        wait = 1.0
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                for line in self.reader:
                    self.last_line = time.time()
                    doc = json.loads(line)
                    if "caught_up" in doc:
                        self.caught_up.set()
                    elif "heartbeat" not in doc:
                        self.tracker.observe(Observation.from_json(line))
                    wait = 1.0
            self.conn.close()
            while not self._stop.wait(wait):
                try:
                    self.conn, self.reader, _ = connect(self.sock_path, self.token)
                    break
                except FeedError:
                    wait = min(wait * 2, 15.0)

    def lag(self, now: float) -> float:
        """How long the watch has been silent past its heartbeat: the console's own lag."""
        return max(0.0, now - self.last_line - self.interval)

    def snapshot(self):
        now = time.time()
        return self.tracker.snapshot(now, self.lag(now))

    def wait_complete(self, timeout: float) -> bool:
        """The watch's kept lines taken: the fleet as the watch sees it now."""
        return self.caught_up.wait(timeout)

    def grow(self, fleet: FleetProfile) -> list[str]:
        return []  # the watch grows its own fleet when it reloads the profile

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)
        self.conn.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.pool is not None:
            self.pool.close()
        for close in self.closers:  # a recording of what was seen
            with contextlib.suppress(Exception):
                close()
