"""The watch's history and uptime (console/core/history/): a scripted hour of states (the
clock accelerated: each snapshot given its time) comes out of `fleetdeck uptime` as the
script's UP, DOWN and UNKNOWN minutes within one interval; a burn past the budget pages;
old minutes are merged into ten-minute buckets with their time kept."""

from __future__ import annotations

import json
import time

from console.core.history.burn import burn_pages
from console.core.history.store import COARSE, MINUTE, History, history_path
from console.core.history.uptime import uptime
from console.core.profile import loads
from console.core.state import Alert, FleetState, NodeStatus
from tests.harness.cli import run_here

INTERVAL = 2.0
PROFILE = """
[fleet]
name = "up"
stack = "gonka"

[[clusters]]
name = "c1"
labels = {region = "eu"}
[[clusters.nodes]]
name = "n1"
host = "10.0.0.1"
role = "network"
[[clusters.nodes]]
name = "m1"
host = "10.0.0.2"
role = "ml"

[[clusters]]
name = "c2"
labels = {region = "us"}
[[clusters.nodes]]
name = "n2"
host = "10.0.0.3"
role = "network"
"""
FLEET = loads(PROFILE).model


def snapshot(at: float, down: set[str], lag: float = 0.0, interval: float = INTERVAL) -> FleetState:
    nodes = {
        n.name: NodeStatus(n.name, c.name, n.role, "gonka", reachable=True, seen_at=at)
        for c, n in FLEET.all_nodes()
    }
    alerts = tuple(
        Alert(n, "unreachable", "critical", "node unreachable", at, "", "") for n in sorted(down)
    )
    return FleetState(nodes, alerts, at, interval, console_lag_s=lag)


def script(history: History, start: float) -> None:
    """An hour: m1 down 10-15 min; no watch 15-20; the watch late 20-22; n1 down 40-60."""
    t = start
    while t < start + 3600:
        m = (t - start) / 60
        if 15 <= m < 20:
            t += INTERVAL
            history._last = None  # the watch was not running: its restart starts afresh
            continue
        down = {"m1"} if 10 <= m < 15 else {"n1"} if m >= 40 else set()
        history.add(snapshot(t, down, lag=10.0 if 20 <= m < 22 else 0.0), t)
        t += INTERVAL


def test_a_scripted_hour_comes_out_as_scripted_and_a_fast_burn_pages(tmp_path, monkeypatch, capsys):
    path = history_path(tmp_path / "fleetdeck", "up")
    history = History(path)
    now = time.time()
    script(history, now - 3600)
    rows = {u.name: u for u in uptime(history, FLEET, now - 3600, now)}
    expected = {"n1": (33, 20, 7), "m1": (48, 5, 7), "n2": (53, 0, 7)}  # up, down, unknown
    for name, (up, down, unknown) in expected.items():
        u = rows[name]
        for got, want in ((u.up_s, up), (u.down_s, down), (u.unknown_s, unknown)):
            assert abs(got - want * 60) <= 2 * INTERVAL, (name, got / 60, want)
    assert (rows["m1"].episodes, rows["n1"].episodes, rows["n2"].episodes) == (1, 1, 0)
    assert abs(rows["n1"].longest_s - 20 * 60) <= 2 * INTERVAL
    assert abs(rows["m1"].longest_s - 5 * 60) <= 2 * INTERVAL
    # 99.5 % of 30 days leaves 216 minutes per node; m1 spent 5 of them
    assert abs(rows["m1"].budget_left_s - (216 - 5) * 60) <= 2 * INTERVAL
    # n1 down the last 20 minutes: c1 burns its budget ~47 times too fast over the hour
    pages = burn_pages(history, FLEET, now)
    assert list(pages) == ["up/cluster c1/slo_burn"]
    page = pages["up/cluster c1/slo_burn"]
    assert page.severity == "critical" and "budget burns" in page.summary
    history.close()
    # the command reads the same, by node and by region
    env = {"XDG_STATE_HOME": str(tmp_path)}
    profile = tmp_path / "up.toml"
    profile.write_text(PROFILE)
    code, out, err = run_here(
        monkeypatch, capsys, "uptime", str(profile), "--since", "1h", "--json", env=env
    )
    assert code == 0, err
    doc = {r["name"]: r for r in json.loads(out)["rows"]}
    assert (
        abs(doc["n1"]["down_minutes"] - 20) <= 0.07
        and abs(doc["n1"]["unknown_minutes"] - 7) <= 0.07
    )
    code, out, _ = run_here(
        monkeypatch, capsys, "uptime", str(profile), "--since", "1h", "--by", "region", env=env
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("up: uptime over the last 60.0 min against 99.5 %")
    eu = next(line for line in lines if " eu " in line)
    assert "25.0 min" in eu and "2" in eu.split()  # down 25 node-minutes, 2 outages
    code, out, _ = run_here(
        monkeypatch, capsys, "history", str(profile), "m1", "--since", "1h", "--csv", env=env
    )
    assert code == 0
    assert out.splitlines()[0].startswith("time,width_s,up_s,down_s,unknown_s")
    assert 55 <= len(out.splitlines()) - 1 <= 61  # a bucket a minute, the gap's missing


def test_minutes_past_two_days_merge_into_ten_minute_buckets_keeping_their_time(tmp_path):
    history = History(tmp_path / "h.sqlite")
    now = time.time()
    start = now - 3 * 86400
    t = start
    while t < now:
        history.add(snapshot(t, set(), interval=30), t)  # a line each 30 s, all up
        t += 30
    history.compact(now)
    rows = history.buckets(start)
    widths = {row[2] for row in rows if row[1] < now - 2 * 86400 - COARSE}
    assert widths == {COARSE}
    assert {row[2] for row in rows if row[1] > now - 86400} == {MINUTE}
    total_up = sum(row[3] for row in rows if row[0] == "n2")
    assert abs(total_up - (now - start)) <= 2 * 60  # nothing lost in the merge
    # three days: the whole ones from the daily totals, the ends from the buckets
    for since in (start, start + 3600.5, now - 86400 - 1234):
        up = {u.name: u.up_s for u in uptime(history, FLEET, since, now)}
        assert abs(up["n2"] - (now - since)) <= 2 * 60, (since, up)
    history.close()
