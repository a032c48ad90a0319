"""paramiko's Transport as fleetdeck holds it open for hours, at either end (the pool's
client connections, the simulated fleet's server)."""

from __future__ import annotations

import contextlib
import socket

import paramiko

# paramiko's transport thread reads with a socket timeout so that it can see it was closed:
# 0.1 s by default, ten wakeups a second per connection whether or not anything arrives
# (measured: 3-5 points of a core at 100 nodes). Keepalives and handshake deadlines are
# checked at those wakeups, which a second's grain serves; close() below does not wait.
ACTIVE_CHECK_S = 1.0


class Transport(paramiko.Transport):
    """paramiko's, waking once a second (ACTIVE_CHECK_S) and closed at once."""

    _active_check_timeout = ACTIVE_CHECK_S  # read by paramiko's __init__

    def close(self) -> None:
        """Close at once: the reader thread would otherwise keep the socket open (its
        poll holds it) until its next wakeup, so the peer would see the end a second late."""
        if self.active and isinstance(self.sock, socket.socket):
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        super().close()
