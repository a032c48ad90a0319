"""A status source that never answers, or trickles its answer, is no green: `status` says
it does not answer (exit 2), as it does for one that refuses connections (issue 27)."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

import pytest

from tests.harness.cli import run_here

pytestmark = pytest.mark.integration


@contextmanager
def server(trickle: bool):
    """A loopback server that takes connections and never answers, or answers a header and
    then one byte of its body now and then."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)
            if trickle:
                threading.Thread(target=drip, args=(conn,), daemon=True).start()

    def drip(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.wait(0.3):
                conn.sendall(b" ")
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickling"])
def test_a_source_that_does_not_answer_within_the_wait_is_critical(
    tmp_path, monkeypatch, capsys, trickle
):
    with server(trickle) as port:
        profile = tmp_path / "gke.toml"
        profile.write_text(
            '[fleet]\nname = "gke"\nstack = "vllm"\n[[sources]]\nname = "gke"\n'
            f'kind = "prometheus"\nurl = "http://127.0.0.1:{port}"\nselector = \'job="dcgm"\'\n'
            'cluster_label = "cluster"\nscrape_interval_s = 5\ngpus = 8\n'
            '[[clusters]]\nname = "c1"\n'
        )
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        code, out, _ = run_here(monkeypatch, capsys, "status", str(profile), "--wait", "1", env=env)
    assert code == 2, out
    assert "sources: gke does not answer" in out
    assert "1 critical" in out and "status source 'gke' does not answer" in out
    assert "(no answer within 1 s)" in out
