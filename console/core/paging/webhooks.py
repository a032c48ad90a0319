"""The channels that are one POST to a URL kept secret: Slack's incoming webhook (200),
Discord's (204), and a generic webhook (any 2xx) that gets the page itself as JSON."""

from __future__ import annotations

from console.core.paging.http import Direct, post_json
from console.core.paging.pager import Delivery
from console.core.paging.rules import Page
from console.core.paging.words import text


def slack_escape(words: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup: a node's words are shown, not obeyed."""
    return words.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ToUrl(Direct):
    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url


class Slack(ToUrl):
    def deliver(self, action: str, pages: list[Page], now: float) -> Delivery:
        (page,) = pages
        return post_json(self.url, {"text": slack_escape(text(action, page))}, ok=(200,))


class Discord(ToUrl):
    def deliver(self, action: str, pages: list[Page], now: float) -> Delivery:
        (page,) = pages
        body = {
            "username": "fleetdeck",
            "content": text(action, page)[:2000],  # Discord's limit
            "allowed_mentions": {"parse": []},  # a node's words never ping anyone
        }
        return post_json(self.url, body, ok=(200, 204))


class Webhook(ToUrl):
    def deliver(self, action: str, pages: list[Page], now: float) -> Delivery:
        (page,) = pages
        body = {
            "status": "resolved" if action == "resolve" else "firing",
            "dedup_key": page.key,
            "page": page.to_json(),
            "text": text(action, page),
        }
        return post_json(self.url, body, ok=(200, 201, 202, 204))
