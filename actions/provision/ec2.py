"""EC2 through libcloud: machines by tag, a key pair, the cluster's security group, a
client token per machine, and the console output that vouches for a new host key.

The credentials secret holds `ACCESS_KEY_ID:SECRET_ACCESS_KEY`. A pool's `endpoint` points
the driver at an EC2-compatible API (moto_server in the tests, LocalStack). Some of those
answer in the 2016-11-15 namespace without its trailing slash, where libcloud finds
nothing (libraries.md §3.1): the response is read either way.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from libcloud.compute.base import NodeImage, NodeLocation, NodeSize
from libcloud.compute.drivers.ec2 import NAMESPACE, EC2Connection, EC2NodeDriver, EC2Response

from actions.provision.clouds import (
    CLUSTER,
    TAG_FLEET,
    TAG_NODE,
    TAG_POOL,
    Cloud,
    Machine,
    Rule,
    firewall_rules,
)
from actions.types import StepRefused


class _Response(EC2Response):
    def parse_body(self):
        if isinstance(self.body, bytes):
            self.body = self.body.decode()
        bare = 'xmlns="' + NAMESPACE.rstrip("/") + '"'
        self.body = self.body.replace(bare, f'xmlns="{NAMESPACE}"')
        return super().parse_body()

    def parse_error(self):
        said = super().parse_error()
        if said:
            return said
        # an error in another shape than <Response><Errors><Error> (moto's newer one):
        # its code and message all the same, so the operator reads the cloud's words
        body = self.body.decode() if isinstance(self.body, bytes) else str(self.body)
        code = re.search(r"<Code>(.*?)</Code>", body, re.S)
        message = re.search(r"<Message>(.*?)</Message>", body, re.S)
        if code is None:
            return f"HTTP {self.status}: {body[:200]}"
        return f"{code.group(1)}: {message.group(1) if message else ''}".strip()


class _Connection(EC2Connection):
    responseCls = _Response


class Ec2Driver(EC2NodeDriver):
    connectionCls = _Connection


class Ec2(Cloud):
    provider = "ec2"
    _root: str | None = None  # the image's root device, read once

    @property
    def key_pair(self) -> str:
        return self.pool.key_pair or f"fleetdeck-{self.fleet}"

    @property
    def group(self) -> str:
        return self.pool.security_group or f"fleetdeck-{self.fleet}-{self.pool.cluster}"

    def connect(self):
        key_id, _, secret = self.credentials().partition(":")
        if not key_id or not secret:
            raise StepRefused(
                f"pool {self.pool.name}: {self.pool.credentials} must hold "
                "ACCESS_KEY_ID:SECRET_ACCESS_KEY"
            )
        kwargs = {"region": self.pool.region, "signature_version": "4"}
        if self.pool.endpoint:
            url = urlsplit(self.pool.endpoint)
            kwargs |= {"host": url.hostname, "port": url.port, "secure": url.scheme == "https"}
        return Ec2Driver(key_id, secret, **kwargs)

    # -- the plan's words
    def create_calls(self, name: str) -> list[str]:
        p = self.pool
        disk = f"{p.disk_gb} GB {p.disk_type or 'gp3'} root disk"
        return [
            f"ec2 RunInstances {p.size} ({self.gpus_in_words()}) from {p.image} in "
            f"{p.zone or p.region}{', spot' if p.spot else ''}, {disk}",
            f"  key pair {self.key_pair}, security group {self.group}, tags "
            f"{self.tags_in_words(name)}, client token (a retry never makes a second machine)",
        ]

    # -- machines
    def _machine(self, node) -> Machine:
        tags = node.extra.get("tags") or {}
        return Machine(
            id=node.id,
            node=tags.get(TAG_NODE, ""),
            pool=tags.get(TAG_POOL, ""),
            state=str(node.extra.get("status") or node.state),
            public_ip=(node.public_ips or [None])[0],
            private_ip=(node.private_ips or [None])[0],
            zone=node.extra.get("availability") or "",
        )

    def list_machines(self) -> list[Machine]:
        nodes = self.call(
            "listing the fleet's machines",
            self.driver.list_nodes,
            ex_filters={f"tag:{TAG_FLEET}": self.fleet},
        )
        return [self._machine(n) for n in nodes]

    def refresh(self, machine: Machine) -> Machine:
        nodes = self.call(f"reading {machine.id}", self.driver.list_nodes, ex_node_ids=[machine.id])
        if not nodes:
            return Machine(machine.id, machine.node, machine.pool, "terminated", None, None, "")
        return self._machine(nodes[0])

    def root_device(self) -> str:
        """The image's root device (Ubuntu's /dev/sda1, Amazon Linux's /dev/xvda): the disk
        size applies to it; another name would add a second, empty volume instead."""
        with self._lock:
            if self._root is None:
                found = self.call(
                    f"reading image {self.pool.image}",
                    self.driver.list_images,
                    ex_image_ids=[self.pool.image],
                )
                if not found:
                    raise StepRefused(
                        f"pool {self.pool.name} ({self.pool.driver} {self.pool.region}): no "
                        f"image {self.pool.image} here; fix: AMI ids differ per region, look "
                        "it up in this one (aws ec2 describe-images)"
                    )
                self._root = found[0].extra.get("root_device_name") or "/dev/sda1"
            return self._root

    def create(self, name: str, token: str) -> Machine:
        p = self.pool
        kwargs = {
            "name": name,
            "size": NodeSize(p.size, p.size, None, None, None, None, self.driver),
            "image": NodeImage(p.image, p.image, self.driver),
            "ex_keyname": self.key_pair,
            "ex_metadata": {"Name": name, **self.tags(name)},
            "ex_clienttoken": token,
            "ex_blockdevicemappings": [
                {
                    "DeviceName": self.root_device(),
                    "Ebs": {
                        "VolumeSize": p.disk_gb,
                        "VolumeType": p.disk_type or "gp3",
                        "DeleteOnTermination": "true",
                    },
                }
            ],
        }
        if p.network:
            kwargs |= {"ex_security_group_ids": [self._group_id()], "ex_subnet": p.network}
        else:
            kwargs["ex_security_groups"] = [self.group]
        if p.zone:
            kwargs["location"] = NodeLocation(p.zone, p.zone, p.region, self.driver)
        if p.spot:
            kwargs["ex_spot"] = True
        node = self.call(f"creating {name}", self.driver.create_node, **kwargs)
        self.forget_listing()
        return self._machine(node)

    def destroy(self, machine: Machine) -> None:
        nodes = self.call(f"finding {machine.id}", self.driver.list_nodes, ex_node_ids=[machine.id])
        if nodes:
            self.call(f"terminating {machine.id}", self.driver.destroy_node, nodes[0])
        self.forget_listing()

    def console_output(self, machine: Machine) -> str | None:
        nodes = self.call(f"reading {machine.id}", self.driver.list_nodes, ex_node_ids=[machine.id])
        if not nodes:
            return ""
        out = self.call(
            f"reading the console output of {machine.id}",
            self.driver.ex_get_console_output,
            nodes[0],
        )
        return out.get("output") or ""

    # -- access
    def _groups(self):
        return self.call(
            f"reading security group {self.group}",
            self.driver.ex_get_security_groups,
            filters={"group-name": self.group},
        )

    def _group_id(self) -> str:
        groups = self._groups()
        if not groups:
            raise StepRefused(f"pool {self.pool.name}: security group {self.group} is missing")
        return groups[0].id

    def _rules_in(self, group) -> set[Rule]:
        have = set()
        for rule in group.ingress_rules:
            if rule.get("protocol") not in ("tcp", "-1"):
                continue
            lo, hi = int(rule.get("from_port") or 0), int(rule.get("to_port") or 0)
            port = 0 if (lo, hi) in ((0, 65535), (-1, -1)) or rule.get("protocol") == "-1" else lo
            for cidr in rule.get("cidr_ips") or ():
                have.add(Rule(port, cidr))
            if any(g.get("group_id") == group.id for g in rule.get("group_pairs") or ()):
                have.add(Rule(port, CLUSTER))
        return have

    def _missing_rules(self, group) -> list[Rule]:
        have = self._rules_in(group) if group else set()
        return [
            r for r in firewall_rules(self.profile, self.pool) if Rule(r.port, r.source) not in have
        ]

    def access_missing(self) -> list[str]:
        out = []
        pairs = self.call("listing key pairs", self.driver.list_key_pairs)
        if self.key_pair not in {k.name for k in pairs}:
            out.append(f"ec2 ImportKeyPair {self.key_pair} (the pool's public key)")
        groups = self._groups()
        if not groups:
            out.append(f"ec2 CreateSecurityGroup {self.group}")
        for rule in self._missing_rules(groups[0] if groups else None):
            out.append(f"ec2 AuthorizeSecurityGroupIngress {self.group}: {rule.words()}")
        return out

    def access_extra(self) -> list[str]:
        groups = self._groups()
        if not groups:
            return []
        wanted = {Rule(r.port, r.source) for r in firewall_rules(self.profile, self.pool)}
        return [
            f"security group {self.group} also opens {r.words()}: fleetdeck did not add it "
            "and leaves it; remove it unless you mean it"
            for r in sorted(self._rules_in(groups[0]) - wanted)
        ]

    def ensure_access(self) -> list[str]:
        done = []
        with self.access_lock:
            pairs = self.call("listing key pairs", self.driver.list_key_pairs)
            if self.key_pair not in {k.name for k in pairs}:
                self.call(
                    f"importing key pair {self.key_pair}",
                    self.driver.import_key_pair_from_string,
                    self.key_pair,
                    self.public_key(),
                )
                done.append(f"imported key pair {self.key_pair}")
            groups = self._groups()
            if not groups:
                self.call(
                    f"creating security group {self.group}",
                    self.driver.ex_create_security_group,
                    self.group,
                    f"fleetdeck {self.fleet} cluster {self.pool.cluster}",
                )
                done.append(f"created security group {self.group}")
                groups = self._groups()
            group = groups[0]
            for rule in self._missing_rules(group):
                lo, hi = (0, 65535) if rule.port == 0 else (rule.port, rule.port)
                self.call(
                    f"opening {rule.words()} in {self.group}",
                    self.driver.ex_authorize_security_group_ingress,
                    group.id,
                    lo,
                    hi,
                    cidr_ips=None if rule.source == CLUSTER else [rule.source],
                    group_pairs=[{"group_id": group.id}] if rule.source == CLUSTER else None,
                )
                done.append(f"opened {rule.words()}")
        return done
