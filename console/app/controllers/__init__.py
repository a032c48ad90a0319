"""The console's errands, one controller each, wired by the App (console/app/tui.py): the
journal trail, containers (logs, restart, stop), admin-API remedies, the action flow
(pick, plan, confirm, run) and the demo's fault menu. Screens ask for them with messages;
what blocks runs in thread workers; the UI is touched only through the app's thread-safe
calls.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.app.tui import FleetdeckApp


class Controller:
    def __init__(self, app: FleetdeckApp) -> None:
        self.app = app

    def worker(self, fn, *args: Any, group: str, exclusive: bool = False) -> None:
        """Run `fn(*args)` in a thread worker of the app."""
        self.app.run_worker(partial(fn, *args), thread=True, group=group, exclusive=exclusive)

    def say(self, text: str, severity: str = "information") -> None:
        """A notification, from a worker thread."""
        self.app.call_from_thread(self.app.notify, text, severity=severity, markup=False)
