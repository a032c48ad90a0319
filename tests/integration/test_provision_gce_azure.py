"""Provisioning on GCE and Azure, in process, against the clouds' recorded answers
(libcloud's fixture files and ours, tests/harness/gce.py and azure.py), checked request
by request; real sshd hosts stand in for the new machines."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from actions.engine import Engine
from actions.provision.action import provision_action
from actions.provision.inventory import Inventory
from console.core.journal import Journal
from console.core.profile import load
from console.core.transport.ssh import Pool
from tests.harness.azure import AzureFake
from tests.harness.gce import GceFake
from tests.harness.procs import free_port
from tests.harness.sshd import make_host

pytestmark = pytest.mark.integration


def service_account() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "fleet-proj",
            "private_key": pem,
            "client_email": "fleetdeck@fleet-proj.iam.gserviceaccount.com",
        }
    )


@pytest.fixture
def machines():
    """machines(root, client_key, net, count): that many real sshd hosts standing in for
    the new machines, (port, hosts); every one stopped when the test ends."""
    started = []

    def start(root: Path, client_key: Path, net: int, count: int):
        port = free_port(f"127.0.{net}.1")
        hosts = []
        for i in range(1, count + 1):
            host = make_host(
                root, f"m{i}", f"127.0.{net}.{i}", client_key.with_suffix(".pub"), port=port
            )
            started.append(host)
            host.start()
            hosts.append(host)
        return port, hosts

    yield start
    for host in started:
        host.stop()


def engine_for(profile_path: Path, state: Path):
    profile = load(str(profile_path))
    pool = Pool.for_profile(profile.model)
    return Engine(profile, pool, Journal(state / "journal.sqlite")), pool, profile


def test_gce_pool_is_created_listed_and_destroyed_call_by_call(
    ssh_hosts, harness_dir, client_key, monkeypatch, machines
):
    root = harness_dir / "prov-gce"
    port, hosts = machines(root / "machines", client_key, 64, 3)
    monkeypatch.setenv("GCE_KEY", service_account())
    profile_path = root / "gcp.toml"
    profile_path.write_text(
        f"""# vLLM on GCP
[fleet]
name = "gcp-fleet"
stack = "vllm"

[ssh]
user = "fleet"
key = "{client_key}"
port = {port}
known_hosts = "{root}/known_hosts"

[[clusters]]
name = "gcp-eu"

[[provision.pools]]
name = "a3"
driver = "gce"
region = "europe-west4-b"
size = "a3-highgpu-8g"   # 8×H100 built in
image = "projects/deeplearning-platform-release/global/images/family/common-cu124"
count = 2
cluster = "gcp-eu"
role = "server"
credentials = "env:GCE_KEY"
spot = true
disk_gb = 1000

