"""Azure (ARM) through libcloud: machines by tag in the pool's resource group, each with its
own public IP and NIC in an existing VNet, managed OS disks deleted with the machine.

libcloud's Azure driver cannot create a VNet, ask for Spot, or write network security
group rules: the plan says so, and the operator opens SSH and the stack's public ports in
the VNet's NSG. The credentials secret holds TENANT_ID:SUBSCRIPTION_ID:CLIENT_ID:
CLIENT_SECRET. Azure keeps no console output fleetdeck reads: host keys are first seen.
"""

from __future__ import annotations

from libcloud.compute.base import NodeAuthSSHKey, NodeSize
from libcloud.compute.drivers.azure_arm import AzureImage, AzureSubnet
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
from actions.types import StepRefused

DELETE_POLL_S = 3  # libcloud waits this long between looks at a VM being deleted
DELETE_POLLS = 200


class Azure(Cloud):
    provider = "azure"

    def gaps(self) -> list[str]:
        rules = [r for r in firewall_rules(self.profile, self.pool) if r.source != CLUSTER]
        opening = ", ".join(sorted({str(r.port) for r in rules}))
        out = [
            "libcloud's Azure driver writes no network security group rules: open tcp "
            f"{opening} (and nothing else) to the machines in the NSG of VNet "
            f"{self.pool.network}; fleetdeck cannot check it",
            f"libcloud's Azure driver cannot create a VNet: {self.pool.network} must exist "
            f"in resource group {self.pool.resource_group}",
        ]
        if self.pool.spot:
            out.append(
                "libcloud's Azure driver has no Spot: spot = true is ignored, the machines "
                "are pay-as-you-go"
            )
        if self.user == "root":
            out.append("Azure refuses the login name root: set ssh_user in the pool")
        return out

    def connect(self):
        parts = self.credentials().split(":", 3)
        if len(parts) != 4 or not all(parts):
            raise StepRefused(
                f"pool {self.pool.name}: {self.pool.credentials} must hold "
                "TENANT_ID:SUBSCRIPTION_ID:CLIENT_ID:CLIENT_SECRET"
            )
        tenant, subscription, client, secret = parts
        driver = get_driver(Provider.AZURE_ARM)
        return driver(tenant, subscription, client, secret, region=self.pool.region)

    def _image(self) -> AzureImage:
        parts = self.pool.image.split(":")
        if len(parts) != 4:
            raise StepRefused(
                f"pool {self.pool.name}: image {self.pool.image!r} is not an Azure image URN: "
                "write PUBLISHER:OFFER:SKU:VERSION, e.g. microsoft-dsvm:ubuntu-hpc:2204:latest"
            )
        publisher, offer, sku, version = parts
        return AzureImage(version, sku, offer, publisher, self.pool.region, self.driver)

    def create_calls(self, name: str) -> list[str]:
        p = self.pool
        rg = f"resourceGroups/{p.resource_group}"
        return [
            f"azure PUT {rg}/publicIPAddresses/{name}-ip, then networkInterfaces/{name}-nic "
            f"in {p.network}/default",
            f"azure PUT {rg}/virtualMachines/{name} {p.size} ({self.gpus_in_words()}) in "
            f"{p.region} from {p.image}, {p.disk_gb} GB {p.disk_type or 'Premium_LRS'} "
            f"managed OS disk (deleted with it), SSH key for {self.user}, tags "
            f"{self.tags_in_words(name)}",
        ]

    def _machine(self, node) -> Machine:
        tags = node.extra.get("tags") or {}
        state = str(node.state)
        if (node.extra.get("properties") or {}).get("provisioningState") == "Deleting":
            state = "deleting"
        return Machine(
            id=node.name,
            node=tags.get(TAG_NODE, ""),
            pool=tags.get(TAG_POOL, ""),
            state=state,
            public_ip=(node.public_ips or [None])[0],
            private_ip=(node.private_ips or [None])[0],
            zone=node.extra.get("location") or self.pool.region,
        )

    def _nodes(self):
        return self.call(
            f"listing resource group {self.pool.resource_group}",
            self.driver.list_nodes,
            ex_resource_group=self.pool.resource_group,
        )

    def list_machines(self) -> list[Machine]:
        return [
            self._machine(n)
            for n in self._nodes()
            if (n.extra.get("tags") or {}).get(TAG_FLEET) == self.fleet
        ]

    def create(self, name: str, token: str) -> Machine:
        p = self.pool
        d = self.driver
        location = d.default_location
        ip = self.call(
            f"making the public IP of {name}",
            d.ex_create_public_ip,
            f"{name}-ip",
            p.resource_group,
            location,
        )
        subnet_id = (
            f"/subscriptions/{d.subscription_id}/resourceGroups/{p.resource_group}/providers"
            f"/Microsoft.Network/virtualnetworks/{p.network}/subnets/default"
        )
        nic = self.call(
            f"making the network interface of {name}",
            d.ex_create_network_interface,
            f"{name}-nic",
            AzureSubnet(subnet_id, "default", {}),
            p.resource_group,
            location,
            public_ip=ip,
        )
        node = self.call(
            f"creating {name}",
            d.create_node,
            name,
            NodeSize(p.size, p.size, None, None, None, None, d),
            self._image(),
            NodeAuthSSHKey(self.public_key()),
            ex_resource_group=p.resource_group,
            ex_nic=nic,
            ex_user_name=self.user,
            ex_tags=self.tags(name),
            ex_use_managed_disks=True,
            ex_storage_account_type=p.disk_type or "Premium_LRS",
            ex_disk_size=p.disk_gb,
            ex_os_disk_delete=True,
        )
        self.forget_listing()
        return self._machine(node)

    def destroy(self, machine: Machine) -> None:
        node = next((n for n in self._nodes() if n.name == machine.id), None)
        if node is not None:
            self.call(
                f"deleting {machine.id}",
                self.driver.destroy_node,
                node,
                ex_poll_qty=DELETE_POLLS,
                ex_poll_wait=DELETE_POLL_S,
            )
        ip_id = (
            f"/subscriptions/{self.driver.subscription_id}/resourceGroups/"
            f"{self.pool.resource_group}/providers/Microsoft.Network/publicIPAddresses/"
            f"{machine.id}-ip"
        )
        try:
            ip = self.driver.ex_get_public_ip(ip_id)
        except Exception as exc:  # gone already (a destroy interrupted after it): done
            if "NotFound" not in str(exc) and "404" not in str(exc):
                raise refusal(self.pool, f"reading the public IP of {machine.id}", exc) from None
        else:
            self.call("deleting its public IP", self.driver.ex_delete_public_ip, ip)
        self.forget_listing()

    # -- access: nothing libcloud can do (said in gaps)
    def access_missing(self) -> list[str]:
        return []

    def ensure_access(self) -> list[str]:
        return []
