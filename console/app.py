"""The Textual App: wires the profile, the monitor (and the simulator in demo mode) to the
screens. The screens only render; everything that blocks runs in thread workers."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen

from console.profile import Profile
from console.state import FleetState
from screens import terminal
from screens.fleet import FleetScreen, OpenNode
from screens.modals import FaultMenuScreen, HostKeyScreen, QuitScreen
from screens.node import ContainerAction, HistoryWanted, NodeScreen
from screens.palette import Palette
from screens.triage import Acknowledged, DisableMlNode, TriageScreen

REFRESH_S = 0.5  # screens get at most two coalesced updates a second


def wait_running(
    api, container: str, state: dict, stream: dict, seconds: float = 30, gap: float = 5
) -> bool:
    """Whether a container whose log stream ended runs again: wait while it restarts, and
    a few seconds while it is stopped (a restart stops, then starts it)."""
    started = time.monotonic()
    while state.get("Status") != "running":
        waited = time.monotonic() - started
        limit = seconds if state.get("Status") == "restarting" else gap
        if stream.get("closed") or waited >= limit:
            return False
        time.sleep(0.25)
        state = api.inspect_container(container)["State"]
    return True


class FleetdeckApp(App[str | None]):
    TITLE = "fleetdeck"
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("t", "triage", "Triage", id="app.triage"),
        Binding("a", "actions", "Actions", id="app.actions"),
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
    ) -> None:
        super().__init__()
        terminal.install()  # esc, then a key at once: two keys, not Alt+key
        self.profile = profile
        self.live = live
        self.source = source
        self.accept_new_host_keys = accept_new_host_keys
        self.sim_root = sim_root
        self._faults_injected: set[str] = set()  # demo nodes with a fault injected now
        self.read_only = read_only
        self.note = note  # said in the header (a replay names its recording)
        self.monitor = None
        self.pool = None
        self.action_pool = None  # actions get connections of their own: a retry that drops
        self.engine = None  # a connection must not cut the monitor's probe stream
        self.run_feed: collections.deque = collections.deque(maxlen=100_000)
        self.last_state: FleetState | None = None
        self._set_sub_title()
        from console.keymap import keys_path, load_keymap

        self.keys_file = keys_file or keys_path()
        keymap, self.keymap_problems = load_keymap(self.keys_file, binding_ids())
        if keymap:
            self.set_keymap(keymap)

    def _set_sub_title(self) -> None:
        # the file name only: a full path would make the header differ machine to machine
        self.sub_title = f"{self.profile.model.fleet.name} · {Path(self.profile.file).name}"
        if self.read_only:
            self.sub_title += " · READ-ONLY"
        if self.sim_root is not None:
            self.sub_title += " · DEMO (F: faults)"
        if self.note:
            self.sub_title += f" · {self.note}"

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.profile.model))
        self.call_after_refresh(_quiet_collector)
        for problem in self.keymap_problems:
            self.notify(problem, title="keys.toml", severity="warning", timeout=15, markup=False)
        if self.live and self.source is None:
            self.start_monitor()
        if self.live or self.source is not None:
            self.set_interval(REFRESH_S, self.refresh_state)
            self.call_after_refresh(self.refresh_state)

    @work(thread=True, exclusive=True, group="monitor")
    def start_monitor(self) -> None:
        from console.monitor.pipeline import live_status

        self.monitor = live_status(self.profile, accept_new=self._ask_host_key)
        self.pool = self.monitor.pool
        self.monitor.start()

    def _ask_host_key(self, node: str, host: str, key_type: str, fingerprint: str) -> bool:
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
            state = self.source()
        elif self.monitor is not None:
            state = self.monitor.snapshot()
        else:
            return
        self.last_state = state
        show = getattr(self.screen, "show", None)
        if show is not None:
            # a tick can land while a screen is composed or torn down (on quit): its widgets
            # are not there to update, and the next tick draws the state anyway
            with contextlib.suppress(NoMatches):
                show(state)

    def on_open_node(self, message: OpenNode) -> None:
        self.open_node(message.name)

    def open_node(self, name: str) -> None:
        screen = NodeScreen(name, self.last_state)
        self.push_screen(screen)
        self._node_history(screen)

    def on_history_wanted(self, message: HistoryWanted) -> None:
        self._node_history(message.screen)

    @work(thread=True, group="history")
    def _node_history(self, screen: NodeScreen) -> None:
        from console.journal import Journal, JournalError, state_dir

        rows: list = []
        done: list = []
        problem = None
        if (state_dir() / "journal.sqlite").exists():
            try:
                journal = Journal()
            except JournalError as exc:
                problem = str(exc)  # the console goes on without history
            else:
                try:
                    rows = journal.node_history(screen.node_name)
                    done = journal.console_actions(self.fleet_name, screen.node_name)
                finally:
                    journal.close()
        self.call_from_thread(screen.show_history, rows, problem, done)

    def action_triage(self) -> None:
        if not isinstance(self.screen, TriageScreen):
            screen = TriageScreen(self.last_state, self.profile.model)
            self.push_screen(screen)
            self._load_acks(screen)

    def on_screen_resume(self) -> None:
        if self.last_state is not None and hasattr(self.screen, "show"):
            self.screen.show(self.last_state)

    # -- the command palette (ctrl+p)
    def action_command_palette(self) -> None:
        if self.use_command_palette and not Palette.is_open(self):
            self.push_screen(Palette(id="--command-palette"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Triage", "active alerts across the fleet, worst first", self.action_triage
        )
        yield SystemCommand("Actions", "plan and run an action (deploy)", self.action_actions)
        if self.read_only:
            yield SystemCommand(
                "Read-only: off",
                "allow actions again (asks for the fleet's name)",
                self.leave_read_only,
            )
        else:
            yield SystemCommand(
                "Read-only: on", "refuse every action that changes a node", self.enter_read_only
            )
        if self.sim_root is None:
            here = Path(self.profile.file).resolve()
            for other in sorted(here.parent.glob("*.toml")):
                if other != here:
                    yield SystemCommand(
                        f"Switch profile: {other.name}",
                        str(other),
                        lambda path=other: self.exit(str(path)),
                        discover=False,
                    )
        for cluster, node in self.profile.model.all_nodes():
            yield SystemCommand(
                f"Node {node.name}",
                f"{cluster.name} · {node.role} · {node.host}",
                lambda name=node.name: self.open_node(name),
                discover=False,
            )

    def enter_read_only(self) -> None:
        self.read_only = True
        self._set_sub_title()
        self.notify("Read-only: actions that change nodes are refused.", markup=False)

    def leave_read_only(self) -> None:
        from screens.actions import ConfirmNameScreen

        fleet = self.profile.model.fleet.name

        def done(ok: bool | None) -> None:
            if ok:
                self.read_only = False
                self._set_sub_title()
                self.notify("Read-only is off: actions are allowed.", markup=False)

        self.push_screen(
            ConfirmNameScreen("Leave read-only: actions will change nodes again", fleet), done
        )

    # -- containers: log tail, restart, stop (Docker SDK over the node's SSH connection)
    def on_container_action(self, message: ContainerAction) -> None:
        node, container, kind = message.node, message.container, message.kind
        if self.pool is None:
            self.notify("Not connected: containers need the live console.", markup=False)
            return
        if kind == "logs":
            from screens.logs import LogScreen

            screen = LogScreen(node, container, collections.deque(maxlen=20_000))
            stream: dict = {}

            def closed(_: None) -> None:
                stream["closed"] = True
                api = stream.get("api")
                if api is not None:
                    api.close()  # ends the blocking read of the follow

            self.push_screen(screen, closed)
            self._tail_logs(node, container, screen, stream)
            return
        if self.read_only:
            self.notify(f"Read-only: {kind} is disabled.", severity="warning", markup=False)
            return
        from screens.actions import ConfirmNameScreen

        what = f"{kind.capitalize()} container {container} on node {node}"
        self.push_screen(
            ConfirmNameScreen(what, container),  # the container's name: it names what is hit
            lambda ok: self._container_do(node, container, kind) if ok else None,
        )

    # -- the console's own trail: every action and acknowledgement goes to the journal
    def _journal(self):
        from console.journal import Journal

        return Journal(recover=True)

    @work(thread=True, group="journal")
    def _load_acks(self, screen: TriageScreen) -> None:
        from console.journal import JournalError

        try:
            journal = self._journal()
        except JournalError:
            return  # the triage screen works without; a run reports the journal's trouble
        try:
            acks = {(a.node, a.kind): a.summary for a in journal.acks(self.fleet_name)}
        finally:
            journal.close()
        self.call_from_thread(screen.held, acks)

    def _in_journal(self, write) -> None:
        """Write to the journal from a worker thread; if it cannot be opened, say that the
        action was not recorded (the action itself stands)."""
        from console.journal import JournalError

        try:
            journal = self._journal()
        except JournalError as exc:
            self.call_from_thread(
                self.notify, f"not recorded: {exc}", severity="warning", markup=False
            )
            return
        try:
            write(journal)
        finally:
            journal.close()

    def _record(self, node: str, action: str, target: str, result: str, detail: str = "") -> None:
        """Record a console action; called from the worker thread that did it."""
        self._in_journal(lambda j: j.record(self.fleet_name, node, action, target, result, detail))

    def on_acknowledged(self, message: Acknowledged) -> None:
        self._remember_ack(message.alert, message.withdrawn)

    @work(thread=True, group="journal")
    def _remember_ack(self, alert, withdrawn: str | None) -> None:
        fleet = self.fleet_name
        if withdrawn is None:
            self._in_journal(lambda j: j.acknowledge(fleet, alert.node, alert.kind, alert.summary))
        else:
            self._in_journal(lambda j: j.withdraw(fleet, alert.node, alert.kind, withdrawn))

    @property
    def fleet_name(self) -> str:
        return self.profile.model.fleet.name

    def on_disable_ml_node(self, message: DisableMlNode) -> None:
        network, ml_id = message.network_node, message.ml_id
        if self.read_only:
            self.notify(
                "Read-only: disabling an ML node is refused.", severity="warning", markup=False
            )
            return
        if self.pool is None:
            self.notify("Not connected: the admin API needs the live console.", markup=False)
            return
        from screens.actions import ConfirmNameScreen

        self.push_screen(
            ConfirmNameScreen(
                f"Disable ML node {ml_id} in {network}'s admin API: it skips the next PoC", ml_id
            ),
            lambda ok: self._disable_ml_node(network, ml_id) if ok else None,
        )

    @work(thread=True, group="admin")
    def _disable_ml_node(self, network: str, ml_id: str) -> None:
        from actions.register import AdminError, set_ml_node_enabled
        from console.ssh import SshError

        try:
            said = set_ml_node_enabled(self.pool, network, ml_id, enabled=False)
        except (AdminError, SshError) as exc:
            self._record(network, "disable-ml-node", ml_id, "failed", str(exc))
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self._record(network, "disable-ml-node", ml_id, "done", said)
        self.call_from_thread(self.notify, f"{network}: {said} ({ml_id})", markup=False)

    @work(thread=True, group="logs")
    def _tail_logs(self, node: str, container: str, screen, stream: dict) -> None:
        """Follow a container's log, each line with its time; when the stream ends while
        the container comes back (a restart), follow it again from where it stopped."""
        from console.dockerremote import docker_api, log_lines, split_stamp
        from console.secrets import REDACTOR

        reason = "end of the log stream (the engine closed it)"
        since: float | None = None
        try:
            api = docker_api(self.pool, node)
            stream["api"] = api
            started = api.inspect_container(container)["State"].get("StartedAt")
            while not stream.get("closed"):
                lines = log_lines(
                    api,
                    container,
                    tail=500 if since is None else "all",
                    since=since,
                    timestamps=True,
                )
                for line in lines:
                    if stream.get("closed"):
                        return
                    at, text = split_stamp(line)
                    if at is not None:
                        since = at + 1e-6  # a reattach starts after the last line shown
                        text = f"{time.strftime('%H:%M:%S', time.localtime(at))} {text}"
                    screen.feed.append(REDACTOR.redact(text))
                state = api.inspect_container(container)["State"]
                if not wait_running(api, container, state, stream):
                    reason = (
                        f"{container} is {state.get('Status')} (exit {state.get('ExitCode')}): "
                        "its log ends here"
                    )
                    break
                since = since or time.time()
                time.sleep(1)  # never a hot loop, whatever ended the stream
                now = api.inspect_container(container)["State"].get("StartedAt")
                if now != started:  # a new run of it, not just a stream the engine ended
                    started = now
                    screen.feed.append(f"— {container} restarted: following its log again —")
        except Exception as exc:  # the screen says why the stream ended; the app goes on
            reason = f"log stream ended: {REDACTOR.redact(str(exc))[:200]}"
        if not stream.get("closed"):
            self.call_from_thread(screen.end, reason)

    @work(thread=True, group="containers")
    def _container_do(self, node: str, container: str, kind: str) -> None:
        from console.dockerremote import docker_api

        try:
            api = docker_api(self.pool, node)
            getattr(api, kind)(container, timeout=10)  # seconds to stop before SIGKILL
            api.close()
        except Exception as exc:
            self._record(node, kind, container, "failed", str(exc))
            self.call_from_thread(
                self.notify,
                f"{kind} {container} on {node} failed: {exc}",
                severity="error",
                markup=False,
            )
            return
        self._record(node, kind, container, "done")
        self.call_from_thread(self.notify, f"{container} on {node}: {kind} done", markup=False)

    # -- actions: pick → plan (dry run) → confirm → run, live
    def action_actions(self) -> None:
        if self.read_only:
            self.notify(
                "Read-only: actions that change nodes are disabled.",
                severity="warning",
                markup=False,
            )
            return
        if self.sim_root is not None:
            # the demo's nodes are sandboxes on this very machine, reached over an embedded
            # SSH server: a deploy would run its commands here (/opt/gonka, apt-get, ufw)
            self.notify(
                "Actions are off in the demo: its nodes are sandboxes on this machine, and a "
                "deploy would change this machine. Use fleetdeck plan/run on real hosts.",
                severity="warning",
                markup=False,
            )
            return
        if self.engine is not None and self.engine.running:
            self.notify("An action is already running.", severity="warning", markup=False)
            return
        from actions.deploy import ACTIONS
        from screens.actions import ActionPickerScreen

        choices = [(name, build().description) for name, build in ACTIONS.items()]
        self.push_screen(
            ActionPickerScreen(choices, self.profile.model.fleet.name),
            lambda name: self.plan_action(name) if name else None,
        )

    def _new_engine(self):
        from actions.engine import Engine
        from console.journal import Journal, JournalError
        from console.ssh import Pool

        if self.action_pool is None:
            self.action_pool = Pool.for_profile(self.profile.model, accept_new=self._ask_host_key)
        try:
            journal = Journal(recover=True)
        except JournalError as exc:
            journal = None  # plans still work; a run is refused, saying why
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
        else:
            if journal.moved_aside:
                self.call_from_thread(
                    self.notify,
                    f"the journal could not be read: moved aside to {journal.moved_aside}, "
                    "a new one started",
                    severity="warning",
                    markup=False,
                )
        engine = Engine(self.profile, self.action_pool, journal)
        engine.subscribe(self.run_feed.append)
        return engine

    @work(thread=True, exclusive=True, group="actions")
    def plan_action(self, name: str) -> None:
        from actions.deploy import action_named
        from actions.engine import StepFailed

        action = action_named(name)
        self.call_from_thread(self.notify, f"Planning {name}: checking every node…", markup=False)
        try:
            items = self._new_engine().plan(action)
        except StepFailed as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.call_from_thread(self._show_plan, action, items)

    def _show_plan(self, action, items) -> None:
        from screens.actions import ConfirmNameScreen, PlanScreen

        fleet = self.profile.model.fleet.name
        nodes = len({i.node for i in items})

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._start_run(action)

        def planned(go: bool | None) -> None:
            if not go:
                return
            if action.destructive:
                what = f"{action.name} on {fleet}: {nodes} nodes will be changed"
                self.push_screen(ConfirmNameScreen(what, fleet), confirmed)
            else:
                self._start_run(action)

        self.push_screen(PlanScreen(action.name, fleet, items), planned)

    def _start_run(self, action, resume: str | None = None) -> None:
        from actions.engine import targets
        from screens.actions import RunScreen

        if resume is None:
            self.run_feed.clear()
            nodes = [n.name for _, n in targets(self.profile.model, (), action)]
            steps = [s.name for s in action.steps]
            fleet = self.profile.model.fleet.name
            self.push_screen(RunScreen(action.name, fleet, nodes, steps, self.run_feed))
        self._apply(action, resume)

    @work(thread=True, group="actions")
    def _apply(self, action, resume: str | None) -> None:
        from actions.engine import StepFailed

        self.engine = self._new_engine()  # opens the journal: not on the UI thread
        try:
            self.engine.apply(action, resume=resume, profile_path=str(self.profile.file))
        except StepFailed as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)

    def cancel_run(self) -> None:
        if self.engine is not None:
            self.engine.cancel()

    def resume_run(self, action: str, run_id: str) -> None:
        from actions.deploy import action_named

        self._start_run(action_named(action), resume=run_id)

    # -- demo: the fault menu talks to the simulated fleet
    def action_fault_menu(self) -> None:
        if self.sim_root is None:
            self.notify("The fault menu is for `fleetdeck demo`.", markup=False)
            return
        if self.read_only:
            self.notify("Read-only: faults cannot be injected.", severity="warning", markup=False)
            return
        from console.sim.faults import FAULTS

        node = self._cursor_node()
        if node is None:
            return
        self.push_screen(
            FaultMenuScreen(node, {k: f.description for k, f in FAULTS.items()}),
            lambda kind: self._inject(node, kind) if kind else None,
        )

    def _cursor_node(self) -> str | None:
        from textual.widgets import DataTable

        screen = self.screen
        if isinstance(screen, NodeScreen):
            return screen.node_name
        if isinstance(screen, FleetScreen):
            table = screen.query_one("#nodes", DataTable)
            if table.row_count:
                return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return None

    async def action_quit(self) -> None:
        """q asks first when quitting would lose something: a run in progress, or a
        rehearsal with faults injected (the demo's fleet goes with the console)."""
        why = None
        if self.engine is not None and self.engine.running:
            why = "An action is running: quitting the console stops it where it is."
        elif faulty := await self._faults_now():
            why = (
                f"Faults are injected in this rehearsal ({', '.join(sorted(faulty))}): "
                "quitting tears the simulated fleet down."
            )
        if why is None or isinstance(self.screen, QuitScreen):
            self.exit()
            return
        self.push_screen(QuitScreen(why), lambda yes: self.exit() if yes else None)

    async def _faults_now(self) -> set[str]:
        """The demo's nodes with a fault injected now, from the simulator itself: faults
        injected from outside (`fleetdeck sim fault`) count as those from the F menu."""
        if self.sim_root is None:
            return set(self._faults_injected)
        from console.sim import control

        try:
            status = await asyncio.to_thread(
                control.request, self.sim_root, "GET", "/status", None, 2.0
            )
        except control.SimError:  # the simulator is gone or busy: what the console knows
            return set(self._faults_injected)
        return {name for name, node in status["nodes"].items() if node.get("faults")}

    @work(thread=True, group="faults")
    def _inject(self, node: str, kind: str) -> None:
        from console.sim import control

        assert self.sim_root is not None
        try:
            if kind == "clear":
                control.request(self.sim_root, "POST", "/clear", {"node": node})
                message = f"{node}: faults cleared"
                self._faults_injected.discard(node)
            else:
                control.request(self.sim_root, "POST", "/fault", {"node": node, "kind": kind})
                message = f"{node}: {kind} injected"
                self._faults_injected.add(node)
        except control.SimError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.call_from_thread(self.notify, message, markup=False)

    def on_unmount(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        if self.pool is not None:
            self.pool.close()
        if self.engine is not None:
            self.engine.cancel()
        if self.action_pool is not None:
            self.action_pool.close()


def binding_ids() -> set[str]:
    """Every binding id keys.toml may remap."""
    from screens.actions import PlanScreen, RunScreen
    from screens.logs import LogScreen

    owners = (FleetdeckApp, FleetScreen, NodeScreen, TriageScreen, PlanScreen, RunScreen, LogScreen)
    return {b.id for owner in owners for b in owner.BINDINGS if isinstance(b, Binding) and b.id}


def _quiet_collector() -> None:
    """A fleet snapshot is ~100k short-lived objects a second; with the default thresholds
    the collector ran ~9 times per refresh of a 1,000-node screen, on the UI thread
    (bench_console: refresh p95 93-220 ms before, ~83 ms after). What exists once the
    console is up lives as long as it does, so it is kept out of the collector's scans.
    Once per process: garbage is collected first, so nothing dead is frozen."""
    global _COLLECTOR_TUNED
    if _COLLECTOR_TUNED:
        return
    _COLLECTOR_TUNED = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


_COLLECTOR_TUNED = False
