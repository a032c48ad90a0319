"""What the GCE and Azure stand-ins share: every HTTP request of this process answered by
one function through requests-mock (libcloud's drivers use requests), and kept, with its
JSON body, for a test to check fleetdeck's calls one by one."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import requests_mock


class RecordedApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict | None]] = []  # method, path, JSON body
        self.mocker = requests_mock.Mocker()
        self.mocker.register_uri(requests_mock.ANY, requests_mock.ANY, text=self._record)

    def __enter__(self):
        self.mocker.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.mocker.__exit__(*exc)

    def calls(self, method: str, pattern: str) -> list[dict | None]:
        """The bodies of the requests of `method` whose path matches `pattern`."""
        return [b for m, p, b in self.requests if m == method and re.search(pattern, p)]

    def _record(self, request, context) -> str:
        url = urlsplit(request.url)
        body = None
        if request.body:
            raw = request.body.decode() if isinstance(request.body, bytes) else request.body
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"form": raw}
        self.requests.append((request.method, url.path, body))
        return self.answer(request.method, url.netloc, url.path, body, context)

    def answer(self, method: str, host: str, path: str, body: dict | None, context) -> str:
        raise NotImplementedError
