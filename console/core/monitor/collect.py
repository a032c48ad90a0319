"""What HTTP collectors are made of: requests to a node's private ports over its SSH
channels (console/core/transport/sshhttp.py), timed; a service's health in a word; an
OpenAI-style chat as a latency probe; and the `Collector` each stack implements
(console/core/stacks/<name>_status.py).

Private ports are never opened to fleetdeck directly: each request is a channel of the
node's SSH connection to the node's own 127.0.0.1 (or to a container's address on the
node, where its compose file does not publish the port); nothing listens on this machine.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import httpx

from console.core.profile.schema import StackSection
from console.core.state import Chain, NodeStatus, Service
from console.core.text import printable_json
from console.core.transport.sshhttp import ChannelTransport

TIMEOUT = httpx.Timeout(5.0)
GET_EXTENSIONS = {"timeout": TIMEOUT.as_dict()}


class Answer:
    """A collector's GET answered: what the collectors read of httpx's Response (its
    status, text, JSON, raise_for_status), made from the transport's bytes; making
    httpx's Response and reading it back was 40 % of a GET's CPU."""

    __slots__ = ("content", "request", "status_code")

    def __init__(self, status_code: int, content: bytes, request: httpx.Request) -> None:
        self.status_code, self.content, self.request = status_code, content, request

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if not 200 <= self.status_code < 300:  # httpx's own error, with its words
            response = httpx.Response(self.status_code, content=self.content, request=self.request)
            response.raise_for_status()


Reply = Answer | httpx.Response  # a GET's, or a client's POST's (the latency probe)


class NodeHttp:
    """GETs and POSTs to ports on one node, with its client and that client's transport
    (transport/sshhttp.py): the URL names the host and port as the node sees them. A GET
    goes straight to the transport: a round's few hundred GETs need none of the client's
    redirects, cookies or auth, whose layers cost more CPU than the request itself."""

    def __init__(self, node: str, client: httpx.Client, transport: ChannelTransport) -> None:
        self.node, self.client, self.transport = node, client, transport

    def url(self, port: int, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{port}{path}"

    def get(self, port: int, path: str, host: str = "127.0.0.1") -> Answer:
        request = _get(self.url(port, path, host))
        status, headers, body = self.transport.exchange(request)
        if any(name.lower() == b"content-encoding" for name, _ in headers):
            # compressed, though none was asked for: httpx's decoders read it
            body = httpx.Response(status, headers=headers, content=body, request=request).read()
        return Answer(status, body, request)

    def json(self, port: int, path: str, host: str = "127.0.0.1") -> Any:
        r = self.get(port, path, host)
        r.raise_for_status()
        return printable_json(r.content)  # node text never drives the terminal


@functools.lru_cache(maxsize=4096)
def _get(url: str) -> httpx.Request:
    """A GET of `url`, made once and sent again: every node is asked the same few URLs
    each round, and making httpx's Request (parsing the URL, the headers) was a quarter of
    a GET's CPU. A Request without a body is not changed by sending it."""
    return httpx.Request("GET", url, extensions=GET_EXTENSIONS)


def timed(fn) -> tuple[Reply | None, float, str]:
    start = time.perf_counter()
    try:
        r = fn()
        return r, (time.perf_counter() - start) * 1000, ""
    except httpx.HTTPError as exc:
        return None, (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}"


def service(name: str, r: Reply | None, ms: float, error: str, ok_status: int = 200) -> Service:
    if r is None:
        return Service(name, False, None, None, error)
    ok = r.status_code == ok_status
    detail = ""
    if not ok:  # an error page is noise: keep a JSON error's text, else the status alone
        text = r.text.strip()
        detail = f"HTTP {r.status_code}" + (f": {text[:160]}" if text.startswith("{") else "")
    return Service(name, ok, round(ms, 1), r.status_code, detail)


def chat(name: str, http: NodeHttp, port: int, model: str) -> Service:
    """One token of an OpenAI-style chat completion, timed: the inference latency probe."""
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    r, ms, err = timed(lambda: http.client.post(http.url(port, "/v1/chat/completions"), json=body))
    return service(name, r, ms, err)


class Collector:
    """A stack's status collectors. The monitor asks `wants` which nodes to poll, `chain`
    on the stack's chain roles, and `services` for inference health and latency.

    `services` is asked every round; `chain` is told with `full` whether to read the chain
    whole or only what moves with each block, keeping the rest from `status.chain`
    (ssh_source.py's full rounds)."""

    def wants(self, role: str, serves_model: bool) -> bool:
        return True  # a serving stack's every node serves

    def chain(
        self, http: NodeHttp, settings: StackSection, status: NodeStatus, full: bool = True
    ) -> Chain | None:
        return None

    def services(
        self,
        http: NodeHttp,
        settings: StackSection,
        role: str,
        serves_model: bool,
        model: str | None,
        measure_latency: bool,
    ) -> list[Service]:
        return []
