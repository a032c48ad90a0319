"""The pager: from each snapshot's due pages (rules.py) to what each channel is told.

A page is triggered once, when it becomes due; a page that is no longer due is resolved,
and only if it was sent. A channel that fails is tried again with a growing backoff (its
own `retry_after` honoured) until it answers; each attempt goes to the journal. What was
sent is kept in a state file written atomically after every change, so a watch killed
mid-incident and started again sends nothing twice and loses nothing: a page it had sent
is not sent again, one that cleared while it was down is resolved once it has looked."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from console.core.atomic import atomic_write_text
from console.core.paging.rules import Page

log = logging.getLogger(__name__)

BACKOFF_S = (2.0, 5.0, 15.0, 60.0, 300.0)  # between attempts of a channel that failed


@dataclass(frozen=True)
class Delivery:
    """A channel's answer to one post."""

    ok: bool
    said: str  # what the channel answered, in a few words (a status code, an error)
    retry_after: float | None = None  # seconds the channel asked us to wait
    body: dict = field(default_factory=dict, compare=False)  # its JSON answer, if any


@dataclass
class Pending:
    """What a channel still owes: pages to trigger and pages to resolve."""

    trigger: dict[str, Page] = field(default_factory=dict)
    resolve: dict[str, Page] = field(default_factory=dict)
    attempts: int = 0
    next_at: float = 0.0


class Pager:
    def __init__(
        self,
        channels: list,
        state_path: Path,
        clock: Callable[[], float],
        journal: Callable[[str, Page, str, str], None] | None = None,
        say: Callable[[str], None] = lambda line: None,
        clear_s: float = 0.0,
    ) -> None:
        self.channels = channels
        self.state_path = state_path
        self.clock = clock
        self.journal = journal or (lambda action, page, result, detail: None)
        self.say = say
        self.sent: dict[str, Page] = {}  # key -> the page as triggered
        self.pending: dict[str, Pending] = {c.name: Pending() for c in channels}
        self.renewed_at: dict[str, float] = {}
        # flap damping: a page is resolved once its alert has been clear for clear_s; one
        # that comes back sooner sends nothing at all (key -> when it cleared)
        self.clear_s = clear_s
        self.clearing: dict[str, float] = {}
        self._load()

    # -- the state file
    def _load(self) -> None:
        try:
            doc = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.say(f"! {self.state_path}: unreadable ({exc}); starting with no pages sent")
            return
        for key, page in doc.get("sent", {}).items():
            self.sent[key] = Page.from_json(page)
        for name, owed in doc.get("pending", {}).items():
            if name in self.pending:
                p = self.pending[name]
                p.trigger = {k: Page.from_json(v) for k, v in owed.get("trigger", {}).items()}
                p.resolve = {k: Page.from_json(v) for k, v in owed.get("resolve", {}).items()}

    def _save(self) -> None:
        doc = {
            "sent": {k: p.to_json() for k, p in self.sent.items()},
            "pending": {
                name: {
                    "trigger": {k: p.to_json() for k, p in owed.trigger.items()},
                    "resolve": {k: p.to_json() for k, p in owed.resolve.items()},
                }
                for name, owed in self.pending.items()
                if owed.trigger or owed.resolve
            },
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(self.state_path, json.dumps(doc, indent=1), mode=0o600)

    # -- each snapshot
    def observe(
        self, due: dict[str, Page], unknown: Collection[str] = (), quiet: Collection[str] = ()
    ) -> None:
        """Trigger what became due, resolve what was sent and is due no more, renew what
        fires on channels that forget, and retry what a channel still owes. A page of a
        node in `unknown` (not looked at yet, or the watch itself too late to judge) is
        neither resolved nor cleared: not seeing an alert is not seeing it end. A page in
        `quiet` (muted, acknowledged) is not sent while it is; one sent before stays open."""
        now = self.clock()
        new = {k: p for k, p in due.items() if k not in self.sent and k not in quiet}
        for key in [k for k in self.clearing if k in due]:
            del self.clearing[key]  # back before it was resolved: a flap, nothing sent
        for key, page in self.sent.items():
            if page.node in unknown:
                self.clearing.pop(key, None)
            elif key not in due:
                self.clearing.setdefault(key, now)
        gone = {k: self.sent[k] for k, t in self.clearing.items() if now - t >= self.clear_s}
        for key in gone:
            del self.clearing[key]
        if new or gone:
            for owed in self.pending.values():
                for key in gone:
                    if owed.trigger.pop(key, None) is None:
                        owed.resolve[key] = self.sent[key]
                for key, page in new.items():
                    owed.resolve.pop(key, None)
                    owed.trigger[key] = page
                if not owed.attempts:  # a channel in backoff keeps its wait
                    owed.next_at = min(owed.next_at, now)
            self.sent.update(new)
            for key in gone:
                del self.sent[key]
            self._save()
        for channel in self.channels:
            self._deliver(channel, now)
            if channel.renews:
                self._renew(channel, due, now)

    def _deliver(self, channel, now: float) -> None:
        """What the channel owes, resolves first: in one post where it takes a batch
        (Alertmanager), else page by page, each taken off as it is delivered, so that a
        failure halfway sends nothing twice on the next attempt."""
        owed = self.pending[channel.name]
        if not (owed.trigger or owed.resolve) or now < owed.next_at:
            return
        for action, pages in (("resolve", owed.resolve), ("page", owed.trigger)):
            batches = [list(pages.values())] if channel.batch else [[p] for p in pages.values()]
            for batch in batches:
                result = channel.deliver(action, batch, now)
                if result.ok:  # kept before it is said: a kill now must not send it again
                    for page in batch:
                        del pages[page.key]
                        self.renewed_at[page.key] = now
                    self._save()
                for page in batch:
                    self.journal(
                        action,
                        page,
                        "sent" if result.ok else "failed",
                        f"{channel.name}: {result.said}",
                    )
                if not result.ok:
                    self._failed(channel, owed, action, len(batch), result, now)
                    return
                for page in batch:
                    word = "resolved" if action == "resolve" else "paged"
                    self.say(f"{word}: {page.node} {page.kind} ({channel.name}: {result.said})")
        owed.attempts = 0

    def _failed(self, channel, owed: Pending, action: str, count: int, result, now: float) -> None:
        wait = BACKOFF_S[min(owed.attempts, len(BACKOFF_S) - 1)]
        if result.retry_after is not None:
            wait = max(wait, result.retry_after)
        owed.attempts += 1
        owed.next_at = now + wait
        self.say(
            f"! {channel.name} did not take {count} {action}(s): {result.said}; again in {wait:g} s"
        )
        self._save()

    def _renew(self, channel, due: dict[str, Page], now: float) -> None:
        owed = self.pending[channel.name]
        stale = [
            p
            for k, p in due.items()
            if k in self.sent
            and k not in owed.trigger
            and now - self.renewed_at.get(k, 0.0) >= channel.resend_s
        ]
        if stale and now >= owed.next_at and channel.deliver("page", stale, now).ok:
            for page in stale:
                self.renewed_at[page.key] = now
