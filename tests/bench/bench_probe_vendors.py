"""The node probe's own cost per line, per accelerator vendor, on a node with 8 devices.

Run:  .venv/bin/python tests/bench/bench_probe_vendors.py [--lines 30] [--interval 0.2]

For each vendor a node sandbox is laid out as the simulator lays one out (its fake tools,
8 devices: H100s read through the fake NVML, and through nvidia-smi; Gaudi 3 cards through
hl-smi and the driver's sysfs status; MI300Xs through amd-smi), and the probe script the
console sends (every vendor's part in it, as on any node) runs there for --lines lines.
It prints, per vendor:
- the probe's own CPU per line (user + system of the probe process alone, after its first
  line): what fleetdeck's code costs on the node;
- the tool calls per line (processes the probe started) and their CPU per line: here these
  are the simulator's Python fakes (~40 ms each), not the real tools, so that figure says
  how many calls there are rather than what a real one costs (amd-smi is reported at
  40–60 ms of CPU per `metric --json`; nvidia-smi and hl-smi cost the like);
and each beside the NVIDIA (NVML) figure. The slow readings (hl-smi -q, ports, amd-smi
static, the kernel log) come every --slow seconds, as the console asks (ten intervals).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.core.monitor.ssh_source import probe_script  # noqa: E402
from console.sim import gpus as simgpus  # noqa: E402
from console.sim import nvml  # noqa: E402
from console.sim.node import install_tools  # noqa: E402

CASES = [  # (label, gpu type, whether the fake NVML is there)
    ("NVIDIA H100, NVML", "H100", True),
    ("NVIDIA H100, nvidia-smi", "H100", False),
    ("Intel Gaudi 3, hl-smi", "Gaudi 3", False),
    ("AMD MI300X, amd-smi", "MI300X", False),
]


def sandbox(root: Path, gpu_type: str, with_nvml: bool) -> dict[str, str]:
    home = root / gpu_type.replace(" ", "-") / ("nvml" if with_nvml else "tool")
    vendor = simgpus.vendor_of(gpu_type)
    lib = nvml.build(root / "nvml") if with_nvml else None
    install_tools(home, lib, vendor)
    snapshot = simgpus.readings("bench", 8, gpu_type, True, time.time(), simgpus.GpuFaults())
    simgpus.write(home / ".sim" / "gpus.txt", snapshot)
    if vendor == "gaudi":
        simgpus.write_sysfs(home / ".sim" / "sys", snapshot)
        simgpus.write_links(home / ".sim" / "hl-link", snapshot)
    # every command the probe starts is counted on its way to the sandbox's own
    counted = home / "counted"
    counted.mkdir(exist_ok=True)
    for tool in (home / "bin").iterdir():
        if tool.name != "python3":
            shim = counted / tool.name
            shim.write_text(f'#!/bin/sh\necho {tool.name} >> "{home}/calls"\nexec "{tool}" "$@"\n')
            shim.chmod(0o755)
    return {
        "HOME": str(home),
        "PATH": f"{counted}:{home / 'bin'}:/usr/bin:/bin",
        "LD_LIBRARY_PATH": str(home / "lib"),
        "FLEETDECK_SYSFS": str(home / ".sim" / "sys"),
        "DOCKER_HOST": f"unix://{home / '.sim' / 'docker.sock'}",  # none: no containers
        "LANG": "C.UTF-8",
    }


def measure(env: dict[str, str], lines: int, interval: float, slow: float) -> dict:
    """Run the probe for `lines` lines; its own CPU per line after the first, and its
    children's (the tools it ran)."""
    script = probe_script()
    python = str(Path(env["HOME"]) / "bin" / "python3")
    args = [python, "-u", "-c", script, "--interval", str(interval), "--slow", str(slow)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    first = json.loads(proc.stdout.readline())
    calls = Path(env["HOME"]) / "calls"
    calls.write_text("")
    stat0 = _cpu(proc.pid)
    took = [first["took_ms"]]
    for _ in range(lines):
        line = json.loads(proc.stdout.readline())
        took.append(line["took_ms"])
    stat1 = _cpu(proc.pid)
    started = calls.read_text().split()
    proc.stdin.close()
    proc.wait(10)
    own = stat1[0] - stat0[0]
    tools = stat1[1] - stat0[1]  # the probe's reaped children between the two reads
    return {
        "devices": len(first.get("gpus") or []),
        "source": first.get("gpu_source"),
        "own_ms": 1000 * own / lines,
        "tools_ms": 1000 * tools / lines,
        "took_ms": sorted(took[1:])[len(took[1:]) // 2],
        "calls": len(started) / lines,
        "which": ", ".join(f"{n} {started.count(n)}" for n in sorted(set(started))),
    }


def _cpu(pid: int) -> tuple[float, float]:
    """(the process's own CPU seconds, its reaped children's) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime) / tick, (cutime + cstime) / tick


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.2)
    a = parser.parse_args()
    slow = 10 * a.interval
    with tempfile.TemporaryDirectory(prefix="fleetdeck-bench-probe-") as tmp:
        rows = []
        for label, gpu_type, with_nvml in CASES:
            env = sandbox(Path(tmp), gpu_type, with_nvml)
            rows.append((label, measure(env, a.lines, a.interval, slow)))
    base = rows[0][1]["own_ms"]
    print(f"probe cost per line, 8 devices, {a.lines} lines at {a.interval} s (slow {slow} s)")
    print(
        f"{'vendor, reader':<26} {'devices':>7} {'own CPU':>9} {'vs NVML':>8} "
        f"{'calls':>6} {'tools CPU':>10} {'line took':>10}  commands over {a.lines} lines"
    )
    for label, r in rows:
        print(
            f"{label:<26} {r['devices']:>7} {r['own_ms']:>7.1f}ms {r['own_ms'] / base:>7.1f}x "
            f"{r['calls']:>6.2f} {r['tools_ms']:>8.1f}ms {r['took_ms']:>8.0f}ms  {r['which']}"
        )
    print(
        "own CPU: the probe process alone (fleetdeck's code on the node); calls: commands it "
        "started per line; tools CPU: what the simulator's fake tools cost (Python programs: "
        "the calls count, not a real tool's cost)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
