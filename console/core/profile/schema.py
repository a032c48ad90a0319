"""The fleet profile schema (pydantic v2). Field-level rules only.

Rules that need the whole document (unique names, roles per stack, declared models,
literal secrets) live in `profile.py`, so that every problem is reported in one pass.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from console.core.schema import (  # noqa: F401 - check_host and the types: part of this module's API
    Cidr,
    Endpoint,
    Host,
    Ip,
    Labels,
    Name,
    Port,
    SecretRefStr,
    Strict,
    Url,
    User,
    Word,
    check_host,
    render_names,
)
from console.core.stacks import SETTINGS_NOT_READ_YET, STACK_SOURCE_KINDS, STACKS, StackSection


def _known_stack(value: str) -> str:
    """A stack of the registry as it is when the profile is read (console/core/stacks/):
    a stack registered after this module was imported is known too."""
    if value not in STACKS:
        names = [repr(n) for n in STACKS]
        expected = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        )
    return value


StackName = Annotated[str, AfterValidator(_known_stack)]
DriverName = Literal["ec2", "gce", "azure", "dummy"]


class FleetSection(Strict):
    name: Name
    stack: StackName
    description: str = ""


class SshSection(Strict):
    user: User = "root"
    key: str | None = None  # path to the private key file; the agent is used when absent
    port: Port = 22
    parallelism: Annotated[int, Field(ge=1, le=1000)] = 20
    connect_timeout: Annotated[float, Field(gt=0, le=600)] = 10.0
    command_timeout: Annotated[float, Field(gt=0, le=86400)] = 600.0
    keepalive: Annotated[int, Field(ge=0, le=3600)] = 15
    known_hosts: str | None = None  # fleetdeck's own file; the system one is read too
    jump: str | None = None  # bastion, as in ssh -J: [user@]host[:port]


class ModelSpec(Strict):
    args: list[str] = []  # the model server's arguments, as the stack's config carries them
    vram_gb: Annotated[float, Field(gt=0)] | None = None
    description: str = ""


class Node(Strict):
    name: Name
    host: Host
    port: Port | None = None  # SSH port; [ssh].port when absent
    user: User | None = None  # SSH user; [ssh].user when absent
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
    # the concurrent requests each provider must serve within that p95 (the load test's
    # default concurrency; a deploy warns where the settings cannot serve them at once)
    inference_concurrency: Annotated[int, Field(ge=1, le=100_000)] | None = None


Severity = Literal["critical", "warning"]


class PagingRule(Strict):
    """Which alerts a rule is for (all that match each field given) and how they page.
    The first rule that matches an alert decides; [paging] itself where none does."""

    clusters: list[str] = []
    kinds: list[str] = []  # alert kinds (`host_down`, `gpu_xid`…); all when empty
    labels: Labels = {}  # the cluster's labels: {region = "eu-west"}
    severity: Severity | None = None  # the least severe that pages; [paging]'s when absent
    hold_s: Annotated[float, Field(ge=0, le=86400)] | None = None
    page: bool = True  # false: these never page (the console still shows them)


class SlackChannel(Strict):
    """A Slack incoming webhook; its URL is its secret, so a reference."""

    kind: Literal["slack"]
    name: Name = "slack"
    url: SecretRefStr


class DiscordChannel(Strict):
    kind: Literal["discord"]
    name: Name = "discord"
    url: SecretRefStr


class WebhookChannel(Strict):
    """Any HTTP endpoint: the page as JSON (status, page fields, text)."""

    kind: Literal["webhook"]
    name: Name = "webhook"
    url: SecretRefStr


class TelegramChannel(Strict):
    kind: Literal["telegram"]
    name: Name = "telegram"
    token: SecretRefStr  # the bot's token
    chat_id: Word  # a number, or @channel
    api_url: Url = "https://api.telegram.org"


class PagerDutyChannel(Strict):
    """PagerDuty's Events API v2."""

    kind: Literal["pagerduty"]
    name: Name = "pagerduty"
    routing_key: SecretRefStr  # the service integration's key
    url: Url = "https://events.pagerduty.com/v2/enqueue"


PagingChannel = Annotated[
    SlackChannel | DiscordChannel | WebhookChannel | TelegramChannel | PagerDutyChannel,
    Field(discriminator="kind"),
]


