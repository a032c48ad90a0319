"""paramiko's transport as fleetdeck runs it: its reader wakes seldom, yet a close is seen
by the other end at once."""

from __future__ import annotations

import contextlib
import socket
import threading

import paramiko

from console.core.transport.sshtransport import Transport


def test_a_closed_transport_ends_its_connection_at_once_not_at_its_next_wakeup(monkeypatch):
    monkeypatch.setattr(Transport, "_active_check_timeout", 60.0)
    ours, peer = socket.socketpair()
    peer.settimeout(10)
    transport = Transport(ours)

    def start() -> None:  # waits on a server that never answers, until closed
        with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
            transport.start_client(timeout=30)

    threading.Thread(target=start, daemon=True).start()
    try:
        assert peer.recv(256).startswith(b"SSH-2.0-")  # its reader now waits on the socket
        transport.close()
        # paramiko's own close left the socket open until the reader's next wakeup
        assert peer.recv(256) == b""
    finally:
        peer.close()
        transport.close()