[[provision.pools]]
name = "t4"
driver = "gce"
region = "europe-west4-b"
size = "n1-standard-8"
gpus = 2
gpu_type = "T4"
image = "projects/deeplearning-platform-release/global/images/family/common-cu124"
cluster = "gcp-eu"
role = "server"
credentials = "env:GCE_KEY"
"""
    )
    with GceFake("fleet-proj", "europe-west4-b", [h.address for h in hosts]) as gce:
        engine, pool, profile = engine_for(profile_path, root)
        act = provision_action()
        items = engine.plan(act)
        notes = engine.notes(act)
        assert any("no SPOT provisioning model" in n and "preemptible" in n for n in notes), notes
        creates = [i for i in items if i.step == "instance" and i.status == "change"]
        assert len(creates) == 3
        result = engine.apply(act)
        lines = engine.journal.lines(result.run_id)
        assert result.outcome == "succeeded", lines

        # the firewall: one rule on the cluster's network tag, SSH only (vLLM serves
        # nothing to the world), asked for once
        (fw,) = gce.calls("POST", r"/global/firewalls$")
        assert fw["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
        assert fw["sourceRanges"] == ["0.0.0.0/0"]
        assert fw["targetTags"] == ["fleetdeck-gcp-fleet-gcp-eu"]

        inserts = {b["name"]: b for b in gce.calls("POST", r"/zones/europe-west4-b/instances$")}
        assert set(inserts) == {"a3-1", "a3-2", "t4-1"}
        pub = client_key.with_suffix(".pub").read_text().strip()
        for name, body in inserts.items():
            assert body["scheduling"]["onHostMaintenance"] == "TERMINATE"
            assert body["scheduling"]["automaticRestart"] is False
            assert body["tags"]["items"] == ["fleetdeck-gcp-fleet-gcp-eu"]
            assert body["labels"] == {
                "fleetdeck-fleet": "gcp-fleet",
                "fleetdeck-pool": name.split("-")[0],
                "fleetdeck-node": name,
            }
            assert {"key": "ssh-keys", "value": f"fleet:{pub}"} in body["metadata"]["items"]
            params = body["disks"][0]["initializeParams"]
            assert params["diskType"].endswith("/diskTypes/pd-ssd")
            assert params["sourceImage"].endswith("/images/common-cu124-v20250610-debian-11-py310")
        a3, t4 = inserts["a3-1"], inserts["t4-1"]
        assert a3["machineType"].endswith("/machineTypes/a3-highgpu-8g")
        assert "guestAccelerators" not in a3  # A3 carries its GPUs
        assert a3["scheduling"]["preemptible"] is True
        assert int(a3["disks"][0]["initializeParams"]["diskSizeGb"]) == 1000
        assert t4["machineType"].endswith("/machineTypes/n1-standard-8")
        assert t4["guestAccelerators"] == [
            {
                "acceleratorType": gce.fixture(
                    "zones_europe-west4-b_acceleratorTypes_nvidia-tesla-t4"
                )["selfLink"],
                "acceleratorCount": 2,
            }
        ]
        assert t4["scheduling"].get("preemptible") is not True

        nodes = {
            n["name"]: n for n in tomllib.loads(profile_path.read_text())["clusters"][0]["nodes"]
        }
        assert set(nodes) == {"a3-1", "a3-2", "t4-1"}
        assert (nodes["a3-1"]["gpus"], nodes["a3-1"]["gpu_type"]) == (8, "H100")
        assert (nodes["t4-1"]["gpus"], nodes["t4-1"]["gpu_type"]) == (2, "T4")
        assert {n["host"] for n in nodes.values()} == {h.address for h in hosts}
        assert nodes["a3-2"]["labels"] == {
            "pool": "a3",
            "instance": "a3-2",
            "zone": "europe-west4-b",
        }
        # GCE vouches for no host key: first seen, said and journalled with its fingerprint
        assert sum("recorded as first seen" in line for line in lines) == 3
        known = (root / "known_hosts").read_text()
        for host in hosts:
            assert f"[{host.address}]:{port} {host.host_key_pub}" in known

        again = engine_for(profile_path, root)
        assert all(i.status in ("unchanged", "skipped") for i in again[0].plan(act))
        again[1].close()

        inventory = Inventory(load(str(profile_path)))
        assert sorted(f.kind for f in inventory.findings()) == ["ok", "ok", "ok"]
        deletes_before = len(gce.calls("DELETE", r"/instances/"))
        inventory.destroy(inventory.resolve(["a3-2"]), say=lambda line: None)
        assert [p for m, p, b in gce.requests if m == "DELETE"][deletes_before:] == [
            "/compute/v1/projects/fleet-proj/zones/europe-west4-b/instances/a3-2"
        ]
        left = tomllib.loads(profile_path.read_text())["clusters"][0]["nodes"]
        assert [n["name"] for n in left] == ["a3-1", "t4-1"]
        assert "a3-2" not in gce.instances


def test_azure_pool_is_created_listed_and_destroyed_call_by_call(
    ssh_hosts, harness_dir, client_key, monkeypatch, machines
):
    root = harness_dir / "prov-azure"
    port, hosts = machines(root / "machines", client_key, 65, 2)
    monkeypatch.setenv("AZURE_CREDS", "tenant-1:sub-1:client-1:client-secret-value")
    profile_path = root / "azure.toml"
    profile_path.write_text(
        f"""[fleet]
name = "az-fleet"
stack = "gonka"

[ssh]
user = "fleet"
key = "{client_key}"
port = {port}
known_hosts = "{root}/known_hosts"

[[clusters]]
name = "az1"  # one participant on Azure

[[provision.pools]]
name = "az-net"
driver = "azure"
region = "eastus"
size = "Standard_ND96isr_H100_v5"
image = "microsoft-dsvm:ubuntu-hpc:2204:latest"
names = "az1-network"
cluster = "az1"
role = "network"
credentials = "env:AZURE_CREDS"
resource_group = "fleet-rg"
network = "fleet-vnet"
spot = true

