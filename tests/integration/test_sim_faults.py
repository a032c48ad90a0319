"""Every fault kind of the simulated fleet, injected and cleared, seen as a client sees it."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime
from pathlib import Path

import paramiko
import pytest

from console.sim.faults import AMD_FAULTS, FAULTS, GAUDI_FAULTS, MISS_FAULTS
from tests.harness.simclient import http, http_json, rpc_host, run

pytestmark = pytest.mark.integration


def ssh_answer(fleet, access, name):
    node = fleet.nodes[name]
    try:
        with socket.create_connection((node.public_address, fleet.ssh.ports[name]), 1) as s:
            s.settimeout(1.0)
            return "banner" if s.recv(64).startswith(b"SSH-2.0-") else "garbage"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "silent"


def exec_time(fleet, access, name):
    with access(name).connect() as c:
        start = time.monotonic()
        run(c, "echo x")
        return "slow" if time.monotonic() - start > 0.4 else "fast"


def exec_channel(fleet, access, name):
    """Whether a command's channel opens, and whether the connection outlives a refused one."""
    with access(name).connect() as c:
        try:
            run(c, "echo x")
        except paramiko.SSHException as exc:
            up = c.get_transport().is_active()
            return f"{exc} (connection {'up' if up else 'down'})"
        return "ran"


def shell(command):
    def observe(fleet, access, name):
        with access(name).connect() as c:
            return run(c, command)[1].strip()

    return observe


def gpu0_lost(fleet, access, name):
    script = (
        "import pynvml as n\nn.nvmlInit()\ntry:\n n.nvmlDeviceGetHandleByIndex(0)\n"
        " print('ok')\nexcept n.NVMLError_GpuIsLost:\n print('lost')"
    )
    with access(name).connect() as c:
        state = run(c, f'python3 -c "{script}"')[1].strip()
        listed = len(run(c, "nvidia-smi -L")[1].splitlines())
    return f"{state} {listed}"


def container(field, which: str | None = None):
    def observe(fleet, access, name):
        main = which or fleet.nodes[name].main_container()
        with access(name).connect() as c:
            info = json.loads(run(c, f"docker inspect {main}")[1])[0]
        if field == "health":
            return info["State"]["Health"]["Status"]
        return info["State"]["Status"]

    return observe


def published_on(fleet, access, name):
    """Where `inference` publishes its ports, as docker inspect says: to the world or not."""
    with access(name).connect() as c:
        info = json.loads(run(c, "docker inspect inference")[1])[0]
    ips = {b["HostIp"] for bs in info["NetworkSettings"]["Ports"].values() for b in bs or []}
    return "world" if "0.0.0.0" in ips else "private"


def api_admin_published_on(fleet, access, name):
    """Where `api` publishes the admin API's 9200, as docker inspect says."""
    with access(name).connect() as c:
        info = json.loads(run(c, "docker inspect api")[1])[0]
    ips = {b["HostIp"] for b in info["NetworkSettings"]["Ports"].get("9200/tcp") or []}
    return "world" if "0.0.0.0" in ips else "private"


def on_cpu(fleet, access, name):
    """Ollama's /api/ps: is any loaded model partly in system memory?"""
    with access(name).connect() as c:
        _, doc = http_json(c, 11434, path="/api/ps")
    return any(m["size_vram"] < m["size"] for m in doc["models"])


def report_check(cid: str, pick=lambda c: c["status"]):
    """A check of the network node's setup report, as its admin API answers it."""

    def observe(fleet, access, name):
        with access(name).connect() as c:
            _, report = http_json(c, 9200, path="/admin/v1/setup/report")
        return next(pick(ch) for ch in report["checks"] if ch["id"] == cid)

    return observe


def expires_within(check: dict, days: float) -> bool:
    at = datetime.fromisoformat(check["details"]["expiration"].replace("Z", "+00:00"))
    return at.timestamp() - time.time() < days * 86400


def account_sequence(fleet, access, name):
    """The cold account as x/auth answers it through the proxy: absent, or its sequence."""
    cold = fleet.chains["c1"].ours().address
    with access(name).connect() as c:
        status, doc = http_json(
            c,
            8000,
            path=f"/chain-api/cosmos/auth/v1beta1/accounts/{cold}",
            host=fleet.nodes[name].public_address,
        )
    return doc["account"]["sequence"] if status == 200 else "absent"


def rpc(path, pick):
    def observe(fleet, access, name):
        with access(name).connect() as c:
            at = rpc_host(fleet.nodes[name])
            return pick(http_json(c, 26657, host=at, path=path)[1]["result"], fleet)

    return observe


def height_moves(fleet, access, name):
    pick = rpc("/status", lambda r, f: int(r["sync_info"]["latest_block_height"]))
    first = pick(fleet, access, name)
    time.sleep(0.7)  # more than three blocks at 0.2 s
    return "advancing" if pick(fleet, access, name) > first else "stalled"


def chat_time(fleet, access, name):
    with access(name).connect() as c:
        start = time.monotonic()
        status, _ = http(c, 5050, "POST", "/v1/chat/completions", {"model": "m", "messages": []})
        return "slow" if status == 200 and time.monotonic() - start > 2 else "fast"


def health_status(fleet, access, name):
    with access(name).connect() as c:
        return http(c, 5050, path="/health")[0]


