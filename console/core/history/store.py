"""The watch's history: one SQLite file per fleet (state dir, watch/FLEET.history.sqlite).

Each snapshot adds, per node, the seconds since the previous one to that minute's bucket:
seconds UP, DOWN (a critical alert: the node does not serve) or UNKNOWN (the watch could
not judge it: not looked at yet, or the watch itself late), and the signals of the
minute (GPU utilisation and memory as means, the hottest temperature, container restarts,
chain height and its lag behind the fleet's highest). The bucket is written every
snapshot, so a watch killed loses at most one interval; time with no watch running has no
bucket at all, which uptime counts as UNKNOWN, never as the fleet's downtime.

Buckets older than two days are merged into ten-minute buckets, and those older than the
retention are dropped: a month of a 100-node fleet stays some tens of MB. Each node's
seconds per UTC day are kept apart too (400 days), so a month's uptime reads thirty rows
a node. DOWN episodes
(first and last time seen down) are kept apart, whole, for the longest outage and their
number."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from console.core.state import FleetState, NodeStatus

MINUTE = 60
COARSE = 600  # ten minutes: buckets past FINE_FOR are merged into these
FINE_FOR = 2 * 86400
RETAIN_DAYS = 35
DAY = 86400
DAYS_KEPT = 400  # the daily totals outlive the buckets: a year's uptime stays answerable
UP, DOWN, UNKNOWN = "up", "down", "unknown"

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    node TEXT NOT NULL, t INTEGER NOT NULL, width INTEGER NOT NULL,
    up REAL NOT NULL DEFAULT 0, down REAL NOT NULL DEFAULT 0, unknown REAL NOT NULL DEFAULT 0,
    samples INTEGER NOT NULL DEFAULT 0,
    util REAL, mem REAL, temp REAL, restarts INTEGER, height INTEGER, lag INTEGER,
    PRIMARY KEY (node, t)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS buckets_t ON buckets (t);
-- each node's seconds per UTC day: a month's uptime reads thirty rows a node, not thousands
CREATE TABLE IF NOT EXISTS days (
    node TEXT NOT NULL, day INTEGER NOT NULL,
    up REAL NOT NULL DEFAULT 0, down REAL NOT NULL DEFAULT 0, unknown REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (node, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outages (
    node TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL,
    PRIMARY KEY (node, start)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def history_path(state_dir: Path, fleet: str) -> Path:
    return state_dir / "watch" / f"{fleet}.history.sqlite"


@dataclass(frozen=True)
class Sample:
    """One node at one snapshot, as the history keeps it."""

    state: str  # UP, DOWN or UNKNOWN
    util: float | None = None
    mem: float | None = None
    temp: float | None = None
    restarts: int | None = None
    height: int | None = None
    lag: int | None = None


def unjudged(node: NodeStatus, state: FleetState) -> bool:
    """Whether nothing can be said of the node now: not looked at yet, or fleetdeck itself
    waking too late to tell a silent node from its own delay."""
    return state.console_lag_s > state.interval or (node.seen_at is None and not node.error)


def judge(node: NodeStatus, state: FleetState, critical: set[str], top: int | None) -> Sample:
    if unjudged(node, state):
        return Sample(UNKNOWN)
    gpus = [g for g in node.gpus if not g.lost]
    utils = [g.util for g in gpus if g.util is not None]
    mems = [
        100.0 * g.mem_used_mib / g.mem_total_mib
        for g in gpus
        if g.mem_used_mib is not None and g.mem_total_mib
    ]
    temps = [g.temp_c for g in gpus if g.temp_c is not None]
    height = node.chain.height if node.chain is not None else None
    return Sample(
        DOWN if node.name in critical else UP,
        sum(utils) / len(utils) if utils else None,
        sum(mems) / len(mems) if mems else None,
        max(temps) if temps else None,
        sum(c.restarts for c in node.containers) if node.containers else None,
        height,
        top - height if top is not None and height is not None else None,
    )


class History:
    def __init__(self, path: Path, clock=time.time) -> None:
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not path.exists()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if fresh:
            path.chmod(0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._last: float | None = None  # when the previous snapshot was taken
        # the episodes open now: node -> start (a restarted watch saw none of them go on)
        self._down: dict[str, float] = {}
        self._compacted = 0.0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing
    def add(self, state: FleetState, at: float | None = None) -> None:
        """The snapshot's seconds (since the previous one, at most two intervals: a longer
        gap is time nobody looked) into each node's minute."""
        at = state.taken_at if at is None else at
        dt = 0.0 if self._last is None else max(0.0, min(at - self._last, 2 * state.interval))
        self._last = at
        critical = {a.node for a in state.alerts if a.severity == "critical"}
        heights = [n.chain.height for n in state.nodes.values() if n.chain and n.chain.height]
        top = max(heights) if heights else None
        minute = int(at // MINUTE * MINUTE)
        rows = []
        for name, node in state.nodes.items():
            sample = judge(node, state, critical, top)
            self._episode(name, sample.state, at)
            rows.append(
                (
                    name,
                    minute,
                    MINUTE,
                    dt if sample.state == UP else 0.0,
                    dt if sample.state == DOWN else 0.0,
                    dt if sample.state == UNKNOWN else 0.0,
                    sample.util,
                    sample.mem,
                    sample.temp,
                    sample.restarts,
                    sample.height,
                    sample.lag,
                )
            )
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                """INSERT INTO buckets VALUES (?,?,?,?,?,?,1,?,?,?,?,?,?)
                ON CONFLICT (node, t) DO UPDATE SET
                  up = up + excluded.up, down = down + excluded.down,
                  unknown = unknown + excluded.unknown, samples = samples + 1,
                  util = CASE WHEN excluded.util IS NULL THEN util WHEN util IS NULL
                    THEN excluded.util ELSE (util * samples + excluded.util) / (samples + 1) END,
                  mem = CASE WHEN excluded.mem IS NULL THEN mem WHEN mem IS NULL
                    THEN excluded.mem ELSE (mem * samples + excluded.mem) / (samples + 1) END,
                  temp = max(coalesce(temp, excluded.temp), coalesce(excluded.temp, temp)),
                  restarts = coalesce(excluded.restarts, restarts),
                  height = coalesce(excluded.height, height),
                  lag = max(coalesce(lag, excluded.lag), coalesce(excluded.lag, lag))""",
                rows,
            )
            day = int(at // DAY * DAY)
            self._db.executemany(
                """INSERT INTO days VALUES (?,?,?,?,?) ON CONFLICT (node, day) DO UPDATE SET
                  up = up + excluded.up, down = down + excluded.down,
                  unknown = unknown + excluded.unknown""",
                [(r[0], day, r[3], r[4], r[5]) for r in rows],
            )
            self._db.execute("COMMIT")
        if at - self._compacted >= 3600:
            self.compact(at)

    def _episode(self, node: str, state: str, at: float) -> None:
        """DOWN episodes, from the first time a node was seen down to the last: one ends
        when it is seen up, or when it can no longer be seen (UNKNOWN, or the watch
        stopped), so an outage never takes in time nobody looked."""
        if state == DOWN:
            with self._lock:
                if node in self._down:
                    self._db.execute(
                        "UPDATE outages SET end=? WHERE node=? AND start=?",
                        (at, node, self._down[node]),
                    )
                else:
                    self._down[node] = at
                    self._db.execute("INSERT OR IGNORE INTO outages VALUES (?,?,?)", (node, at, at))
        else:
            self._down.pop(node, None)

    def compact(self, now: float) -> None:
        """Minutes older than two days into ten-minute buckets; all past retention gone."""
        self._compacted = now
        fine_before = int((now - FINE_FOR) // COARSE * COARSE)
        with self._lock:
            self._db.execute("BEGIN")
            merged = self._db.execute(
                """SELECT node, (t / ?) * ?, sum(up), sum(down), sum(unknown), sum(samples),
                  sum(util * samples) / nullif(sum(iif(util IS NULL, 0, samples)), 0),
                  sum(mem * samples) / nullif(sum(iif(mem IS NULL, 0, samples)), 0),
                  max(temp), max(restarts), max(height), max(lag)
                FROM buckets WHERE width = ? AND t < ? GROUP BY node, t / ?""",
                (COARSE, COARSE, MINUTE, fine_before, COARSE),
            ).fetchall()
            self._db.execute("DELETE FROM buckets WHERE width = ? AND t < ?", (MINUTE, fine_before))
            self._db.executemany(
                """INSERT INTO buckets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT (node, t) DO UPDATE SET up = up + excluded.up,
                  down = down + excluded.down, unknown = unknown + excluded.unknown,
                  samples = samples + excluded.samples""",
                [(n, t, COARSE, *rest) for n, t, *rest in merged],
            )
            cutoff = now - RETAIN_DAYS * 86400
            self._db.execute("DELETE FROM buckets WHERE t < ?", (cutoff,))
            self._db.execute("DELETE FROM outages WHERE end < ?", (cutoff,))
            self._db.execute("DELETE FROM days WHERE day < ?", (now - DAYS_KEPT * DAY,))
            self._db.execute("COMMIT")

    # -- reading
    def buckets(self, since: float, node: str | None = None) -> list[tuple]:
        """(node, t, width, up, down, unknown, samples, util, mem, temp, restarts, height,
        lag) from `since`, oldest first."""
        sql = "SELECT * FROM buckets WHERE t + width > ?"
        args: tuple = (since,)
        if node is not None:
            sql, args = sql + " AND node = ?", (since, node)
        with self._lock:
            return self._db.execute(sql + " ORDER BY node, t", args).fetchall()

    def totals(self, since: float, until: float) -> dict[str, tuple[float, float]]:
        """node -> (seconds UP, seconds DOWN) in [since, until]: the whole UTC days between
        from the daily totals (today's too, when `until` is now: its total so far is all
        it holds), the rest from the buckets."""
        first = -(-since // DAY) * DAY  # the first whole day's start
        last = until // DAY * DAY  # the last whole day's end (today's start)
        today = until >= self.clock() - 1.0
        end = last + DAY if today else last  # the daily totals cover [first, end)
        out: dict[str, list[float]] = {}
        if end - first < DAY:
            self._bucket_totals(since, until, out)
            return {node: (up, down) for node, (up, down) in out.items()}
        with self._lock:
            whole = self._db.execute(
                "SELECT node, sum(up), sum(down) FROM days WHERE day >= ? AND day < ? "
                "GROUP BY node",
                (first, end),
            ).fetchall()
        for node, up, down in whole:
            out[node] = [up, down]
        self._bucket_totals(since, first, out)
        if not today:
            self._bucket_totals(last, until, out)
        return {node: (up, down) for node, (up, down) in out.items()}

    def _bucket_totals(self, since: float, until: float, out: dict[str, list[float]]) -> None:
        """Add [since, until] from the buckets (found by their time: the planner would
        rather walk every node's rows for the GROUP BY): whole ones summed in SQLite, the
        two a bound cuts counted for their share (all of one whose content fits in the part
        inside: a watch started within that minute)."""
        if until <= since:
            return
        with self._lock:
            whole = self._db.execute(
                "SELECT node, sum(up), sum(down) FROM buckets INDEXED BY buckets_t "
                "WHERE t >= ? AND t < ? AND t + width <= ? GROUP BY node",
                (since, until, until),
            ).fetchall()
            # a bucket a bound cuts starts less than its width (at most COARSE) before it
            cut = self._db.execute(
                "SELECT node, t, width, up, down, unknown FROM buckets INDEXED BY buckets_t "
                "WHERE t >= ? AND t < ? AND t + width > ? "
                "UNION ALL SELECT node, t, width, up, down, unknown FROM buckets "
                "INDEXED BY buckets_t WHERE t >= ? AND t < ? AND t + width > ? AND t >= ?",
                (since - COARSE, since, since, until - COARSE, until, until, since),
            ).fetchall()
        for node, up, down in whole:
            acc = out.setdefault(node, [0.0, 0.0])
            acc[0] += up
            acc[1] += down
        for node, t, width, up, down, unknown in cut:
            inside = max(0.0, min(t + width, until) - max(t, since))
            held = up + down + unknown
            share = min(1.0, inside / held) if held > 0 else 0.0
            acc = out.setdefault(node, [0.0, 0.0])
            acc[0] += up * share
            acc[1] += down * share

    def outages(self, since: float) -> list[tuple[str, float, float]]:
        with self._lock:
            return self._db.execute(
                "SELECT node, start, end FROM outages WHERE end >= ? ORDER BY node, start",
                (since,),
            ).fetchall()
