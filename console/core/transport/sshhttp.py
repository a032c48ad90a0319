"""HTTP to a node's private ports straight over its SSH connection.

An httpx client whose transport opens `direct-tcpip` channels on the node's SSH transport
instead of TCP sockets: no local listening port (which any user of this machine could
connect to), no tunnel threads (two per connection, ~900 threads at 100 nodes), and
keep-alive holds each channel open across rounds. URLs name the host and port as the node
sees them (`http://127.0.0.1:9200/…`, or a container's address).

The transport speaks HTTP/1.1 itself (ChannelTransport): the collectors ask a few hundred
small JSON answers a round, and httpcore's pool and h11 around each cost more CPU than
the SSH channel under it (measured at 100 nodes: the collectors were 58 % of the status
pipeline's time, httpcore and h11 most of that).
"""

from __future__ import annotations

import threading
import time

import httpcore
import httpx
import paramiko

from console.core.transport.ssh import Pool, SshError


class ChannelStream:
    """One HTTP connection: a direct-tcpip channel (its errors in httpcore's words, which
    ChannelTransport says in httpx's)."""

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


class ChannelBackend:
    """Connections of one node's HTTP client: channels on its pooled SSH transport."""

    def __init__(self, pool: Pool, node: str) -> None:
        self.pool, self.node = pool, node
        self.opened = 0  # channels over its life: keep-alive keeps this near the origins

    def connect_tcp(self, host: str, port: int, timeout: float | None = None) -> ChannelStream:
        try:
            transport = self.pool.connection(self.node).transport
            chan = transport.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
            )
        except (OSError, EOFError, paramiko.SSHException, SshError) as exc:
            raise httpcore.ConnectError(f"{host}:{port} via {self.node}: {exc}") from exc
        self.opened += 1
        return ChannelStream(chan)


MAX_BODY = 64 << 20  # an answer past this is not a status endpoint's
MAX_HEAD = 64 << 10


