"""Stand-ins for the paging channels' services, on loopback, answering in their real
shapes (reference/alerting-and-uptime.md §5): Slack's incoming webhook (200 `ok`), the
Telegram Bot API's sendMessage (`{"ok": true, "result": …}`; a 429 with
`parameters.retry_after`; a 400 "can't parse entities" for Markdown it cannot read), PagerDuty's
Events API v2 (202 `{"status": "success", …}`; 400 for an invalid event), Discord's webhook
(204). Each keeps what it was sent, and can be told to refuse the next requests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Got:
    at: float
    path: str
    body: dict
    status: int  # what the stand-in answered


@dataclass
class ChannelServer:
    """One HTTP server standing in for all four services (by path)."""

    port: int = 0
    got: list[Got] = field(default_factory=list)
    # path prefix -> answers to give first, in order: (status, body, headers)
    refuse: dict[str, list[tuple[int, dict, dict]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> ChannelServer:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unreadable": raw.decode(errors="replace")}
                status, answer, headers = stand_in.answer(self.path, body)
                with stand_in.lock:
                    stand_in.got.append(Got(time.time(), self.path, body, status))
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, body: dict) -> tuple[int, dict | bytes, dict]:
        with self.lock:
            for prefix, queue in self.refuse.items():
                if path.startswith(prefix) and queue:
                    return queue.pop(0)
        if "/sendMessage" in path:
            return telegram(body)
        if path.startswith("/v2/enqueue"):
            return pagerduty(body)
        if path.startswith("/discord/"):
            return 204, b"", {}
        return 200, b"ok", {"Content-Type": "text/plain"}  # Slack, and a plain webhook

    def sent(self, prefix: str, ok: bool = True) -> list[Got]:
        with self.lock:
            return [g for g in self.got if g.path.startswith(prefix) and (g.status < 300) == ok]


def telegram(body: dict) -> tuple[int, dict, dict]:
    text = str(body.get("text", ""))
    if body.get("parse_mode") == "Markdown" and (text.count("_") % 2 or text.count("*") % 2):
        return (
            400,
            {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: can't parse entities: Can't find end of the "
                "entity starting at byte offset 12",
            },
            {},
        )
    message = {
        "message_id": 1,
        "chat": {"id": body.get("chat_id"), "type": "group"},
        "date": int(time.time()),
        "text": text,
    }
    return 200, {"ok": True, "result": message}, {}


def telegram_429(seconds: int) -> tuple[int, dict, dict]:
    return (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        },
        {},
    )


def pagerduty(body: dict) -> tuple[int, dict, dict]:
    action = body.get("event_action")
    if not body.get("routing_key") or action not in ("trigger", "acknowledge", "resolve"):
        return 400, {"status": "invalid event", "message": "Event object is invalid"}, {}
    if action == "trigger" and not (body.get("payload") or {}).get("summary"):
        return 400, {"status": "invalid event", "message": "Event object is invalid"}, {}
    return (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")},
        {},
    )
