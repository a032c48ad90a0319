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

    def confirmed_change(self, node: str, what: str, target: str, go) -> None:
        """Ask for `target` to be typed before a change to `node` (`go("")` runs it);
        where its stack says changes must wait now (Stack.hold_changes), ask for a reason
        instead: `go(note)` then runs it, the note (the reason, and what held it) for the
        journal to keep beside the action."""
        from console.core.stacks import stack_of
        from screens.actions import ConfirmNameScreen, ForceScreen

        stack = stack_of(self.app.profile.model, node)
        state = self.app.last_state
        hold = stack.hold_changes(self.app.profile.model, state, node) if stack and state else None
        if hold:
            self.app.push_screen(
                ForceScreen(what, hold),
                lambda reason: go(f"forced: {reason} (held: {hold})") if reason else None,
            )
            return
        self.app.push_screen(ConfirmNameScreen(what, target), lambda ok: go("") if ok else None)
