"""The Gonka deploy's wall time beside its critical path, on real OpenSSH test hosts.

Run (as root, for the network namespaces):
      .venv/bin/python tests/bench/bench_deploy.py [--download-s 3]

A fleet of 2 clusters × (1 network + 2 ML nodes), each node a real sshd in its own
network namespace with a bare simulated node behind it, is deployed with
`fleetdeck run … deploy --yes`. Model downloads take --download-s seconds per model, so
that the phases have weight. From the journal it prints each phase's slowest node (the
critical path, summed over the phases) beside the run's wall time; the difference is what
the engine itself costs: scheduling, journal writes, the checks before and after each
step. Target: overhead under 10 %. Then the same deploy again (nothing to change), whose
wall time is the cost of proving a fleet is already deployed.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.harness.deployfleet import deploy_fleet  # noqa: E402
from tests.harness.netns import netns_available  # noqa: E402
from tests.harness.sshd import keygen  # noqa: E402


def run(env: dict, profile: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "console.app.cli", "run", str(profile), "deploy", "--yes", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=900,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"deploy failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr}")
    return wall, json.loads(proc.stdout.splitlines()[-1])["run"]


def phases(
    journal: Path, run_id: str
) -> tuple[list[tuple[str, str, float]], dict[str, float], float, float]:
    """Per step: (step, slowest node, its seconds); per node its steps' seconds summed;
    and the run's journal span."""
    with sqlite3.connect(journal) as db:
        rows = db.execute(
            "SELECT step, node, position, finished - started FROM steps "
            "WHERE run_id=? AND started IS NOT NULL ORDER BY position",
            (run_id,),
        ).fetchall()
        started, finished = db.execute(
            "SELECT started, finished FROM runs WHERE id=?", (run_id,)
        ).fetchone()
    slowest: dict[str, tuple[int, str, float]] = {}
    per_node: dict[str, float] = {}
    for step, node, pos, secs in rows:
        per_node[node] = per_node.get(node, 0.0) + secs
        if step not in slowest or secs > slowest[step][2]:
            slowest[step] = (pos, node, secs)
    ordered = sorted(slowest.items(), key=lambda kv: kv[1][0])
    return [(s, n, t) for s, (_, n, t) in ordered], per_node, started, finished


def report(title: str, wall: float, journal: Path, run_id: str) -> None:
    steps, per_node, started, finished = phases(journal, run_id)
    critical = sum(t for _, _, t in steps)
    print(f"\n{title}")
    print(f"  {'phase':<14} {'slowest node':<12} {'seconds':>8}")
    for step, node, secs in steps:
        print(f"  {step:<14} {node:<12} {secs:>8.2f}")
    engine = finished - started
    node, longest = max(per_node.items(), key=lambda kv: kv[1])
    print(f"  slowest node's own steps, summed ({node}):            {longest:8.2f} s")
    print(f"  critical path (sum of the slowest step per phase): {critical:8.2f} s")
    print(f"  engine wall time (journal, run start to end):      {engine:8.2f} s")
    print(f"  command wall time (process start to exit):         {wall:8.2f} s")
    if critical > 0:
        print(
            f"  overhead: engine {100 * (engine - critical) / critical:+.1f} %, "
            f"command {100 * (wall - critical) / critical:+.1f} % (target under 10 %); "
            f"engine beyond the slowest node: {100 * (engine - longest) / longest:+.1f} %"
        )
    # nodes do not wait for each other between phases, so the wall time can undercut the
    # per-phase sum; the slowest node's own sum is the floor no schedule can beat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--download-s", type=float, default=3.0, help="seconds per model download")
    args = ap.parse_args()
    reason = netns_available()
    if reason:
        sys.exit(f"cannot run: {reason}")
    with tempfile.TemporaryDirectory(prefix="fleetdeck-bench-deploy-") as tmp:
        root = Path(tmp)
        key = keygen(root / "id_ed25519")
        with deploy_fleet(root / "fleet", key, "bench-secret-value", first_index=101) as d:
            for h in d.hosts.values():
                (h.host.sandbox / ".sim" / "hf.json").write_text(
                    json.dumps({"delay": args.download_s})
                )
            print(
                f"deploy of {len(d.hosts)} nodes (2 clusters × 1 network + 2 ML), "
                f"model downloads {args.download_s:g} s each"
            )
            wall, run_id = run(d.env, d.fleet.profile_path)
            report("first deploy", wall, d.journal, run_id)
            wall, run_id = run(d.env, d.fleet.profile_path)
            report("second deploy (nothing to change)", wall, d.journal, run_id)


if __name__ == "__main__":
    main()