class PagingSection(Strict):
    """What `fleetdeck watch` pages and through what. An alert pages once it has held
    `hold_s` at `severity` or worse, and is resolved once it clears, only if it paged."""

    severity: Severity = "critical"
    hold_s: Annotated[float, Field(ge=0, le=86400)] = 60.0
    rules: list[PagingRule] = []
    # a real Alertmanager's address (its v2 API); it routes, groups, silences and
    # deduplicates what several watches post
    alertmanager: Url | None = None
    alertmanager_token: SecretRefStr | None = None  # a bearer token, by reference
    # how often a firing alert is posted again: Alertmanager forgets one not renewed
    resend_s: Annotated[float, Field(ge=1, le=3600)] = 60.0
    # a page is resolved once its alert has been clear this long; one back sooner (a
    # flapping host) sends nothing
    clear_s: Annotated[float, Field(ge=0, le=86400)] = 60.0
    channels: list[PagingChannel] = []


class SloSection(Strict):
    """The uptime objective `fleetdeck uptime` and the watch's burn-rate pages read."""

    uptime: Annotated[float, Field(gt=0, lt=100)] = 99.5  # percent of judged time
    window_days: Annotated[float, Field(gt=0, le=366)] = 30.0


class ProvisionPool(Strict):
    """Machines to rent for one cluster and role (actions/provision/). The firewall comes
    from the cluster's stack (its public ports, and SSH), never from here but `open_ports`."""

    name: Name
    driver: DriverName
    region: Word  # EC2 and Azure: the region; GCE: the zone (europe-west4-b)
    zone: Word | None = None  # EC2: an availability zone of the region
    size: Word
    image: Word
    count: Annotated[int, Field(ge=1, le=1000)] = 1
    # the new nodes' names: {pool}, {cluster}, {role} and {n} (1, 2, …)
    names: str = "{pool}-{n}"
    cluster: str  # the cluster the new machines join
    role: str
    gpus: Annotated[int, Field(ge=0, le=64)] | None = None  # the size's own when absent
    gpu_type: str | None = None
    disk_gb: Annotated[int, Field(ge=10, le=65536)] = 500
    disk_type: str | None = None  # gp3, pd-ssd, Premium_LRS; the cloud's default when absent
    spot: bool = False  # spot / preemptible, where the cloud's driver can ask for it
    ssh_user: User | None = None  # the image's login user; [ssh].user when absent
    public_key: str | None = None  # a .pub file; [ssh].key + ".pub" when absent
    credentials: SecretRefStr | None = None  # None only for the dummy driver
    endpoint: Endpoint | None = None  # an EC2-compatible API (moto, LocalStack); AWS's when absent
    project: str | None = None  # GCE: the project; the service account's when absent
    resource_group: str | None = None  # Azure: required
    network: str | None = None  # Azure: an existing VNet (required); EC2: a subnet id
    key_pair: str | None = None  # EC2: the key pair's name; fleetdeck-<fleet> when absent
    security_group: str | None = None  # EC2: its name; fleetdeck-<fleet>-<cluster> when absent
    ssh_from: list[Cidr] = ["0.0.0.0/0"]  # who may reach SSH: narrow it to your office
    open_ports: list[Port] = []  # more ports opened to the world; admin ports are refused
    labels: Labels = {}

    def node_name(self, n: int) -> str:
        return render_names(self.names, pool=self.name, cluster=self.cluster, role=self.role, n=n)


# what a status source can give of a node; a node's screen shows each one's source and age
SIGNALS = ("gpus", "events", "containers", "system", "chain", "services", "kube")
Signal = Literal[SIGNALS]
# signals by the name a profile wrote before: old name -> new (`check` says so; both load)
OLD_SIGNALS = {"xids": "events"}  # one vendor's events, before every vendor had its own


class SourceBase(Strict):
    """A status source ([[sources]]). Their order in the profile is the order of trust:
    where two give the same signal of a node, the first one's value is taken while it is
    fresh. SSH, unless listed, comes after them all and probes every profile node."""

    name: Name


class KubernetesSource(SourceBase):
    """A Kubernetes API: its nodes by pool (`fleetdeck pools`); with `cluster`, each node
    is watched in the fleet too (Ready, cordoned, GPUs allocatable against capacity)."""

    kind: Literal["kubernetes"]
    kubeconfig: str = "~/.kube/config"
    context: str | None = None  # the kubeconfig's current one when absent
    selector: str | None = None  # a label selector: which of the cluster's nodes are ours
    pool_label: str = "cloud.google.com/gke-nodepool"  # what names a node's pool
    cluster: str | None = None  # the fleet cluster its nodes join; pools only when absent
    role: str | None = None  # its nodes' role there; the stack's first when absent
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 30.0  # between two node lists
    # the inference workloads' namespaces: their pods' containers are each node's containers
    namespaces: list[str] = []
    pod_selector: str | None = None  # which pods there (a label selector); all when absent


