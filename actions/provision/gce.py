"""GCE through libcloud: machines by label in the pool's zone, a firewall rule per cluster
aimed at the cluster's network tag, GPUs that stop on host maintenance, the pool's SSH
key in the instance's `ssh-keys` metadata.

The credentials secret holds the service account's JSON key; libcloud's token cache file
is pointed at /dev/null, so the access token lives in memory only. GCE keeps no console
output fleetdeck reads for host keys: a new machine's key is recorded as first seen.
"""

from __future__ import annotations

import json
import os
import re

from libcloud.compute.providers import Provider, get_driver

from actions.provision.clouds import (
    CLUSTER,
    TAG_FLEET,
    TAG_NODE,
    TAG_POOL,
    Cloud,
    Machine,
    firewall_rules,
    refusal,
)
from actions.provision.sizes import GCE_ACCELERATORS, GPUS, gpus_of
from actions.types import StepRefused

STATES = {
    "PROVISIONING": "pending",
    "STAGING": "pending",
    "RUNNING": "running",
    "STOPPING": "stopping",
    "SUSPENDED": "stopped",
    "TERMINATED": "terminated",
}


def label(value: str) -> str:
    """GCE labels and tags: lowercase letters, digits, '-' and '_', at most 63."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())[:63]


class Gce(Cloud):
    provider = "gce"

    @property
    def network_tag(self) -> str:
        return label(f"fleetdeck-{self.fleet}-{self.pool.cluster}")

    @property
    def firewall(self) -> str:
        return self.network_tag  # one rule set per cluster, named after the tag it aims at

    def gaps(self) -> list[str]:
        out = []
        if self.pool.spot:
            out.append(
                "libcloud's GCE driver has no SPOT provisioning model: spot = true asks for "
                "a preemptible machine instead (stopped after at most 24 hours)"
            )
        if self.pool.size not in GPUS and not self.pool.gpu_type:
            out.append(
                f"{self.pool.size} carries no GPUs and the pool names no gpu_type: the "
                "machines will have none"
            )
        return out

    def connect(self):
        try:
            key = json.loads(self.credentials())
        except ValueError:
            raise StepRefused(
                f"pool {self.pool.name}: {self.pool.credentials} must hold the service "
                "account's JSON key (the file GCP's console downloads)"
            ) from None
        project = self.pool.project or key.get("project_id")
        if not project or "client_email" not in key:
            raise StepRefused(
                f"pool {self.pool.name}: no project: set project = … in the pool, or use a "
                "service account key that names its project_id"
            )
        driver = get_driver(Provider.GCE)
        return driver(
            key["client_email"],
            key,
            project=project,
            datacenter=self.pool.region,
            auth_type="SA",
            credential_file=os.devnull,  # never cache the token on disk
        )

    def _accelerator(self) -> tuple[str | None, int | None]:
        """(accelerator type, count) to ask for: none for sizes that carry their GPUs."""
        if self.pool.size in GPUS:
            return None, None
        gpus, gpu_type = gpus_of(self.pool.size, self.pool.gpus, self.pool.gpu_type)
        if not gpu_type:
            return None, None
        return GCE_ACCELERATORS.get(gpu_type, gpu_type), gpus or 1

    def create_calls(self, name: str) -> list[str]:
        p = self.pool
        accel, count = self._accelerator()
        return [
            f"gce instances.insert {label(name)} {p.size} ({self.gpus_in_words()}) in "
            f"{p.region} from {p.image}, {p.disk_gb} GB {p.disk_type or 'pd-ssd'} boot disk"
            + (f", accelerators {count}×{accel}" if accel else "")
            + (", preemptible" if p.spot else ""),
            "  onHostMaintenance TERMINATE (GPUs cannot live-migrate), automaticRestart "
            f"false, network tag {self.network_tag}, ssh-keys for {self.user}, labels "
            f"{self.tags_in_words(name)}",
        ]

    def tags(self, node: str) -> dict[str, str]:
        return {k: label(v) for k, v in super().tags(node).items()}

    @property
    def _pools(self) -> dict[str, str]:
        return {label(p.name): p.name for p in self.profile.provision.pools}

    def _machine(self, node) -> Machine:
        labels = node.extra.get("labels") or {}
        zone = node.extra.get("zone")
        return Machine(
            id=node.name,
            node=labels.get(TAG_NODE, ""),
            # a label is lowercased: the profile's pool it stands for, by that form
            pool=self._pools.get(labels.get(TAG_POOL, ""), labels.get(TAG_POOL, "")),
            state=STATES.get(node.extra.get("status", ""), str(node.state)),
            public_ip=(node.public_ips or [None])[0],
            private_ip=(node.private_ips or [None])[0],
            zone=getattr(zone, "name", None) or self.pool.region,
        )

    def list_machines(self) -> list[Machine]:
        nodes = self.call(
            "listing the fleet's machines", self.driver.list_nodes, ex_zone=self.pool.region
        )
        fleet = label(self.fleet)
        return [
            self._machine(n) for n in nodes if (n.extra.get("labels") or {}).get(TAG_FLEET) == fleet
        ]

    def create(self, name: str, token: str) -> Machine:
        p = self.pool
        accel, count = self._accelerator()
        kwargs = {
            "location": p.region,
            "ex_tags": [self.network_tag],
            "ex_metadata": {"ssh-keys": f"{self.user}:{self.public_key()}"},
            "ex_labels": self.tags(name),
            "ex_disk_size": p.disk_gb,
            "ex_disk_type": p.disk_type or "pd-ssd",
            "ex_on_host_maintenance": "TERMINATE",
            "ex_automatic_restart": False,
            "ex_preemptible": p.spot,
        }
        image = p.image
        family = re.fullmatch(r"(?:projects/([^/]+)/global/images/)?family/([^/]+)", p.image)
        if family:  # projects/deeplearning-platform-release/global/images/family/common-cu124
            projects = [family.group(1)] if family.group(1) else None
            image = self.call(
                f"finding image family {family.group(2)}",
                self.driver.ex_get_image_from_family,
                family.group(2),
                ex_project_list=projects,
            )
        if accel:
            kwargs |= {"ex_accelerator_type": accel, "ex_accelerator_count": count}
        try:
            node = self.driver.create_node(label(name), p.size, image, **kwargs)
        except Exception as exc:
            if "alreadyExists" not in str(exc) and "already exists" not in str(exc):
                raise refusal(p, f"creating {name}", exc) from None
            # a retry of an insert that went through: the name is GCE's idempotency key
            node = self.call(f"reading {name}", self.driver.ex_get_node, label(name), p.region)
        self.forget_listing()
        return self._machine(node)

    def destroy(self, machine: Machine) -> None:
        node = self.call(f"finding {machine.id}", self.driver.ex_get_node, machine.id, machine.zone)
        self.call(f"deleting {machine.id}", self.driver.destroy_node, node)
        self.forget_listing()

    # -- access: one firewall rule per cluster, on its network tag
    def _existing(self):
        from libcloud.common.google import ResourceNotFoundError

        try:
            return self.driver.ex_get_firewall(self.firewall)
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            raise refusal(self.pool, "reading the firewall", exc) from None

    def _wanted(self) -> tuple[list[dict], list[str]]:
        """(allowed, source ranges) of the cluster's rule: the world's ports and SSH."""
        rules = [r for r in firewall_rules(self.profile, self.pool) if r.source != CLUSTER]
        ports = sorted({str(r.port) for r in rules})
        sources = sorted({r.source for r in rules})
        return [{"IPProtocol": "tcp", "ports": ports}], sources

    def access_missing(self) -> list[str]:
        allowed, sources = self._wanted()
        fw = self._existing()
        ports = ", ".join(allowed[0]["ports"])
        if fw is None:
            return [
                f"gce firewalls.insert {self.firewall}: tcp {ports} from "
                f"{', '.join(sources)} to machines tagged {self.network_tag}"
            ]
        if fw.allowed != allowed or sorted(fw.source_ranges or []) != sources:
            return [f"gce firewalls.update {self.firewall}: tcp {ports} from {', '.join(sources)}"]
        return []

    def ensure_access(self) -> list[str]:
        with self.access_lock:
            if not self.access_missing():
                return []
            allowed, sources = self._wanted()
            fw = self._existing()
            if fw is None:
                self.call(
                    f"creating firewall {self.firewall}",
                    self.driver.ex_create_firewall,
                    self.firewall,
                    allowed,
                    source_ranges=sources,
                    target_tags=[self.network_tag],
                    description=f"fleetdeck {self.fleet} cluster {self.pool.cluster}",
                )
                return [f"created firewall {self.firewall}"]
            fw.allowed, fw.source_ranges = allowed, sources
            self.call(f"updating firewall {self.firewall}", self.driver.ex_update_firewall, fw)
            return [f"updated firewall {self.firewall}"]
