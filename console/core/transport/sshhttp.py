"""HTTP to a node's private ports straight over its SSH connection.

An httpx client whose network backend opens `direct-tcpip` channels on the node's
transport instead of TCP sockets: no local listening port (which any user of this machine
could connect to), no tunnel threads (two per connection, ~900 threads at 100 nodes), and
keep-alive holds each channel open across rounds. URLs name the host and port as the node
sees them (`http://127.0.0.1:9200/…`, or a container's address).
"""

from __future__ import annotations

import time

import httpcore
import httpx
import paramiko

from console.core.transport.ssh import Pool, SshError


class ChannelStream(httpcore.NetworkStream):
    def __init__(self, chan: paramiko.Channel) -> None:
        self.chan = chan

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.chan.settimeout(timeout)
        try:
            return self.chan.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self.chan.settimeout(timeout)
        try:
            self.chan.sendall(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        self.chan.close()

    def get_extra_info(self, info: str):
        if info == "is_readable":  # an idle keep-alive connection the server closed
            return self.chan.closed or self.chan.eof_received or self.chan.recv_ready()
        return None


class ChannelBackend(httpcore.NetworkBackend):
    """Connections of one node's HTTP client: channels on its pooled SSH transport."""

    def __init__(self, pool: Pool, node: str) -> None:
        self.pool, self.node = pool, node
        self.opened = 0  # channels over its life: keep-alive keeps this near the origins

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options=None,
    ) -> httpcore.NetworkStream:
        try:
            transport = self.pool.connection(self.node).transport
            chan = transport.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
            )
        except (OSError, EOFError, paramiko.SSHException, SshError) as exc:
            raise httpcore.ConnectError(f"{host}:{port} via {self.node}: {exc}") from exc
        self.opened += 1
        return ChannelStream(chan)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def node_client(pool: Pool, node: str, timeout: float, keepalive: float = 60.0):
    """(httpx client to `node`'s private ports, its backend for counting channels)."""
    backend = ChannelBackend(pool, node)
    transport = httpx.HTTPTransport()
    # httpx builds its connection pool without a way to name the network backend: the
    # pool is replaced by one with ours (httpx 0.28 and 0.29 keep it in HTTPTransport._pool)
    transport._pool = httpcore.ConnectionPool(
        network_backend=backend, max_connections=20, keepalive_expiry=keepalive
    )
    return httpx.Client(transport=transport, timeout=timeout), backend
