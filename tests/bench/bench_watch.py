"""`fleetdeck watch` over time: its cost at 100 simulated nodes, the size of its history,
and an uptime query over a month of a thousand nodes.

Run:  .venv/bin/python tests/bench/bench_watch.py [--nodes 100] [--minutes 30]
      [--query-nodes 1000] [--query-days 30]

1. The watch as an operator runs it (`fleetdeck watch PROFILE`, a subprocess) on a
   simulated fleet of --nodes (`fleetdeck sim up`), paging to a local webhook: its CPU (% of
   one core) and resident memory every minute after a minute's warm-up (flat is the
   point), and its history file's growth, as bytes per node-day.
2. A synthetic history of --query-nodes nodes over --query-days days, as the watch keeps
   it (minutes for two days, ten-minute buckets before, one outage a day per node), and
   the time `fleetdeck uptime` takes to answer over it: by node and by cluster.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.core.history.store import COARSE, FINE_FOR, MINUTE, History  # noqa: E402
from console.core.history.uptime import uptime  # noqa: E402
from console.core.profile import loads  # noqa: E402
from tests.bench.bench_sim_scale import cpu_seconds, profile_text, rss_mib  # noqa: E402
from tests.harness.channels import ChannelServer  # noqa: E402


def watch_cost(nodes: int, minutes: float) -> None:
    cli = [sys.executable, "-m", "console.app.cli"]
    with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
        root = Path(tmp)
        (root / "scale.toml").write_text(profile_text(nodes))
        subprocess.run(
            [*cli, "sim", "up", str(root / "scale.toml"), "--dir", str(root / "f")],
            check=True,
            cwd=REPO,
            capture_output=True,
        )
        hook = ChannelServer().start()  # a webhook that takes every page
        profile = root / "watched.toml"
        profile.write_text(
            (root / "f" / "profile.toml").read_text()
            + '\n[paging]\n[[paging.channels]]\nkind = "webhook"\nurl = "env:HOOK"\n'
        )
        env = dict(
            os.environ,
            XDG_STATE_HOME=str(root / "state"),
            HOOK=hook.url("/hook"),
        )
        watch = subprocess.Popen(
            [*cli, "watch", str(profile)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        history = root / "state" / "fleetdeck" / "watch" / "scale.history.sqlite"
        try:
            time.sleep(60)  # connected, probes streaming, the first pages sent
            attached(cli, profile, env)
            c0, t0, h0 = cpu_seconds(watch.pid), time.monotonic(), size(history)
            print(f"watch, {nodes} simulated nodes, {minutes:g} minutes after 1 minute:")
            print("  minute   CPU (% of a core, that minute)   RSS MiB")
            last_c, last_t = c0, t0
            for m in range(1, int(minutes) + 1):
                time.sleep(max(0.0, t0 + 60 * m - time.monotonic()))
                c, t = cpu_seconds(watch.pid), time.monotonic()
                share = 100 * (c - last_c) / (t - last_t)
                print(f"  {m:6d}   {share:30.1f}   {rss_mib(watch.pid):7.1f}")
                last_c, last_t = c, t
            span = time.monotonic() - t0
            grown = size(history) - h0
            print(f"  mean CPU: {100 * (cpu_seconds(watch.pid) - c0) / span:.1f} % of one core")
            per_day = grown / nodes * 86400 / span
            print(
                f"  history: grew {grown / 1024:.0f} KiB in {span / 60:.1f} min: "
                f"{per_day / 1024:.0f} KiB per node-day at minute resolution "
                f"(ten-minute buckets past two days: a tenth of that)"
            )
        finally:
            watch.terminate()
            watch.wait(timeout=20)
            hook.stop()
            subprocess.run([*cli, "sim", "down", str(root / "f")], cwd=REPO, capture_output=True)


def connections(profile: Path) -> int:
    """Established TCP connections to the simulated nodes' SSH ports, on this machine."""
    from console.core.profile import load

    ends = {f"{n.host}:{n.port}" for _, n in load(profile).model.all_nodes()}
    out = subprocess.run(["ss", "-Htn", "state", "established"], capture_output=True, text=True)
    return sum(1 for line in out.stdout.splitlines() if line.split()[-1] in ends)


