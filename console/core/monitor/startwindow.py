"""How many nodes may be between connecting and their probe's first line at once.

Hundreds of SSH handshakes and interpreter starts together starve this machine (and a
simulated fleet's) until every one of them misses its time; a fixed wave size holds back a
fleet that could all start at once. So the window is sized by what comes back, as TCP
sizes its congestion window: it opens at INITIAL (a fleet that size starts at once), grows
by one with each first line that came back quickly while it was full (doubling per round
while they do; a window not in use does not grow), and halves when one came back slowly or
not at all, at most once per round (only a start made after the last halving can halve it
again). A node that refuses or cannot be reached says nothing about the load: its slot is
given back as is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

INITIAL = 100  # a fleet of up to this many starts all at once
SMALLEST = 16
LARGEST = 1024


class StartWindow:
    def __init__(
        self,
        quick_s: float,
        slow_s: float,
        initial: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quick_s, self.slow_s, self.clock = quick_s, slow_s, clock
        self.limit = max(SMALLEST, min(LARGEST, INITIAL if initial is None else initial))
        self.busy = 0
        self.most = 0  # the most ever starting at once (a storm shows here)
        self._round = 0  # bumped at each halving
        self._cond = threading.Condition()

    def enter(self, timeout: float) -> Start | None:
        """A start slot, or None when none came free within `timeout` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.busy < self.limit, timeout):
                return None
            self.busy += 1
            self.most = max(self.most, self.busy)
            return Start(self, self.clock(), self._round)

    def _leave(self, start: Start, verdict: str) -> None:
        with self._cond:
            # only a window in use grows: else it would open past the fleet, and a later
            # reconnect of every node would start at once
            full = self.busy >= self.limit
            self.busy -= 1
            took = self.clock() - start.at
            slow = verdict == "silent" or (verdict == "answered" and took >= self.slow_s)
            if verdict == "answered" and took <= self.quick_s and full:
                self.limit = min(LARGEST, self.limit + 1)
            elif slow and start.round == self._round:  # once per round
                self.limit = max(SMALLEST, self.limit // 2)
                self._round += 1
            self._cond.notify_all()


class Start:
    """One node's slot, held from connecting to its first line; given back once."""

    def __init__(self, window: StartWindow, at: float, round_: int) -> None:
        self.window, self.at, self.round = window, at, round_
        self._done = False

    def answered(self) -> None:
        """The probe's first line came: quick or slow, it sizes the window."""
        self._end("answered")

    def silent(self) -> None:
        """Connected, but no first line in its time: a loaded host or console."""
        self._end("silent")

    def neutral(self) -> None:
        """Refused, unreachable, or stopped: says nothing about the load."""
        self._end("neutral")

    def _end(self, verdict: str) -> None:
        if not self._done:
            self._done = True
            self.window._leave(self, verdict)
