"""The fix a node's stack offers for an alert (Stack.remedy: taking a worker out of the
next round, say), applied after its target is typed, through the stack's action side
(StackActions.remedies), and journalled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.app.controllers import Controller

if TYPE_CHECKING:
    from console.core.stacks import Remedy


class Remedies(Controller):
    def apply(self, remedy: Remedy) -> None:
        app = self.app
        if app.read_only:
            app.notify(f"Read-only: {remedy.label} is refused.", severity="warning", markup=False)
            return
        if app.pool is None:
            app.notify("Not connected: a fix needs the live console.", markup=False)
            return
        self.confirmed_change(
            remedy.node,
            remedy.confirm,
            remedy.target,
            lambda forced: self.worker(self._apply, remedy, forced, group="remedy"),
        )

    def _apply(self, remedy: Remedy, forced: str = "") -> None:
        from actions.registry import STACK_ACTIONS
        from actions.types import StepFailed
        from console.core.stacks import stack_of
        from console.core.transport.ssh import SshError

        stack = stack_of(self.app.profile.model, remedy.node)
        run = STACK_ACTIONS[stack.name].remedies.get(remedy.action) if stack else None
        if run is None:
            self.say(f"no way to apply {remedy.action} here", severity="error")
            return
        forced_note = f"; {forced}" if forced else ""
        try:
            said = run(self.app.pool, remedy.node, remedy.target)
        except (StepFailed, SshError) as exc:
            self.app.trail.record(
                remedy.node, remedy.action, remedy.target, "failed", str(exc) + forced_note
            )
            self.say(str(exc), severity="error")
            return
        self.app.trail.record(remedy.node, remedy.action, remedy.target, "done", said + forced_note)
        self.say(f"{remedy.node}: {said} ({remedy.target})")
