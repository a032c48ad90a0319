"""GCE for the provisioning tests, in process through requests-mock: the compute API's
answers are libcloud's own fixture files (shipped in its wheel, read in place) and ours
in tests/data/clouds/gce (the GPU machine types, the Deep Learning VM image family),
with the instances and firewalls the test makes kept as state. Every request is kept,
body and all, so a test checks what fleetdeck asked for, call by call.

New machines get loopback addresses where real sshd hosts stand in for them.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import libcloud

from tests.harness.cloudapi import RecordedApi

LIBCLOUD = Path(libcloud.__file__).parent / "test" / "compute" / "fixtures" / "gce"
OURS = Path(__file__).resolve().parents[1] / "data" / "clouds" / "gce"
API = "https://www.googleapis.com/compute/v1/projects/"


class GceFake(RecordedApi):
    def __init__(self, project: str, zone: str, addresses: list[str]) -> None:
        self.project = project
        self.zone = zone
        self.region = zone.rsplit("-", 1)[0]
        self.free = list(addresses)
        self.instances: dict[str, dict] = {}
        self.firewalls: dict[str, dict] = {}
        self.disks: dict[str, dict] = {}  # each instance's boot disk
        super().__init__()

    # -- fixture files
    def fixture(self, name: str) -> dict:
        """Ours first, else libcloud's, moved to this project and zone."""
        ours = OURS / f"{name}.json"
        if ours.exists():
            return json.loads(ours.read_text())
        text = (LIBCLOUD / f"{name}.json").read_text()
        text = text.replace("project_name", self.project).replace("us-central1-a", self.zone)
        return json.loads(text.replace("us-central1", self.region))

    def _link(self, rest: str) -> str:
        return f"{API}{self.project}/{rest}"

    def _operation(self, kind: str, target: str, scope: str) -> dict:
        op = self.fixture("operations_operation_zones_us-central1-a_instances_post")
        op |= {
            "name": f"operation-{kind}-{len(self.requests)}",
            "operationType": kind,
            "targetLink": target,
            "status": "DONE",
        }
        op["selfLink"] = self._link(f"{scope}/operations/{op['name']}")
        if scope == "global":
            op.pop("zone", None)
        return op

    def _instance(self, body: dict) -> dict:
        name = body["name"]
        inst = copy.deepcopy(self.fixture("zones_us-central1-a_instances_node-name"))
        nic = inst["networkInterfaces"][0]
        nic["accessConfigs"][0]["natIP"] = self.free.pop(0)
        nic["networkIP"] = f"10.164.0.{len(self.instances) + 2}"
        inst |= {
            "name": name,
            "id": str(7000000000000000000 + len(self.instances)),
            "selfLink": self._link(f"zones/{self.zone}/instances/{name}"),
            "machineType": body["machineType"],
            "labels": body.get("labels", {}),
            "tags": {"items": body.get("tags", {}).get("items", []), "fingerprint": "x"},
            "metadata": body.get("metadata", {}),
            "scheduling": body.get("scheduling", {}),
            "status": "RUNNING",
        }
        if "guestAccelerators" in body:
            inst["guestAccelerators"] = body["guestAccelerators"]
        template = self.fixture("aggregated_disks")["items"][f"zones/{self.zone}"]["disks"][0]
        disk = copy.deepcopy(template) | {
            "name": name,
            "selfLink": self._link(f"zones/{self.zone}/disks/{name}"),
            "sizeGb": str(body["disks"][0]["initializeParams"].get("diskSizeGb", 10)),
        }
        self.disks[name] = disk
        inst["disks"][0]["source"] = disk["selfLink"]
        return inst

    # -- the API
    def answer(self, method: str, host: str, path: str, body: dict | None, context) -> str:
        if host == "accounts.google.com" and path == "/o/oauth2/token":
            return json.dumps(
                {"access_token": "ya29.fake", "token_type": "Bearer", "expires_in": 3600}
            )
        prefix = f"/compute/v1/projects/{self.project}/"
        if path.startswith("/compute/v1/projects/") and not path.startswith(prefix):
            # another project's resource (an image family)
            return self._file(path[len("/compute/v1/") :].replace("/", "_"), context)
        rest = path[len(prefix) :]
        zone = f"zones/{self.zone}/"
        if rest == f"{zone}instances" and method == "GET":
            return json.dumps(
                {"kind": "compute#instanceList", "items": list(self.instances.values())}
            )
        if rest == f"{zone}instances" and method == "POST":
            if body["name"] in self.instances:  # what GCE says to a second insert
                context.status_code = 409
                message = f"The resource '{rest}/{body['name']}' already exists"
                reason = [{"domain": "global", "reason": "alreadyExists", "message": message}]
                return json.dumps({"error": {"code": 409, "message": message, "errors": reason}})
            inst = self._instance(body)
            self.instances[inst["name"]] = inst
            return json.dumps(self._operation("insert", inst["selfLink"], f"zones/{self.zone}"))
        m = re.fullmatch(rf"{zone}instances/([^/]+)", rest)
        if m and method == "GET":
            if m.group(1) not in self.instances:
                return self._missing(context, rest)
            return json.dumps(self.instances[m.group(1)])
        if m and method == "DELETE":
            inst = self.instances.pop(m.group(1), None)
            self.disks.pop(m.group(1), None)  # auto-delete: the boot disk goes with it
            if inst is None:
                return self._missing(context, rest)
            return json.dumps(self._operation("delete", inst["selfLink"], f"zones/{self.zone}"))
        if rest == "aggregated/disks":
            items = {f"zones/{self.zone}": {"disks": list(self.disks.values())}}
            return json.dumps({"kind": "compute#diskAggregatedList", "items": items})
        m = re.fullmatch(rf"{zone}disks/([^/]+)", rest)
        if m and method == "GET":
            if m.group(1) not in self.disks:
                return self._missing(context, rest)
            return json.dumps(self.disks[m.group(1)])
        m = re.fullmatch(r"(zones/[^/]+|global)/operations/(.+)", rest)
        if m:
            op = self._operation("insert", "", m.group(1))
            op["name"] = m.group(2)
            return json.dumps(op)
        m = re.fullmatch(r"global/firewalls(?:/([^/]+))?", rest)
        if m and method == "POST":
            fw = self.fixture("global_firewalls_lcfirewall") | body
            fw["selfLink"] = self._link(f"global/firewalls/{body['name']}")
            self.firewalls[body["name"]] = fw
            return json.dumps(self._operation("insert", fw["selfLink"], "global"))
        if m and m.group(1) and method == "GET":
            if m.group(1) not in self.firewalls:
                return self._missing(context, rest)
            return json.dumps(self.firewalls[m.group(1)])
        if m and m.group(1) and method == "PUT":
            self.firewalls[m.group(1)] |= body
            return json.dumps(self._operation("update", "", "global"))
        if rest == f"{zone}disktypes/pd-ssd" or rest == f"{zone}diskTypes/pd-ssd":
            return json.dumps(self.fixture("zones_us-central1-a_diskTypes_pd_ssd"))
        if method == "GET":
            return self._file(rest.replace("/", "_").replace(self.zone, "us-central1-a"), context)
        return self._missing(context, rest)

    def _file(self, name: str, context) -> str:
        ours = name.replace("us-central1-a", self.zone)
        for candidate in (ours, name):
            if (OURS / f"{candidate}.json").exists() or (LIBCLOUD / f"{candidate}.json").exists():
                return json.dumps(self.fixture(candidate))
        return self._missing(context, name)

    @staticmethod
    def _missing(context, what: str) -> str:
        context.status_code = 404
        error = {"code": 404, "message": f"The resource '{what}' was not found"}
        error["errors"] = [{"domain": "global", "reason": "notFound", "message": error["message"]}]
        return json.dumps({"error": error})
