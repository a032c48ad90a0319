"""An API behind the proxy answers only while the container that serves it runs: a stopped
one gets the proxy's 502, as nginx in front of it answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.sim.http import Request, text_response

if TYPE_CHECKING:
    from console.sim.node import SimNode


def needs(node: SimNode, container: str, handler):
    def wrapped(req: Request):
        if not node.containers.running(container):
            return text_response(
                "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"
            )
        return handler(req)

    return wrapped
