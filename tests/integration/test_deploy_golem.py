"""The Golem provider deploy over real OpenSSH, on the golem-providers example: three bare
providers (us-east, eu-west with an Ollama in front, ap-southeast), each a real sshd in its
own network namespace with a simulated node behind it. The installer is the simulator's
stand-in (console/sim/tools/golem_install.sh, by file://); what it installs answers as
golemsp, ya-provider and yagna, with their files, REST API and traps
(console/sim/golem.py). Secrets are env references: sampled in every process's argv while
the deploy runs, they are never there, nor in its output, journal or profile."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from console.core.profile import load
from tests.conftest import unavailable
from tests.harness.cli import run as fleetdeck
from tests.harness.cli import run_watching_argv
from tests.harness.deployfleet import sim_behind_openssh
from tests.harness.netns import netns_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "profiles" / "golem-providers.toml"
APP_KEY = "golem-appkey-5f0c9d1e7a"  # noqa: S105 - a test secret, sought where it must not be
WALLET = "9a1b2c3d4e5f60718293a4b5c6d7e8f9a1b2c3d4e5f60718293a4b5c6d7e8f90"
SUBNET = "community.4"
PROVIDERS = ("gp-use-1", "gp-euw-1", "gp-apse-1")
# a light load, a long timeout: the figures are the simulator's, and its verdict no test's
# (test_deploy_ollama judges 100 jobs at once against the SLO)
LOAD = ("--concurrency", "10", "--requests", "20", "--timeout", "30s")


@pytest.fixture(scope="module")
def providers(tmp_path_factory, client_key):
    reason = netns_available()
    if reason:
        unavailable(reason)
    root = tmp_path_factory.mktemp("golem")
    with sim_behind_openssh(load(EXAMPLE), root, client_key, 91, deployed=False) as (fleet, hosts):
        text = fleet.profile_path.read_text().replace('subnet = "public"', f'subnet = "{SUBNET}"')
        text += '\n[secrets]\ngolem_app_key = "env:FD_GOLEM_APP_KEY"\n'
        text += 'golem_wallet_key = "env:FD_GOLEM_WALLET"\n'
        fleet.profile_path.write_text(text)
        env = dict(
            os.environ,
            XDG_STATE_HOME=str(root / "state"),
            PYTHONPATH=str(REPO),
            FD_GOLEM_APP_KEY=APP_KEY,
            FD_GOLEM_WALLET=WALLET,
        )
        yield fleet, hosts, env, root


def price(node, preset: str) -> float:
    doc = json.loads((node.golem.provider_dir / "presets.json").read_text())
    p = next(p for p in doc["presets"] if p["name"] == preset)
    return p["usage-coeffs"]["golem.usage.cpu_sec"] * 3600


def test_three_bare_providers_are_deployed_to_offering_and_a_rerun_changes_nothing(providers):
    fleet, hosts, env, root = providers
    profile = str(fleet.profile_path)
    assert all(n.golem.installed() is None for n in fleet.nodes.values())  # bare hosts
    # Golem's terms are the operator's to accept: without the profile's word, no install
    text = fleet.profile_path.read_text()
    fleet.profile_path.write_text(text.replace("accept_terms = true", "accept_terms = false"))
    refused = fleetdeck(env, "plan", profile, "deploy", "--limit", "gp-use-1")
    fleet.profile_path.write_text(text)
    assert "https://handbook.golem.network/see-also/terms" in refused.stdout, refused.stdout[-2000:]
    assert "set accept_terms = true" in refused.stdout
    plan = fleetdeck(env, "plan", profile, "deploy")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
    assert "GOLEM_ACCEPT_TOS=yes BATCH_MODE=yes" in plan.stdout
    assert (
        "YA_INSTALLER_CORE=v0.17.6 YA_INSTALLER_VM=v0.4.2 YA_INSTALLER_WASI=v0.2.2" in plan.stdout
    )
    assert f"+Environment=SUBNET={SUBNET}" in plan.stdout
    done, seen = run_watching_argv(env, [APP_KEY, WALLET], "run", profile, "deploy", "--yes")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert seen > 0
    for name in PROVIDERS:
        node = fleet.nodes[name]
        unit = node.units.get("golemsp")
        assert unit is not None and unit.active and unit.enabled
        assert unit.environment["NODE_NAME"] == name and unit.environment["SUBNET"] == SUBNET
        # the secrets reached yagna through the root-only file, not the unit
        assert unit.environment["YAGNA_AUTOCONF_APPKEY"] == APP_KEY
        assert APP_KEY not in node.units.unit_file("golemsp").read_text()
        secrets = node.home / ".sim/root/etc/golemsp/secrets.env"
        assert oct(secrets.stat().st_mode & 0o777) == "0o600"
        config = node.golem.globals()
        assert (config["node_name"], config["subnet"]) == (name, SUBNET)
        assert config["account"] == "0x979db95461652299c34e15df09441b8dfc4edf7a"
        hw = node.golem.read("hardware.json")["profiles"]["default"]
        assert (hw["cpu_threads"], hw["mem_gib"], hw["storage_gib"]) == (14, 48.0, 200.0)
        assert sorted(node.golem.presets()["active"]) == ["vm", "wasmtime"]
        assert (round(price(node, "vm"), 9), round(price(node, "wasmtime"), 9)) == (0.1, 0.05)
        offers = node.golem.offers
        assert sorted(o["properties"]["golem.runtime.name"] for o in offers) == ["vm", "wasmtime"]
        assert {o["properties"]["golem.node.debug.subnet"] for o in offers} == {SUBNET}
        assert node.golem.healthcheck() == (200, {"status": "ok"})
    # eu-west fronts its Ollama: both stacks' steps ran there, and only there
    euw = fleet.nodes["gp-euw-1"]
    assert euw.ollama.version == "0.12.6" and euw.ollama.models == ["llama3.1:8b"]
    assert fleet.nodes["gp-use-1"].ollama.version is None
    # nothing of the secrets in what the run printed, journaled or wrote to the profile
    kept = done.stdout + done.stderr + Path(profile).read_text()
    kept += "".join(
        p.read_text(errors="replace") for p in (root / "state").rglob("*") if p.is_file()
    )
    assert APP_KEY not in kept and WALLET not in kept

    again = fleetdeck(env, "plan", profile, "deploy")
    assert "0 steps will change" in again.stdout, again.stdout[-3000:]

    # the load test reaches the provider that serves a model, through its stack's inference
    # API (the Ollama it fronts), and judges it on the profile's SLO
    load = fleetdeck(env, "loadtest", profile, *LOAD, "--json")
    report = json.loads(load.stdout)
    assert load.returncode in (0, 4), load.stdout[-2000:] + load.stderr  # met, or missed
    [measured] = report["nodes"]
    assert measured["node"] == "gp-euw-1" and measured["requests"] == 20
    assert measured["timeouts"] == measured["errors"] == 0 and measured["p95_s"] > 0
    assert report["slo"] == {"p95_s": 2.0, "failed_pct": 2.0}
    assert sorted(report["not_measured"]) == [
        "gp-apse-1 (serves no model)",
        "gp-use-1 (serves no model)",
    ]

    # status --json: identity, subnet, offers and task counts of each provider
    status = fleetdeck(env, "status", "--json", profile)
    doc = json.loads(status.stdout)
    for node in doc["nodes"]:
        g = node["provider"]
        assert g["identity"].startswith("0x") and g["subnet"] == SUBNET
        assert g["offers"] == 2 and g["tasks_total"] == 0 and g["presets"] == ["vm", "wasmtime"]
    assert not doc["alerts"], doc["alerts"]


def test_a_changed_price_changes_exactly_that_preset_without_a_restart(providers):
    fleet, hosts, env, root = providers
    path = fleet.profile_path
    before = path.read_text()
    path.write_text(before.replace("cpu_per_hour = 0.1\n", "cpu_per_hour = 0.2\n", 1))
    restarts = {n: node.units.get("golemsp").restarts for n, node in fleet.nodes.items()}
    try:
        plan = fleetdeck(env, "plan", str(path), "deploy")
        assert plan.stdout.count("vm 0.1/0.02/0 → 0.2/0.02/0 GLM") == 3, plan.stdout[-3000:]
        assert "3 steps will change" in plan.stdout, plan.stdout[-2000:]
        run = fleetdeck(env, "run", str(path), "deploy", "--yes")
        assert run.returncode == 0, run.stdout[-3000:]
        for name, node in fleet.nodes.items():
            assert round(price(node, "vm"), 9) == 0.2 and round(price(node, "wasmtime"), 9) == 0.05
            # ya-provider watches presets.json: new offers, no restart
            assert node.units.get("golemsp").restarts == restarts[name]
            vm = next(o for o in node.golem.offers if o["properties"]["golem.runtime.name"] == "vm")
            assert (
                round(vm["properties"]["golem.com.pricing.model.linear.coeffs"][0] * 3600, 9) == 0.2
            )
    finally:
        path.write_text(before)
        assert fleetdeck(env, "run", str(path), "deploy", "--yes").returncode == 0


def on_node(hosts, name: str, *command: str) -> str:
    h = hosts[name]
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            h.netns,
            "env",
            f"HOME={h.host.sandbox}",
            f"PATH={h.host.sandbox}/.local/bin:{h.host.sandbox}/bin:/usr/bin:/bin",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr


def test_the_three_traps_of_a_naive_deploy_are_kept_out(providers):
    fleet, hosts, env, root = providers
    profile = str(fleet.profile_path)
    node = fleet.nodes["gp-apse-1"]
    # 1. a new runtime without a preset of its own name: golemsp run resets every price...
    dummy = {"name": "dummy", "version": "0.2.8", "supervisor-path": "exe-unit"}
    dummy |= {"runtime-path": "ya-runtime-ai", "description": "dummy ai runtime"}
    (node.golem.plugins / "ya-dummy-ai.json").write_text(json.dumps(dummy))
    assert not node.golem.presets_for_every_runtime()
    # ...so the deploy writes it one (inactive) before anything restarts golemsp
    run = fleetdeck(env, "run", profile, "deploy", "--yes", "--limit", "gp-apse-1")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "create preset dummy (inactive" in run.stdout
    assert node.golem.presets_for_every_runtime()
    assert node.units.act("golemsp", "restart") is None  # golemsp run, again
    assert round(price(node, "vm"), 9) == 0.1  # the profile's price kept
    assert "dummy" not in node.golem.presets()["active"]

    # 2. `golemsp settings set --node-name` puts the subnet back to public...
    said = on_node(hosts, "gp-apse-1", "golemsp", "settings", "set", "--node-name", "other")
    assert node.golem.globals()["subnet"] == "public", said
    plan = fleetdeck(env, "plan", profile, "deploy", "--limit", "gp-apse-1")
    assert (
        f"subnet public → {SUBNET}" in plan.stdout and "node_name other → gp-apse-1" in plan.stdout
    )
    # ...the deploy always says --subnet
    assert fleetdeck(env, "run", profile, "deploy", "--yes", "--limit", "gp-apse-1").returncode == 0
    assert (node.golem.globals()["node_name"], node.golem.globals()["subnet"]) == (
        "gp-apse-1",
        SUBNET,
    )

    # 3. `golemsp setup --no-interactive` invents a name each time; the deploy never runs it,
    # and the name stays the profile's across restarts
    first = on_node(hosts, "gp-use-1", "golemsp", "setup", "--no-interactive")
    name1 = fleet.nodes["gp-use-1"].golem.globals()["node_name"]
    on_node(hosts, "gp-use-1", "golemsp", "setup", "--no-interactive")
    assert name1 != "gp-use-1" and "Node name (default=" in first
    assert "golemsp setup" not in fleetdeck(env, "plan", profile, "deploy").stdout
    assert fleetdeck(env, "run", profile, "deploy", "--yes", "--limit", "gp-use-1").returncode == 0
    use = fleet.nodes["gp-use-1"]
    use.units.act("golemsp", "restart")
    assert use.golem.globals()["node_name"] == "gp-use-1"
    (node.golem.plugins / "ya-dummy-ai.json").unlink()


# two rounds, one fault per node at a time: (fault, node, alert, words of its next step)
ROUNDS = (
    (
        ("golem-no-offers", "gp-use-1", "golem_no_offers", "ya-provider --json preset active"),
        ("golem-vm", "gp-euw-1", "golem_vm", "/dev/kvm"),
        ("golem-relay", "gp-apse-1", "golem_relay", "YA_NET_RELAY_HOST"),
    ),
    (
        ("golem-payment", "gp-use-1", "golem_payment", "POLYGON_GETH_ADDR"),
        ("golem-down", "gp-apse-1", "golem_down", "systemctl start golemsp"),
        ("disk-full", "gp-euw-1", "disk_full:/", "ya-provider clean 7d"),
    ),
)


def test_each_golem_fault_shows_on_its_node_in_golems_words_and_clears(providers):
    from console.sim.faults import FAULTS

    fleet, hosts, env, root = providers
    profile = str(fleet.profile_path)
    for faults in ROUNDS:
        for fault, name, _, _ in faults:
            FAULTS[fault].apply(fleet, fleet.nodes[name])
        try:
            doc = json.loads(fleetdeck(env, "status", "--json", profile).stdout)
            golem = {
                (a["node"], a["kind"]): a
                for a in doc["alerts"]
                if a["kind"].startswith(("golem", "disk_full"))
            }
            assert set(golem) == {(name, kind) for _, name, kind, _ in faults}, doc["alerts"]
            for _, name, kind, step in faults:
                assert step in golem[name, kind]["next_step"], golem[name, kind]
        finally:
            for fault, name, _, _ in faults:
                FAULTS[fault].clear(fleet, fleet.nodes[name])
        doc = json.loads(fleetdeck(env, "status", "--json", profile).stdout)
        assert not [a for a in doc["alerts"] if a["kind"].startswith(("golem", "disk"))], doc[
            "alerts"
        ]


def test_a_gpu_runtime_has_its_preconditions_named_not_skipped(providers):
    fleet, hosts, env, root = providers
    path = fleet.profile_path
    before = path.read_text()
    node = fleet.nodes["gp-euw-1"]
    descriptor = node.golem.plugins / "ya-runtime-vm-nvidia.json"
    gpu = {"name": "vm-nvidia", "version": "0.1.0", "supervisor-path": "exe-unit"}
    gpu |= {"runtime-path": "ya-runtime-vm-nvidia/ya-runtime-vm-nvidia"}
    gpu |= {"description": "vm nvidia runtime", "extra-args": ["--cap-handoff"]}
    path.write_text(before + "\n[stack.presets.vm-nvidia]\ncpu_per_hour = 0.5\n")
    try:
        # not installed on gp-use-1: named, with what is there, by preflight as by the deploy
        missing = fleetdeck(env, "run", str(path), "preflight", "--yes", "--limit", "gp-use-1")
        assert "runtime vm-nvidia is not installed" in missing.stdout, missing.stdout[-2000:]
        assert "toolkit       - skipped" in missing.stdout  # no model: no GPU to check
        missing = fleetdeck(env, "run", str(path), "deploy", "--yes", "--limit", "gp-use-1")
        assert missing.returncode != 0
        assert (
            "runtime vm-nvidia is not installed (ya-provider exe-unit list has vm, wasmtime)"
            in (missing.stdout)
        )
        # installed on gp-euw-1: IOMMU and VFIO are checked on the host (a simulated node
        # shares this machine's /sys), and what is missing is said with its fix
        descriptor.write_text(json.dumps([gpu]))
        run = fleetdeck(env, "run", str(path), "deploy", "--yes", "--limit", "gp-euw-1")
        groups = Path("/sys/kernel/iommu_groups")
        bound = Path("/sys/bus/pci/drivers/vfio-pci")
        iommu_on = groups.is_dir() and any(groups.iterdir())
        vfio = bound.is_dir() and any(p.name.startswith("0000:") for p in bound.iterdir())
        assert ("vm-nvidia: IOMMU is off" in run.stdout) == (not iommu_on), run.stdout[-2000:]
        assert ("no GPU is bound to vfio-pci" in run.stdout) == (not vfio)
        if not (iommu_on and vfio):
            assert run.returncode != 0 and "runtimes" in run.stdout
    finally:
        path.write_text(before)
        descriptor.unlink(missing_ok=True)