class PrometheusSource(SourceBase):
    """A Prometheus server holding the GPU nodes' exporter series (each accelerator
    vendor's: console/core/accelerators/): a few queries per refresh for the whole fleet."""

    kind: Literal["prometheus"]
    url: Url
    token: SecretRefStr | None = None  # a bearer token, by reference (keyring: or env:)
    scrape_interval_s: Annotated[float, Field(gt=0, le=3600)] = 15.0  # Prometheus's own
    selector: str = ""  # PromQL label matchers on every query: 'job="gpu-exporters"'
    # the label that names a node; each exporter's own where absent (its adapter's)
    node_label: str | None = None
    node_pattern: str | None = None  # a regex; its first group is the node's name
    cluster_label: str | None = None  # a label whose value names the node's fleet cluster
    cluster: str | None = None  # the cluster of the nodes it finds, where no label says
    discover: bool = True  # nodes the profile does not list join the fleet from here
    role: str | None = None  # discovered nodes' role; the stack's first when absent
    gpus: Annotated[int, Field(ge=0, le=64)] | None = None  # GPUs each node should have


class StackMetricsSource(SourceBase):
    """A stack's own endpoint that serves its workers' metrics in one GET (the stack's
    adapter names it, console/core/stacks/): no SSH to each worker."""

    kind: Literal[STACK_SOURCE_KINDS]
    via: Literal["ssh", "public"] = "ssh"  # the node's own 127.0.0.1, or its public_url
    clusters: list[str] = []  # whose nodes serve it; every cluster of that stack when empty
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0  # how often it is read


class SshSource(SourceBase):
    """The SSH probe, limited to some clusters or roles (all profile nodes when absent)."""

    kind: Literal["ssh"]
    clusters: list[str] = []
    roles: list[str] = []


StatusSource = Annotated[
    KubernetesSource | PrometheusSource | StackMetricsSource | SshSource,
    Field(discriminator="kind"),
]


class ProvisionSection(Strict):
    pools: Annotated[list[ProvisionPool], Field(min_length=1)]


# settings taken (example profiles set them) that nothing reads yet, and why
NOT_READ_YET = dict(SETTINGS_NOT_READ_YET)


class FleetProfile(Strict):
    fleet: FleetSection
    ssh: SshSection = SshSection()
    secrets: dict[str, SecretRefStr] = {}
    stack: StackSection = StackSection()
    models: dict[str, ModelSpec] = {}
    clusters: Annotated[list[Cluster], Field(min_length=1)]
    alerts: AlertsSection = AlertsSection()
    paging: PagingSection = PagingSection()
    slo: SloSection = SloSection()
    provision: ProvisionSection | None = None
    sources: list[StatusSource] = []
    # per signal, its own order of sources (names; "ssh" for the probe) where it differs
    # from the order of [[sources]]: `gpus = ["ssh", "gmp"]` trusts the probe's GPUs first
    trust_order: dict[Signal, list[str]] = Field(default={}, alias="trust")

    @field_validator("trust_order", mode="before")
    @classmethod
    def _old_signal_names(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {OLD_SIGNALS.get(k, k): v for k, v in value.items()}

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

    def probed_by_ssh(self, cluster: Cluster, node: Node) -> bool:
        """Whether the SSH probe watches this node: every profile node, unless [[sources]]
        lists an `ssh` source, which then names the clusters and roles it covers."""
        ssh = [s for s in self.sources if s.kind == "ssh"]
        if not ssh:
            return True
        return any(
            (not s.clusters or cluster.name in s.clusters) and (not s.roles or node.role in s.roles)
            for s in ssh
        )

    def trust(self, signal: str | None = None) -> list[str]:
        """Source names, most trusted first: the signal's own [trust] order, else the
        order of [[sources]]; "ssh" last unless placed."""
        names = [s.name if s.kind != "ssh" else "ssh" for s in self.sources]
        own = self.trust_order.get(signal, []) if signal else []
        return list(dict.fromkeys([*own, *names, "ssh"]))
