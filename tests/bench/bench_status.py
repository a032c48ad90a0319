"""fleetdeck's live status beside Ansible's ad-hoc fan-out, on the same loopback test hosts.

Run:  .venv/bin/pip install -e '.[bench]' && .venv/bin/python tests/bench/bench_status.py
      [--nodes 12 100] [--seconds 20]

Every host is a real OpenSSH sshd on its own 127.0.2.x address whose sandbox has the
simulator's nvidia-smi and libnvidia-ml.so.1 (8 GPUs) and its df (a shell script: as cheap
as the real one, so that the probe is not charged an interpreter start the real tool does not
cost; the fake nvidia-smi that Ansible runs, a ~45 ms Python program, is no dearer than
a real nvidia-smi on an 8-GPU host). For each fleet size it prints:
- fleetdeck: time to the first complete snapshot (connect + probe start + first line), the
  steady refresh period (seconds between a node's successive lines, mean and max), and the
  CPU the monitor process uses to keep that 2-second refresh of every node;
- Ansible: `ansible all -m command -a "nvidia-smi --query-gpu=… --format=csv"` wall time;
- parallel-ssh: one round from a cold client (connect + the same query), every host at once;
- a fresh SSH connection per poll (paramiko, 20 at a time), one round;
and the ratios. The hosts take one untimed SSH session each first, so that every contender
meets them warm. Targets: a 100-node snapshot at least 10× faster than Ansible, and the
2-second refresh of 100 nodes under half of one core.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import paramiko  # noqa: E402

from console.core.monitor.monitor import Monitor  # noqa: E402
from console.core.monitor.ssh_source import probe_command  # noqa: E402
from console.core.profile import loads  # noqa: E402
from console.core.transport.ssh import Pool  # noqa: E402
from console.sim import gpus, nvml  # noqa: E402
from console.sim.gpus import GpuFaults  # noqa: E402
from console.sim.node import install_tools  # noqa: E402
from tests.harness.sshd import ensure_privsep_dir, keygen, make_host  # noqa: E402

QUERY = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"


def start_hosts(root: Path, count: int, key: Path):
    lib = nvml.build(root / "lib")
    hosts = []
    for i in range(count):
        name = f"h{i}"
        host = make_host(
            root / "hosts",
            name,
            f"127.0.2.{i + 1}",
            key.with_suffix(".pub"),
            env={"LD_LIBRARY_PATH": str(root / "hosts" / name / "home" / "lib")},
        )
        install_tools(host.sandbox, lib)
        gpus.write(
            host.sandbox / ".sim" / "gpus.txt",
            gpus.readings(name, 8, "H100", True, time.time(), GpuFaults()),
        )
        (host.sandbox / ".sim" / "disk.json").write_text(
            '{"total_kb": 3840000000, "used_kb": 1574400000}'
        )
        host.start()
        hosts.append(host)
    known = root / "known_hosts"
    known.write_text("".join(h.known_hosts_line + "\n" for h in hosts))
    return hosts, known


def profile_for(hosts, key: Path, known: Path) -> str:
    out = [
        f'[fleet]\nname = "bench"\nstack = "vllm"\n[ssh]\nuser = "root"\nkey = "{key}"\n'
        f'known_hosts = "{known}"\nparallelism = 100\n[alerts]\nprobe_interval_s = 2\n'
        '[[clusters]]\nname = "c"\n'
    ]
    for h in hosts:
        out.append(
            f'[[clusters.nodes]]\nname = "{h.name}"\nhost = "{h.address}"\n'
            f'port = {h.port}\nrole = "server"\ngpus = 8\n'
        )
    return "".join(out)


def bench_fleetdeck(
    hosts, key, known, seconds: float
) -> tuple[float, float, tuple[float, float], bool]:
    fleet = loads(profile_for(hosts, key, known)).model
    pool = Pool.for_profile(fleet, system_known_hosts=False)
    monitor = Monitor(fleet, pool, interval=2.0, collect_http=False)
    t0 = time.monotonic()
    monitor.start()
    complete = monitor.wait_complete(300)
    first = time.monotonic() - t0
    state = monitor.snapshot()
    ok = complete and all(n.reachable and len(n.gpus) == 8 for n in state.nodes.values())
    time.sleep(2)  # let the start-up settle before measuring the steady state
    cpu0, wall0 = time.process_time(), time.monotonic()
    seen0 = {n: s.seen_at for n, s in monitor.snapshot().nodes.items()}
    # the refresh period: each node's distinct probe times, read twice a second (the
    # readings' own CPU is counted in the monitor's: against fleetdeck, not for it)
    taken: dict[str, list[float]] = {n: [] for n in seen0}
    while time.monotonic() - wall0 < seconds:
        for n, s in monitor.snapshot().nodes.items():
            if s.probe_at and (not taken[n] or taken[n][-1] != s.probe_at):
                taken[n].append(s.probe_at)
        time.sleep(0.5)
    cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0) * 100
    gaps = [b - a for t in taken.values() for a, b in zip(t, t[1:], strict=False)]
    period = (sum(gaps) / len(gaps), max(gaps)) if gaps else (float("nan"), float("nan"))
    # on time: every node sent a line within the last two intervals of the window
    late = [
        n
        for n, s in monitor.snapshot().nodes.items()
        if not s.seen_at or s.seen_at < time.time() - 4 or s.seen_at <= seen0[n]
    ]
    monitor.stop()
    pool.close()
    if late:
        print(f"  {len(late)} of {len(hosts)} nodes late at the end of the window")
    return first, cpu, period, ok and not late


def bench_ansible(hosts, key, known, root: Path) -> float | None:
    ansible = shutil.which("ansible") or str(Path(sys.executable).parent / "ansible")
    if not os.path.exists(ansible):
        return None
    inventory = root / "inventory.ini"
    inventory.write_text(
        "[all]\n"
        + "".join(f"{h.name} ansible_host={h.address} ansible_port={h.port}\n" for h in hosts)
    )
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_LOCAL_TEMP": str(root),
        "ANSIBLE_REMOTE_TMP": "/tmp/.ansible-bench",
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            ansible,
            "all",
            "-i",
            str(inventory),
            "-u",
            "root",
            "--private-key",
            str(key),
            "-f",
            "50",
            "-m",
            "command",
            "-a",
            f"nvidia-smi --query-gpu={QUERY} --format=csv",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    took = time.monotonic() - t0
    if proc.returncode != 0 or proc.stdout.count("| CHANGED |") != len(hosts):
        print("ansible failed:", proc.stdout[-800:], proc.stderr[-800:])
        return None
    return took


def bench_fresh_connections(hosts, key, known, command: str | None = None) -> float:
    command = command or f"nvidia-smi --query-gpu={QUERY} --format=csv"

    def poll(host) -> int:
        client = paramiko.SSHClient()
        client.load_host_keys(str(known))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            host.address,
            port=host.port,
            username="root",
            key_filename=str(key),
            look_for_keys=False,
            allow_agent=False,
            timeout=60,
            banner_timeout=60,
        )
        try:
            _, out, _ = client.exec_command(command)
            return len(out.read().splitlines())
        finally:
            client.close()

    t0 = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        rows = list(pool.map(poll, hosts))
    assert command == "true" or all(r == 9 for r in rows), rows
    return time.monotonic() - t0


def host_cpu_per_start(host, runs: int = 20) -> tuple[float, float]:
    """Milliseconds of CPU one host spends on a probe's start to its first line, and on
    one GPU query as the peers run it: each command run `runs` times in the host's sandbox
    with the environment its sshd gives a session (the connection's own cost, the same for
    every contender, is left out). On this machine the hosts share its two cores, so this
    is what the first view waits on."""
    env = {
        "HOME": str(host.sandbox),
        "PATH": f"{host.sandbox}/bin:/usr/bin:/bin",
        "LD_LIBRARY_PATH": str(host.sandbox / "lib"),
    }
    commands = (
        probe_command(2.0, ("/",)) + " --once",
        f"nvidia-smi --query-gpu={QUERY} --format=csv",
    )
    out = []
    for command in commands:
        subprocess.run(["sh", "-c", command], env=env, cwd=host.sandbox, capture_output=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(runs):
            done = subprocess.run(
                ["sh", "-c", command], env=env, cwd=host.sandbox, capture_output=True
            )
            assert done.returncode == 0 and done.stdout, done.stderr[-400:]
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        out.append(spent / runs * 1000)
    return out[0], out[1]


# one parallel-ssh round from a cold client, in its own process (gevent's loop and its CPU
# its own): every host at once (pool_size = the fleet), connect + the GPU query, as its
# experts run it; prints the round's seconds, or "failed N"
PSSH_ROUND = """
import sys, time
from pssh.clients import ParallelSSHClient
from pssh.config import HostConfig
key, command, *hosts = sys.argv[1:]
addrs = [h.rsplit(":", 1)[0] for h in hosts]
configs = [HostConfig(port=int(h.rsplit(":", 1)[1]), user="root", private_key=key) for h in hosts]
t0 = time.monotonic()
client = ParallelSSHClient(addrs, host_config=configs, pool_size=len(addrs), timeout=60,
                           num_retries=1)
