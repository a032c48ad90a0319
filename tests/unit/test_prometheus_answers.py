"""No false green from a Prometheus source: one that trickles its answer (or never ends
it) is a source that does not answer once its deadline passes, and one +Inf sample is that
series skipped, not every node's values gone."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from console.core.profile.schema import PrometheusSource
from console.core.sources import prometheus
from console.core.sources.prometheus import PrometheusReader, SourceError

NOW = 1_796_000_000.0


def vector(*series: tuple[dict, str]) -> bytes:
    result = [{"metric": m, "value": [NOW, v]} for m, v in series]
    doc = {"status": "success", "data": {"resultType": "vector", "result": result}}
    return json.dumps(doc).encode()


class FakePrometheus:
    """Answers /api/v1/query by `answer(promql)`: bytes, or None to trickle forever."""

    def __init__(self, answer) -> None:
        self.stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                promql = parse_qs(urlsplit(self.path).query)["query"][0]
                body = answer(promql)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if body is not None:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()  # then a byte now and then, never the end
                while not outer.stopping.wait(0.1):
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def reader(url: str) -> PrometheusReader:
    return PrometheusReader(PrometheusSource(kind="prometheus", name="prom", url=url))


def test_an_answer_that_never_ends_is_a_source_that_does_not_answer(monkeypatch):
    monkeypatch.setattr(prometheus, "ANSWER_S", 0.5)
    fake = FakePrometheus(lambda promql: None)
    r = reader(fake.url)
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"no whole answer within 0 s|no whole answer"):
            r.read()
        assert time.monotonic() - started < 5  # the deadline, not httpx's 10 s between bytes
    finally:
        r.close()
        fake.stop()


def test_one_infinite_sample_skips_that_series_not_the_source():
    def answer(promql: str) -> bytes:
        if "timestamp(" in promql:  # when each node was last scraped
            return vector(({"Hostname": "n1"}, str(NOW)), ({"Hostname": "n2"}, str(NOW)))
        if promql.startswith("max by") and "DCGM_FI_DEV_GPU_TEMP" in promql:
            return vector(
                ({"Hostname": "n1", "gpu": "0"}, "+Inf"),
                ({"Hostname": "n2", "gpu": "0"}, "61"),
            )
        if promql.startswith("max by") and "DCGM_FI_DEV_GPU_UTIL" in promql:
            return vector(
                ({"Hostname": "n1", "gpu": "0"}, "87"), ({"Hostname": "n2", "gpu": "0"}, "5")
            )
        return vector()

    fake = FakePrometheus(answer)
    r = reader(fake.url)
    try:
        reading = r.read()
    finally:
        r.close()
        fake.stop()
    assert set(reading.nodes) == {"n1", "n2"}
    (n2,) = reading.nodes["n2"].data["gpus"]
    assert n2["temp_c"] == 61
    (n1,) = reading.nodes["n1"].data["gpus"]
    assert "temp_c" not in n1 and n1["util"] == 87 and not n1.get("lost")
