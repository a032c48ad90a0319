"""Fabric connection pool: strict host keys, keepalive, reconnect with backoff, bounded
fan-out, and local port forwarding over the pooled connections.

One persistent connection per node. Host keys are checked against fleetdeck's own
known_hosts file and the system one: an unknown key is refused unless the caller accepts
it (the TUI asks with the fingerprint; the CLI has --accept-new-host-keys), and a changed
key is always refused. Keys are never added silently.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from fabric import Config, Connection

from console.core.atomic import atomic_write_text
from console.core.profile.schema import FleetProfile
from console.core.transport.sshtransport import Transport
from console.core.transport.tunnel import pump

# paramiko's transport thread logs a failed handshake with its traceback; with no handler
# configured, logging printed it on the operator's terminal. The error is said in words
# where the connection is used.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

DEFAULT_KNOWN_HOSTS = Path("~/.config/fleetdeck/known_hosts")
SYSTEM_KNOWN_HOSTS = Path("~/.ssh/known_hosts")  # what paramiko calls the system host keys


class SshError(Exception):
    """A node cannot be reached; the message says why in an operator's words."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"{node}: {message}")
        self.node = node
        self.reason = message


class UnknownHostKey(SshError):
    def __init__(self, node: str, host: str, key_type: str, fingerprint: str) -> None:
        super().__init__(
            node,
            f"unknown host key {key_type} {fingerprint} for {host}; "
            "verify it and accept it, or run with --accept-new-host-keys",
        )
        self.host, self.key_type, self.fingerprint = host, key_type, fingerprint


class HostKeyChanged(SshError):
    def __init__(self, node: str, host: str, expected: str, got: str) -> None:
        super().__init__(
            node,
            f"HOST KEY CHANGED for {host}: expected {expected}, got {got}. "
            "Someone may be intercepting the connection, or the host was "
            "reinstalled; check before removing the old key from known_hosts",
        )
        self.host, self.expected, self.got = host, expected, got


class HostKeyRevoked(SshError):
    def __init__(self, node: str, host: str, key_type: str, got: str) -> None:
        super().__init__(
            node,
            f"REVOKED HOST KEY for {host}: {key_type} {got} is marked @revoked in known_hosts; "
            "it is refused, as ssh refuses it: the host must get a new key",
        )
        self.host, self.key_type, self.got = host, key_type, got


class Backoff(SshError):
    pass


class ConnectionLost(SshError):
    """A command's channel, or the connection under it, went away while the command ran
    or started: the node's state is unknown, not wrong (a check is worth asking again)."""


def fingerprint(key: paramiko.PKey) -> str:
    return blob_fingerprint(key.asbytes())


def blob_fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key's wire blob."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    user: str
    key: str | None = None
    jump: str | None = None  # [user@]host[:port]


def targets_of(profile: FleetProfile) -> list[Target]:
    ssh = profile.ssh
    key = os.path.expanduser(ssh.key) if ssh.key else None
    return [
        Target(n.name, n.host, n.port or ssh.port, n.user or ssh.user, key, ssh.jump)
        for _, n in profile.all_nodes()
    ]


AcceptNew = Callable[[str, str, str, str], bool]  # (node, host, key type, fingerprint)


class _Policy(paramiko.MissingHostKeyPolicy):
    """Unknown key: ask; yes records it in fleetdeck's known_hosts, no refuses."""

    def __init__(self, pool: Pool, node: str) -> None:
        self.pool = pool
        self.node = node

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        fp = fingerprint(key)
        if fp in self.pool.revoked():  # never asked, never recorded
            raise HostKeyRevoked(self.node, hostname, key.get_name(), fp)
        if not self.pool.accept_new(self.node, hostname, key.get_name(), fp):
            raise UnknownHostKey(self.node, hostname, key.get_name(), fp)
        self.pool.remember(hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)


def read_known_hosts(path: Path) -> tuple[paramiko.HostKeys, list[str]]:
    """The keys of a known_hosts file, and a message for each line that is not one: such a
    line is skipped, as OpenSSH skips it (paramiko raised on some, which made one bad line
    take every node down as 'unreachable')."""
    keys, problems, _ = read_known_hosts_revoked(path)
    return keys, problems


