"""What HTTP collectors are made of: requests to a node's private ports over its SSH
channels (console/core/transport/sshhttp.py), timed; a service's health in a word; an
OpenAI-style chat as a latency probe; and the `Collector` each stack implements
(console/core/stacks/<name>_status.py).

Private ports are never opened to fleetdeck directly: each request is a channel of the
node's SSH connection to the node's own 127.0.0.1 (or to a container's address on the
node, where its compose file does not publish the port); nothing listens on this machine.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from console.core.profile.schema import StackSection
from console.core.state import Chain, NodeStatus, Service
from console.core.text import printable_tree

TIMEOUT = httpx.Timeout(5.0)
GET_EXTENSIONS = {"timeout": TIMEOUT.as_dict()}


class NodeHttp:
    """GETs and POSTs to ports on one node, with its client and that client's transport
    (transport/sshhttp.py): the URL names the host and port as the node sees them. A GET
    goes straight to the transport: a round's few hundred GETs need none of the client's
    redirects, cookies or auth, whose layers cost more CPU than the request itself."""

    def __init__(self, node: str, client: httpx.Client, transport: httpx.BaseTransport) -> None:
        self.node, self.client, self.transport = node, client, transport

    def url(self, port: int, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{port}{path}"

    def get(self, port: int, path: str, host: str = "127.0.0.1") -> httpx.Response:
        request = httpx.Request("GET", self.url(port, path, host), extensions=GET_EXTENSIONS)
        response = self.transport.handle_request(request)
        response.read()
        return response

    def json(self, port: int, path: str, host: str = "127.0.0.1") -> Any:
        r = self.get(port, path, host)
        r.raise_for_status()
        return printable_tree(r.json())  # node text never drives the terminal


def timed(fn) -> tuple[httpx.Response | None, float, str]:
    start = time.perf_counter()
    try:
        r = fn()
        return r, (time.perf_counter() - start) * 1000, ""
    except httpx.HTTPError as exc:
        return None, (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}"


def service(
    name: str, r: httpx.Response | None, ms: float, error: str, ok_status: int = 200
) -> Service:
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
    on the stack's chain roles, and `services` for inference health and latency."""

    def wants(self, role: str, serves_model: bool) -> bool:
        return True  # a serving stack's every node serves

    def chain(self, http: NodeHttp, settings: StackSection, status: NodeStatus) -> Chain | None:
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
