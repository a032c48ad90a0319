"""Alertmanager as a paging channel: its v2 API (`POST /api/v2/alerts`). Each firing page
is posted with its labels and annotations and posted again every `resend_s` (an alert
not renewed before its endsAt is resolved by Alertmanager itself); a resolve is the same
alert with endsAt now. Alertmanager routes, groups, silences, and deduplicates the same
labels posted by several watches into one notification."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx

from console.core.paging.pager import Delivery
from console.core.paging.rules import Page


def rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


class Alertmanager:
    name = "alertmanager"
    batch = True  # every page in one post
    renews = True  # firing pages are posted again every resend_s
    keeps_open = True  # an alert stays firing until resolved

    def __init__(self, url: str, token: str | None, resend_s: float, source: str) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.resend_s = resend_s
        self.source = source  # who posts: this watch's host, for the generator URL

    def alert(self, page: Page, ends: float) -> dict:
        labels = {k: v for k, v in page.labels if k not in ("alertname", "node", "cluster")}
        labels |= {
            "alertname": page.kind,
            "fleet": page.fleet,
            "cluster": page.cluster,
            "node": page.node,
            "severity": page.severity,
        }
        return {
            "labels": labels,
            "annotations": {
                "summary": f"{page.node}: {page.summary}",
                "description": page.evidence,
                "next_step": page.next_step,
            },
            "startsAt": rfc3339(page.since),
            "endsAt": rfc3339(ends),
            "generatorURL": f"fleetdeck://{self.source}/{page.fleet}/{page.node}",
        }

    def post(self, pages: Iterable[Page], ends: float) -> Delivery:
        body = [self.alert(p, ends) for p in pages]
        if not body:
            return Delivery(True, "nothing to post")
        try:
            r = httpx.post(self.url, json=body, headers=self.headers, timeout=10)
        except httpx.HTTPError as exc:
            return Delivery(False, f"{type(exc).__name__}: {exc}"[:200])
        if r.status_code == 200:
            return Delivery(True, "200")
        return Delivery(False, f"{r.status_code} {r.text.strip()[:160]}")

    def deliver(self, action: str, pages: list[Page], now: float) -> Delivery:
        if action == "resolve":
            return self.post(pages, now)
        # renewed every resend_s: four missed renewals before Alertmanager lets it end
        return self.post(pages, now + 4 * self.resend_s)

    # -- silences: a mute made in fleetdeck, mirrored where Alertmanager routes the pages
    def silence(self, fleet: str, node: str, kind: str, until: float, by: str, why: str) -> str:
        """A silence of the node's alerts of `kind` ("*": all) until `until`; its id."""
        matchers = [
            {"name": "fleet", "value": fleet, "isRegex": False, "isEqual": True},
            {"name": "node", "value": node, "isRegex": False, "isEqual": True},
        ]
        if kind != "*":
            matchers.append({"name": "alertname", "value": kind, "isRegex": False, "isEqual": True})
        body = {
            "matchers": matchers,
            "startsAt": rfc3339(time.time()),
            "endsAt": rfc3339(until),
            "createdBy": by,
            "comment": why or "muted in fleetdeck",
        }
        base = self.url.rsplit("/alerts", 1)[0]
        r = httpx.post(f"{base}/silences", json=body, headers=self.headers, timeout=10)
        r.raise_for_status()
        return str(r.json()["silenceID"])

    def expire(self, silence_id: str) -> None:
        base = self.url.rsplit("/alerts", 1)[0]
        r = httpx.delete(f"{base}/silence/{silence_id}", headers=self.headers, timeout=10)
        r.raise_for_status()
