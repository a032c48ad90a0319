"""What `fleetdeck watch` runs, wired: the live status (the console's sources, tracker and
alert rules), the pager and its channels, the history with its burn-rate pages, the feed
consoles attach to, and the metrics endpoint. One watch of a fleet per machine (a lock in
the state dir); each line of status goes through `tick`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from console.core.history.burn import burn_pages
from console.core.history.store import History, history_path, unjudged
from console.core.history.uptime import uptime
from console.core.journal import Journal, state_dir
from console.core.monitor.export import MetricsServer, render
from console.core.monitor.feed import FeedServer, feed_paths
from console.core.monitor.pipeline import live_status
from console.core.paging.pager import Pager
from console.core.paging.rules import due, quiet
from console.core.profile import Profile
from console.core.runlock import RunLock
from console.core.state import FleetState

BURN_EVERY_S = 60.0  # burn rates and uptime read hours of buckets: once a minute
HELD_EVERY_S = 5.0  # a mute made from the console or `fleetdeck mute` holds within this


def unknown(state: FleetState) -> set[str]:
    """Nodes whose alerts cannot be judged now (the history's UNKNOWN)."""
    return {name for name, node in state.nodes.items() if unjudged(node, state)}


class Watcher:
    def __init__(
        self,
        loaded: Profile,
        channels: list,
        accept_new: bool,
        metrics_port: int | None,
        say: Callable[[str], None],
    ) -> None:
        """Raises FleetBusy when another watch of the fleet runs on this machine."""
        self.fleet = fleet = loaded.model
        self.name = name = fleet.fleet.name
        self.channels = channels
        self.say = say
        # one watch of a fleet per machine: two would share one state file, socket, history
        self.lock = RunLock(name, state_dir() / "watch")
        self.lock.acquire("watch")
        self.journal = Journal(recover=True)
        self.history = History(history_path(state_dir(), name))
        self.pager = Pager(
            channels,
            state_dir() / "watch" / f"{name}.json",
            time.time,
            self._journaled,
            say,
            clear_s=fleet.paging.clear_s,
        )
        self.monitor = live_status(loaded, accept_new)
        # consoles of this fleet on this machine attach to it instead of opening their own
        feed = FeedServer(*feed_paths(state_dir(), name), name, self.monitor.interval)
        self.monitor.tracker.hooks.append(feed)
        self.monitor.closers.append(feed.close)
        self.metrics = MetricsServer(metrics_port) if metrics_port is not None else None
        if self.metrics is not None:
            self.monitor.closers.append(self.metrics.close)
        self.burning: dict = {}
        self.ratios: dict = {}
        self.burn_at = 0.0
        self.mutes: list = []
        self.acks: list = []
        self.held_at = 0.0

    def _journaled(self, action: str, page, result: str, detail: str) -> None:
        self.journal.record(self.name, page.node, action, page.kind, result, detail)

    def run(self, stop: threading.Event) -> None:
        monitor = self.monitor
        monitor.start()
        try:
            # nothing is judged before every node has answered once (or failed): at start,
            # an alert not yet seen is not an alert resolved
            monitor.wait_complete(self.fleet.ssh.connect_timeout + 2 * monitor.interval + 5)
            self.say(
                f"watching {self.name}: {len(self.fleet.all_nodes())} nodes every "
                f"{monitor.interval:g} s, paging through "
                + ", ".join(c.name for c in self.channels)
            )
            if self.pager.sent:
                self.say(f"{len(self.pager.sent)} pages sent before this start are still open")
            if self.metrics is not None:
                self.say(f"metrics on http://127.0.0.1:{self.metrics.port}/metrics")
            while not stop.is_set():
                self.tick()
                stop.wait(monitor.interval)
        finally:
            monitor.stop()
            self.journal.close()
            self.history.close()
            self.lock.release()
        self.say("stopped: pages sent stay open until a watch sees them clear")

    def tick(self) -> None:
        """One line: the fleet's state into the history, its pages to the pager, its view
        to the metrics."""
        state = self.monitor.snapshot()
        now = time.time()
        self.history.add(state, now)
        if now - self.burn_at >= BURN_EVERY_S:
            self.burn_at = now
            self.burning = burn_pages(self.history, self.fleet, now)
            if self.metrics is not None:
                window = self.fleet.slo.window_days * 86400
                self.ratios = {
                    u.name: u.uptime for u in uptime(self.history, self.fleet, now - window, now)
                }
        pages = due(self.fleet, state, now, self.pager.sent) | self.burning
        if now - self.held_at >= HELD_EVERY_S:  # mutes and acknowledgements, from the journal
            self.held_at = now
            self.mutes = self.journal.mutes(self.name, now)
            self.acks = self.journal.acks(self.name)
        self.pager.observe(pages, unknown(state), quiet(pages, self.mutes, self.acks, now))
        if self.metrics is not None:
            self.metrics.text = render(state, self.name, len(self.pager.sent), self.ratios)
