"""Copying bytes between two ends of a tunnel (a socket and an SSH channel)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable


def pump(
    recv: Callable[[int], bytes],
    send: Callable[[bytes], object],
    done: Callable[[], object],
    delay: Callable[[], object] | None = None,
) -> None:
    """Copy from recv to send until EOF or an error, then call done (half-close).

    delay, when given, runs before each chunk is passed on (a simulated slow link).
    """
    try:
        while True:
            data = recv(65536)
            if not data:
                break
            if delay is not None:
                delay()
            send(data)
    except (OSError, EOFError):
        pass
    with contextlib.suppress(OSError, EOFError):
        done()
