"""What fleetdeck asks of a cloud, whichever it is: the fleet's machines (found by tag), the
access rules a cluster's stack needs, creating and destroying machines, and what the
cloud can vouch for about a new machine's host key.

A cloud's libcloud driver is built on first use, in the worker that needs it: GCE and
Azure authenticate inside the driver's constructor (libraries.md §3.3).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from actions.provision.sizes import gpus_of
from actions.types import StepFailed, StepRefused
from console.core.profile.schema import FleetProfile, ProvisionPool
from console.core.secrets import Redactor, SecretError, resolve
from console.core.stacks import STACKS

# every machine fleetdeck creates carries these (EC2 tags, GCE labels, Azure tags)
TAG_FLEET = "fleetdeck-fleet"
TAG_POOL = "fleetdeck-pool"
TAG_NODE = "fleetdeck-node"

WORLD = "0.0.0.0/0"
CLUSTER = "cluster"  # a rule's source: the cluster's own machines
GONE = ("terminated", "shutting-down", "deleting")


@dataclass(frozen=True)
class Machine:
    id: str
    node: str  # its fleetdeck-node tag; "" when the machine carries none
    pool: str
    state: str  # pending | running | stopped | terminated | …, as the cloud says it
    public_ip: str | None
    private_ip: str | None
    zone: str

    @property
    def gone(self) -> bool:
        return self.state in GONE


@dataclass(frozen=True, order=True)
class Rule:
    """One opening in the cluster's firewall: a TCP port (0: every port) from a source."""

    port: int
    source: str  # a CIDR, or CLUSTER
    why: str = ""

    def words(self) -> str:
        port = "every TCP port" if self.port == 0 else f"tcp {self.port}"
        source = "the cluster's machines" if self.source == CLUSTER else self.source
        return f"{port} from {source}" + (f" ({self.why})" if self.why else "")


def firewall_rules(profile: FleetProfile, pool: ProvisionPool) -> list[Rule]:
    """What the cluster's firewall opens: SSH from the pool's `ssh_from`, each public port of
    the roles its pools make (and their `open_ports`) to the world, every port between the
    cluster's own machines (an ML node's 5050/8080 for its network node). Nothing else:
    admin and RPC ports stay closed."""
    cluster = next(c for c in profile.clusters if c.name == pool.cluster)
    stack = STACKS[profile.cluster_stack(cluster)]
    pools = [p for p in profile.provision.pools if p.cluster == pool.cluster]
    rules = {Rule(22, cidr, "SSH") for p in pools for cidr in p.ssh_from}
    for p in pools:
        for port in stack.public_ports_of(p.role):
            rules.add(Rule(port, WORLD, f"{stack.name} {p.role} node"))
        for port in p.open_ports:
            rules.add(Rule(port, WORLD, f"open_ports of pool {p.name}"))
    rules.add(Rule(0, CLUSTER))
    return sorted(rules)


# cloud error codes -> what to do (the pool and the cloud's own words are said with it)
FIXES = {
    "InstanceLimitExceeded": "quota: ask the cloud for a higher limit (AWS Service Quotas, "
    "'Running On-Demand P instances'), then run again with --resume: the machines made so "
    "far are kept",
    "VcpuLimitExceeded": "quota: ask for more vCPUs for this instance family (AWS Service "
    "Quotas), then run again with --resume: the machines made so far are kept",
    "MaxSpotInstanceCountExceeded": "spot quota: ask for a higher spot limit, or set "
    "spot = false, then run again with --resume",
    "InsufficientInstanceCapacity": "the region has no machines of that size free now: try "
    "another zone (zone = …) or later, with --resume",
    "Unsupported": "that size is not offered there: pick another region or zone",
    "InvalidInstanceType": "no such size: check its spelling (p5.48xlarge), and that the "
    "region offers it",
    "InvalidAMIID.NotFound": "no such image in this region: AMI ids differ per region",
    "InvalidAMIID.Malformed": "not an AMI id: images look like ami-0123456789abcdef0",
    "InvalidParameterValue": "a value the cloud refuses: check size, image and zone",
    "QUOTA_EXCEEDED": "quota: ask for more GPUs in this region (IAM & Admin → Quotas), then "
    "run again with --resume",
    "ZONE_RESOURCE_POOL_EXHAUSTED": "the zone has no machines of that size free now: try "
    "another zone, or later, with --resume",
    "OperationNotAllowed": "quota: ask for more cores of this VM family in the region, then "
    "run again with --resume",
    "SkuNotAvailable": "that size is not offered in this region: pick another region",
}
AUTH_CODES = (
    "AuthFailure",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnauthorizedOperation",
)
CODE_RE = re.compile(r"\b([A-Z][A-Za-z]+(?:\.[A-Za-z]+)*|[A-Z_]{6,})\b")


