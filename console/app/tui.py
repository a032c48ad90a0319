"""The Textual App: wires the profile, the live status (or a replay, or the demo's
simulator) and the controllers (console/app/controllers/) to the screens. Screens only render
and send messages; controllers do the errands; what blocks runs in thread workers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen

from console.app.controllers.commands import Commands
from console.app.controllers.containers import Containers
from console.app.controllers.machines import Machines
from console.app.controllers.pools import Pools
from console.app.controllers.registration import Registration
from console.app.controllers.rehearsal import Rehearsal
from console.app.controllers.remedies import Remedies
from console.app.controllers.runs import Runs
from console.app.controllers.trail import Trail
from console.core.gctune import quiet_collector
from console.core.profile import Profile
from console.core.selfstat import SelfUsage
from console.core.state import FleetState
from screens import terminal
from screens.actions import CancelRun, ResumeRun
from screens.fleet import FleetScreen, OpenNode
from screens.live import LiveScreen
from screens.modals import HostKeyScreen, QuitScreen
from screens.node import ContainerAction, HistoryWanted, NodeScreen
from screens.palette import Palette
from screens.registration import RefreshRegistration, RegistrationScreen
from screens.triage import Acknowledged, ApplyRemedy, TriageScreen

REFRESH_S = 0.5  # screens get at most two coalesced updates a second
USAGE_EVERY_S = 5.0  # the console's own cost, in the header


class FleetdeckApp(App[str | None]):
    TITLE = "fleetdeck"
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("t", "triage", "Triage", id="app.triage"),
        Binding("a", "actions", "Actions", id="app.actions"),
        Binding("P", "registration", "Registration", show=False, id="app.registration"),
        Binding("F", "fault_menu", "Faults (demo)", show=False, id="app.faults"),
    ]

    def __init__(
        self,
        profile: Profile,
        live: bool = True,
        source: Callable[[], FleetState] | None = None,
        accept_new_host_keys: bool = False,
        sim_root: Path | None = None,
        read_only: bool = False,
        keys_file: Path | None = None,
        note: str = "",
        feed: tuple[Path, str] | None = None,
    ) -> None:
        super().__init__()
        terminal.install()  # esc, then a key at once: two keys, not Alt+key
        self.profile = profile
        self.live = live
        self.source = source
        self.accept_new_host_keys = accept_new_host_keys
        self.sim_root = sim_root
        self.read_only = read_only
        self.note = note  # said in the header (a replay names its recording)
        self.feed = feed  # (socket, token): status from a running watch, not our own SSH
        self.usage = SelfUsage()  # the console's own CPU and memory, under the summary
        self.usage_text, self._usage_at = "", 0.0
        self.monitor = None
        self.pool = None  # the monitor's: containers and remedies use it too
        self.trail = Trail(self)
        self.containers = Containers(self)
        self.remedies = Remedies(self)
        self.runs = Runs(self)
        self.rehearsal = Rehearsal(self)
        self.registration = Registration(self)
        self.commands = Commands(self)
        self.machines = Machines(self)
        self.pools = Pools(self)
        self.last_state: FleetState | None = None
        self._building = False  # a snapshot is being built (refresh_state)
        self.set_sub_title()
        from console.core.keymap import keys_path, load_keymap

        self.keys_file = keys_file or keys_path()
        keymap, self.keymap_problems = load_keymap(self.keys_file, binding_ids())
        if keymap:
            self.set_keymap(keymap)

    def set_sub_title(self) -> None:
        # the file name only: a full path would make the header differ machine to machine
        self.sub_title = f"{self.profile.model.fleet.name} · {Path(self.profile.file).name}"
        if self.read_only:
            self.sub_title += " · READ-ONLY"
        if self.sim_root is not None:
            self.sub_title += " · DEMO (F: faults)"
        if self.note:
            self.sub_title += f" · {self.note}"
        if self.feed is not None:
            self.sub_title += " · attached to its watch"

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.profile.model))
        self.call_after_refresh(quiet_collector)
        for problem in self.keymap_problems:
            self.notify(problem, title="keys.toml", severity="warning", timeout=15, markup=False)
        if self.live and self.source is None:
            self.start_monitor()
        if self.live or self.source is not None:
            self.set_interval(REFRESH_S, self.refresh_state)
            self.call_after_refresh(self.refresh_state)

    @work(thread=True, exclusive=True, group="monitor")
    def start_monitor(self) -> None:
        from console.core.monitor.pipeline import live_status

        self.monitor = live_status(self.profile, accept_new=self.ask_host_key, feed=self.feed)
        self.pool = self.monitor.pool
        self.monitor.start()

    def ask_host_key(self, node: str, host: str, key_type: str, fingerprint: str) -> bool:
        """Called from a connection thread: ask on screen and wait for the answer."""
        if self.accept_new_host_keys:
            return True
        answered = threading.Event()
        answer: list[bool] = [False]

        def done(accept: bool | None) -> None:
            answer[0] = bool(accept)
            answered.set()

        self.call_from_thread(
            self.push_screen, HostKeyScreen(node, host, key_type, fingerprint), done
        )
        answered.wait()
        return answer[0]

    def refresh_state(self) -> None:
        if self.source is not None:
            self.apply_state(self._with_usage(self.source()))
        elif self.monitor is not None and not self._building:
            # judging thousands of nodes takes milliseconds the keys should have: the
            # snapshot is built on a thread, the screen takes it here (at most one at a time)
            self._building = True
            self.build_state(self.monitor)

    @work(thread=True, group="snapshot")
    def build_state(self, monitor) -> None:
        try:
            state = self._with_usage(monitor.snapshot())
            state.tally  # noqa: B018 - the fleet's counts, made here rather than on the UI
        finally:
            self._building = False
        with contextlib.suppress(RuntimeError):  # the app ended meanwhile
            self.call_from_thread(self.apply_state, state)

    def _with_usage(self, state: FleetState) -> FleetState:
        """The state with the console's own CPU and memory (read every few seconds)."""
        now = time.monotonic()
        if self.live and now - self._usage_at >= USAGE_EVERY_S:  # live: static ones cost nothing
            self._usage_at, self.usage_text = now, self.usage.text()
        if self.usage_text:
            state = replace(state, console_usage=self.usage_text)
        return state

    def apply_state(self, state: FleetState) -> None:
        self.last_state = state
        if not self.screen_stack:  # a last tick after the screens are gone (on quit)
            return
        if isinstance(self.screen, LiveScreen):
            # a tick can land while a screen is composed or torn down (on quit): its widgets
            # are not there to update, and the next tick draws the state anyway
            with contextlib.suppress(NoMatches):
                self.screen.show(state)

    def on_open_node(self, message: OpenNode) -> None:
        self.open_node(message.name)

    def open_node(self, name: str) -> None:
        screen = NodeScreen(name, self.last_state)
        self.push_screen(screen)
        self.trail.node_history(screen)

    def action_registration(self) -> None:
        if self.source is not None:  # a replay: it shows a recording, it reaches no node
            self.notify(
                "A replay reaches no node: the registration panel reads the live fleet "
                "(fleetdeck doctor PROFILE does too).",
                severity="warning",
                markup=False,
            )
            return
        self.registration.open()

    def on_refresh_registration(self, message: RefreshRegistration) -> None:
        if isinstance(self.screen, RegistrationScreen):
            self.registration.read(self.screen)

    def action_triage(self) -> None:
        if not isinstance(self.screen, TriageScreen):
            screen = TriageScreen(self.last_state, self.profile.model)
            self.push_screen(screen)
            self.trail.load_acks(screen)

    def on_screen_resume(self) -> None:
        if self.last_state is not None and isinstance(self.screen, LiveScreen):
            self.screen.show(self.last_state)

    # -- the command palette (ctrl+p)
    def action_command_palette(self) -> None:
        # one palette at a time: Textual asks only whether the top screen is one, and a
        # palette under another screen (its help, a command's screen) got a second one
        # with the same id: DuplicateIds ended the console
        opened = any(isinstance(s, Palette) for s in self.screen_stack)
        if self.use_command_palette and not opened:
            self.push_screen(Palette(id="--command-palette"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from self.commands.system()

    # -- the console's errands: each is a controller (console/app/controllers/)
    def on_container_action(self, message: ContainerAction) -> None:
        self.containers.act(message.node, message.container, message.kind)

    def on_apply_remedy(self, message: ApplyRemedy) -> None:
        self.remedies.apply(message.remedy)

    def on_acknowledged(self, message: Acknowledged) -> None:
        self.trail.acknowledge(message.alert, message.withdrawn)

    def on_history_wanted(self, message: HistoryWanted) -> None:
        self.trail.node_history(message.screen)

    def action_actions(self) -> None:
        self.runs.pick()

    def on_cancel_run(self, message: CancelRun) -> None:
        self.runs.cancel()

    def on_resume_run(self, message: ResumeRun) -> None:
        self.runs.resume(message.action, message.run_id)

    def action_fault_menu(self) -> None:
        self.rehearsal.menu(self.rehearsal.cursor_node())

    async def action_quit(self) -> None:
        """q asks first when quitting would lose something: a run in progress, or a
        rehearsal with faults injected (the demo's fleet goes with the console)."""
        why = None
        if self.runs.running:
            why = "An action is running: quitting the console stops it where it is."
        elif faulty := await self.rehearsal.faulty():
            why = (
                f"Faults are injected in this rehearsal ({', '.join(sorted(faulty))}): "
                "quitting tears the simulated fleet down."
            )
        if why is None or isinstance(self.screen, QuitScreen):
            self.exit()
            return
        self.push_screen(QuitScreen(why), lambda yes: self.exit() if yes else None)

    def on_unmount(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()  # and its pool
        self.runs.close()


def binding_ids() -> set[str]:
    """Every binding id keys.toml may remap."""
    from screens.actions import PlanScreen, RunScreen
    from screens.logs import LogScreen

    owners = (FleetdeckApp, FleetScreen, NodeScreen, TriageScreen, PlanScreen, RunScreen, LogScreen)
    return {b.id for owner in owners for b in owner.BINDINGS if isinstance(b, Binding) and b.id}
