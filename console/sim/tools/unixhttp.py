"""One HTTP/1.0 request over a unix socket, for the fake tools that ask the simulator
(docker, systemctl). Not http.client: importing it (email, ssl) cost each of the thousands
of tool calls a deploy makes about 15 ms, and the simulator's server always answers with a
Content-Length and closes an HTTP/1.0 connection after its answer."""

from __future__ import annotations

import socket


def request(
    path: str,
    method: str,
    url: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    timeout: float = 30,
) -> tuple[int, bytes]:
    """(status, body) of one request to the HTTP server on the unix socket at `path`."""
    head = [f"{method} {url} HTTP/1.0", "Host: localhost"]
    if body is not None:
        head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    header, _, data = answer.partition(b"\r\n\r\n")
    try:
        status = int(header.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError(f"not an HTTP answer from {path}: {answer[:60]!r}") from None
    return status, data
