"""A console attached to a watch's feed (console/core/monitor/feed.py) over a real unix
socket: what the watch sends right behind its header is not lost to the reader that read
the header."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

from console.core.monitor.feed import FORMAT, Attached, FeedServer
from console.core.monitor.observe import UNREACHABLE, Observation
from console.core.profile import loads

PROFILE = """
[fleet]
name = "f"
stack = "vllm"
[[clusters]]
name = "c"
[[clusters.nodes]]
name = "a"
host = "a.invalid"
role = "server"
[[clusters.nodes]]
name = "b"
host = "b.invalid"
role = "server"
"""


def lost(node: str) -> str:
    return Observation(node, time.time(), "ssh", UNREACHABLE, {"error": "refused"}).to_json()


def test_lines_sent_with_the_header_in_one_write_are_all_read():
    fleet = loads(PROFILE).model
    with tempfile.TemporaryDirectory(prefix="fd-feed-", dir="/tmp") as tmp:
        path = Path(tmp) / "w.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)

        def watch() -> None:  # a watch whose header, kept lines and mark leave in one write
            conn, _ = server.accept()
            with conn:
                conn.recv(100)  # the token
                header = f'{{"fleetdeck_feed": {FORMAT}, "fleet": "f", "interval": 1}}'
                lines = [header, lost("a"), lost("b"), '{"caught_up": true}']
                conn.sendall(("\n".join(lines) + "\n").encode())
                conn.recv(1)  # until the console goes

        threading.Thread(target=watch, daemon=True).start()
        attached = Attached(fleet, path, "token")
        attached.start()
        try:
            assert attached.wait_complete(5)
            nodes = attached.snapshot().nodes
            assert nodes["a"].error == "refused" and nodes["b"].error == "refused"
        finally:
            attached.stop()
            server.close()


def test_a_console_attached_to_a_feed_server_sees_what_it_kept_and_what_follows():
    fleet = loads(PROFILE).model
    with tempfile.TemporaryDirectory(prefix="fd-feed-", dir="/tmp") as tmp:
        feed = FeedServer(Path(tmp) / "w.sock", Path(tmp) / "w.token", "f", 1.0)
        try:
            feed(Observation.from_json(lost("a")))
            attached = Attached(fleet, feed.sock_path, feed.token)
            attached.start()
            try:
                assert attached.wait_complete(5)
                assert attached.snapshot().nodes["a"].error == "refused"
                feed(Observation.from_json(lost("b")))
                deadline = time.monotonic() + 5
                while attached.snapshot().nodes["b"].error is None:
                    assert time.monotonic() < deadline, "the live line never came"
                    time.sleep(0.02)
            finally:
                attached.stop()
        finally:
            feed.close()
