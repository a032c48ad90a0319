"""The fleet profile schema (pydantic v2). Field-level rules only.

Rules that need the whole document (unique names, roles per stack, declared models,
literal secrets) live in `profile.py`, so that every problem is reported in one pass.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from console.secrets import REFERENCE_SYNTAX, SecretError, parse_ref

StackName = Literal["gonka", "ollama", "vllm"]
DriverName = Literal["ec2", "gce", "azure", "dummy"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_host(value: str) -> str:
    """An IP address or an RFC 1123 host name; `10.0.0.300` is neither."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if (
        0 < len(value) <= 253
        and all(_LABEL_RE.match(label) for label in labels)
        and not labels[-1].isdigit()
    ):
        return value
    raise ValueError(f"{value!r} is not an IP address or hostname")


def check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


def check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    return value


def check_ref(value: str) -> str:
    try:
        parse_ref(value)
    except SecretError:
        raise ValueError(f"{value!r} is not a secret reference; use {REFERENCE_SYNTAX}") from None
    return value


def check_url(value: str) -> str:
    if not re.match(r"^(https?|tcp)://[^\s/]+", value):
        raise ValueError(f"{value!r} is not a URL (expected http://, https:// or tcp://HOST...)")
    return value


Host = Annotated[str, AfterValidator(check_host)]
Ip = Annotated[str, AfterValidator(check_ip)]
Name = Annotated[str, AfterValidator(check_name)]
SecretRefStr = Annotated[str, AfterValidator(check_ref)]
Url = Annotated[str, AfterValidator(check_url)]
Port = Annotated[int, Field(ge=1, le=65535)]
Labels = dict[str, str]


class Strict(BaseModel):
    # unknown keys are errors: a typo must never be silently ignored
    model_config = ConfigDict(extra="forbid", strict=True)


class FleetSection(Strict):
    name: Name
    stack: StackName
    description: str = ""


class SshSection(Strict):
    user: str = "root"
    key: str | None = None  # path to the private key file; the agent is used when absent
    port: Port = 22
    parallelism: Annotated[int, Field(ge=1, le=1000)] = 20
    connect_timeout: Annotated[float, Field(gt=0, le=600)] = 10.0
    command_timeout: Annotated[float, Field(gt=0, le=86400)] = 600.0
    keepalive: Annotated[int, Field(ge=0, le=3600)] = 15
    known_hosts: str | None = None  # fleetdeck's own file; the system one is read too
    jump: str | None = None  # bastion, as in ssh -J: [user@]host[:port]


class StackSection(Strict):
    """A stack's settings: [stack] for the whole fleet, and a cluster's own [clusters.settings]
    over it (two Gonka clusters are two participants, each with its own keys and URL)."""

    # gonka: the deploy repository and where it lives on the node
    repo: str | None = None
    ref: str | None = None
    deploy_dir: str | None = None
    hf_home: str | None = None
    chain_id: str | None = None
    key_name: str | None = None  # the warm (ML operational) key's name
    account_key_name: str = "gonka-account-key"  # the cold key's name in its local keyring
    account_pubkey: str | None = None  # the cold key's public key (public, not a secret)
    public_url: Url | None = None  # the participant's public URL (its network node's API)
    keyring_home: str | None = None  # the cold key's keyring directory on this machine
    seed_api_url: Url | None = None
    seed_rpc_url: Url | None = None
    seed_p2p_url: Url | None = None
    rpc_servers: list[Url] = []
    api_port: Port = 8000
    api_ssl_port: Port = 8443
    nginx_mode: Literal["http", "https"] = "http"
    mlnode_image: str | None = None
    # ollama / vllm
    ollama_port: Port = 11434
    vllm_port: Port = 8000
    vllm_image: str | None = None


# settings the schema takes (example profiles set them) that nothing reads yet, and why
NOT_READ_YET = {
    "mlnode_image": "the Gonka deploy runs the compose files' own ML node image",
    "vllm_image": "there is no vLLM deploy yet",
    "inference_timeout_pct": "the provider load test that measures it does not exist yet",
}


class ModelSpec(Strict):
    args: list[str] = []  # vLLM server arguments, as node-config.json carries them
    vram_gb: Annotated[float, Field(gt=0)] | None = None
    description: str = ""


class Node(Strict):
    name: Name
    host: Host
    port: Port | None = None  # SSH port; [ssh].port when absent
    user: str | None = None  # SSH user; [ssh].user when absent
    role: str
    model: str | None = None
    models: list[str] = []
    gpus: Annotated[int, Field(ge=0, le=64)] | None = None  # expected GPU count
    gpu_type: str | None = None
    private_ip: Ip | None = None  # how the cluster's other nodes reach this one
    public_url: Url | None = None
    labels: Labels = {}


class Cluster(Strict):
    name: Name
    stack: StackName | None = None  # [fleet].stack when absent
    settings: StackSection | None = None  # this cluster's own values over [stack]
    labels: Labels = {}
    nodes: list[Node] = []  # may start empty when a [provision] pool fills it


class AlertsSection(Strict):
    probe_interval_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    gpu_temp_c: Annotated[float, Field(gt=0, le=150)] = 85.0
    disk_free_pct: Annotated[float, Field(ge=0, le=100)] = 10.0
    chain_stall_s: Annotated[float, Field(gt=0)] = 60.0
    chain_lag_blocks: Annotated[int, Field(ge=0)] = 20
    inference_p95_s: Annotated[float, Field(gt=0)] = 2.0
    inference_timeout_pct: Annotated[float, Field(ge=0, le=100)] = 2.0


class ProvisionPool(Strict):
    name: Name
    driver: DriverName
    region: str
    size: str
    image: str
    count: Annotated[int, Field(ge=1, le=1000)] = 1
    cluster: str  # the cluster the new machines join
    role: str
    credentials: SecretRefStr | None = None  # None only for the dummy driver
    key_pair: str | None = None
    security_group: str | None = None
    open_ports: list[Port] = []  # opened to the world; admin ports are refused
    labels: Labels = {}


class ProvisionSection(Strict):
    pools: Annotated[list[ProvisionPool], Field(min_length=1)]


class FleetProfile(Strict):
    fleet: FleetSection
    ssh: SshSection = SshSection()
    secrets: dict[str, SecretRefStr] = {}
    stack: StackSection = StackSection()
    models: dict[str, ModelSpec] = {}
    clusters: Annotated[list[Cluster], Field(min_length=1)]
    alerts: AlertsSection = AlertsSection()
    provision: ProvisionSection | None = None

    def cluster_stack(self, cluster: Cluster) -> str:
        return cluster.stack or self.fleet.stack

    def stack_settings(self, cluster: Cluster) -> StackSection:
        """The cluster's stack settings: [stack], with what [clusters.settings] sets over it."""
        if cluster.settings is None:
            return self.stack
        return self.stack.model_copy(update=cluster.settings.model_dump(exclude_unset=True))

    def cluster_of(self, node_name: str) -> Cluster | None:
        return next((c for c, n in self.all_nodes() if n.name == node_name), None)

    def all_nodes(self) -> list[tuple[Cluster, Node]]:
        return [(c, n) for c in self.clusters for n in c.nodes]

    def node(self, name: str) -> Node | None:
        return next((n for _, n in self.all_nodes() if n.name == name), None)