output = client.run_command(command, stop_on_errors=False)
client.join(output)
rows = [0 if o.exception else len(list(o.stdout)) for o in output]
took = time.monotonic() - t0
bad = sum(r != 9 for r in rows)
print(f"failed {bad}" if bad else f"{took:.3f}")
"""


def bench_pssh(hosts, key) -> float | None:
    """One parallel-ssh round (connect + the GPU query) on every host at once."""
    try:
        import pssh  # noqa: F401
    except ImportError:
        return None
    command = f"nvidia-smi --query-gpu={QUERY} --format=csv"
    proc = subprocess.run(
        [sys.executable, "-c", PSSH_ROUND, str(key), command]
        + [f"{h.address}:{h.port}" for h in hosts],
        capture_output=True,
        text=True,
    )
    said = proc.stdout.strip()
    if proc.returncode != 0 or said.startswith("failed"):
        print("parallel-ssh failed:", said, proc.stderr[-800:])
        return None
    return float(said)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, nargs="+", default=[12, 100])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    ensure_privsep_dir()
    results = []
    for count in args.nodes:
        with tempfile.TemporaryDirectory(prefix="fd-bs-") as tmp:
            root = Path(tmp)
            key = keygen(root / "id_ed25519")
            hosts, known = start_hosts(root, count, key)
            try:
                # untimed: one SSH session per host, so that no contender meets sshds that
                # have only just started (their first connections are slower)
                bench_fresh_connections(hosts, key, known, "true")
                first, cpu, period, ok = bench_fleetdeck(hosts, key, known, args.seconds)
                pssh = bench_pssh(hosts, key)
                ansible = bench_ansible(hosts, key, known, root)
                fresh = bench_fresh_connections(hosts, key, known)
                starts = host_cpu_per_start(hosts[0])
            finally:
                for h in hosts:
                    h.stop()
        results.append((count, first, cpu, period, ok, pssh, ansible, fresh, starts))
    print(
        f"\n{'nodes':>5} | {'fleetdeck 1st view':>18} | {'parallel-ssh':>12} | "
        f"{'ansible ad-hoc':>14} | {'fresh conn/poll':>15} | {'vs ansible':>10} | "
        f"{'refresh mean/max':>16} | {'steady CPU (2 s)':>16} | ok | host CPU per start"
    )

    def secs(value: float | None, width: int) -> str:
        return f"{value:{width - 1}.1f}s" if value else f"{'n/a':>{width}}"

    for count, first, cpu, period, ok, pssh, ansible, fresh, starts in results:
        ratio = f"{ansible / first:9.1f}x" if ansible else "       n/a"
        print(
            f"{count:>5} | {first:17.1f}s | {secs(pssh, 12)} | {secs(ansible, 14)} | "
            f"{fresh:14.1f}s | {ratio} | "
            f"{period[0]:7.2f}s/{period[1]:5.2f}s | {cpu:13.1f} % | {'yes' if ok else 'NO':>2} | "
            f"probe {starts[0]:.1f} ms, nvidia-smi {starts[1]:.1f} ms"
        )
    print(
        "\n1st view: the console's monitor, start to every node's first complete line"
        "\nparallel-ssh: one round from a cold client (connect + nvidia-smi), every host at once"
        "\nrefresh: seconds between a node's successive probe lines (mean, max) in the window"
        "\nsteady CPU: the monitor process, % of one core, keeping every node refreshed "
        "every 2 s\nfresh conn/poll: one round of new SSH connection + nvidia-smi per node"
        "\nhost CPU per start: one host's CPU for the probe's start to its first line, and "
        "for the peers' nvidia-smi query (the hosts share this machine's cores)"
    )


if __name__ == "__main__":
    main()
