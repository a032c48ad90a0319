"""The action flow from the console: pick an action, plan it (a dry run on every node),
confirm (the fleet's name for a destructive one), run it with the matrix live; cancel and
resume as the run screen asks."""

from __future__ import annotations

import collections

from actions.types import EventKind
from console.app.controllers import Controller
from console.core.journal import DONE


class Runs(Controller):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.engine = None
        self.pool = None  # actions get connections of their own: a retry that drops a
        # connection must not cut the monitor's probe stream
        self.feed: collections.deque = collections.deque(maxlen=100_000)

    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.running

    def pick(self) -> None:
        app = self.app
        if app.read_only:
            app.notify(
                "Read-only: actions that change nodes are disabled.",
                severity="warning",
                markup=False,
            )
            return
        if app.sim_root is not None:
            # the demo's nodes are sandboxes on this very machine, reached over an embedded
            # SSH server: a deploy would run its commands here (/opt/..., apt-get, ufw)
            app.notify(
                "Actions are off in the demo: its nodes are sandboxes on this machine, and a "
                "deploy would change this machine. Use fleetdeck plan/run on real hosts.",
                severity="warning",
                markup=False,
            )
            return
        if self.running:
            app.notify("An action is already running.", severity="warning", markup=False)
            return
        from actions.deploy import action_named, actions
        from screens.actions import ActionPickerScreen

        model = app.profile.model
        offered = [action_named(name, model) for name in actions()]
        choices = [(a.name, a.description) for a in offered if not a.cli_options]
        app.push_screen(
            ActionPickerScreen(choices, app.profile.model.fleet.name),
            lambda name: self.plan(name) if name else None,
        )

    def _new_engine(self):
        from actions.engine import open_engine
        from console.core.journal import JournalError
        from console.core.transport.ssh import Pool

        app = self.app
        if self.pool is None:
            self.pool = Pool.for_profile(app.profile.model, accept_new=app.ask_host_key)

        def warn(words: str) -> None:
            self.say(words, severity="warning")

        try:
            engine = open_engine(app.profile, self.pool, say=warn)
        except JournalError as exc:  # plans still work; a run is refused, saying why
            self.say(str(exc), severity="error")
            engine = open_engine(app.profile, self.pool, with_journal=False)
        engine.subscribe(self.feed.append)
        engine.subscribe(self._joined)
        engine.reveal = self.reveal
        return engine

    def reveal(self, cluster: str, address: str, mnemonic: str) -> None:
        """A new cold key's mnemonic, in a modal that stays until the operator says it is
        written down; the step that made the key waits (it runs in a worker thread)."""
        import threading

        from screens.actions import MnemonicScreen

        seen = threading.Event()
        self.app.call_from_thread(
            self.app.push_screen, MnemonicScreen(cluster, address, mnemonic), lambda _: seen.set()
        )
        while not seen.wait(0.5):
            if not self.app.is_running:
                from actions.engine import StepFailed

                raise StepFailed("the console closed before the mnemonic was written down")

    def plan(self, name: str) -> None:
        self.worker(self._plan, name, group="actions", exclusive=True)

    def _plan(self, name: str) -> None:
        from actions.deploy import action_named
        from actions.engine import StepFailed

        action = action_named(name, self.app.profile.model)
        self.say(f"Planning {name}: checking every node…")
        try:
            engine = self._new_engine()
            items = engine.plan(action)
            notes = engine.notes(action)
        except StepFailed as exc:
            self.say(str(exc), severity="error")
            return
        self.app.call_from_thread(self._show_plan, action, items, notes)

    def _show_plan(self, action, items, notes=()) -> None:
        from screens.actions import ConfirmNameScreen, PlanScreen

        app = self.app
        fleet = app.profile.model.fleet.name
        nodes = len({i.node for i in items})

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._start(action, planned=items)

        def planned(go: bool | None) -> None:
            if not go:
                return
            if action.destructive:
                what = f"{action.name} on {fleet}: {nodes} nodes will be changed"
                app.push_screen(ConfirmNameScreen(what, fleet), confirmed)
            else:
                self._start(action, planned=items)

        app.push_screen(PlanScreen(action.name, fleet, items, notes), planned)

    def _start(self, action, resume: str | None = None, planned=()) -> None:
        from actions.engine import targets
        from screens.actions import RunScreen

        if resume is None:
            self.feed.clear()
            model = self.app.profile.model
            nodes = [n.name for _, n in targets(model, (), action)]
            steps = [s.name for s in action.steps]
            self.app.push_screen(RunScreen(action.name, model.fleet.name, nodes, steps, self.feed))
        self.worker(self._apply, action, resume, planned, group="actions")

    def _apply(self, action, resume: str | None, planned) -> None:
        from actions.engine import StepFailed
        from console.core.runlock import FleetBusy

        self.engine = self._new_engine()  # opens the journal: not on the UI thread
        try:
            self.engine.apply(
                action, resume=resume, profile_path=str(self.app.profile.file), planned=planned
            )
        except (StepFailed, FleetBusy) as exc:
            self.say(str(exc), severity="error")

    def _joined(self, event) -> None:
        """After each finished step: did the profile gain nodes (a provision run writes
        each machine in as it comes up)? Then the fleet table and the monitor take them."""
        monitor = self.app.monitor
        if event.kind != EventKind.STATE or event.state != DONE or monitor is None:
            return
        known = monitor.tracker.nodes()
        if any(n.name not in known for _, n in self.app.profile.model.all_nodes()):
            self.app.call_from_thread(self.grow)

    def grow(self) -> None:
        from screens.fleet import FleetScreen

        model = self.app.profile.model
        names = self.app.monitor.grow(model) if self.app.monitor is not None else []
        for screen in self.app.screen_stack:
            if isinstance(screen, FleetScreen):
                screen.grow(model)
        if names:  # on the UI thread: notify, not say
            self.app.notify(f"joined the fleet: {', '.join(names)}", markup=False)

    def cancel(self) -> None:
        if self.engine is not None:
            self.engine.cancel()

    def resume(self, action: str, run_id: str) -> None:
        from actions.deploy import action_named

        self._start(action_named(action, self.app.profile.model), resume=run_id)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.cancel()
        if self.pool is not None:
            self.pool.close()
