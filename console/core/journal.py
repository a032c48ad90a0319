"""The journal: an SQLite record of every action run, each node's steps and their output.

It is what `--resume` reads (the first unfinished step of each node), what the live matrix
replays, and the audit trail afterwards: console actions (restart, stop, disable an ML node,
acknowledge, withdraw) are recorded too, with who and when, and acknowledgements live here
so that they outlive the console that made them. Rows are written as things happen, so a run killed
at any point leaves an accurate record. Text is redacted before it is stored: no secret
value ever reaches the file.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from console.core.secrets import REDACTOR, Redactor


class StepState(StrEnum):
    """A step's state in the journal; its text is what the journal stores."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


PENDING, RUNNING, DONE = StepState.PENDING, StepState.RUNNING, StepState.DONE
UNCHANGED, FAILED = StepState.UNCHANGED, StepState.FAILED
SKIPPED, CANCELLED = StepState.SKIPPED, StepState.CANCELLED
FINISHED = (DONE, UNCHANGED, SKIPPED)  # what a resume does not run again

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, action TEXT NOT NULL, fleet TEXT NOT NULL, profile TEXT NOT NULL,
    started REAL NOT NULL, finished REAL, outcome TEXT, options TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, node TEXT NOT NULL, position INTEGER NOT NULL, step TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, started REAL, finished REAL,
    summary TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, node, step)
);
CREATE TABLE IF NOT EXISTS lines (
    run_id TEXT NOT NULL, node TEXT NOT NULL, step TEXT NOT NULL, t REAL NOT NULL,
    stream TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_by_step ON lines (run_id, node, step);
CREATE TABLE IF NOT EXISTS console_actions (
    t REAL NOT NULL, fleet TEXT NOT NULL, node TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, user TEXT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_actions_by_node ON console_actions (fleet, node, t);
CREATE TABLE IF NOT EXISTS acks (
    fleet TEXT NOT NULL, node TEXT NOT NULL, kind TEXT NOT NULL, summary TEXT NOT NULL,
    t REAL NOT NULL, user TEXT NOT NULL, PRIMARY KEY (fleet, node, kind)
);
CREATE TABLE IF NOT EXISTS mutes (
    fleet TEXT NOT NULL, node TEXT NOT NULL, kind TEXT NOT NULL, until REAL NOT NULL,
    t REAL NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL, silence TEXT NOT NULL,
    PRIMARY KEY (fleet, node, kind)
);
"""


def state_dir() -> Path:
    """Where fleetdeck keeps its journal: $FLEETDECK_STATE_DIR, else the XDG state dir."""
    explicit = os.environ.get("FLEETDECK_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "fleetdeck"


@dataclass(frozen=True)
class Run:
    id: str
    action: str
    fleet: str
    profile: str
    started: float
    finished: float | None
    outcome: str | None
    options: dict


@dataclass(frozen=True)
class StepRecord:
    node: str
    position: int
    step: str
    state: str
    attempts: int
    started: float | None
    finished: float | None
    summary: str
    error: str


@dataclass(frozen=True)
class ConsoleAction:
    t: float
    fleet: str
    node: str
    action: str  # restart | stop | disable-ml-node | acknowledge | unacknowledge
    target: str  # the container, the ML node, the alert's kind
    user: str
    result: str  # done | failed
    detail: str


@dataclass(frozen=True)
class Ack:
    fleet: str
    node: str
    kind: str
    summary: str  # what the alert said when acknowledged: it comes back when that changes
    t: float
    user: str


@dataclass(frozen=True)
class Mute:
    """Pages of a node's alert kind ("*": every kind) held back until a time."""

    fleet: str
    node: str
    kind: str
    until: float
    t: float
    user: str
    reason: str
    silence: str  # the Alertmanager silence that mirrors it, where one was made ("")

    def covers(self, node: str, kind: str, now: float) -> bool:
        return self.node == node and self.kind in ("*", kind) and now < self.until


def _columns_of(schema: str) -> dict[str, set[str]]:
    """Each table's columns, as SCHEMA declares them."""
    tables = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\);", schema, re.S):
        declared = re.findall(r"(?:^|,)\s*(\w+)\s+(?:TEXT|REAL|INTEGER)\b", body)
        tables[name] = set(declared)
    return tables


COLUMNS = _columns_of(SCHEMA)


def _check_columns(db: sqlite3.Connection) -> None:
    """A journal whose tables lack a column this version reads (one written by another
    tool, or another version) is treated as a damaged one: named, or moved aside."""
    for table, wanted in COLUMNS.items():
        try:
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        except UnicodeDecodeError:  # its schema's text is damaged
            raise sqlite3.DatabaseError(f"the schema of its table {table} is damaged") from None
        missing = sorted(wanted - have)
        if have and missing:  # a table not there yet is made; one there must be whole
            raise sqlite3.DatabaseError(
                f"its table {table} has no column {', '.join(missing)}: written by another "
                "version of fleetdeck, or another tool"
            )


def operator() -> str:
    """Who is at the console (the journal says who did what)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


class JournalError(Exception):
    """The journal cannot be used; the message names the file and the fix."""


class Journal:
    """The journal at `path` (default: the state dir's journal.sqlite).

    A file that is not a readable SQLite journal is never written over: with `recover`
    (what runs do) it is moved aside, next to itself, and a new journal is started
    (`moved_aside` says where the old one went); without it (what reads do) JournalError
    names the file and the fix."""

    def __init__(
        self,
        path: str | Path | None = None,
        redactor: Redactor = REDACTOR,
        recover: bool = False,
    ) -> None:
        self.path = Path(path) if path else state_dir() / "journal.sqlite"
        self.redactor = redactor
        self.moved_aside: Path | None = None
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = self._open()
        except sqlite3.OperationalError as exc:  # locked, read-only, a directory: not damage
            raise JournalError(
                f"{self.path}: cannot open the journal: {exc}\n"
                "    fix: check the file's permissions, or whether another fleetdeck holds it"
            ) from None
        except sqlite3.DatabaseError as exc:
            if not recover:
                raise JournalError(
                    f"{self.path}: not a readable journal ({exc})\n"
                    f"    fix: the next `fleetdeck run` moves it aside ({self.path.name}"
                    ".corrupt-…) and starts a new one; `sqlite3 FILE .recover` may salvage "
                    "its rows"
                ) from None
            self.moved_aside = self._move_aside()
            self._db = self._open()
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from None

    def _open(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            if fresh:
                os.chmod(self.path, 0o600)  # output lines can say more than the operator wants
            _check_columns(db)  # before anything is written to it
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            db.execute("SELECT count(*) FROM runs").fetchone()  # reads a page of the data
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        """Rename the damaged journal (and its WAL and shared memory) out of the way."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.rename(f"{aside}{suffix}")
        return aside

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple = ()) -> Any:
        """A statement's cursor; a query's rows read at once, so that a page damaged past
        the header (found only as rows are read) is the journal's error, named, not a
        DatabaseError from wherever the rows were used."""
        with self._lock:
            try:
                cur = self._db.execute(sql, args)
                return _Rows(cur.fetchall()) if sql.lstrip().startswith("SELECT") else cur
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                raise JournalError(
                    f"{self.path}: the journal is damaged ({exc})\n"
                    f"    fix: move it aside (mv {self.path} {self.path}.damaged); the next "
                    "run starts a new one, and `sqlite3 FILE .recover` may salvage its rows"
                ) from None

    # -- runs
    def start_run(self, action: str, fleet: str, profile: str, options: dict) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._exec(
            "INSERT INTO runs (id, action, fleet, profile, started, options) VALUES (?,?,?,?,?,?)",
            (run_id, action, fleet, profile, time.time(), json.dumps(options)),
        )
        return run_id

    def reopen_run(self, run_id: str) -> None:
        self._exec("UPDATE runs SET finished=NULL, outcome=NULL WHERE id=?", (run_id,))

    def finish_run(self, run_id: str, outcome: str) -> None:
        self._exec(
            "UPDATE runs SET finished=?, outcome=? WHERE id=?", (time.time(), outcome, run_id)
        )

    def run(self, run_id: str) -> Run | None:
        row = self._exec("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run(row) if row else None

    def runs(self, fleet: str | None = None, action: str | None = None) -> list[Run]:
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if fleet:
            sql, args = sql + " AND fleet=?", [*args, fleet]
        if action:
            sql, args = sql + " AND action=?", [*args, action]
        return [_run(r) for r in self._exec(sql + " ORDER BY started DESC", tuple(args))]

    def latest_run(self, fleet: str, action: str) -> Run | None:
        runs = self.runs(fleet, action)
        return runs[0] if runs else None

    # -- steps
    def plan_steps(self, run_id: str, node: str, steps: list[str]) -> None:
        """Record a node's steps as pending (those already recorded are kept)."""
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO steps (run_id, node, position, step, state) "
                "VALUES (?,?,?,?,?)",
                [(run_id, node, i, s, PENDING) for i, s in enumerate(steps)],
            )

    def set_step(
        self,
        run_id: str,
        node: str,
        step: str,
        state: str,
        summary: str | None = None,
        error: str | None = None,
        attempt: bool = False,
    ) -> None:
        now = time.time()
        sets, args = ["state=?"], [state]
        if state == RUNNING:
            sets.append("started=COALESCE(started, ?)")
            args.append(now)
        else:
            sets.append("finished=?")
            args.append(now)
        if attempt:
            sets.append("attempts=attempts+1")
        if summary is not None:
            sets.append("summary=?")
            args.append(self.redactor.redact(summary))
        if error is not None:
            sets.append("error=?")
            args.append(self.redactor.redact(error))
        self._exec(
            f"UPDATE steps SET {', '.join(sets)} WHERE run_id=? AND node=? AND step=?",  # noqa: S608 - fixed column names
            (*args, run_id, node, step),
        )

    def steps(self, run_id: str, node: str | None = None) -> list[StepRecord]:
        sql = "SELECT node, position, step, state, attempts, started, finished, summary, error "
        sql += "FROM steps WHERE run_id=?"
        args: tuple = (run_id,)
        if node:
            sql, args = sql + " AND node=?", (run_id, node)
        return [StepRecord(*r) for r in self._exec(sql + " ORDER BY node, position", args)]

    def node_history(self, node: str, limit: int = 40) -> list[tuple[Run, StepRecord]]:
        """This node's most recent steps across runs, newest first (what was done to it)."""
        rows = self._exec(
            "SELECT r.*, s.node, s.position, s.step, s.state, s.attempts, s.started, "
            "s.finished, s.summary, s.error FROM steps s JOIN runs r ON r.id = s.run_id "
            "WHERE s.node=? AND s.state NOT IN ('pending') "
            "ORDER BY COALESCE(s.finished, s.started, r.started) DESC LIMIT ?",
            (node, limit),
        ).fetchall()
        return [(_run(r[:8]), StepRecord(*r[8:])) for r in rows]

    # -- what was done from the console (restart, stop, disable an ML node, acknowledge)
    def record(
        self, fleet: str, node: str, action: str, target: str, result: str, detail: str = ""
    ) -> None:
        """One console action and how it ended ('done' or 'failed'), by whom."""
        self._exec(
            "INSERT INTO console_actions VALUES (?,?,?,?,?,?,?,?)",
            (
                time.time(),
                fleet,
                node,
                action,
                target,
                operator(),
                result,
                self.redactor.redact(detail),
            ),
        )

    def console_actions(self, fleet: str, node: str | None = None) -> list[ConsoleAction]:
        """The console's actions on the fleet (or one node), newest first."""
        sql, args = "SELECT * FROM console_actions WHERE fleet=?", [fleet]
        if node:
            sql, args = sql + " AND node=?", [*args, node]
        rows = self._exec(sql + " ORDER BY t DESC", tuple(args)).fetchall()
        return [ConsoleAction(*r) for r in rows]

    # -- acknowledgements: they outlive the console that made them
    def acknowledge(self, fleet: str, node: str, kind: str, summary: str) -> None:
        self._exec(
            "INSERT OR REPLACE INTO acks VALUES (?,?,?,?,?,?)",
            (fleet, node, kind, summary, time.time(), operator()),
        )
        self.record(fleet, node, "acknowledge", kind, "done", summary)

    def withdraw(self, fleet: str, node: str, kind: str, why: str = "withdrawn") -> None:
        """Drop an acknowledgement: withdrawn by the operator, or the alert changed."""
        gone = self._exec(
            "DELETE FROM acks WHERE fleet=? AND node=? AND kind=?", (fleet, node, kind)
        ).rowcount
        if gone:
            self.record(fleet, node, "unacknowledge", kind, "done", why)

    def acks(self, fleet: str) -> list[Ack]:
        rows = self._exec("SELECT * FROM acks WHERE fleet=? ORDER BY t", (fleet,)).fetchall()
        return [Ack(*r) for r in rows]

    # -- mutes: pages held back for a while, whatever console or watch reads them
    def mute(
        self, fleet: str, node: str, kind: str, until: float, reason: str, silence: str = ""
    ) -> None:
        self._exec(
            "INSERT OR REPLACE INTO mutes VALUES (?,?,?,?,?,?,?,?)",
            (fleet, node, kind, until, time.time(), operator(), reason, silence),
        )
        ends = time.strftime("%Y-%m-%d %H:%M", time.localtime(until))
        self.record(fleet, node, "mute", kind, "done", f"until {ends}: {reason}")

    def unmute(self, fleet: str, node: str, kind: str) -> Mute | None:
        found = [m for m in self.mutes(fleet, 0.0) if m.node == node and m.kind == kind]
        self._exec("DELETE FROM mutes WHERE fleet=? AND node=? AND kind=?", (fleet, node, kind))
        if found:
            self.record(fleet, node, "unmute", kind, "done", "")
        return found[0] if found else None

    def mutes(self, fleet: str, now: float) -> list[Mute]:
        """The mutes of the fleet still running at `now` (0: every one kept)."""
        rows = self._exec(
            "SELECT * FROM mutes WHERE fleet=? AND until > ? ORDER BY until", (fleet, now)
        ).fetchall()
        return [Mute(*r) for r in rows]

    # -- output
    def line(self, run_id: str, node: str, step: str, stream: str, text: str) -> None:
        self._exec(
            "INSERT INTO lines (run_id, node, step, t, stream, text) VALUES (?,?,?,?,?,?)",
            (run_id, node, step, time.time(), stream, self.redactor.redact(text)),
        )

    def lines(self, run_id: str, node: str | None = None, step: str | None = None) -> list[str]:
        sql, args = "SELECT text FROM lines WHERE run_id=?", [run_id]
        if node:
            sql, args = sql + " AND node=?", [*args, node]
        if step:
            sql, args = sql + " AND step=?", [*args, step]
        return [r[0] for r in self._exec(sql + " ORDER BY rowid", tuple(args))]


class _Rows(list):
    """A query's rows, read: what a cursor's callers here use of it."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list:
        return list(self)


def _run(row: tuple) -> Run:
    try:
        options = json.loads(row[7] or "{}")
    except (ValueError, TypeError):
        options = {}  # what a damaged row holds: the run is still listed
    return Run(*row[:7], options=options if isinstance(options, dict) else {})