def read_known_hosts_revoked(path: Path) -> tuple[paramiko.HostKeys, list[str], set[str]]:
    """read_known_hosts, and the fingerprints of the keys its `@revoked` lines name: such a
    key is refused for every host, as OpenSSH refuses it (paramiko ignores the marker)."""
    keys, problems, revoked = paramiko.HostKeys(), [], set()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        return keys, [f"{path}: is a directory, not a known_hosts file"], revoked
    except OSError as exc:
        return keys, [f"{path}: cannot be read: {exc.strerror}"], revoked
    for lineno, data in enumerate(raw.splitlines(), 1):
        line = data.decode("utf-8", "replace").strip()
        if line.startswith("@revoked"):
            fields = line.split()
            try:
                blob = base64.b64decode(fields[3], validate=True)
            except (IndexError, ValueError):
                problems.append(f"{path}:{lineno}: not a @revoked line (skipped, as ssh does)")
                continue
            revoked.add(blob_fingerprint(blob))
            continue
        if not line or line.startswith(("#", "@")):  # @cert-authority: no CA keys here
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
        except Exception:  # noqa: BLE001 - bad base64, a key type paramiko lacks: skip it
            entry = None
        if entry is None:
            problems.append(f"{path}:{lineno}: not a known_hosts line (skipped, as ssh does)")
            continue
        for host in entry.hostnames:
            keys.add(host, entry.key.get_name(), entry.key)
    return keys, problems, revoked


def agent_keys() -> int:
    """How many keys the ssh-agent of this session holds (0 when there is none)."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return 0
    agent = paramiko.Agent()
    try:
        return len(agent.get_keys())
    except paramiko.SSHException:
        return 0
    finally:
        agent.close()


def local_problems(model: FleetProfile, known_hosts: Path | None = None) -> tuple[list, list]:
    """(errors, warnings) in this machine's SSH setup for a profile: a key file that is
    missing or not a private key stops every connection, so it is said once, naming the
    file and the fix, instead of as N unreachable nodes; bad known_hosts lines are skipped
    and said as warnings."""
    errors: list[str] = []
    warnings: list[str] = []
    ssh = model.ssh
    keys = {ssh.key} | {n.key for _, n in model.all_nodes() if getattr(n, "key", None)}
    for key in sorted(k for k in keys if k):
        path = Path(os.path.expanduser(key))
        fix = "fix: set [ssh].key to your private key file (or remove it to use ssh-agent)"
        if not path.exists():
            errors.append(f"{path}: no such key file ([ssh].key)\n    {fix}")
        elif path.is_dir():
            errors.append(f"{path}: is a directory, not a key file ([ssh].key)\n    {fix}")
        else:
            try:
                paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError) as exc:
                # paramiko's word for an old-format encrypted key; cryptography's TypeError
                # ("password-protected") for an OpenSSH-format one
                if isinstance(exc, TypeError) and "password" not in str(exc):
                    raise
                if agent_keys():
                    warnings.append(
                        f"{path}: the key is encrypted; fleetdeck uses it through ssh-agent "
                        "(ssh-add it)"
                    )
                else:
                    errors.append(
                        f"{path}: the key is encrypted (it has a passphrase) and no ssh-agent "
                        "holds a key\n    fix: `eval $(ssh-agent) && ssh-add "
                        f"{path}` before fleetdeck, or use an unencrypted deploy key"
                    )
            except (paramiko.SSHException, ValueError, UnicodeDecodeError) as exc:
                errors.append(f"{path}: not a private key ({exc})\n    {fix}")
            except OSError as exc:
                errors.append(f"{path}: cannot be read: {exc.strerror}\n    {fix}")
    ours = Path(os.path.expanduser(str(known_hosts or ssh.known_hosts or DEFAULT_KNOWN_HOSTS)))
    if ours.is_dir():
        errors.append(
            f"{ours}: is a directory; fleetdeck keeps its host keys in this file\n"
            "    fix: move the directory away, or point [ssh].known_hosts at a file"
        )
    for path in (ours, SYSTEM_KNOWN_HOSTS.expanduser()):
        if path.is_file():
            warnings += read_known_hosts(path)[1]
    return errors, warnings


class _KnownHostsFiles:
    """Parsed known_hosts files, read again only when they change: loading the files into
    every new connection made opening N nodes parse N × N lines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parsed: dict[Path, tuple[tuple[int, int, int], paramiko.HostKeys, set[str]]] = {}

    def _read(self, path: Path) -> tuple[paramiko.HostKeys, set[str]] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            cached = self._parsed.get(path)
        if cached is None or cached[0] != stamp:
            parsed, _, revoked = read_known_hosts_revoked(path)
            cached = (stamp, parsed, revoked)
            with self._lock:
                self._parsed[path] = cached
        return cached[1], cached[2]

    def keys(self, path: Path, name: str) -> dict[str, paramiko.PKey] | None:
        """The keys `path` holds for `name` (a known_hosts host or [host]:port), if any."""
        read = self._read(path)
        entry = read[0].lookup(name) if read else None
        return dict(entry.items()) if entry else None

    def revoked(self, path: Path) -> set[str]:
        """The fingerprints of the keys `path` marks @revoked."""
        read = self._read(path)
        return read[1] if read else set()


