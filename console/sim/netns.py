"""Listening sockets inside a network namespace, for simulated nodes that sit behind real
OpenSSH test hosts: each such host runs in its own namespace, so its 127.0.0.1 is its own,
as on a real machine: SSH forwards to 127.0.0.1:9200 reach that node's admin API, and to the
`node` container's compose address (on the namespace's loopback) its chain RPC.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000


def socket_in(netns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket bound inside the named namespace (/run/netns/NAME).

    setns() moves only the calling thread, so a short-lived thread creates the socket; the
    socket stays in the namespace it was made in.
    """
    result: dict[str, object] = {}

    def make() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            result["sock"] = sock
        except OSError as exc:
            result["error"] = exc

    t = threading.Thread(target=make, name=f"netns-{netns}")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["sock"]  # type: ignore[return-value]
