"""HTTP over the node's docker socket, for the fake docker CLI (stdlib only)."""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any
from urllib.parse import quote, urlencode

from console.sim.tools import sim_dir


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def socket_path() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return str(sim_dir() / "docker.sock")


class DockerError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def call(
    method: str, path: str, query: dict[str, Any] | None = None, body: Any = None
) -> tuple[int, bytes]:
    conn = UnixConnection(socket_path())
    url = "/v1.41" + quote(path) + ("?" + urlencode(query) if query else "")
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload else {}
    try:
        conn.request(method, url, body=payload, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    except (FileNotFoundError, ConnectionRefusedError):
        raise DockerError(
            0,
            f"Cannot connect to the Docker daemon at unix://{socket_path()}. "
            "Is the docker daemon running?",
        ) from None
    finally:
        conn.close()
    if resp.status >= 400:
        try:
            message = json.loads(data).get("message", data.decode())
        except ValueError:
            message = data.decode()
        raise DockerError(resp.status, f"Error response from daemon: {message}")
    return resp.status, data


def get_json(path: str, query: dict[str, Any] | None = None) -> Any:
    return json.loads(call("GET", path, query)[1])
