"""The whole live-status pipeline the console and `status --watch` run, collectors
included, on a simulated fleet, beside parallel-ssh asking the same hosts the same things.

Run:  .venv/bin/pip install -e '.[bench]'
      .venv/bin/python tests/bench/bench_pipeline.py [--nodes 100] [--minutes 2]
          [--peer-seconds 60] [--interval S] [--trace-memory]

Starts `fleetdeck sim up` (its own process) on a generated profile of Gonka clusters
(1 network + 9 ML nodes), builds the pipeline with `console.core.monitor.pipeline.live_status`
exactly as the console does, and prints, per minute: this process's CPU (share of one core)
and resident memory, the fleet's CPU (the simulator and every command it ran for us: what
the hosts pay), the longest gap between two probe lines of any node (in intervals), how old
the chain values are, and how many probe connects were made. Then the pipeline stops and
tests/bench/peer_pssh.py (parallel-ssh, in its own process) polls the same hosts for the
same values at the same interval; the two are printed side by side. The hosts are this
machine's cores too: a contender that costs the hosts more also slows itself.

--trace-memory takes tracemalloc snapshots (at 2 minutes, then each minute) and prints what
grew most since the 2-minute one; it slows the pipeline, so its CPU figures do not count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.core.gctune import quiet_collector  # noqa: E402
from console.core.monitor.pipeline import live_status  # noqa: E402
from console.core.profile import load  # noqa: E402
from console.core.selfstat import rss_mib  # noqa: E402
from tests.bench.bench_sim_scale import profile_text  # noqa: E402


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and all its descendants, with the children they reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, list[str]]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(proc.name)] = (int(fields[1]), fields)
    tree, grew = {pid}, True
    while grew:
        more = {p for p, (ppid, _) in stats.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    # utime, stime, cutime, cstime
    return sum(sum(int(x) for x in stats[p][1][11:15]) for p in tree if p in stats) / tick


def top_growth(since: tracemalloc.Snapshot, limit: int = 6) -> list[str]:
    now = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    return [
        f"{d.size_diff / 1024:+.0f} KiB {d.count_diff:+d} blocks {d.traceback[0]}"
        for d in now.compare_to(since, "lineno")[:limit]
    ]


def watch(args, monitor, sim_pid: int) -> dict:
    """Per-minute figures of the running pipeline; returns the last minute's."""
    interval = monitor.interval
    baseline = None
    last: dict = {}
    for minute in range(1, int(args.minutes) + 1):
        c0, w0, f0 = time.process_time(), time.monotonic(), tree_cpu_s(sim_pid)
        end = w0 + 60
        gaps: dict[str, float] = {}
        while time.monotonic() < end:
            time.sleep(interval / 2)
            state = monitor.snapshot()
            for name, node in state.nodes.items():
                if node.seen_at is not None:
                    gaps[name] = max(gaps.get(name, 0.0), state.taken_at - node.seen_at)
        wall = time.monotonic() - w0
        state = monitor.snapshot()
        chain_age = max(
            (state.taken_at - n.chain_at for n in state.nodes.values() if n.chain_at),
            default=float("nan"),
        )
        clients, channels = monitor.http_channels()
        last = {
            "minute": minute,
            "cpu_pct_of_one_core": round(100 * (time.process_time() - c0) / wall, 1),
            "fleet_cpu_pct_of_one_core": round(100 * (tree_cpu_s(sim_pid) - f0) / wall, 1),
            "rss_mib": round(rss_mib() or 0, 1),
            "worst_line_gap_intervals": round(max(gaps.values(), default=0) / interval, 2),
            "oldest_chain_value_s": round(chain_age, 1),
            "up": sum(1 for n in state.nodes.values() if n.reachable),
            "probe_connects": monitor.attempts,
            "http_clients": clients,
            "http_channels": channels,
            "threads": threading.active_count(),
            # why the nodes that are not up are not (the commonest reasons, counted)
            "down_because": Counter(
                re.sub(r"\d+", "N", n.error or "no error")[:60]
                for n in state.nodes.values()
                if not n.reachable
            ).most_common(3),
        }
        print(json.dumps(last), flush=True)
        if args.trace_memory and minute == 2:
            baseline = tracemalloc.take_snapshot()
        elif baseline is not None:
            print("  grew since minute 2:", *top_growth(baseline), sep="\n    ", flush=True)
    return last