def refusal(pool: ProvisionPool, doing: str, exc: BaseException) -> StepFailed:
    """A cloud's error as the operator needs it: the pool, what was being done, the cloud's
    own words, and the fix. Errors no retry cures are StepRefused."""
    # libcloud's errors carry the cloud's words in .value or .message, not always in str()
    said = getattr(exc, "value", "") or getattr(exc, "message", "") or str(exc)
    text = str(said).strip() or type(exc).__name__
    text = text.splitlines()[0][:300]
    name = type(exc).__name__
    where = f"pool {pool.name} ({pool.driver} {pool.region}): {doing}"
    if name == "InvalidCredsError" or any(code in text for code in AUTH_CODES):
        return StepRefused(
            f"{where}: the cloud refused the credentials in {pool.credentials}: {text}; "
            "fix: store working ones there (see `fleetdeck provision --help`)"
        )
    for code, fix in FIXES.items():
        if code in text:
            return StepRefused(f"{where}: {text}; fix: {fix}")
    if name in ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout"):
        return StepFailed(f"{where}: the cloud's API did not answer ({text})")
    return StepFailed(f"{where}: {text}")


class Cloud:
    """One pool's view of its cloud. Subclasses fill in the driver calls."""

    provider = ""

    def __init__(self, profile: FleetProfile, pool: ProvisionPool, redactor: Redactor) -> None:
        self.profile = profile
        self.pool = pool
        self.redactor = redactor
        self.fleet = profile.fleet.name
        self._local = threading.local()
        self._lock = threading.RLock()  # the machine listing is read by one at a time
        # a cluster's pools share its firewall and the fleet's key pair: made once, by
        # whichever machine asks first (Clouds hands every pool the same lock)
        self.access_lock = threading.RLock()
        self._listed: tuple[float, list[Machine]] | None = None
        self._access_ready = False

    # -- what the plan says
    def gaps(self) -> list[str]:
        """What this cloud's driver cannot do that the pool asks for, in words."""
        return []

    def create_calls(self, name: str) -> list[str]:
        """The cloud calls that create machine `name`, in words (the plan shows them)."""
        raise NotImplementedError

    # -- the driver
    def credentials(self) -> str:
        if self.pool.credentials is None:
            raise StepRefused(f"pool {self.pool.name}: no credentials reference")
        try:
            return resolve(self.pool.credentials, self.redactor)
        except SecretError as exc:
            raise StepRefused(f"pool {self.pool.name}: {exc}") from None

    @property
    def driver(self):
        """This thread's driver: libcloud's are not thread-safe (GCE's image lookup in
        another project moves its connection's path for a while), so each worker has one."""
        driver = getattr(self._local, "driver", None)
        if driver is None:
            try:
                driver = self._local.driver = self.connect()
            except StepFailed:
                raise
            except Exception as exc:
                raise refusal(self.pool, "connecting", exc) from None
        return driver

    def connect(self):
        raise NotImplementedError

    def call(self, doing: str, fn: Callable, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StepFailed:
            raise
        except Exception as exc:
            raise refusal(self.pool, doing, exc) from None

    # -- machines
    def machines(self, fresh: bool = False) -> list[Machine]:
        """The fleet's machines this pool's account and region holds (every pool's), read
        at most every few seconds: a plan of many machines lists once."""
        with self._lock:
            if fresh or self._listed is None or time.monotonic() - self._listed[0] > 5:
                self._listed = (time.monotonic(), self.list_machines())
            return list(self._listed[1])

    def forget_listing(self) -> None:
        with self._lock:
            self._listed = None

    def machine_of(self, node: str) -> Machine | None:
        """The live machine tagged for `node` (a terminated one is history)."""
        live = [m for m in self.machines() if m.node == node and not m.gone]
        return live[0] if live else None

    def launches(self, node: str) -> int:
        """How many machines were made for `node` before (the idempotency token's part)."""
        return sum(1 for m in self.machines() if m.node == node and m.gone)

    def token(self, name: str) -> str:
        """An idempotency token for machine `name`: the same machine asked for twice (a
        retry, a resume) gets the same token; one made again after the old one was
        terminated gets a new one."""
        seed = f"{self.fleet}/{self.pool.name}/{name}/{self.launches(name)}"
        return "fleetdeck-" + hashlib.sha256(seed.encode()).hexdigest()[:40]

    def tags(self, node: str) -> dict[str, str]:
        return {TAG_FLEET: self.fleet, TAG_POOL: self.pool.name, TAG_NODE: node}

    # -- words for the plan
    def gpus_in_words(self) -> str:
        gpus, gpu_type = gpus_of(self.pool.size, self.pool.gpus, self.pool.gpu_type)
        return f"{gpus}×{gpu_type}" if gpus else "GPUs not known for this size"

    def tags_in_words(self, node: str) -> str:
        return " ".join(f"{k}={v}" for k, v in self.tags(node).items())

    @property
    def user(self) -> str:
        """The login the machine's image gets the pool's key for."""
        return self.pool.ssh_user or self.profile.ssh.user

    def list_machines(self) -> list[Machine]:
        raise NotImplementedError

    def refresh(self, machine: Machine) -> Machine:
        """The machine as the cloud has it now (terminated when it is not listed)."""
        for m in self.machines(fresh=True):
            if m.id == machine.id:
                return m
        return Machine(machine.id, machine.node, machine.pool, "terminated", None, None, "")

    def create(self, name: str, token: str) -> Machine:
        raise NotImplementedError

    def destroy(self, machine: Machine) -> None:
        raise NotImplementedError

    # -- access: key and firewall
    def access_missing(self) -> list[str]:
        """What must still be made for the pool's machines to be reachable, in words."""
        raise NotImplementedError

    def ensure_access(self) -> list[str]:
        """Make what access_missing names (once, whichever machine asks first)."""
        raise NotImplementedError

    def access_ready(self) -> list[str]:
        """ensure_access, once per run of this pool (every machine's creation asks)."""
        with self.access_lock:
            if self._access_ready:
                return []
            done = self.ensure_access()
            self._access_ready = True
            return done

    def access_extra(self) -> list[str]:
        """Openings found in the firewall that the stack does not want (never removed by
        fleetdeck, which did not add them): said in the plan."""
        return []

    # -- host keys
    def console_output(self, machine: Machine) -> str | None:
        """The machine's console output, where the cloud keeps one (cloud-init prints the
        host key fingerprints there); None where it cannot vouch for a key."""
        return None

    def public_key(self) -> str:
        from pathlib import Path

        path = self.pool.public_key or (
            self.profile.ssh.key + ".pub" if self.profile.ssh.key else None
        )
        if path is None:
            raise StepRefused(
                f"pool {self.pool.name}: which SSH key may log in? set public_key = "
                '"~/.ssh/….pub" in the pool, or [ssh].key (its .pub is used)'
            )
        file = Path(path).expanduser()
        try:
            text = file.read_text().strip()
        except OSError as exc:
            raise StepRefused(f"pool {self.pool.name}: public key {file}: {exc.strerror}") from None
        if not text.startswith(("ssh-", "ecdsa-")):
            raise StepRefused(f"pool {self.pool.name}: {file} is not an SSH public key")
        return text


class Clouds:
    """The clouds of one action run, one per pool, made on first use."""

    def __init__(self, makers: dict[str, type[Cloud]]) -> None:
        self.makers = makers
        self._clouds: dict[str, Cloud] = {}
        self._lock = threading.Lock()
        self._access_lock = threading.RLock()

    def of(self, profile: FleetProfile, pool: ProvisionPool, redactor: Redactor) -> Cloud:
        with self._lock:
            cloud = self._clouds.get(pool.name)
            if cloud is None or cloud.pool != pool:
                maker = self.makers.get(pool.driver)
                if maker is None:
                    raise StepRefused(f"pool {pool.name}: no provisioning for {pool.driver}")
                cloud = self._clouds[pool.name] = maker(profile, pool, redactor)
                cloud.access_lock = self._access_lock
            return cloud
