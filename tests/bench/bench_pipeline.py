"""The whole live-status pipeline the console and `status --watch` run, collectors
included, on a simulated fleet: its CPU, memory over time, refresh gaps and connects.

Run:  .venv/bin/python tests/bench/bench_pipeline.py [--nodes 100] [--minutes 2]

Starts `fleetdeck sim up` (its own process: the simulator's cost is not counted) on a
generated profile of Gonka clusters (1 network + 9 ML nodes), builds the pipeline with
`console.monitor.pipeline.live_status` exactly as the console does, and prints, per
minute, this process's CPU (share of one core) and resident memory, the longest gap
between two probe lines of any node (in intervals), how old the chain values are, and
how many probe connects were made. Not part of the test run. Issue 18 asks for this
beside parallel-ssh doing the same queries: not there yet.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.monitor.pipeline import live_status  # noqa: E402
from console.profile import load  # noqa: E402
from console.selfstat import rss_mib  # noqa: E402
from tests.bench.bench_sim_scale import profile_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=2.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fd-pipe-") as tmp:
        source = Path(tmp) / "scale.toml"
        source.write_text(profile_text(args.nodes))
        root = Path(tmp) / "sim"
        cli = [sys.executable, "-m", "console.cli"]
        subprocess.run([*cli, "sim", "up", str(source), "--dir", str(root)], check=True, cwd=REPO)
        try:
            profile = load(root / "profile.toml")
            started = time.monotonic()
            monitor = live_status(profile, system_known_hosts=False)
            monitor.start()
            complete = monitor.wait_complete(300)
            print(
                f"{args.nodes} nodes: first complete snapshot in "
                f"{time.monotonic() - started:.1f} s (complete={complete}), "
                f"{monitor.attempts} probe connects"
            )
            interval = monitor.interval
            for minute in range(1, int(args.minutes) + 1):
                c0, w0 = time.process_time(), time.monotonic()
                end = w0 + 60
                gaps: dict[str, float] = {}
                while time.monotonic() < end:
                    time.sleep(interval / 2)
                    state = monitor.snapshot()
                    for name, node in state.nodes.items():
                        if node.seen_at is not None:
                            gaps[name] = max(gaps.get(name, 0.0), state.taken_at - node.seen_at)
                cpu = 100 * (time.process_time() - c0) / (time.monotonic() - w0)
                state = monitor.snapshot()
                chain_age = max(
                    (state.taken_at - n.chain_at for n in state.nodes.values() if n.chain_at),
                    default=float("nan"),
                )
                worst_gap = max(gaps.values(), default=float("nan"))
                forwards, channels = monitor.pool.forward_channels()
                print(
                    json.dumps(
                        {
                            "minute": minute,
                            "cpu_pct_of_one_core": round(cpu, 1),
                            "rss_mib": round(rss_mib() or 0, 1),
                            "worst_line_gap_intervals": round(worst_gap / interval, 2),
                            "oldest_chain_value_s": round(chain_age, 1),
                            "up": sum(1 for n in state.nodes.values() if n.reachable),
                            "probe_connects": monitor.attempts,
                            "forwards": forwards,
                            "forward_channels": channels,
                        }
                    )
                )
            monitor.stop()
        finally:
            subprocess.run([*cli, "sim", "down", str(root)], cwd=REPO)


if __name__ == "__main__":
    main()