def peer(root: Path, seconds: float, interval: float, sim_pid: int) -> dict:
    f0, w0 = tree_cpu_s(sim_pid), time.monotonic()
    done = subprocess.run(
        [sys.executable, str(REPO / "tests/bench/peer_pssh.py"), str(root)]
        + ["--seconds", str(seconds), "--interval", str(interval)],
        capture_output=True,
        text=True,
    )
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = done.stderr.strip().splitlines()[-3:]
        return {"peer": "parallel-ssh", "failed": " / ".join(tail)}
    # the fleet's cost over the peer's whole run, its untimed connect round included
    result["fleet_cpu_pct_of_one_core"] = round(
        100 * (tree_cpu_s(sim_pid) - f0) / (time.monotonic() - w0), 1
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--peer-seconds", type=float, default=60.0, help="0: no parallel-ssh run")
    ap.add_argument("--interval", type=float, default=0, help="seconds (0: the profile's 2)")
    ap.add_argument("--trace-memory", action="store_true")
    args = ap.parse_args()
    # a kill or Ctrl-C still takes the simulated fleet down (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    if args.trace_memory:
        tracemalloc.start(8)
    with tempfile.TemporaryDirectory(prefix="fd-pipe-") as tmp:
        source = Path(tmp) / "scale.toml"
        text = profile_text(args.nodes)
        if args.interval:  # a probe line (and a collection round) every INTERVAL seconds
            text = text.replace(
                "\n[[clusters]]",
                f"\n[alerts]\nprobe_interval_s = {args.interval}\n\n[[clusters]]",
                1,
            )
        source.write_text(text)
        root = Path(tmp) / "sim"
        cli = [sys.executable, "-m", "console.app.cli"]
        subprocess.run([*cli, "sim", "up", str(source), "--dir", str(root)], check=True, cwd=REPO)
        try:
            sim_pid = json.loads((root / "ready").read_text())["pid"]
            profile = load(root / "profile.toml")
            started = time.monotonic()
            monitor = live_status(profile, system_known_hosts=False)
            quiet_collector()  # as the console and status do
            monitor.start()
            complete = monitor.wait_complete(300)
            print(
                f"{args.nodes} nodes: first complete snapshot in "
                f"{time.monotonic() - started:.1f} s (complete={complete}), "
                f"{monitor.attempts} probe connects, at most {monitor.ssh.starts.most} "
                f"starting at once (window now {monitor.ssh.starts.limit})",
                flush=True,
            )
            ours = watch(args, monitor, sim_pid)
            interval = monitor.interval
            monitor.stop()
            if args.peer_seconds > 0:
                theirs = peer(root, args.peer_seconds, interval, sim_pid)
                print(json.dumps(theirs))
                print(f"\nside by side, {args.nodes} nodes, every {interval:g} s:")
                rows = (
                    ("client CPU, % of one core", "cpu_pct_of_one_core"),
                    ("fleet CPU, % of one core", "fleet_cpu_pct_of_one_core"),
                    ("worst refresh gap, intervals", None),
                )
                for label, key in rows:
                    a = ours.get(key) if key else ours.get("worst_line_gap_intervals")
                    b = theirs.get(key) if key else theirs.get("worst_refresh_gap_intervals")
                    print(f"  {label:32} fleetdeck {a!s:>7}   parallel-ssh {b!s:>7}")
        finally:
            subprocess.run([*cli, "sim", "down", str(root)], cwd=REPO)


if __name__ == "__main__":
    main()
