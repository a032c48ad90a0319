"""Remedies through a stack's admin API: take an ML node out (it skips the next PoC), after
its id is typed, and journalled."""

from __future__ import annotations

from console.app.controllers import Controller


class Remedies(Controller):
    def disable_ml_node(self, network: str, ml_id: str) -> None:
        app = self.app
        if app.read_only:
            app.notify(
                "Read-only: disabling an ML node is refused.", severity="warning", markup=False
            )
            return
        if app.pool is None:
            app.notify("Not connected: the admin API needs the live console.", markup=False)
            return
        from screens.actions import ConfirmNameScreen

        app.push_screen(
            ConfirmNameScreen(
                f"Disable ML node {ml_id} in {network}'s admin API: it skips the next PoC", ml_id
            ),
            lambda ok: self.worker(self._disable, network, ml_id, group="admin") if ok else None,
        )

    def _disable(self, network: str, ml_id: str) -> None:
        from actions.register import AdminError, set_ml_node_enabled
        from console.core.transport.ssh import SshError

        try:
            said = set_ml_node_enabled(self.app.pool, network, ml_id, enabled=False)
        except (AdminError, SshError) as exc:
            self.app.trail.record(network, "disable-ml-node", ml_id, "failed", str(exc))
            self.say(str(exc), severity="error")
            return
        self.app.trail.record(network, "disable-ml-node", ml_id, "done", said)
        self.say(f"{network}: {said} ({ml_id})")
