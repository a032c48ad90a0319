"""Azure Resource Manager for the provisioning tests, in process through requests-mock:
answers shaped as libcloud's own fixture files (read in place from its wheel), with the
public IPs, NICs and VMs the test makes kept as state, and every request kept with its
body so a test checks fleetdeck's calls one by one. New machines get loopback addresses
where real sshd hosts stand in for them.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import libcloud

from tests.harness.cloudapi import RecordedApi

LIBCLOUD = Path(libcloud.__file__).parent / "test" / "compute" / "fixtures" / "azure_arm"
PREFIX = "_subscriptions_99999999_resourceGroups_"


def fixture(name: str) -> dict:
    return json.loads((LIBCLOUD / f"{name}.json").read_text())


class AzureFake(RecordedApi):
    def __init__(self, tenant: str, subscription: str, addresses: list[str]) -> None:
        self.tenant = tenant
        self.subscription = subscription
        self.free = list(addresses)
        self.resources: dict[str, dict] = {}  # lowercased ARM id -> resource
        super().__init__()

    def answer(self, method: str, host: str, path: str, body: dict | None, context) -> str:
        if host == "login.microsoftonline.com":
            token = fixture("_77777777_7777_7777_7777_777777777777_oauth2_token")
            token["expires_on"] = str(int(time.time()) + 3600)
            return json.dumps(token)
        path = path.rstrip("/")
        key = path.lower()
        if key.endswith("/instanceview"):
            vm = self.resources.get(key[: -len("/instanceview")])
            if vm is None:
                return self._missing(context, path)
            view = fixture(
                PREFIX
                + "000000_providers_Microsoft_Compute_virtualMachines_test_node_1_InstanceView"
            )
            # a VM whose creation finished (the fixture's is still updating)
            view["statuses"][0] |= {
                "code": "ProvisioningState/succeeded",
                "displayStatus": "Provisioning succeeded",
            }
            return json.dumps(view)
        if method == "PUT":
            made = self._make(path, body)
            self.resources[key] = made
            context.status_code = 201
            return json.dumps(made)
        if method == "GET" and key.endswith("/providers/microsoft.compute/virtualmachines"):
            vms = [
                r
                for k, r in self.resources.items()
                if "/virtualmachines/" in k and k.startswith(key)
            ]
            return json.dumps({"value": vms})
        if method == "GET":
            found = self.resources.get(key)
            return json.dumps(found) if found else self._missing(context, path)
        if method == "DELETE":
            if self.resources.pop(key, None) is None:
                context.status_code = 204
                return ""
            context.status_code = 200
            return ""
        return self._missing(context, path)

    def _make(self, path: str, body: dict) -> dict:
        kind = path.split("/providers/")[1].split("/")[1]
        name = path.rsplit("/", 1)[1]
        if kind == "publicIPAddresses":
            made = copy.deepcopy(
                fixture(
                    PREFIX + "REVIZOR_providers_Microsoft_Network_publicIPAddresses_test_public_ip"
                )
            )
            made["properties"]["ipAddress"] = self.free.pop(0)
        elif kind == "networkInterfaces":
            made = copy.deepcopy(
                fixture(
                    PREFIX + "000000_providers_Microsoft_Network_networkInterfaces_test_node_1_nic"
                )
            )
            config = made["properties"]["ipConfigurations"][0]["properties"]
            config["privateIPAddress"] = f"10.0.0.{len(self.resources) + 4}"
            wanted = body["properties"]["ipConfigurations"][0]["properties"]
            config["subnet"] = wanted["subnet"]
            if "publicIPAddress" in wanted:
                config["publicIPAddress"] = wanted["publicIPAddress"]
        else:
            made = copy.deepcopy(
                fixture(PREFIX + "000000_providers_Microsoft_Compute_virtualMachines_test_node_1")
            )
            made["properties"] |= copy.deepcopy(body["properties"])
            made["properties"]["provisioningState"] = "Succeeded"
            disk = made["properties"]["storageProfile"]["osDisk"]
            group = path.split("/providers/")[0]
            disk["managedDisk"]["id"] = f"{group}/providers/Microsoft.Compute/disks/{name}_OsDisk_1"
            made["tags"] = body.get("tags", {})
            made["location"] = body.get("location", made["location"])
        made["name"] = name
        made["id"] = path
        return made

    @staticmethod
    def _missing(context, path: str) -> str:
        context.status_code = 404
        return json.dumps(
            {
                "error": {
                    "code": "ResourceNotFound",
                    "message": f"The Resource '{path}' was not found.",
                }
            }
        )