class _Forward:
    """A local listening socket whose connections are tunnelled over one node's transport."""

    def __init__(self, pool: Pool, node: str, host: str, port: int) -> None:
        self.pool, self.node, self.host, self.port = pool, node, host, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))  # loopback only: a forward is never public
        self.sock.listen(socket.SOMAXCONN)  # a load test opens a hundred at once
        self.local_port = self.sock.getsockname()[1]
        self.closed = False
        self.channels = 0  # opened over its life: one per connection made to it
        threading.Thread(target=self._accept, daemon=True, name=f"fwd-{node}-{port}").start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        try:
            self._pipe_both(conn)
        except Exception:  # noqa: S110 - a tunnel dies with its connection; the caller sees EOF
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _pipe_both(self, conn: socket.socket) -> None:
        self.channels += 1
        try:
            transport = self.pool.connection(self.node).transport
            chan = transport.open_channel(
                "direct-tcpip", (self.host, self.port), conn.getsockname(), timeout=10
            )
        except Exception:
            return

        threading.Thread(
            target=pump, args=(conn.recv, chan.sendall, chan.shutdown_write), daemon=True
        ).start()
        pump(chan.recv, conn.sendall, lambda: conn.shutdown(socket.SHUT_WR))
        with contextlib.suppress(OSError, EOFError):
            chan.close()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


class CommandTimeout(SshError):
    """A command ran past its timeout (its channel was closed)."""


@dataclass(frozen=True)
class Ran:
    """What a command left: exit status and output (the fields of invoke's Result we use)."""

    exited: int
    stdout: str
    stderr: str


class _LineSink:
    """A file-like target for invoke's output streams that hands on whole lines.

    A carriage return ends a line too: progress bars redraw with it.
    """

    def __init__(self, stream: str, on_line: Callable[[str, str], None]) -> None:
        self.stream = stream
        self.on_line = on_line
        self._rest = ""

    def write(self, data: str) -> int:
        text = self._rest + data
        *whole, self._rest = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in whole:
            if line:
                self.on_line(self.stream, line)
        return len(data)

    def flush(self) -> None:
        pass

    def flush_rest(self) -> None:
        if self._rest:
            self.on_line(self.stream, self._rest)
            self._rest = ""


HANDSHAKES = 24  # SSH connections being set up at once (as sshd's MaxStartups, client side)