CASES = {  # kind: (node, observe, seen while faulty, seen when clear)
    "host-down": ("ml2", ssh_answer, "refused", "banner"),
    "host-hung": ("ml2", ssh_answer, "silent", "banner"),
    "slow-link": ("ml2", exec_time, "slow", "fast"),
    "channel-drop": ("ml2", exec_channel, "Channel closed. (connection up)", "ran"),
    "gpu-hot": (
        "ml1",
        shell(
            "nvidia-smi --query-gpu=temperature.gpu,"
            "clocks_event_reasons.sw_thermal_slowdown --format=csv,noheader "
            '-i 0 | awk -F\', \' \'{print ($1 >= 85 ? "hot" : "normal") " " $2}\''
        ),
        "hot Active",
        "normal Not Active",
    ),
    "gpu-xid79": ("ml1", gpu0_lost, "lost 7", "ok 8"),
    "gpu-ecc": (
        "ml1",
        shell(
            "nvidia-smi --query-gpu=ecc.errors.uncorrected.volatile.total "
            "--format=csv,noheader -i 0"
        ),
        "3",
        "0",
    ),
    "crash-loop": ("ml1", container("status"), "restarting", "running"),
    "chain-crash-loop": ("net", container("status", "node"), "restarting", "running"),
    "grants-expiring": (
        "net",
        report_check("feegrant_allowance", lambda c: expires_within(c, days=30)),
        True,
        False,
    ),
    "grants-expired": ("net", report_check("permissions_granted"), "FAIL", "PASS"),
    "account-funded": ("net", account_sequence, "0", "absent"),
    "unhealthy": ("ml1", container("health"), "unhealthy", "healthy"),
    "chain-stalled": ("net", height_moves, "stalled", "advancing"),
    "catching-up": ("net", rpc("/status", lambda r, f: r["sync_info"]["catching_up"]), True, False),
    "no-peers": ("net", rpc("/net_info", lambda r, f: r["n_peers"]), "0", "4"),
    "jailed": (
        "net",
        rpc(
            "/validators",
            lambda r, f: (
                f.chains["c1"].validator_address in [v["address"] for v in r["validators"]]
            ),
        ),
        False,
        True,
    ),
    "disk-full": ("prov1", shell("df -P -k / | tail -1 | awk '{print $5}'"), "100%", "41%"),
    "inference-slow": ("ml1", chat_time, "slow", "fast"),
    "inference-503": ("ml1", health_status, 503, 200),
    "ports-public": ("ml1", published_on, "world", "private"),
    "cpu-fallback": ("prov1", on_cpu, True, False),
    "admin-public": ("net", api_admin_published_on, "world", "private"),
    "gpu-na": (
        "ml1",
        shell(
            "nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -i 0 "
            "| sed -E 's/^[0-9]+$/a number/'"
        ),
        "[N/A]",
        "a number",
    ),
    "no-toolkit": (
        "ml1",
        shell("docker info --format '{{json .Runtimes}}' | grep -c nvidia-container-runtime"),
        "0",
        "1",
    ),
    "compose-v1": (
        "ml1",
        shell("docker compose version --short >/dev/null 2>&1 && echo v2 || echo v1"),
        "v1",
        "v2",
    ),
}


# the faults of a stack this Gonka fleet does not run, seen where its fleet is deployed
ELSEWHERE = {
    kind: Path(__file__).with_name("test_deploy_golem.py")
    for kind in ("golem-down", "golem-no-offers", "golem-vm", "golem-relay", "golem-payment")
}
ELSEWHERE |= {  # a Gaudi or an AMD node's: the accelerator tests' own fleet has them
    kind: Path(__file__).with_name("test_accelerators.py") for kind in (*GAUDI_FAULTS, *AMD_FAULTS)
}
ELSEWHERE |= {  # the chain's miss statistics and epoch clock: the release test's fleet
    kind: Path(__file__).with_name("test_gonka_releases.py")
    for kind in (*MISS_FAULTS, "cpoc-running")
}
ELSEWHERE["poc-running"] = Path(__file__).with_name("test_runbook_actions.py")
ELSEWHERE["gaudi-other-release"] = Path(__file__).with_name("test_accelerators.py")
ELSEWHERE["chain-upgrade"] = Path(__file__).with_name("test_gonka_releases.py")
ELSEWHERE["gov-proposal"] = Path(__file__).with_name("test_gonka_registration.py")
ELSEWHERE["no-habana-runtime"] = Path(__file__).with_name("test_deploy_accelerators.py")


def test_every_fault_kind_has_a_test():
    assert set(CASES) | set(ELSEWHERE) == set(FAULTS)
    for kind, test in ELSEWHERE.items():
        assert f'"{kind}"' in test.read_text(), f"{test.name} injects no {kind}"


def wait_for(observe, want, timeout=8.0):
    deadline = time.monotonic() + timeout
    seen = observe()
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = observe()
    return seen


@pytest.mark.parametrize("kind", list(CASES))
def test_fault_is_seen_and_clears(kind, sim_fleet, node_access):
    name, observe, faulty, healthy = CASES[kind]
    chain = sim_fleet.chains["c1"]
    if kind == "jailed" and not chain.participants:  # a validator must be in the set first
        chain.register("http://net.invalid:8000", "A" + "Q" * 43)

    def seen():
        return observe(sim_fleet, node_access, name)

    before = seen()
    if healthy is not None:
        assert before == healthy
    sim_fleet.inject(name, kind)
    try:
        assert wait_for(seen, faulty) == faulty
    finally:
        sim_fleet.clear(name, kind)
    assert wait_for(seen, before) == before
    assert kind not in sim_fleet.active_faults(sim_fleet.nodes[name])
