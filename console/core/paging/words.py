"""A page in words, as the direct channels send it: one line that says what and where,
then the evidence and the next step."""

from __future__ import annotations

from console.core.paging.rules import Page


def text(action: str, page: Page) -> str:
    where = f"{page.node} ({page.cluster})" if page.cluster else page.node
    if action == "resolve":
        return f"RESOLVED {page.fleet}: {where} {page.kind}: {page.summary}"
    return (
        f"{page.severity.upper()} {page.fleet}: {where} {page.kind}: {page.summary}\n"
        f"{page.evidence}\nnext: {page.next_step}"
    )


def test_page(fleet: str, host: str, now: float) -> Page:
    """What `fleetdeck notify test` sends: says it is a test, and from where."""
    return Page(
        key=f"{fleet}/fleetdeck/notify_test",
        fleet=fleet,
        cluster="",
        node="fleetdeck",
        kind="notify_test",
        severity="warning",
        summary=f"a test page from fleetdeck notify test on {host}: this channel works",
        evidence="sent by hand to prove the channel delivers; nothing is wrong",
        next_step="none: it resolves itself",
        since=now,
    )