[[provision.pools]]
name = "az-ml"
driver = "azure"
region = "eastus"
size = "Standard_ND96isr_H100_v5"
image = "microsoft-dsvm:ubuntu-hpc:2204:latest"
names = "az1-ml{{n}}"
cluster = "az1"
role = "ml"
credentials = "env:AZURE_CREDS"
resource_group = "fleet-rg"
network = "fleet-vnet"
"""
    )
    with AzureFake("tenant-1", "sub-1", [h.address for h in hosts]) as azure:
        engine, pool, profile = engine_for(profile_path, root)
        act = provision_action()
        engine.plan(act)
        notes = engine.notes(act)
        nsg = [n for n in notes if "writes no network security group rules" in n]
        assert nsg and "tcp 22, 5000, 8000, 8443 (and nothing else)" in nsg[0]
        assert any("has no Spot" in n and n.startswith("pool az-net") for n in notes)
        assert any("cannot create a VNet" in n for n in notes)
        result = engine.apply(act)
        pool.close()
        lines = engine.journal.lines(result.run_id)
        assert result.outcome == "succeeded", lines

        sub = "/subscriptions/sub-1/resourceGroups/fleet-rg/providers"
        order = [(m, p) for m, p, b in azure.requests if m == "PUT"]
        for name in ("az1-network", "az1-ml1"):
            mine = [p for m, p in order if f"/{name}" in p]
            assert mine == [
                f"{sub}/Microsoft.Network/publicIPAddresses/{name}-ip",
                f"{sub}/Microsoft.Network/networkInterfaces/{name}-nic",
                f"{sub}/Microsoft.Compute/virtualMachines/{name}",
            ]
            (nic,) = azure.calls("PUT", f"networkInterfaces/{name}-nic$")
            config = nic["properties"]["ipConfigurations"][0]["properties"]
            assert config["subnet"]["id"].endswith("/virtualnetworks/fleet-vnet/subnets/default")
            assert config["publicIPAddress"]["id"].endswith(f"/publicIPAddresses/{name}-ip")
            (vm,) = azure.calls("PUT", f"virtualMachines/{name}$")
            props = vm["properties"]
            assert props["hardwareProfile"] == {"vmSize": "Standard_ND96isr_H100_v5"}
            assert props["storageProfile"]["imageReference"] == {
                "publisher": "microsoft-dsvm",
                "offer": "ubuntu-hpc",
                "sku": "2204",
                "version": "latest",
            }
            disk = props["storageProfile"]["osDisk"]
            assert disk["managedDisk"] == {"storageAccountType": "Premium_LRS"}
            assert disk["deleteOption"] == "Delete" and disk["diskSizeGB"] == 500
            linux = props["osProfile"]["linuxConfiguration"]
            assert linux["disablePasswordAuthentication"] == "true"
            pub = client_key.with_suffix(".pub").read_text().strip()
            assert linux["ssh"]["publicKeys"] == [
                {"path": "/home/fleet/.ssh/authorized_keys", "keyData": pub}
            ]
            assert props["osProfile"]["adminUsername"] == "fleet"
            assert vm["tags"] == {
                "fleetdeck-fleet": "az-fleet",
                "fleetdeck-pool": "az-net" if name.endswith("network") else "az-ml",
                "fleetdeck-node": name,
            }
            assert "priority" not in props  # no Spot through libcloud (said in the plan)
        assert not azure.calls("PUT", "networkSecurityGroups")

        nodes = {
            n["name"]: n for n in tomllib.loads(profile_path.read_text())["clusters"][0]["nodes"]
        }
        assert [*nodes] == ["az1-network", "az1-ml1"]
        assert {n["host"] for n in nodes.values()} == {h.address for h in hosts}
        assert (nodes["az1-ml1"]["gpus"], nodes["az1-ml1"]["gpu_type"]) == (8, "H100")
        assert "user" not in nodes["az1-ml1"]  # the pool's login is [ssh].user
        assert sum("recorded as first seen" in line for line in lines) == 2

        inventory = Inventory(load(str(profile_path)))
        assert sorted(f.kind for f in inventory.findings()) == ["ok", "ok"]
        inventory.destroy(inventory.resolve(["az1-ml1"]), say=lambda line: None)
        deleted = [p for m, p, b in azure.requests if m == "DELETE"]
        assert deleted == [
            f"{sub}/Microsoft.Compute/virtualMachines/az1-ml1",
            f"{sub}/Microsoft.Network/networkInterfaces/az1-ml1-nic",
            f"{sub}/Microsoft.Compute/disks/az1-ml1_OsDisk_1",
            f"{sub}/Microsoft.Network/publicIPAddresses/az1-ml1-ip",
        ]
        left = tomllib.loads(profile_path.read_text())["clusters"][0]["nodes"]
        assert [n["name"] for n in left] == ["az1-network"]
