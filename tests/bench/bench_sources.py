"""The console at fleet scale: 1,000 and 3,000 GPU nodes read from a real Prometheus,
beside 100 nodes read over SSH, in one run.

Run:  .venv/bin/python tests/bench/bench_sources.py [--sizes 1000 3000] [--ssh 100]
      [--seconds 40] [--scrape 10]

What it runs is what a user runs: the whole console (FleetdeckApp, headless under Pilot at
160×50, its monitor, its sources and its fleet screen), on
- a Prometheus profile with no node entries: Debian's `prometheus` scraping simulated
  dcgm-exporters (console/sim/exporters.py, in a process of their own: one loopback port
  per node, 8 H100s each, dcgm-exporter's format), three clusters of N/3 nodes, every
  `--scrape` seconds; the nodes join the fleet from the source;
- an SSH profile of `--ssh` real OpenSSH sshd hosts on 127.0.2.x (the hosts of
  tests/bench/bench_status.py: the simulator's nvidia-smi and NVML, 8 GPUs each), probed every 2 s.
For each it prints: the time from the console's start to the first full view (every node's
row with its 8 GPUs); the console's CPU in the steady state (its whole process: threads,
sources, UI) as cores, and per refresh of the data; its resident memory; the UI's
refresh-to-frame time (from a new fleet state reaching the UI thread to the frame that shows
it), median and p95; and the time to build each fleet snapshot (every node judged, on a
worker thread, so that keys never wait for it), median and p95. Targets (issue 17): first
full view under 5 s, steady refresh under one core, refresh-to-frame p95 under 50 ms, at
1,000 and 3,000 nodes.

Pilot's own polling costs a little CPU in this process; it is counted against fleetdeck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from console.app.tui import FleetdeckApp  # noqa: E402
from console.core.monitor.tracker import Tracker  # noqa: E402
from console.core.profile import loads  # noqa: E402
from tests.bench.bench_console import FrameClock, pct  # noqa: E402
from tests.harness import prometheus  # noqa: E402
from tests.harness.procs import stop, wait_for  # noqa: E402

CLUSTERS = ("us-central1", "europe-west4", "asia-southeast1")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prometheus_profile(url: str, scrape: float) -> str:
    return (
        '[fleet]\nname = "gke-inference"\nstack = "vllm"\n'
        f'[[sources]]\nname = "gke"\nkind = "prometheus"\nurl = "{url}"\n'
        f'selector = \'job="dcgm"\'\ncluster_label = "cluster"\n'
        f"scrape_interval_s = {scrape}\ngpus = 8\n"
        + "".join(f'[[clusters]]\nname = "{c}"\n' for c in CLUSTERS)
    )


class Ticks:
    """When a new fleet state reached the UI (FleetdeckApp.apply_state), and how long each
    snapshot took to build (on its worker thread); patched in before the app is made."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.builds: list[float] = []
        self.apply, self.snapshot = FleetdeckApp.apply_state, Tracker.snapshot
        apply, snapshot = self.apply, self.snapshot

        def timed_apply(app, state) -> None:
            self.times.append(time.perf_counter())
            apply(app, state)

        def timed_snapshot(tracker, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return snapshot(tracker, *args, **kwargs)
            finally:
                self.builds.append((time.perf_counter() - t0) * 1000)

        FleetdeckApp.apply_state = timed_apply  # type: ignore[method-assign]
        Tracker.snapshot = timed_snapshot  # type: ignore[method-assign]

    def restore(self) -> None:
        FleetdeckApp.apply_state = self.apply  # type: ignore[method-assign]
        Tracker.snapshot = self.snapshot  # type: ignore[method-assign]


async def measure(profile, expected: int, seconds: float, data_interval: float) -> dict:
    ticks = Ticks()
    t0 = time.perf_counter()
    app = FleetdeckApp(profile, live=True)
    out: dict = {"nodes": expected}
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            clock = FrameClock(app)

            def full() -> bool:
                state = app.last_state
                if state is None or len(state.nodes) < expected:
                    return False
                table = app.screen.query_one("#nodes")
                return table.row_count >= expected and all(
                    len(n.gpus) == 8 for n in state.nodes.values()
                )

            while not full():
                if time.perf_counter() - t0 > 120:
                    raise RuntimeError(f"no full view of {expected} nodes in 120 s")
                await pilot.pause(0.05)
            out["first_s"] = time.perf_counter() - t0
            await pilot.pause(2.0)  # past the start's own work
            cpu0, wall0 = time.process_time(), time.perf_counter()
            start_tick, start_build = len(ticks.times), len(ticks.builds)
            while time.perf_counter() - wall0 < seconds:
                await pilot.pause(0.25)
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            out["cores"] = cpu / wall
            out["cpu_per_refresh_s"] = cpu / max(1.0, wall / data_interval)
            out["rss_mib"] = rss_mib()
            window = ticks.times[start_tick:]
            latencies = []
            for t, nxt in zip(window, window[1:] + [float("inf")], strict=True):
                frames = [f for f in clock.times if t <= f < nxt]
                if frames:
                    latencies.append((frames[-1] - t) * 1000)
            out["frame_ms"] = (statistics.median(latencies), pct(latencies, 95))
            builds = ticks.builds[start_build:]
            out["snapshot_ms"] = (statistics.median(builds), pct(builds, 95))
            out["frames"] = len(latencies)
    finally:
        ticks.restore()
    return out


@contextlib.contextmanager
def prometheus_fleet(size: int, scrape: float, root: Path) -> Iterator[tuple[str, int]]:
    """Simulated dcgm-exporters for `size` nodes in three clusters, scraped by Debian's
    `prometheus` every `scrape` seconds: (its URL, the nodes), once every target is up."""
    ports_file = root / f"ports-{size}.json"
    per = size // len(CLUSTERS)
    exporters = subprocess.Popen(
        [sys.executable, "-m", "console.sim.exporters", "--ports-file", str(ports_file)]
        + [arg for c in CLUSTERS for arg in ("--cluster", f"{c}={per}")],
        cwd=REPO,
    )
    prom = None
    try:
        wait_for(ports_file.exists, 60, "the exporters", exporters)
        targets: dict[str, list[int]] = {}
        for cluster, port in json.loads(ports_file.read_text()).values():
            targets.setdefault(cluster, []).append(port)
        prom = prometheus.start(root / f"prom-{size}", targets, scrape)

        def all_up() -> bool:
            r = httpx.get(f"{prom.url}/api/v1/query", params={"query": "count(up == 1)"})
            result = r.json()["data"]["result"]
            return bool(result) and int(float(result[0]["value"][1])) == per * len(CLUSTERS)

        wait_for(all_up, 180, "every target scraped")
        time.sleep(scrape)  # every target scraped at least once more
        yield prom.url, per * len(CLUSTERS)
    finally:
        if prom is not None:
            prom.stop()
        stop(exporters)


def bench_prometheus(size: int, seconds: float, scrape: float, root: Path) -> dict:
    with prometheus_fleet(size, scrape, root) as (url, nodes):
        profile = loads(prometheus_profile(url, scrape), str(root / f"gke-{size}.toml"))
        return asyncio.run(measure(profile, nodes, seconds, scrape))


def bench_ssh(count: int, seconds: float, root: Path) -> dict:
    from tests.bench.bench_status import bench_fresh_connections, profile_for, start_hosts
    from tests.harness.sshd import ensure_privsep_dir, keygen

    ensure_privsep_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = keygen(root / "id_ed25519")
    hosts, known = start_hosts(root, count, key)
    try:
        bench_fresh_connections(hosts, key, known, "true")  # no sshd met cold (as there)
        profile = loads(profile_for(hosts, key, known), str(root / "ssh.toml"))
        return asyncio.run(measure(profile, count, seconds, 2.0))
    finally:
        for h in hosts:
            h.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 3000])
    parser.add_argument("--ssh", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--scrape", type=float, default=10)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
        root = Path(tmp)
        for size in args.sizes:
            rows.append(
                (
                    f"prometheus, {size} nodes",
                    bench_prometheus(size, args.seconds, args.scrape, root),
                )
            )
        if args.ssh:
            rows.append((f"ssh, {args.ssh} nodes", bench_ssh(args.ssh, args.seconds, root / "ssh")))
    print(
        f"\nthe whole console, headless; Prometheus scrapes every {args.scrape:g} s, "
        f"SSH probes every 2 s; {args.seconds:g} s of steady state each\n"
    )
    print(
        f"{'source':26} {'first view':>11} {'CPU':>8} {'CPU/refresh':>12} {'RSS':>9} "
        f"{'state→frame (ms)':>20} {'snapshot (ms)':>20}"
    )
    print(
        f"{'':26} {'(s)':>11} {'(cores)':>8} {'(s)':>12} {'(MiB)':>9} "
        f"{'median':>10} {'p95':>9} {'median':>10} {'p95':>9}"
    )
    for label, r in rows:
        print(
            f"{label:26} {r['first_s']:11.2f} {r['cores']:8.2f} {r['cpu_per_refresh_s']:12.2f} "
            f"{r['rss_mib']:9.0f} {r['frame_ms'][0]:10.1f} {r['frame_ms'][1]:9.1f} "
            f"{r['snapshot_ms'][0]:10.1f} {r['snapshot_ms'][1]:9.1f}"
        )
    print(
        "\ntargets at 1,000 and 3,000 nodes: first view < 5 s, CPU < 1 core, "
        "refresh→frame p95 < 50 ms"
    )


if __name__ == "__main__":
    main()
