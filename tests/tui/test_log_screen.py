"""The log screen: lines shown literally, search narrows and highlights, follow pauses."""

from __future__ import annotations

import collections

from textual.app import App
from textual.widgets import Input, RichLog, Static

from screens.logs import LogScreen
from tests.harness.pilot import wait_for

EVIL = ["[/]", "[@click=app.quit]x[/]", "[bold red]not bold", "\x1b[2Jclear?"]


class Host(App[None]):
    def __init__(self, screen) -> None:
        super().__init__()
        self.start = screen

    def on_mount(self) -> None:
        self.push_screen(self.start)


def texts(screen) -> list[str]:
    return [line.text for line in screen.query_one("#log", RichLog).lines]


async def drained(pilot, screen) -> None:
    """The screen has taken every line fed so far (it drains its feed every 0.2 s)."""
    log = screen.query_one("#log", RichLog)
    await wait_for(pilot, lambda: not screen.feed and log.lines, "the fed lines drawn")


async def test_lines_render_literally_and_search_narrows():
    feed = collections.deque(
        [f"ts={i} level=info msg=block {i}" for i in range(20)] + EVIL + ["level=error oom"]
    )
    screen = LogScreen("c1-ml1", "mlnode-308", feed)
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        await drained(pilot, screen)
        shown = texts(screen)
        assert len(shown) == 25 and "[@click=app.quit]x[/]" in shown and "[/]" in shown
        assert app.is_running
        await pilot.press("slash")
        await pilot.pause()
        screen.query_one(Input).value = "error|block 1[0-9]"
        await pilot.press("enter")
        await pilot.pause()
        shown = texts(screen)
        assert shown[-1] == "level=error oom" and len(shown) == 11
        title = str(screen.query_one("#log-title", Static).render())
        assert "search: error|block 1[0-9]" in title
        # a broken regex searches literally instead of failing
        await pilot.press("slash")
        screen.query_one(Input).value = "[/]"
        await pilot.press("enter")
        await pilot.pause()
        assert texts(screen) == ["[/]", "[@click=app.quit]x[/]"]
        # new lines that match arrive while searching; others are kept for later
        feed.extend(["nothing here", "again [/] here"])
        await drained(pilot, screen)
        assert texts(screen)[-1] == "again [/] here"
        await pilot.press("slash", "escape")  # esc in the search box clears the search
        await pilot.pause()
        assert len(texts(screen)) == 27


async def test_follow_toggles_and_the_end_of_the_stream_is_shown():
    feed = collections.deque(f"line {i}" for i in range(200))
    screen = LogScreen("n", "c", feed)
    app = Host(screen)
    async with app.run_test(size=(80, 20)) as pilot:
        await drained(pilot, screen)
        log = screen.query_one("#log", RichLog)
        assert log.is_vertical_scroll_end
        await pilot.press("f")
        assert "paused" in str(screen.query_one("#log-title", Static).render())
        log.scroll_home(animate=False)
        feed.extend(f"more {i}" for i in range(50))
        await drained(pilot, screen)
        assert log.scroll_y == 0  # paused: reading stays where it is
        screen.end("the container stopped; the stream ended")
        await drained(pilot, screen)
        assert texts(screen)[-1] == "── the container stopped; the stream ended ──"
        assert "stream ended" in str(screen.query_one("#log-title", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LogScreen)


LONG = (
    "2026-11-29T06:30:01.123456789Z ERR failed to execute PoC batch: rpc error: code = "
    "Unavailable desc = connection error: dial tcp 127.0.0.1:9100: connect: connection refused"
)


async def test_long_lines_wrap_and_w_cuts_them_for_sideways_reading():
    screen = LogScreen("c1-ml1", "mlnode-308", collections.deque([LONG, "short"]))
    app = Host(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await drained(pilot, screen)
        log = screen.query_one("#log", RichLog)
        assert len(log.lines) > 2  # the long line takes several rows: nothing cut at 80
        await pilot.press("w")
        await pilot.pause()
        assert len(log.lines) == 2
        assert "long lines cut (w wraps)" in str(screen.query_one("#log-title", Static).render())


def test_snapshot_log_80x24(snap_compare):
    feed = collections.deque([LONG, *EVIL, "short line"])
    screen = LogScreen("c1-ml1", "mlnode-308", feed)
    assert snap_compare(Host(screen), terminal_size=(80, 24), press=["_"])