def attached(cli: list[str], profile: Path, env: dict) -> None:
    """Three consoles' headless twins attached to the watch: SSH connections counted."""
    alone = connections(profile)
    consoles = [
        subprocess.Popen(
            [*cli, "status", str(profile), "--watch", "--json"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    time.sleep(20)
    beside = connections(profile)
    for c in consoles:
        c.terminate()
        c.wait(timeout=20)
    print(
        f"SSH connections to the fleet: the watch alone {alone}; with three `status --watch` "
        f"attached for 20 s {beside}"
    )


def size(path: Path) -> int:
    """The history's own bytes: its write-ahead log checkpointed into it first (the log
    itself is a few MB of pages written again, not history)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()


def query_time(nodes: int, days: float) -> None:
    clusters = max(1, nodes // 10)
    text = ['[fleet]\nname = "month"\nstack = "gonka"\n']
    for c in range(clusters):
        text.append(f'\n[[clusters]]\nname = "c{c}"\nlabels = {{region = "r{c % 3}"}}\n')
        for i in range(10):
            role = "network" if i == 0 else "ml"
            text.append(
                f'[[clusters.nodes]]\nname = "c{c}-n{i}"\n'
                f'host = "10.{c // 250}.{c % 250}.{i + 1}"\nrole = "{role}"\n'
            )
    fleet = loads("".join(text)).model
    names = [n.name for _, n in fleet.all_nodes()]
    now = time.time()
    start = now - days * 86400
    with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
        path = Path(tmp) / "month.history.sqlite"
        History(path).close()  # its schema
        db = sqlite3.connect(path)
        rng = random.Random(1)
        t0 = time.monotonic()
        fine_from = int((now - FINE_FOR) // COARSE * COARSE)
        for name in names:
            rows = []
            for t in range(int(start // COARSE * COARSE), fine_from, COARSE):
                down = 30.0 if rng.random() < 0.007 else 0.0  # about an outage a day
                rows.append(
                    (name, t, COARSE, COARSE - down, down, 0.0, 300, 50.0, 40.0, 60.0, 0, 1, 0)
                )
            for t in range(fine_from, int(now // MINUTE * MINUTE), MINUTE):
                rows.append((name, t, MINUTE, 60.0, 0.0, 0.0, 30, 50.0, 40.0, 60.0, 0, 1, 0))
            db.executemany("INSERT INTO buckets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        # the daily totals the watch keeps beside its buckets
        db.execute(
            "INSERT INTO days SELECT node, (t / 86400) * 86400, sum(up), sum(down), "
            "sum(unknown) FROM buckets GROUP BY node, t / 86400"
        )
        db.commit()
        count = db.execute("SELECT count(*) FROM buckets").fetchone()[0]
        db.close()
        made = time.monotonic() - t0
        history = History(path)
        print(
            f"uptime over {days:g} days of {nodes} nodes ({count:,} buckets, "
            f"{path.stat().st_size / 2**20:.0f} MiB, made in {made:.0f} s):"
        )
        for by in ("node", "cluster", "region"):
            t1 = time.monotonic()
            asked = time.time()  # as `fleetdeck uptime` asks: up to now
            rows = uptime(history, fleet, asked - days * 86400, asked, by)
            print(f"  --by {by:8s} {len(rows):5d} rows in {time.monotonic() - t1:6.2f} s")
        history.close()
        print(f"  size: {path.stat().st_size / nodes / days / 1024:.1f} KiB per node-day")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--query-nodes", type=int, default=1000)
    parser.add_argument("--query-days", type=float, default=30)
    args = parser.parse_args()
    query_time(args.query_nodes, args.query_days)
    if args.minutes > 0:
        watch_cost(args.nodes, args.minutes)


if __name__ == "__main__":
    main()
