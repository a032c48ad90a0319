"""The console as an operator runs it: in a real terminal (a pty), on a simulated fleet,
beside the same pipeline headless, so that the terminal's share of the cost is visible.

Run:  .venv/bin/python tests/bench/bench_terminal.py [--nodes 15 100] [--prometheus 1000]
          [--warm 60] [--measure 60] [--size 200x50] [--soak MINUTES]

For each fleet size it starts `fleetdeck sim up` (its own process; Gonka clusters of
1 network + 9 ML nodes, 8 GPUs each, a probe line every 2 s), then, one after the other:
- headless: `live_status` (the console's pipeline, collectors included) in a process of
  its own, the CPU of that process over `--measure` seconds after `--warm`;
- the console: `fleetdeck PROFILE --alone` on the fleet screen in a pty of `--size`, read
  as a terminal reads it: every byte consumed, its synchronized-output query answered as a
  modern terminal (kitty, foot, WezTerm, Windows Terminal) does, so that each frame is one
  `ESC[?2026h … ESC[?2026l` and can be counted. Printed: the console process's CPU, its
  memory at the start and end of the window, bytes written to the terminal per second,
  frames per second.
With `--prometheus N`, a fleet of N GPU nodes read from Debian's real `prometheus` scraping
simulated dcgm-exporters every 10 s (bench_sources.py's) is measured the same way.
With `--soak MINUTES`, the console's memory is also printed each minute of a longer run.
The simulated hosts share this machine's cores: their CPU is not counted for either.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.bench_sim_scale import cpu_seconds, profile_text, rss_mib  # noqa: E402

CLI = [sys.executable, "-m", "console.app.cli"]
SYNC_QUERY, SYNC_YES = b"\x1b[?2026$p", b"\x1b[?2026;2$y"
FRAME_END = b"\x1b[?2026l"

# the headless contender, in a process of its own: the pipeline the console builds, warmed,
# then its CPU over the window (printed as one JSON line)
HEADLESS = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from console.core.gctune import quiet_collector
from console.core.monitor.pipeline import live_status
from console.core.profile import load
profile, warm, measure = load(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
monitor = live_status(profile, system_known_hosts=False)
quiet_collector()
monitor.start()
complete = monitor.wait_complete(300)
time.sleep(warm)
c0, w0 = time.process_time(), time.monotonic()
time.sleep(measure)
cpu = 100 * (time.process_time() - c0) / (time.monotonic() - w0)
up = sum(1 for n in monitor.snapshot().nodes.values() if n.reachable)
monitor.stop()
print(json.dumps({"cpu_pct": round(cpu, 1), "complete": complete, "up": up}))
"""


