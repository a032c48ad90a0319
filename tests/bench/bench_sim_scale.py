"""Scale of the simulated fleet: 200 nodes on this machine, memory and CPU.

Run:  .venv/bin/python tests/bench/bench_sim_scale.py [--nodes 200]

Starts `fleetdeck sim up` on a generated profile (Gonka clusters of 1 network + 9 ML
nodes with 8 GPUs each), checks every node answers over SSH, then prints the daemon's
start time, resident memory (idle and after every node ran nvidia-smi and docker ps),
and CPU use while idle. Target: 200 nodes within 2 GiB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.core.profile import load  # noqa: E402
from tests.harness.simclient import NodeAccess, run  # noqa: E402


def profile_text(nodes: int) -> str:
    out = ['[fleet]\nname = "scale"\nstack = "gonka"\n\n[models."Qwen/Qwen3-32B-FP8"]\n']
    clusters = max(1, nodes // 10)
    made = 0
    for c in range(clusters):
        out.append(f'\n[[clusters]]\nname = "c{c}"\n')
        size = 10 if c < clusters - 1 else nodes - made
        for i in range(size):
            role = "network" if i == 0 else "ml"
            out.append(
                f'\n[[clusters.nodes]]\nname = "c{c}-n{i}"\nhost = "c{c}-n{i}.invalid"\n'
                f'role = "{role}"\nmodel = "Qwen/Qwen3-32B-FP8"\ngpus = 8\n'
                'gpu_type = "H100"\n'
            )
            made += 1
    return "".join(out)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
        root = Path(tmp)
        (root / "scale.toml").write_text(profile_text(args.nodes))
        cli = [sys.executable, "-m", "console.app.cli"]
        t0 = time.monotonic()
        subprocess.run(
            [*cli, "sim", "up", str(root / "scale.toml"), "--dir", str(root / "f")],
            check=True,
            cwd=REPO,
            capture_output=True,
        )
        start_s = time.monotonic() - t0
        pid = int((root / "f" / "pid").read_text())
        try:
            time.sleep(2)
            idle_rss = rss_mib(pid)
            c0 = cpu_seconds(pid)
            time.sleep(10)
            idle_cpu = (cpu_seconds(pid) - c0) / 10 * 100
            profile = load(root / "f" / "profile.toml")

            def visit(node) -> int:
                access = NodeAccess(
                    node.host,
                    node.port,
                    Path(profile.model.ssh.key),
                    Path(profile.model.ssh.known_hosts),
                )
                with access.connect(timeout=60) as c:
                    rc, out, _ = run(
                        c, "nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader"
                    )
                    run(c, "docker ps -q")
                return len(out.splitlines()) if rc == 0 else -1

            t1 = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                gpus = list(pool.map(visit, [n for _, n in profile.model.all_nodes()]))
            visit_s = time.monotonic() - t1
            busy_rss = rss_mib(pid)
        finally:
            subprocess.run([*cli, "sim", "down", str(root / "f")], cwd=REPO, capture_output=True)
    ok = sum(g == 8 for g in gpus)
    print(f"simulated fleet: {args.nodes} nodes, {8 * args.nodes} GPUs")
    print(f"  sim up, until every node answers : {start_s:6.1f} s")
    print(f"  nodes answering nvidia-smi (8 GPUs): {ok}/{args.nodes}")
    print(f"  visit all (SSH + nvidia-smi + docker ps, 16 at a time): {visit_s:6.1f} s")
    print(f"  daemon RSS idle                  : {idle_rss:7.1f} MiB")
    print(f"  daemon RSS after visiting all    : {busy_rss:7.1f} MiB  (target < 2048 MiB)")
    print(f"  daemon CPU while idle            : {idle_cpu:6.1f} % of one core")


if __name__ == "__main__":
    main()
