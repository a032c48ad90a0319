"""Telegram's Bot API `sendMessage`. Sent as Markdown; a message Telegram cannot parse as
Markdown (a node's words with an odd `_` or `*`) fails whole, so it is sent again as plain
text. A 429 carries `parameters.retry_after`."""

from __future__ import annotations

from console.core.paging.http import Direct, post_json
from console.core.paging.pager import Delivery
from console.core.paging.rules import Page
from console.core.paging.words import text


class Telegram(Direct):
    def __init__(self, name: str, token: str, chat_id: str, api_url: str) -> None:
        self.name = name
        self.url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id

    def deliver(self, action: str, pages: list[Page], now: float) -> Delivery:
        (page,) = pages
        words = text(action, page)[:4096]
        body = {"chat_id": self.chat_id, "text": words, "parse_mode": "Markdown"}
        result = post_json(self.url, body, ok=(200,))
        if not result.ok and "can't parse entities" in result.said:
            body.pop("parse_mode")
            result = post_json(self.url, body, ok=(200,))
            if result.ok:
                return Delivery(True, "200 (as plain text: Markdown refused)")
        if result.ok and result.body.get("ok") is not True:
            return Delivery(False, f"200 without ok: {str(result.body)[:120]}")
        return result
