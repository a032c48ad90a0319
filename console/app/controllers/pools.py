"""The palette's "Kubernetes node pools": each Kubernetes source of the profile read in a
worker (console/core/sources/kubernetes.py, as `fleetdeck pools` reads it), shown as plain lines."""

from __future__ import annotations

from console.app.controllers import Controller


class Pools(Controller):
    def show(self) -> None:
        self.app.notify("Asking the Kubernetes API servers for their nodes…", markup=False)
        self.worker(self._read, group="pools", exclusive=True)

    def _read(self) -> None:
        from console.core.sources.kubernetes import pools_lines, read_source

        lines = []
        for s in self.app.profile.model.sources:
            if s.kind == "kubernetes":
                doc = read_source(s.kubeconfig, s.context, s.selector, s.pool_label)
                lines += pools_lines(s.name, doc) + [("head", "")]
        self.app.call_from_thread(self._shown, lines)

    def _shown(self, lines: list[tuple[str, str]]) -> None:
        from screens.pools import PoolsScreen

        self.app.push_screen(PoolsScreen(self.app.profile.model.fleet.name, lines))
