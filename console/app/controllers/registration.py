"""The registration panel's errand: the doctor's checks for every cluster whose stack has
one (actions/doctors.py), read in a worker through the action engine's view of the node
it reads through (read-only)."""

from __future__ import annotations

from console.app.controllers import Controller


class Registration(Controller):
    def open(self) -> None:
        from screens.registration import RegistrationScreen

        screen = RegistrationScreen(self.app.profile.model.fleet.name)
        self.app.push_screen(screen)
        self.read(screen)

    def read(self, screen) -> None:
        self.worker(self._read, screen, group="registration", exclusive=True)

    def _read(self, screen) -> None:
        from actions.doctors import UNKNOWN, Finding, doctor_of
        from actions.engine import Engine, NodeContext
        from console.core.transport.ssh import Pool

        app = self.app
        fleet = app.profile.model
        pool = Pool.for_profile(fleet, accept_new=app.ask_host_key)
        engine = Engine(app.profile, pool, None)
        out = []
        try:
            for cluster in fleet.clusters:
                doctor = doctor_of(fleet.cluster_stack(cluster))
                net = doctor and next((n for n in cluster.nodes if n.role == doctor.role), None)
                if doctor is None or net is None:
                    continue
                try:
                    found = doctor.diagnose(NodeContext(engine, cluster, net))
                except Exception as exc:  # unreachable or unreadable: that cluster's finding
                    found = [Finding("network_node", UNKNOWN, f"{net.name}: {exc}")]
                out.append(
                    (cluster.name, net.name, [(f.id, f.status, f.message, f.fix) for f in found])
                )
        finally:
            pool.close()
        app.call_from_thread(screen.show_checks, out)
