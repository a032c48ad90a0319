"""The console's own trail: every action and acknowledgement goes to the journal, and the
node screen's History and the triage's acknowledgements are read from it."""

from __future__ import annotations

import time

from console.app.controllers import Controller
from console.core.journal import Journal, JournalError, state_dir


class Trail(Controller):
    @property
    def fleet(self) -> str:
        return self.app.profile.model.fleet.name

    def node_history(self, screen) -> None:
        self.worker(self._node_history, screen, group="history")

    def _node_history(self, screen) -> None:
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
                    done = journal.console_actions(self.fleet, screen.node_name)
                finally:
                    journal.close()
        kept = self._uptime(screen.node_name)
        self.app.call_from_thread(screen.show_history, rows, problem, done, kept)

    def _uptime(self, node: str) -> list:
        """(window, Uptime) of the node over a day and the SLO's window, where a watch of
        this fleet keeps a history on this machine; [] elsewhere."""
        import sqlite3

        from console.core.history.store import History, history_path
        from console.core.history.uptime import uptime

        fleet = self.app.profile.model
        path = history_path(state_dir(), self.fleet)
        if not path.exists():
            return []
        now = time.time()
        out = []
        try:
            history = History(path)
        except (OSError, sqlite3.Error):
            return []  # unreadable: the node screen goes on without it
        try:
            days = fleet.slo.window_days
            for label, span in (("24 h", 86400.0), (f"{days:g} d", days * 86400)):
                found = [u for u in uptime(history, fleet, now - span, now) if u.name == node]
                if found:
                    out.append((label, found[0]))
        finally:
            history.close()
        return out

    def load_acks(self, screen) -> None:
        self.worker(self._load_acks, screen, group="journal")

    def _load_acks(self, screen) -> None:
        try:
            journal = Journal(recover=True)
        except JournalError:
            return  # the triage screen works without; a run reports the journal's trouble
        try:
            acks = {(a.node, a.kind): a.summary for a in journal.acks(self.fleet)}
            mutes = {(m.node, m.kind): m.until for m in journal.mutes(self.fleet, time.time())}
        finally:
            journal.close()
        self.app.call_from_thread(screen.held, acks, mutes)

    def write(self, write) -> None:
        """Write to the journal from a worker thread; if it cannot be opened, say that the
        action was not recorded (the action itself stands)."""
        try:
            journal = Journal(recover=True)
        except JournalError as exc:
            self.say(f"not recorded: {exc}", severity="warning")
            return
        try:
            write(journal)
        finally:
            journal.close()

    def record(self, node: str, action: str, target: str, result: str, detail: str = "") -> None:
        """Record a console action; called from the worker thread that did it."""
        self.write(lambda j: j.record(self.fleet, node, action, target, result, detail))

    def acknowledge(self, alert, withdrawn: str | None) -> None:
        self.worker(self._acknowledge, alert, withdrawn, group="journal")

    def _acknowledge(self, alert, withdrawn: str | None) -> None:
        fleet = self.fleet
        if withdrawn is None:
            self.write(lambda j: j.acknowledge(fleet, alert.node, alert.kind, alert.summary))
        else:
            self.write(lambda j: j.withdraw(fleet, alert.node, alert.kind, withdrawn))
