"""`fleetdeck sim up/down` on the demo profile: every node answers in the real formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.profile import load
from console.core.stacks import STACKS
from console.sim.control import alive
from tests.harness.pilot import press_to, wait_for
from tests.harness.simclient import NodeAccess, run

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
QUERY = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"
HEADER = (
    "index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], "
    "temperature.gpu, power.draw [W]"
)
PYNVML = (
    "import json, pynvml as n; n.nvmlInit(); "
    "hs = [n.nvmlDeviceGetHandleByIndex(i) for i in range(n.nvmlDeviceGetCount())]; "
    "print(json.dumps([[n.nvmlDeviceGetName(h), n.nvmlDeviceGetUUID(h), "
    "n.nvmlDeviceGetMemoryInfo(h).total >> 20] for h in hs]))"
)


def fleetdeck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console.app.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )


def listening_on(prefix: str) -> list[str]:
    """Listening TCP sockets whose address starts with prefix (from /proc/net/tcp)."""
    return [endpoint for endpoint, _ in listening_sockets(prefix)]


def listening_sockets(prefix: str) -> list[tuple[str, int]]:
    """(address:port, socket inode) of the listening TCP sockets whose address starts with
    prefix."""
    out = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if state != "0A":  # LISTEN
            continue
        hexip, hexport = local.split(":")
        ip = ".".join(str(int(hexip[i : i + 2], 16)) for i in (6, 4, 2, 0))
        endpoint = f"{ip}:{int(hexport, 16)}"
        if endpoint.startswith(prefix):
            out.append((endpoint, inode))
    return out


def socket_owners(inode: int) -> list[int]:
    """The pids holding the socket `inode` open."""
    owners = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    owners.append(int(proc.name))
                    break
        except OSError:
            continue
    return owners


def devices_answer(client, node) -> None:
    """The node's devices answer its vendor's tool, in that tool's format; a node without
    NVIDIA GPUs has no NVIDIA tool."""
    if node.gpu_type == "Gaudi 3":
        rc, out, _ = run(client, "hl-smi -Q index,name -f csv,noheader")
        assert rc == 0 and out.count(", HL-325L") == node.gpus, out
    elif node.gpu_type == "MI300X":
        rc, out, _ = run(client, "amd-smi static --json")
        assert rc == 0 and out.count('"Instinct MI300X"') == 2 * node.gpus, out  # asic, board
    else:
        rc, out, _ = run(client, f"nvidia-smi --query-gpu={QUERY} --format=csv")
        assert rc == 0
        lines = out.splitlines()
        assert lines[0] == HEADER
        assert len(lines) == 1 + node.gpus
        for i, row in enumerate(lines[1:]):
            cells = row.split(", ")
            assert cells[0] == str(i)
            assert cells[2].endswith(" %") and cells[3].endswith(" MiB")
            assert cells[6].endswith(" W") and cells[5].isdigit()
        rc, out, err = run(client, f'python3 -c "{PYNVML}"')
        assert rc == 0, err
        nvml = json.loads(out)
        _, csv, _ = run(
            client,
            "nvidia-smi --query-gpu=name,uuid,memory.total --format=csv,noheader,nounits",
        )
        assert [[n, u, int(m)] for n, u, m in (r.split(", ") for r in csv.splitlines())] == nvml
        return
    rc, _, _ = run(client, "command -v nvidia-smi")
    assert rc != 0


def test_sim_up_every_node_answers_then_down_leaves_nothing(tmp_path):
    root = tmp_path / "fleet"
    started = fleetdeck("sim", "up", "profiles/demo.toml", "--dir", str(root))
    assert started.returncode == 0, started.stderr
    info = json.loads((root / "ready").read_text())
    pid, block = info["pid"], info["block"]
    try:
        profile = load(root / "profile.toml")
        assert len(profile.model.all_nodes()) == 17
        for cluster, node in profile.model.all_nodes():
            access = NodeAccess(
                node.host,
                node.port,
                Path(profile.model.ssh.key),
                Path(profile.model.ssh.known_hosts),
            )
            with access.connect() as client:
                devices_answer(client, node)
                rc, out, _ = run(client, "docker ps --format '{{.Names}} {{.State}}'")
                stack = profile.model.cluster_stack(cluster)
                running = sorted(
                    line.split()[0] for line in out.splitlines() if line.endswith(" running")
                )
                if stack == "ollama":  # Ollama runs on the host, not in a container
                    assert running == []
                    rc, out, _ = run(client, "systemctl is-active ollama && ollama list")
                    assert rc == 0 and out.startswith("active\n")
                    assert node.model in out.split("\n", 2)[2], out
                elif node.role == "network":
                    assert {"tmkms", "node", "api", "bridge", "proxy"} <= set(running)
                elif stack == "vllm":
                    assert running == STACKS["vllm"].expected_containers(node.role, True)
                else:
                    assert running == ["inference", "mlnode-308"]
        assert listening_on(f"127.{block}.")  # the nodes listen while up
    finally:
        stopped = fleetdeck("sim", "down", str(root))
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(pid)
    assert listening_on(f"127.{block}.") == []
    assert listening_on(f"127.{block + 1}.") == []
    assert not (root / "control.sock").exists()


def test_sim_up_refuses_a_broken_profile(tmp_path):
    result = fleetdeck(
        "sim", "up", "tests/data/bad/bad-ip-address.toml", "--dir", str(tmp_path / "x")
    )
    assert result.returncode == 1
    assert "is not an IP address or hostname" in result.stderr
    assert "Traceback" not in result.stderr


def test_sim_up_in_a_directory_too_long_for_its_sockets_says_so(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # the nodes' sockets would not fit under it
    result = fleetdeck("sim", "up", "tests/data/sim-small.toml", "--dir", str(deep))
    assert result.returncode == 1
    assert "too long a directory for the fleet's sockets" in result.stderr, result.stderr
    assert "Choose a shorter --dir" in result.stderr and "Traceback" not in result.stderr


def test_sim_commands_on_a_directory_without_a_fleet(tmp_path):
    result = fleetdeck("sim", "fault", str(tmp_path), "n1", "gpu-hot")
    assert result.returncode == 1
    assert "no simulated fleet runs in" in result.stderr


async def test_q_asks_when_a_fault_was_injected_from_outside_the_console(tmp_path):
    # the F menu is not the only way in: `fleetdeck sim fault` in another terminal counts
    from console.app.tui import FleetdeckApp
    from screens.modals import QuitScreen

    root = tmp_path / "fleet"
    started = fleetdeck("sim", "up", "tests/data/sim-small.toml", "--dir", str(root))
    assert started.returncode == 0, started.stderr
    try:
        node = "ml1"
        app = FleetdeckApp(load(REPO / "tests/data/sim-small.toml"), live=False, sim_root=root)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            injected = fleetdeck("sim", "fault", str(root), node, "gpu-hot")
            assert injected.returncode == 0, injected.stderr
            await press_to(pilot, "q", kind=QuitScreen)
            assert node in str(app.screen.query_one("Static").render())
            await pilot.press("n")
            await pilot.pause()
            cleared = fleetdeck("sim", "clear", str(root))
            assert cleared.returncode == 0, cleared.stderr
            await pilot.press("q")  # nothing injected now: it quits at once
            await wait_for(pilot, lambda: app.return_code is not None, "the console ended")
        assert app.return_code == 0 and not app.is_running
    finally:
        fleetdeck("sim", "down", str(root))
