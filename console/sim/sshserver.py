"""The embedded SSH server of the simulated fleet (paramiko, loopback only).

Each node listens on its own loopback address and a random port, with an ephemeral host
key, and accepts only the fleet's generated client key. Commands run in the node's sandbox;
`direct-tcpip` forwards to the node's `localhost` reach its private services, and forwards
to a container's address (the node's private loopback address here) the ports only a
container listens on (the chain's RPC), as they would on a real host. A forward to anywhere
outside 127.0.0.0/8 is refused: the simulated node is this machine. The fault injector can
make a node refuse (down), accept and never answer (hung), or answer slowly (slow link).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import selectors
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING

import paramiko

from console.core.transport.sshtransport import Transport
from console.core.transport.tunnel import pump

if TYPE_CHECKING:
    from console.sim.node import SimNode

logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # refused clients are expected
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class _Session(paramiko.ServerInterface):
    def __init__(self, server: SshServer, node: SimNode) -> None:
        self.server = server
        self.node = node
        self.forwards: dict[int, tuple[str, int]] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = key.get_base64() == self.server.client_key.get_base64()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid: int, origin, destination) -> int:
        host, port = destination
        if host in LOCAL_NAMES and port in self.node.unpublished_ports:
            # nothing listens there on a real host: sshd's connect fails, so does the open
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        if host not in LOCAL_NAMES and not on_loopback(host):
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self.forwards[chanid] = destination
        return paramiko.OPEN_SUCCEEDED

    def check_channel_env_request(self, channel, name, value) -> bool:
        return True

    def check_channel_pty_request(self, *args) -> bool:
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.node.faults.pop("channel_drop", None):  # once: the client sees the channel close
            return False
        threading.Thread(
            target=self._run,
            args=(channel, command.decode(errors="replace")),
            daemon=True,
            name=f"sim-exec-{self.node.name}",
        ).start()
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        threading.Thread(target=self._run, args=(channel, "exec /bin/sh -i"), daemon=True).start()
        return True

    # -- running a command in the sandbox
    def _run(self, chan: paramiko.Channel, command: str) -> None:
        node = self.node
        log = os.environ.get("FLEETDECK_COMMAND_LOG")
        if log:  # a test that searches every command line a node was given
            with open(log, "a") as f:
                f.write(f"{node.name}\t{command!r}\n")
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=node.home,
                env=node.session_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            chan.sendall_stderr(f"sh: {exc}\n".encode())
            chan.send_exit_status(127)
            chan.close()
            return
        self.server.track(proc)

        def pump_out(stream, send) -> None:
            for chunk in iter(lambda: stream.read1(65536), b""):
                self._delay()
                try:
                    send(chunk)
                except (OSError, EOFError):
                    break  # the client went away: its command goes with it (below)

        def pump_in() -> None:
            try:
                while True:
                    data = chan.recv(65536)
                    if not data:
                        break
                    proc.stdin.write(data)
                    proc.stdin.flush()
            except (OSError, ValueError, EOFError):
                pass
            with contextlib.suppress(OSError):
                proc.stdin.close()
            # input is over: a client that then goes away takes its command with it
            while proc.poll() is None:
                if chan.closed or not chan.get_transport().is_active():
                    proc.terminate()
                    return
                time.sleep(0.2)

        out = threading.Thread(target=pump_out, args=(proc.stdout, chan.sendall), daemon=True)
        err = threading.Thread(
            target=pump_out, args=(proc.stderr, chan.sendall_stderr), daemon=True
        )
        inp = threading.Thread(target=pump_in, daemon=True)
        for t in (out, err, inp):
            t.start()
        # a client that goes away takes its command with it: the probe exits on stdin EOF,
        # anything else is stopped once its output has nowhere to go or (pump_in) the
        # channel closes after its input. Waited for by joining, not polling: hundreds of
        # probes each woken 20 times a second kept the simulator's one interpreter busy
        out.join()
        if chan.closed or not chan.get_transport().is_active():
            proc.terminate()  # its output had nowhere to go
        rc = proc.wait()
        err.join(5)
        with contextlib.suppress(OSError, EOFError):
            chan.send_exit_status(rc if rc >= 0 else 128 - rc)
            chan.shutdown_write()
            chan.close()
        self.server.untrack(proc)

    def _delay(self) -> None:
        delay = self.node.faults.get("slow_link")
        if delay:
            time.sleep(float(delay))

    # -- forwarding to the node's private side
    def forward(self, chan: paramiko.Channel) -> None:
        host, port = self.forwards.pop(chan.get_id())
        node = self.node
        if host in LOCAL_NAMES or host == node.private_address:
            host, port = node.private_address, node.ports.get(port, port)
        try:
            sock = socket.create_connection((host, port), timeout=5)
        except OSError:
            chan.close()
            return
        sock.settimeout(None)

        threading.Thread(
            target=pump,
            args=(chan.recv, sock.sendall, lambda: _shut(sock), self._delay),
            daemon=True,
        ).start()
        threading.Thread(
            target=pump, args=(sock.recv, chan.sendall, chan.close, self._delay), daemon=True
        ).start()


def on_loopback(host: str) -> bool:
    """Whether `host` is an address in 127.0.0.0/8 (names are not resolved: a simulated
    forward names addresses)."""
    try:
        return ipaddress.ip_address(host) in LOOPBACK
    except ValueError:
        return False


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


class SshServer:
    """Accepts SSH for every node of a fleet on one selector thread."""

    def __init__(self, client_key: paramiko.PKey) -> None:
        self.client_key = client_key
        self.host_keys: dict[str, paramiko.PKey] = {}
        self.sockets: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}
        self.nodes: dict[str, SimNode] = {}
        self.transports: dict[str, list[paramiko.Transport]] = {}
        self.hung: dict[str, list[socket.socket]] = {}
        self.accepted: dict[str, int] = {}  # connections taken, per node (tests count them)
        self.procs: set[subprocess.Popen] = set()
        self.selector = selectors.DefaultSelector()
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="sim-ssh")

    def add(self, node: SimNode) -> int:
        self.nodes[node.name] = node
        self.host_keys[node.name] = paramiko.ECDSAKey.generate()
        self._listen(node.name, 0)
        return self.ports[node.name]

    def host_key_line(self, name: str) -> str:
        key = self.host_keys[name]
        node = self.nodes[name]
        return f"[{node.public_address}]:{self.ports[name]} {key.get_name()} {key.get_base64()}"

    def _listen(self, name: str, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.nodes[name].public_address, port))
        sock.listen(64)
        sock.setblocking(False)
        with self.lock:
            self.sockets[name] = sock
            self.ports[name] = sock.getsockname()[1]
            self.selector.register(sock, selectors.EVENT_READ, name)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                name = key.data
                try:
                    conn, _addr = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                conn.setblocking(True)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.accepted[name] = self.accepted.get(name, 0) + 1
                node = self.nodes[name]
                if node.faults.get("host_hung"):
                    self.hung.setdefault(name, []).append(conn)  # accepts, never answers
                    continue
                threading.Thread(target=self._serve, args=(name, conn), daemon=True).start()

    def _serve(self, name: str, conn: socket.socket) -> None:
        node = self.nodes[name]
        delay = node.faults.get("slow_link")
        if delay:
            time.sleep(float(delay))
        transport = Transport(conn)
        transport.add_server_key(self.host_keys[name])
        session = _Session(self, node)
        try:
            transport.start_server(server=session)
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()
            return
        with self.lock:
            self.transports.setdefault(name, []).append(transport)
        # paramiko's transport holds its channels weakly: a session channel accepted here and
        # dropped is closed by the garbage collector before a late exec request (a loaded
        # host) can reach it; the client then sees "Channel closed". Hold them until closed.
        held: list[paramiko.Channel] = []
        try:
            while transport.is_active() and not self._stop.is_set():
                chan = transport.accept(timeout=0.5)
                held = [c for c in held if not c.closed]
                if chan is None:
                    continue
                if chan.get_id() in session.forwards:
                    session.forward(chan)
                else:
                    held.append(chan)
        finally:
            with self.lock, contextlib.suppress(ValueError):
                self.transports.get(name, []).remove(transport)
            transport.close()

    # -- faults
    def down(self, name: str) -> None:
        """The host is gone: refuse new connections and drop the open ones."""
        with self.lock:
            sock = self.sockets.pop(name, None)
            if sock is not None:
                self.selector.unregister(sock)
                sock.close()
            for t in self.transports.pop(name, []):
                t.close()

    def up(self, name: str) -> None:
        with self.lock:
            if name not in self.sockets:
                self._listen(name, self.ports[name])
            for conn in self.hung.pop(name, []):
                with contextlib.suppress(OSError):
                    conn.close()

    def track(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.add(proc)

    def untrack(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.discard(proc)

    def stop(self) -> None:
        self._stop.set()
        with self.lock:
            for name in list(self.sockets):
                self.down(name)
            for conns in self.hung.values():
                for conn in conns:
                    conn.close()
            self.hung.clear()
            for proc in list(self.procs):
                if proc.poll() is None:
                    proc.kill()
        if self.thread.is_alive():
            self.thread.join(2)
        self.selector.close()