class Terminal:
    """A pty the console draws into, read as a terminal reads it."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int, rows: int) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.bytes = self.frames = 0
        self.screen_text = b""  # the last 64 KiB written, to show what it drew
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        tail = b""
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            seen = tail + data
            if SYNC_QUERY in seen:
                os.write(self.master, SYNC_YES)
            with self.lock:
                self.bytes += len(data)
                self.frames += seen.count(FRAME_END) - tail.count(FRAME_END)
                self.screen_text = (self.screen_text + data)[-65536:]
            tail = seen[-16:]

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.bytes, self.frames

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.master)


def headless(profile: Path, warm: float, measure: float, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", HEADLESS, str(REPO), str(profile), str(warm), str(measure)],
        capture_output=True,
        text=True,
        env=env,
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"failed": done.stderr.strip()[-400:]}


def console(profile: Path, args, env: dict[str, str]) -> dict:
    cols, rows = (int(x) for x in args.size.split("x"))
    term = Terminal([*CLI, str(profile), "--alone"], env | {"TERM": "xterm-256color"}, cols, rows)
    pid = term.proc.pid
    try:
        time.sleep(args.warm)
        if term.proc.poll() is not None:
            return {"failed": term.screen_text[-2000:].decode(errors="replace")}
        c0, w0, m0 = cpu_seconds(pid), time.monotonic(), rss_mib(pid)
        b0, f0 = term.counts()
        time.sleep(args.measure)
        wall = time.monotonic() - w0
        b1, f1 = term.counts()
        result = {
            "cpu_pct": round(100 * (cpu_seconds(pid) - c0) / wall, 1),
            "rss_mib": [round(m0, 1), round(rss_mib(pid), 1)],
            "bytes_per_s": round((b1 - b0) / wall),
            "frames_per_s": round((f1 - f0) / wall, 2),
        }
        for _ in range(int(args.soak)):
            time.sleep(60)
            result.setdefault("rss_mib_each_minute", []).append(round(rss_mib(pid), 1))
        return result
    finally:
        term.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="*", default=[15, 100])
    ap.add_argument("--warm", type=float, default=60)
    ap.add_argument("--measure", type=float, default=60)
    ap.add_argument("--size", default="200x50")
    ap.add_argument("--soak", type=float, default=0, help="minutes of memory readings after")
    ap.add_argument("--no-headless", action="store_true")
    ap.add_argument(
        "--prometheus",
        type=int,
        nargs="*",
        default=[],
        help="fleet sizes read from a real Prometheus (bench_sources.py's fleet) instead",
    )
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows = []
    for nodes in args.prometheus:
        from tests.bench.bench_sources import prometheus_fleet, prometheus_profile

        with tempfile.TemporaryDirectory(prefix="fd-term-") as tmp:
            root = Path(tmp)
            env = dict(os.environ, XDG_STATE_HOME=str(root / "state"))
            with prometheus_fleet(nodes, 10.0, root) as (url, count):
                profile = root / "gke.toml"
                profile.write_text(prometheus_profile(url, 10.0))
                alone = {} if args.no_headless else headless(profile, args.warm, args.measure, env)
                ours = console(profile, args, env)
        label = f"{count} (Prometheus)"
        print(json.dumps({"nodes": label, "headless": alone, "console_in_pty": ours}), flush=True)
        rows.append((label, alone, ours))
    for nodes in args.nodes:
        with tempfile.TemporaryDirectory(prefix="fd-term-") as tmp:
            source = Path(tmp) / "scale.toml"
            source.write_text(profile_text(nodes))
            root = Path(tmp) / "sim"
            env = dict(os.environ, XDG_STATE_HOME=str(Path(tmp) / "state"))
            subprocess.run(
                [*CLI, "sim", "up", str(source), "--dir", str(root)], check=True, cwd=REPO
            )
            try:
                profile = root / "profile.toml"
                alone = {} if args.no_headless else headless(profile, args.warm, args.measure, env)
                ours = console(profile, args, env)
            finally:
                subprocess.run([*CLI, "sim", "down", str(root)], cwd=REPO)
        print(json.dumps({"nodes": nodes, "headless": alone, "console_in_pty": ours}), flush=True)
        rows.append((nodes, alone, ours))
    print(
        f"\n{'nodes':>16} | {'headless CPU':>12} | {'console CPU':>11} | {'terminal share':>14} | "
        f"{'memory start→end':>17} | {'bytes/s':>8} | {'frames/s':>8}"
    )
    for nodes, alone, ours in rows:
        if "failed" in ours:
            print(f"{nodes!s:>16} | console failed: {ours['failed'][-300:]!r}")
            continue
        base = alone.get("cpu_pct")
        share = f"{ours['cpu_pct'] - base:+13.1f}%" if base is not None else f"{'n/a':>14}"
        head = f"{base:11.1f}%" if base is not None else f"{'n/a':>12}"
        m0, m1 = ours["rss_mib"]
        print(
            f"{nodes!s:>16} | {head} | {ours['cpu_pct']:10.1f}% | {share} | "
            f"{m0:7.1f}→{m1:6.1f} MiB | {ours['bytes_per_s']:8d} | {ours['frames_per_s']:8.2f}"
        )
    print(
        "\nCPU: % of one core, the process alone (the simulated hosts not counted); "
        f"console: the fleet screen in a {args.size} pty, {args.measure:g} s after "
        f"{args.warm:g} s of warm-up"
    )


if __name__ == "__main__":
    main()
