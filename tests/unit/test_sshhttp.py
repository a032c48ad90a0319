"""The HTTP/1.1 the collectors speak over SSH channels (console/core/transport/sshhttp.py),
against channels that answer as servers do: lengths, chunks, close-delimited answers,
keep-alive, a kept channel the server closed meanwhile, compressed bodies, bad answers.
Over real channels it is exercised by tests/integration/test_monitor.py and
test_status_openssh.py."""

from __future__ import annotations

import gzip

import httpcore
import httpx
import pytest

from console.core.transport.sshhttp import ChannelTransport


class Channel:
    """A channel whose server answers each request with the next of `answers` (bytes,
    given in pieces to the reader), or closes when the answer is None."""

    def __init__(self, answers: list[bytes | None], piece: int = 7, eof: bool = False) -> None:
        self.answers, self.piece = answers, piece
        self.sent: list[bytes] = []
        self.pending = b""
        self.closed = False
        self.eof = eof  # the server closes its side once it has answered

    def write(self, data: bytes, timeout=None) -> None:
        if self.closed:
            raise httpcore.WriteError("closed")
        self.sent.append(data)
        answer = self.answers.pop(0) if self.answers else None
        if answer is None:
            self.closed = True
        else:
            self.pending += answer

    def read(self, n: int, timeout=None) -> bytes:
        if not self.pending:
            if self.closed or self.eof:
                return b""
            raise httpcore.ReadTimeout("no answer")
        out, self.pending = self.pending[: min(n, self.piece)], self.pending[min(n, self.piece) :]
        return out

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, info: str):
        return self.closed if info == "is_readable" else None


class Backend:
    def __init__(self, *channels: Channel) -> None:
        self.channels = list(channels)
        self.opened = 0

    def connect_tcp(self, host, port, timeout=None):
        self.opened += 1
        if not self.channels:
            raise httpcore.ConnectError(f"{host}:{port}: refused")
        return self.channels.pop(0)


def client(*channels: Channel) -> tuple[httpx.Client, Backend]:
    backend = Backend(*channels)
    return httpx.Client(transport=ChannelTransport(backend, 60.0), timeout=5), backend  # type: ignore[arg-type]


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_answers_by_length_and_by_chunks_share_one_kept_channel():
    chunked = b'4\r\n{"a"\r\n6;ext=1\r\n: [1]}\r\n0\r\nX-Trailer: y\r\n\r\n'
    chan = Channel([answer(b'{"height": 7}'), answer(chunked, "Transfer-Encoding: chunked")])
    http, backend = client(chan)
    assert http.get("http://127.0.0.1:26657/status").json() == {"height": 7}
    assert http.get("http://127.0.0.1:26657/net_info").json() == {"a": [1]}
    assert backend.opened == 1  # the second request rode the first one's channel
    first = chan.sent[0].split(b"\r\n")
    assert first[0] == b"GET /status HTTP/1.1" and b"Host: 127.0.0.1:26657" in first


def test_a_post_carries_its_body_and_a_query_its_parameters():
    chan = Channel([answer(b"{}", status="201 Created")])
    http, _ = client(chan)
    r = http.post("http://10.0.0.2:9200/admin/v1/nodes?x=1&y=%20", json={"id": "ml1"})
    assert r.status_code == 201
    sent = chan.sent[0]
    assert sent.startswith(b"POST /admin/v1/nodes?x=1&y=%20 HTTP/1.1\r\n")
    assert sent.endswith(b'\r\n\r\n{"id":"ml1"}') and b"Content-Length: 12" in sent


def test_an_answer_that_ends_with_its_channel_closes_it_and_the_next_opens_another():
    closing = Channel(
        [b"HTTP/1.0 503 Service Unavailable\r\nServer: x\r\n\r\ndown for now"], eof=True
    )
    http, backend = client(closing, Channel([answer(b"ok", "Connection: close")]), Channel([]))
    r = http.get("http://127.0.0.1:8080/health")
    assert (r.status_code, r.text) == (503, "down for now")
    assert http.get("http://127.0.0.1:8080/health").text == "ok"
    assert backend.opened == 2