class ChannelTransport(httpx.BaseTransport):
    """HTTP/1.1 over channels of one node's SSH connection, kept open between requests
    (idle ones per host and port, each closed after `keepalive` seconds unused); a request
    on a kept channel the server had closed meanwhile is sent again once on a new one."""

    def __init__(self, backend: ChannelBackend, keepalive: float) -> None:
        self.backend, self.keepalive = backend, keepalive
        self._idle: dict[tuple[str, int], list[tuple[ChannelStream, float]]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, body = self.exchange(request)
        return httpx.Response(
            status,
            headers=headers,
            content=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    def exchange(self, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """`request`'s answer as read: (status, headers, body), errors as httpx's. The
        collectors' GETs read it so (collect.Answer): making httpx's Response and reading
        it back cost more CPU than the request's round trip."""
        timeouts = request.extensions.get("timeout", {})
        origin = (request.url.host, request.url.port or 80)
        payload, head_only = _request_bytes(request), request.method == "HEAD"
        stream = None
        try:
            stream, reused = self._take(origin, timeouts.get("connect"))
            try:
                stream.write(payload, timeouts.get("write"))
                answer = _read_response(stream, timeouts.get("read"), head_only)
            except _ClosedBeforeAnswer:
                if not reused:
                    raise
                stream.close()  # the server closed the kept channel meanwhile: once more
                stream, _ = self._take(origin, timeouts.get("connect"), fresh=True)
                stream.write(payload, timeouts.get("write"))
                answer = _read_response(stream, timeouts.get("read"), head_only)
        except (httpcore.TimeoutException, httpcore.NetworkError, _ClosedBeforeAnswer) as exc:
            if stream is not None:
                stream.close()
            raise _httpx_error(exc, request) from exc
        except httpx.RemoteProtocolError:
            stream.close()  # type: ignore[union-attr] - raised only once a stream is read
            raise
        status, headers, body, keep = answer
        if keep:
            self._give_back(origin, stream)
        else:
            stream.close()
        return status, headers, body

    def _take(self, origin, timeout, fresh: bool = False) -> tuple[ChannelStream, bool]:
        now = time.monotonic()
        with self._lock:
            kept = self._idle.get(origin, [])
            while kept and not fresh:
                stream, since = kept.pop()
                if now - since < self.keepalive and not stream.get_extra_info("is_readable"):
                    return stream, True
                stream.close()  # expired, or the server closed it (or said something)
        host, port = origin
        return self.backend.connect_tcp(host, port, timeout), False

    def _give_back(self, origin, stream: ChannelStream) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append((stream, time.monotonic()))

    def close(self) -> None:
        with self._lock:
            kept, self._idle = self._idle, {}
        for streams in kept.values():
            for stream, _ in streams:
                stream.close()


class _ClosedBeforeAnswer(Exception):
    """The channel ended before a byte of the answer came."""


def _request_bytes(request: httpx.Request) -> bytes:
    body = request.read()
    head = [f"{request.method} ".encode() + request.url.raw_path + b" HTTP/1.1"]
    head += [name + b": " + value for name, value in request.headers.raw]
    if body and "content-length" not in request.headers:
        head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _read_response(stream: ChannelStream, timeout: float | None, head_only: bool = False):
    """(status, headers, body, whether the channel may carry the next request)."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = stream.read(65536, timeout)
            if not data:
                if not buf:
                    raise _ClosedBeforeAnswer("the channel closed before the answer")
                raise httpx.RemoteProtocolError("the answer ended inside its headers")
            buf += data
            if len(buf) > MAX_HEAD:
                raise httpx.RemoteProtocolError("an answer's headers over 64 KiB")
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        try:
            version, code = lines[0].split(b" ", 2)[:2]
            status = int(code)
        except ValueError:
            raise httpx.RemoteProtocolError(f"not an HTTP status line: {lines[0][:80]!r}") from None
        if not 100 <= status < 200:
            break  # an interim answer (100 Continue) is followed by the answer
    rest = buf
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.strip(), value.strip()))
    fields = {name.lower(): value.lower() for name, value in headers}
    keep = version == b"HTTP/1.1" and fields.get(b"connection") != b"close"
    if head_only or status in (204, 304):
        return status, headers, b"", keep and not rest
    if fields.get(b"transfer-encoding", b"").endswith(b"chunked"):
        return status, headers, _chunked(stream, rest, timeout), keep
    if b"content-length" in fields:
        try:
            length = int(fields[b"content-length"])
        except ValueError:
            raise httpx.RemoteProtocolError("a Content-Length that is no number") from None
        if length > MAX_BODY:
            raise httpx.RemoteProtocolError(f"an answer of {length} bytes")
        body = bytearray(rest)
        while len(body) < length:
            data = stream.read(min(1 << 20, length - len(body)), timeout)
            if not data:
                raise httpx.RemoteProtocolError("the answer ended before its Content-Length")
            body += data
        return status, headers, bytes(body[:length]), keep and len(body) == length
    body = bytearray(rest)  # no length: the answer ends with the channel
    while data := stream.read(65536, timeout):
        body += data
        if len(body) > MAX_BODY:
            raise httpx.RemoteProtocolError("an answer over 64 MiB")
    return status, headers, bytes(body), False


def _chunked(stream: ChannelStream, buf: bytes, timeout: float | None) -> bytes:
    body = bytearray()

    def more() -> bytes:
        data = stream.read(65536, timeout)
        if not data:
            raise httpx.RemoteProtocolError("the answer ended inside a chunk")
        return data

    while True:
        while b"\r\n" not in buf:
            buf += more()
        size_line, buf = buf.split(b"\r\n", 1)
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise httpx.RemoteProtocolError("a chunk size that is no number") from None
        if size == 0:
            while not (buf.startswith(b"\r\n") or b"\r\n\r\n" in buf):  # trailers
                buf += more()
            return bytes(body)
        while len(buf) < size + 2:
            buf += more()
        body += buf[:size]
        buf = buf[size + 2 :]
        if len(body) > MAX_BODY:
            raise httpx.RemoteProtocolError("an answer over 64 MiB")


def _httpx_error(exc: Exception, request: httpx.Request) -> httpx.HTTPError:
    kind = {
        httpcore.ConnectError: httpx.ConnectError,
        httpcore.ConnectTimeout: httpx.ConnectTimeout,
        httpcore.ReadTimeout: httpx.ReadTimeout,
        httpcore.WriteTimeout: httpx.WriteTimeout,
        httpcore.ReadError: httpx.ReadError,
        httpcore.WriteError: httpx.WriteError,
    }.get(type(exc), httpx.RemoteProtocolError)
    return kind(str(exc), request=request)


def node_client(pool: Pool, node: str, timeout: float | httpx.Timeout, keepalive: float = 60.0):
    """(httpx client to `node`'s private ports, its transport: `transport.backend.opened`
    counts its channels, and a collector may send a plain GET straight to it)."""
    transport = ChannelTransport(ChannelBackend(pool, node), keepalive)
    return httpx.Client(transport=transport, timeout=timeout), transport
