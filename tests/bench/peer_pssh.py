"""The peer: parallel-ssh polling a simulated fleet for what fleetdeck's pipeline reads.

Run by bench_pipeline.py in its own process (so that its CPU is its own):
    peer_pssh.py SIM_ROOT --seconds 60 [--interval 2]

Set up as its experts would: one ParallelSSHClient kept for the whole run (its SSH sessions
stay open between rounds, libssh2 in C, gevent), every host at once (pool_size = the fleet),
one command per host per round that asks for everything the console shows: the GPUs
(`nvidia-smi --query-gpu=… --format=csv`), the containers (`docker ps`), and with curl the
node's HTTP endpoints the console's collectors read (a network node: CometBFT /status,
/net_info, /validators, the public API's epoch and participants, the admin API's ML nodes
and setup report; an ML node: the ML node's and the inference server's /health). Rounds
start every interval; a round that takes longer delays the next. Connecting is not timed
(a first untimed round). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import tomllib
from pathlib import Path

from pssh.clients import ParallelSSHClient
from pssh.config import HostConfig

GPU_QUERY = (
    "nvidia-smi --query-gpu=index,name,temperature.gpu,utilization.gpu,memory.used,"
    "memory.total,power.draw,ecc.errors.uncorrected.volatile.total --format=csv,noheader"
)
NETWORK_PATHS = (
    ":26657/status",
    ":26657/net_info",
    ":26657/validators?page=1&per_page=100",
    ":8000/v1/epochs/latest",
    ":8000/v1/epochs/current/participants",
    ":9200/admin/v1/nodes",
    ":9200/admin/v1/setup/report",
)
ML_PATHS = (":8080/health", ":5050/health")


def command_for(role: str, address: str) -> str:
    """One round's command on one node; `address` is where its services answer (on the
    simulator a node's private loopback address, as the `node` container's on a host)."""
    paths = NETWORK_PATHS if role == "network" else ML_PATHS
    curls = " ".join(shlex.quote(f"http://{address}{p}") for p in paths)
    return f"{GPU_QUERY}; docker ps -a --format '{{{{json .}}}}'; curl -s -m 2 {curls}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--interval", type=float, default=2.0)
    args = ap.parse_args()
    profile = tomllib.loads((args.root / "profile.toml").read_text())
    user, key = profile["ssh"]["user"], str(args.root / "id_ecdsa")
    hosts, configs, commands = [], [], []
    for cluster in profile["clusters"]:
        for node in cluster["nodes"]:
            sandbox = args.root / "nodes" / node["name"] / ".sim"
            facts = json.loads((sandbox / "node.json").read_text())
            hosts.append(node["host"])
            configs.append(HostConfig(port=node["port"], user=user, private_key=key))
            commands.append(command_for(node["role"], facts["private_address"]))
    client = ParallelSSHClient(
        hosts, host_config=configs, pool_size=len(hosts), timeout=60, num_retries=1
    )
    # connect first, untimed: fleetdeck's figures are also taken once every node is up
    client.join(client.run_command("true", stop_on_errors=False))
    rounds, failed, worst, total, bytes_read, gap = 0, 0, 0.0, 0.0, 0, 0.0
    c0, w0 = time.process_time(), time.monotonic()
    last_done = None
    while time.monotonic() - w0 < args.seconds:
        start = time.monotonic()
        output = client.run_command("%s", host_args=commands, stop_on_errors=False)
        client.join(output)
        for host_out in output:
            if host_out.exception is not None:
                failed += 1
                continue
            bytes_read += sum(len(line) for line in host_out.stdout)
        done = time.monotonic()
        took = done - start
        if last_done is not None:  # a node's values are as old as two finished rounds apart
            gap = max(gap, done - last_done)
        last_done = done
        rounds += 1
        worst, total = max(worst, took), total + took
        time.sleep(max(0.0, args.interval - took))
    wall = time.monotonic() - w0
    print(
        json.dumps(
            {
                "peer": "parallel-ssh",
                "nodes": len(hosts),
                "rounds": rounds,
                "round_s_mean": round(total / max(rounds, 1), 2),
                "round_s_max": round(worst, 2),
                "worst_refresh_gap_intervals": round(gap / args.interval, 2),
                "cpu_pct_of_one_core": round(100 * (time.process_time() - c0) / wall, 1),
                "failed_host_rounds": failed,
                "stdout_kib": round(bytes_read / 1024, 1),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