def test_a_kept_channel_the_server_closed_is_asked_again_on_a_new_one_once():
    kept = Channel([answer(b"1")])
    http, backend = client(kept, Channel([answer(b"2")]))
    assert http.get("http://127.0.0.1:5050/health").text == "1"
    kept.answers = [None]  # the server closes it when the next request comes
    assert http.get("http://127.0.0.1:5050/health").text == "2"
    assert backend.opened == 2
    # a new channel that closes without an answer is an error, not asked again
    http, backend = client(Channel([None]))
    with pytest.raises(httpx.RemoteProtocolError, match="closed before the answer"):
        http.get("http://127.0.0.1:5050/health")
    assert backend.opened == 1


def test_a_compressed_body_is_read_as_its_text():
    from console.core.monitor.collect import NodeHttp

    body = gzip.compress(b'{"result": "fine"}')
    http, _ = client(Channel([answer(body, "Content-Encoding: gzip")]))
    assert http.get("http://127.0.0.1:8000/v1/versions").json() == {"result": "fine"}
    # and a collector's GET, which reads the transport's bytes itself
    chan = Channel(
        [answer(body, "Content-Encoding: gzip"), answer(b"garbled", "Content-Encoding: gzip")]
    )
    transport = ChannelTransport(Backend(chan), 60.0)  # type: ignore[arg-type]
    collector = NodeHttp("net", httpx.Client(transport=transport), transport)
    assert collector.json(8000, "/v1/versions") == {"result": "fine"}
    with pytest.raises(httpx.DecodingError):  # an httpx error: the collectors' except takes it
        collector.get(8000, "/v1/versions")


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", httpx.RemoteProtocolError),
    ],
)
def test_a_bad_answer_is_an_httpx_error_and_its_channel_is_not_kept(raw, error):
    chan = Channel([raw], eof=True)
    http, backend = client(chan, Channel([answer(b"next")]))
    with pytest.raises(error):
        http.get("http://127.0.0.1:8000/x")
    assert chan.closed
    assert http.get("http://127.0.0.1:8000/x").text == "next" and backend.opened == 2


def test_no_answer_in_time_and_no_channel_are_httpx_errors():
    http, _ = client(Channel([b""]))  # the server says nothing
    with pytest.raises(httpx.ReadTimeout):
        http.get("http://127.0.0.1:8000/x")
    http, _ = client()
    with pytest.raises(httpx.ConnectError, match="refused"):
        http.get("http://127.0.0.1:8000/x")


def test_a_collectors_get_goes_straight_to_the_transport_and_reads_the_same():
    from console.core.monitor.collect import NodeHttp, service

    busy = answer(b'{"error": "loading"}', status="503 Service Unavailable")
    chan = Channel(
        [answer(b'{"result": {"n_peers": "3"}}'), answer(b"busy", status="503 No"), busy]
    )
    backend = Backend(chan)
    transport = ChannelTransport(backend, 60.0)  # type: ignore[arg-type]
    http = NodeHttp("net", httpx.Client(transport=transport), transport)
    assert http.json(26657, "/net_info") == {"result": {"n_peers": "3"}}
    with pytest.raises(httpx.HTTPStatusError, match="503"):
        http.json(26657, "/net_info")
    down = service("rpc", http.get(26657, "/health"), 1.0, "")  # the kept channel
    assert not down.ok and down.status == 503 and down.detail == 'HTTP 503: {"error": "loading"}'
    assert chan.sent[0].startswith(b"GET /net_info HTTP/1.1\r\nHost: 127.0.0.1:26657\r\n")
    assert chan.sent[1] == chan.sent[0]  # the same request, sent again
    assert backend.opened == 1


def test_an_interim_answer_is_passed_over_and_a_channel_with_bytes_left_is_not_kept():
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"done")
    extra = answer(b"ok") + b"garbage"  # more than its Content-Length: not reused
    http, backend = client(Channel([interim, extra]), Channel([answer(b"fresh")]))
    assert http.get("http://127.0.0.1:8000/a").text == "done"
    assert http.get("http://127.0.0.1:8000/b").text == "ok"
    assert http.get("http://127.0.0.1:8000/c").text == "fresh" and backend.opened == 2
