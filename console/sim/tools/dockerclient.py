"""HTTP over the node's docker socket, for the fake docker CLI (stdlib only)."""

from __future__ import annotations

import json
import os
from urllib.parse import quote, urlencode

from console.sim.tools import sim_dir
from console.sim.tools.unixhttp import request


def socket_path() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return str(sim_dir() / "docker.sock")


# what json.loads gives: typing's Any, without importing typing at each of the thousands of
# docker calls a test run makes (~3 ms a start)
Json = object


class DockerError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def call(
    method: str, path: str, query: dict[str, object] | None = None, body: Json = None
) -> tuple[int, bytes]:
    url = "/v1.41" + quote(path) + ("?" + urlencode(query) if query else "")
    payload = json.dumps(body).encode() if body is not None else None
    try:
        status, data = request(socket_path(), method, url, payload)
    except (FileNotFoundError, ConnectionRefusedError):
        raise DockerError(
            0,
            f"Cannot connect to the Docker daemon at unix://{socket_path()}. "
            "Is the docker daemon running?",
        ) from None
    if status >= 400:
        try:
            message = json.loads(data).get("message", data.decode())
        except ValueError:
            message = data.decode()
        raise DockerError(status, f"Error response from daemon: {message}")
    return status, data


def get_json(path: str, query: dict[str, object] | None = None) -> Json:
    return json.loads(call("GET", path, query)[1])
