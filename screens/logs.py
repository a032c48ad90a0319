"""A container's log, live: tail, follow, search. Lines are shown as plain text.

The app streams the lines (Docker SDK over the node's SSH connection) into `feed`; this
screen drains it a few times a second. `/` narrows to lines containing a term (or a
regex), `f` pauses or resumes following, `w` wraps long lines or not (they wrap at first,
so nothing is cut at the right edge of a narrow terminal), esc goes back and ends the stream.
"""

from __future__ import annotations

import collections
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, RichLog, Static

from console.core.text import printable
from screens.help import HelpScreen, key_rows
from screens.inputs import FieldInput

KEEP = 5000  # lines kept for search; the oldest go first


class LogScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "search", "Search", id="logs.search"),
        Binding("f", "follow", "Follow on/off", id="logs.follow"),
        Binding("w", "wrap", "Wrap on/off", id="logs.wrap"),
        Binding("escape", "back", "Back", id="back"),
        Binding("question_mark", "help", "Help", id="help"),
    ]
    DEFAULT_CSS = """
    LogScreen #log-title { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    LogScreen RichLog { height: 1fr; }
    LogScreen Input { dock: bottom; display: none; }
    LogScreen Input.visible { display: block; }
    """

    def __init__(self, node: str, container: str, feed: collections.deque[str]) -> None:
        super().__init__()
        self.node = node
        self.container = container
        self.feed = feed
        self.lines: collections.deque[str] = collections.deque(maxlen=KEEP)
        self.term = ""
        self.pattern: re.Pattern[str] | None = None
        self.following = True
        self.wrapping = True
        self.ended = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._title(), id="log-title")
        yield RichLog(id="log", markup=False, highlight=False, wrap=self.wrapping, max_lines=KEEP)
        yield FieldInput(
            placeholder="search: a word or a regex; enter applies, esc clears",
            id="search",
            leave_to="#log",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(0.2, self.drain)

    def _title(self) -> Text:
        t = Text("log of ", style="bold")
        t.append(self.container, style="bold yellow")
        t.append(" on ")
        t.append(self.node, style="bold")
        t.append("   following" if self.following else "   paused (f resumes)", style="cyan")
        if not self.wrapping:
            t.append("   long lines cut (w wraps)", style="cyan")
        if self.term:
            t.append("   search: ")
            t.append(self.term, style="bold")
        if self.ended:
            t.append("   stream ended", style="dim")
        return t

    def end(self, reason: str) -> None:
        """Called by the app when the stream stops (container stopped, connection lost)."""
        self.feed.append(f"── {reason} ──")
        self.ended = True

    def _matches(self, line: str) -> bool:
        if self.pattern is None:
            return True
        return bool(self.pattern.search(line))

    def _styled(self, line: str) -> Text:
        text = Text(printable(line))
        if self.pattern is not None:
            text.highlight_regex(self.pattern, style="bold black on yellow")
        return text

    def drain(self) -> None:
        log = self.query_one("#log", RichLog)
        wrote = False
        while self.feed:
            line = self.feed.popleft()
            self.lines.append(line)
            if self._matches(line):
                log.write(self._styled(line), scroll_end=self.following)
                wrote = True
        if wrote or self.ended:
            self.query_one("#log-title", Static).update(self._title())

    def _redraw(self) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        for line in self.lines:
            if self._matches(line):
                log.write(self._styled(line), scroll_end=self.following)
        self.query_one("#log-title", Static).update(self._title())

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("visible")
        self.set_focus(box)  # now: keys already typed go to the box

    def on_input_submitted(self, event: Input.Submitted) -> None:
        term = event.value.strip()
        try:
            self.pattern = re.compile(term, re.IGNORECASE) if term else None
        except re.error:
            self.pattern = re.compile(re.escape(term), re.IGNORECASE)
        self.term = term
        event.input.remove_class("visible")
        self.set_focus(self.query_one("#log", RichLog))  # now, not after queued keys
        self._redraw()

    def action_follow(self) -> None:
        self.following = not self.following
        log = self.query_one("#log", RichLog)
        log.auto_scroll = self.following
        if self.following:
            log.scroll_end(animate=False)
        self.query_one("#log-title", Static).update(self._title())

    def action_wrap(self) -> None:
        self.wrapping = not self.wrapping
        self.query_one("#log", RichLog).wrap = self.wrapping
        self._redraw()

    def action_back(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_class("visible"):
            box.remove_class("visible")
            box.value = ""
            self.term, self.pattern = "", None
            self._redraw()
            return
        self.dismiss(None)

    def action_help(self) -> None:
        keys = key_rows(self.app, self.BINDINGS)
        about = (
            "The container's last 500 lines, then new ones as they come. / shows only the "
            "lines that match (a word or a regex), f pauses following to read, w turns the "
            "wrapping of long lines off (scroll sideways then) and on."
        )
        self.app.push_screen(HelpScreen("Log", keys, about))