class Pool:
    def __init__(
        self,
        targets: Iterable[Target],
        known_hosts: str | Path | None = None,
        accept_new: AcceptNew | bool = False,
        system_known_hosts: bool = True,
        connect_timeout: float = 10,
        keepalive: int = 15,
        parallelism: int = 20,
        max_backoff: float = 60.0,
    ) -> None:
        self.targets = {t.name: t for t in targets}
        self.known_hosts = Path(os.path.expanduser(str(known_hosts or DEFAULT_KNOWN_HOSTS)))
        self.accept_new: AcceptNew = (
            accept_new if callable(accept_new) else (lambda *_: bool(accept_new))
        )
        self.system_known_hosts = system_known_hosts
        self.connect_timeout = max(1, int(round(connect_timeout)))
        self.keepalive = keepalive
        self.parallelism = parallelism
        self.max_backoff = max_backoff
        self._conns: dict[str, Connection] = {}
        self._locks = {name: threading.Lock() for name in self.targets}
        # key exchanges at once: hundreds started together all miss their banner timeout
        # (the handshakes share this machine's CPU) and retry in a storm; queued, they pass
        self._handshakes = threading.BoundedSemaphore(HANDSHAKES)
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}
        self._forwards: dict[tuple[str, str, int], _Forward] = {}
        self._kh_lock = threading.Lock()
        self._kh_files = _KnownHostsFiles()

    @classmethod
    def for_profile(
        cls, profile: FleetProfile, accept_new: AcceptNew | bool = False, **kwargs: Any
    ) -> Pool:
        ssh = profile.ssh
        return cls(
            targets_of(profile),
            ssh.known_hosts,
            accept_new,
            connect_timeout=ssh.connect_timeout,
            keepalive=ssh.keepalive,
            parallelism=ssh.parallelism,
            **kwargs,
        )

    def add(self, targets: Iterable[Target]) -> None:
        """Nodes that joined the fleet while this pool is open (provisioned meanwhile)."""
        for target in targets:
            if target.name not in self.targets:
                self._locks[target.name] = threading.Lock()
                self.targets[target.name] = target

    # -- known hosts
    def revoked(self) -> set[str]:
        """The fingerprints marked @revoked in fleetdeck's known_hosts or the user's."""
        found = self._kh_files.revoked(self.known_hosts)
        if self.system_known_hosts:
            found = found | self._kh_files.revoked(SYSTEM_KNOWN_HOSTS.expanduser())
        return found

    def remember(self, hostname: str, key: paramiko.PKey) -> None:
        with self._kh_lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            old = self.known_hosts.read_text() if self.known_hosts.exists() else ""
            if old and not old.endswith("\n"):
                old += "\n"
            atomic_write_text(
                self.known_hosts,
                old + f"{hostname} {key.get_name()} {key.get_base64()}\n",
                mode=0o600 if not old else None,
            )

    # -- connections
    def _new(self, target: Target, gateway: Connection | None = None) -> Connection:
        kwargs: dict[str, Any] = {
            "look_for_keys": target.key is None,
            "allow_agent": target.key is None,
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "transport_factory": _gcm_first,
        }
        if target.key:
            kwargs["key_filename"] = target.key
        conn = Connection(
            target.host,
            user=target.user,
            port=target.port,
            # a Config of its own: invoke's Config is not thread-safe, and 100 connections
            # made at once on a shared one saw it empty mid-merge (KeyError 'gateway')
            config=Config(overrides={"load_ssh_configs": False}),
            connect_timeout=self.connect_timeout,
            connect_kwargs=kwargs,
            gateway=gateway,
        )
        client = conn.client
        # paramiko's order: the user's ~/.ssh/known_hosts when it knows the host, else ours
        name = known_hosts_name(target.host, target.port)
        known = None
        if self.system_known_hosts:
            known = self._kh_files.keys(SYSTEM_KNOWN_HOSTS.expanduser(), name)
        if known is None:
            known = self._kh_files.keys(self.known_hosts, name)
        for key_type, key in (known or {}).items():
            client.get_host_keys().add(name, key_type, key)
        client.set_missing_host_key_policy(_Policy(self, target.name))
        return conn

    def _gateway(self, target: Target) -> Connection | None:
        if not target.jump:
            return None
        user, _, hostport = target.jump.rpartition("@")
        host, _, port = hostport.partition(":")
        jump = Target(
            f"{target.name} (jump {hostport})",
            host,
            int(port or 22),
            user or target.user,
            target.key,
        )
        return self._new(jump)

    def connected(self) -> set[str]:
        """The nodes with a connection open now."""
        return {name for name, conn in list(self._conns.items()) if conn.is_connected}

    def connection(self, name: str) -> Connection:
        """The node's open connection; connects (or reconnects) when needed."""
        target = self.targets[name]
        with self._locks[name]:
            conn = self._conns.get(name)
            if conn is not None and conn.is_connected:
                return conn
            wait = self._next_try.get(name, 0) - time.monotonic()
            if wait > 0:
                raise Backoff(name, f"unreachable; next attempt in {wait:.1f} s")
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            conn = self._new(target, self._gateway(target))
            try:
                with self._handshakes:
                    conn.open()
            except SshError:
                self._failed(name)
                raise
            except paramiko.BadHostKeyException as exc:
                self._failed(name)
                raise HostKeyChanged(
                    name,
                    known_hosts_name(target.host, target.port),
                    fingerprint(exc.expected_key),
                    fingerprint(exc.key),
                ) from None
            except Exception as exc:
                self._failed(name)
                raise SshError(name, _describe(exc, target)) from None
            key = conn.transport.get_remote_server_key()
            if fingerprint(key) in self.revoked():  # a known key, since revoked: no command
                with contextlib.suppress(Exception):
                    conn.close()
                self._failed(name)
                host = known_hosts_name(target.host, target.port)
                raise HostKeyRevoked(name, host, key.get_name(), fingerprint(key))
            _no_delay(conn.transport.sock)
            if self.keepalive:
                conn.transport.set_keepalive(self.keepalive)
            self._conns[name] = conn
            self._failures[name] = 0
            self._next_try.pop(name, None)
            return conn

    def _failed(self, name: str) -> None:
        n = self._failures.get(name, 0) + 1
        self._failures[name] = n
        delay = min(self.max_backoff, 0.5 * 2 ** (n - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
        self._next_try[name] = time.monotonic() + delay

    def reset_backoff(self, name: str) -> None:
        self._next_try.pop(name, None)

    def drop(self, name: str) -> None:
        """Forget a connection that stopped answering (the next use reconnects)."""
        conn = self._conns.pop(name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # -- using them
    def run(
        self,
        name: str,
        command: str,
        timeout: float | None = None,
        stdin: str | None = None,
        on_line: Callable[[str, str], None] | None = None,
    ) -> Any:
        """Run a command; returns invoke's Result (never raises on a non-zero exit).

        `on_line(stream, line)` receives each output line as it arrives (deploy steps
        stream their output to the journal and the screens); stdout is still captured.
        """
        if stdin is not None:
            return self._run_with_input(name, command, stdin, timeout, on_line)
        conn = self.connection(name)
        streams: dict[str, Any] = {"hide": True}
        if on_line is not None:
            streams = {
                "hide": False,
                "out_stream": _LineSink("stdout", on_line),
                "err_stream": _LineSink("stderr", on_line),
            }
        try:
            result = conn.run(
                command,
                warn=True,
                timeout=timeout,
                in_stream=False,
                **streams,
            )
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(name, conn.transport, exc) from None
        for sink in (streams.get("out_stream"), streams.get("err_stream")):
            if sink is not None:
                sink.flush_rest()
        self._lost_while_running(name, conn.transport, result.exited)
        return result

    def _lost_while_running(self, name: str, transport, status: int) -> None:
        """A command that ended with no exit status (-1) on a connection that is gone was
        cut by the connection's loss (the host went down), not failed by the node: said as
        such, so that a plan or a step names the connection, not 'exit -1'."""
        if status == -1 and (transport is None or not transport.is_active()):
            self.drop(name)
            raise ConnectionLost(
                name, "the SSH connection was lost while a command ran (no exit status)"
            )

    def _lost(self, name: str, transport, exc: BaseException, doing: str = "") -> ConnectionLost:
        """The error for a command whose channel failed. Only a connection that is gone is
        dropped: one channel refused or closed (sshd's MaxSessions, a loaded host) must not
        cut every other command, stream and tunnel running over the same connection."""
        if transport is None or not transport.is_active():
            self.drop(name)
            return ConnectionLost(name, f"connection lost{doing}: {exc}")
        return ConnectionLost(
            name, f"its channel was refused or closed{doing} ({exc}); the connection is up"
        )

    def _run_with_input(
        self,
        name: str,
        command: str,
        stdin: str,
        timeout: float | None,
        on_line: Callable[[str, str], None] | None,
    ) -> Ran:
        """Run a command whose input is `stdin` (a file's content, a secret).

        Not through invoke: it feeds a non-terminal input stream one byte per 10 ms
        (measured: 900 bytes took 9.4 s), so a config file would take seconds to send."""
        chan = self.open_stream(name, command)
        sinks = {
            "stdout": _LineSink("stdout", on_line) if on_line else None,
            "stderr": _LineSink("stderr", on_line) if on_line else None,
        }
        out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        deadline = time.monotonic() + timeout if timeout else None

        def feed() -> None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                chan.sendall(stdin.encode())
                chan.shutdown_write()

        feeder = threading.Thread(target=feed, daemon=True, name=f"stdin-{name}")
        feeder.start()
        try:
            chan.settimeout(0.2)
            while True:
                got = False
                for stream, ready, recv in (
                    ("stdout", chan.recv_ready, chan.recv),
                    ("stderr", chan.recv_stderr_ready, chan.recv_stderr),
                ):
                    if ready():
                        data = recv(65536)
                        if data:
                            got = True
                            out[stream].append(data)
                            sink = sinks[stream]
                            if sink:
                                sink.write(data.decode(errors="replace"))
                if not got:
                    drained = not chan.recv_ready() and not chan.recv_stderr_ready()
                    if drained and (chan.exit_status_ready() or chan.closed):
                        break
                    if deadline and time.monotonic() > deadline:
                        raise CommandTimeout(name, f"timed out after {timeout:.0f} s")
                    time.sleep(0.005)
            status = chan.recv_exit_status() if chan.exit_status_ready() else -1
            self._lost_while_running(name, chan.get_transport(), status)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(name, chan.get_transport(), exc) from None
        finally:
            with contextlib.suppress(Exception):
                chan.close()
        for sink in sinks.values():
            if sink:
                sink.flush_rest()
        return Ran(
            status,
            b"".join(out["stdout"]).decode(errors="replace"),
            b"".join(out["stderr"]).decode(errors="replace"),
        )

    def open_stream(self, name: str, command: str) -> paramiko.Channel:
        """A session channel running `command`, for long-lived streaming (the probe)."""
        transport = self.connection(name).transport
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            chan.exec_command(command)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(name, transport, exc, " as a command started") from None
        return chan

    def forward(self, name: str, port: int, host: str = "127.0.0.1") -> int:
        """A local port on 127.0.0.1 that reaches host:port as seen from the node."""
        key = (name, host, port)
        fwd = self._forwards.get(key)
        if fwd is None or fwd.closed:
            self.connection(name)
            fwd = _Forward(self, name, host, port)
            self._forwards[key] = fwd
        return fwd.local_port

    def forward_channels(self) -> tuple[int, int]:
        """(forwards open, channels they opened): keep-alive shows as few channels each."""
        forwards = [f for f in self._forwards.values() if not f.closed]
        return len(forwards), sum(f.channels for f in forwards)

    def fan_out(
        self, names: Iterable[str], fn: Callable[[str], Any], parallelism: int | None = None
    ) -> dict[str, Any]:
        """fn(name) on every node, at most `parallelism` at once; exceptions are results."""
        names = list(names)

        def call(name: str) -> Any:
            try:
                return fn(name)
            except Exception as exc:
                return exc

        with ThreadPoolExecutor(
            max_workers=max(1, min(parallelism or self.parallelism, len(names) or 1))
        ) as pool:
            return dict(zip(names, pool.map(call, names), strict=True))

    def close(self) -> None:
        for fwd in self._forwards.values():
            fwd.close()
        self._forwards.clear()
        for name in list(self._conns):
            self.drop(name)


GCM = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _gcm_first(sock: Any, **kwargs: Any) -> Transport:
    """A transport that offers AES-GCM first (paramiko's order starts with CTR): under GCM
    a packet is sealed and opened in one C call, where CTR adds an HMAC and a MAC compare
    in Python to each; the status pipeline moves a few hundred small packets a second. A
    server that lacks GCM (a Ciphers line without it) gets CTR as before."""
    transport = Transport(sock, **kwargs)
    options = transport.get_security_options()
    options.ciphers = GCM + tuple(c for c in options.ciphers if c not in GCM)
    return transport


def _no_delay(sock: Any) -> None:
    """Small writes sent at once: with Nagle's algorithm each command's channel requests
    waited on the peer's delayed ACK (measured on loopback: 89 ms a command, 46 ms without).
    A connection through a jump host rides a channel, not a socket: nothing to set."""
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _describe(exc: Exception, target: Target) -> str:
    where = f"{target.host}:{target.port}"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return f"connection refused by {where}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer from {where} (timed out)"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication failed as {target.user} at {where}: {exc}"
    if isinstance(exc, paramiko.SSHException) and "banner" in str(exc).lower():
        return f"no SSH banner from {where} (host hung?)"
    if isinstance(exc, paramiko.SSHException) and "No existing session" in str(exc):
        # what paramiko says when the handshake died in its thread before authentication
        return f"{where} took the connection but no SSH handshake followed (host hung?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {target.host}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"
