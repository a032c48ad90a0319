"""A small HTTP/1.1 server on asyncio for the emulated APIs.

One event loop serves every port of every simulated node, so 200 nodes cost one thread,
not one per port. Listeners open and close as the containers that provide them start and
stop: a stopped service refuses connections, as on a real host.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    # whether the client has closed its side (it gave up waiting): a queued request is dropped
    gone: Callable[[], bool] = lambda: False

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # more header lines (name, value)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode())


def text_response(text: str, status: int = 200, content_type: str = "text/plain") -> Response:
    return Response(status, text.encode(), content_type)


Handler = Callable[[Request], Response | Awaitable[Response]]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        # "/admin/v1/nodes/:id" -> named group
        regex = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", pattern)
        self.routes.append((method, re.compile(f"^{regex}$"), handler))

    async def dispatch(self, req: Request) -> Response:
        allowed = False
        for method, regex, handler in self.routes:
            m = regex.match(req.path)
            if not m:
                continue
            allowed = True
            if method != req.method and not (method == "GET" and req.method == "HEAD"):
                continue
            req.params = m.groupdict()
            result = handler(req)
            if inspect.isawaitable(result):
                result = await result
            return result
        if allowed:
            return json_response({"error": "method not allowed"}, 405)
        return json_response({"error": f"not found: {req.path}"}, 404)


class Loop:
    """The event loop thread shared by all simulated services."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-http", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[Any], timeout: float = 10) -> Any:
        fut: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


class Listener:
    """One listening address:port served by a router; opened and closed at will."""

    def __init__(
        self, loop: Loop, address: str, port: int | None, router: Router, netns: str | None = None
    ) -> None:
        """port None: `address` is the path of a unix socket. netns: listen inside it."""
        self.netns = netns
        self.loop = loop
        self.address = address
        self.port = port
        self.router = router
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()

    @property
    def open(self) -> bool:
        return self.server is not None

    def start(self) -> None:
        if self.server is None:
            if self.port is None:
                self.server = self.loop.run(asyncio.start_unix_server(self._serve, self.address))
            elif self.netns is not None:
                from console.sim.netns import socket_in

                sock = socket_in(self.netns, self.address, self.port)
                self.server = self.loop.run(asyncio.start_server(self._serve, sock=sock))
            else:
                self.server = self.loop.run(
                    asyncio.start_server(self._serve, self.address, self.port, reuse_address=True)
                )

    def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None

            async def close() -> None:
                server.close()
                for writer in list(self.connections):
                    writer.close()
                await server.wait_closed()

            self.loop.run(close())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                request.gone = reader.at_eof
                try:
                    response = await self.router.dispatch(request)
                except Exception as exc:  # an emulator bug must not kill the server
                    response = json_response({"error": f"internal error: {exc!r}"}, 500)
                keep = request.headers.get("connection", "").lower() != "close"
                _write_response(writer, response, request.method == "HEAD", keep)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.connections.discard(writer)
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        key, _, value = raw.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    # HTTP/1.0 closes after the response unless asked to keep the connection
    if version.strip() == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    return Request(method.upper(), url.path or "/", query, headers, body)


def _write_response(
    writer: asyncio.StreamWriter, response: Response, head: bool, keep: bool
) -> None:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:  # nginx's 499 and such
        reason = "Unknown"
    head_lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep else 'close'}",
        *(f"{name}: {value}" for name, value in response.headers),
        "",
        "",
    ]
    writer.write("\r\n".join(head_lines).encode("latin-1"))
    if not head:
        writer.write(response.body)
