"""One JSON POST to a paging channel, its answer as a Delivery: the status, a 429's wait
(`Retry-After`, or the body's `retry_after` as Telegram and Discord put it), and never
the address itself in what is said (a webhook's URL is its secret)."""

from __future__ import annotations

import httpx

from console.core.paging.pager import Delivery

TIMEOUT_S = 10.0


class Direct:
    """A channel that takes one page per post and keeps nothing open by itself (Slack,
    Discord, a webhook, Telegram): no batch, no renewal, nothing to resolve in a test."""

    batch = False
    renews = False
    keeps_open = False


def post_json(url: str, body: object, ok: tuple[int, ...], headers: dict | None = None) -> Delivery:
    try:
        r = httpx.post(url, json=body, headers=headers or {}, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        # the exception's text can carry the URL: its kind is enough to say
        return Delivery(False, f"no answer ({type(exc).__name__})")
    if r.status_code in ok:
        return Delivery(True, str(r.status_code), body=answer_json(r))
    return Delivery(
        False,
        f"{r.status_code} {r.text.strip()[:160]}".strip(),
        retry_after=retry_after(r),
        body=answer_json(r),
    )


def answer_json(r: httpx.Response) -> dict:
    try:
        doc = r.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def retry_after(r: httpx.Response) -> float | None:
    if r.status_code != 429:
        return None
    doc = answer_json(r)
    wait = (doc.get("parameters") or {}).get("retry_after", doc.get("retry_after"))
    if wait is None:
        wait = r.headers.get("Retry-After")
    try:
        return max(0.0, float(wait)) if wait is not None else None
    except (TypeError, ValueError):
        return None
