"""PagerDuty's Events API v2: trigger and resolve events tied by `dedup_key` (the page's
key), accepted with 202."""

from __future__ import annotations

import time

from console.core.paging.http import Direct, post_json
from console.core.paging.pager import Delivery
from console.core.paging.rules import Page

SEVERITY = {"critical": "critical", "warning": "warning"}


class PagerDuty(Direct):
    keeps_open = True  # its incident stays open until resolved

    def __init__(self, name: str, routing_key: str, url: str) -> None:
        self.name, self.routing_key, self.url = name, routing_key, url

    def event(self, action: str, page: Page) -> dict:
        body: dict = {
            "routing_key": self.routing_key,
            "event_action": "resolve" if action == "resolve" else "trigger",
            "dedup_key": page.key[:255],
        }
        if action != "resolve":
            body["payload"] = {
                "summary": f"{page.node}: {page.summary}"[:1024],
                "source": page.node,
                "severity": SEVERITY.get(page.severity, "error"),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(page.since)),
                "component": page.kind,
                "group": page.cluster,
                "class": page.kind,
                "custom_details": {
                    "fleet": page.fleet,
                    "evidence": page.evidence,
                    "next_step": page.next_step,
                },
            }
            body["client"] = "fleetdeck"
        return body

    def deliver(self, action: str, pages: list[Page], now: float) -> Delivery:
        (page,) = pages
        return post_json(self.url, self.event(action, page), ok=(202,))
