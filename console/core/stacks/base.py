"""What a stack adapter is: the facts and remedies the core and the screens need of a stack.

One instance per stack (console/core/stacks/gonka.py, ollama.py, vllm.py), registered in
console/core/stacks/__init__.py. The deploy steps and other actions of a stack are its other
half, in actions/stacks/<name>.py (they run commands on nodes, which the core never does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from console.core.accelerators import runbook as device_runbook
from console.core.monitor.runbooks import RUNBOOKS, Runbook
from console.core.schema import Strict

if TYPE_CHECKING:
    from console.core.monitor.findings import Finding
    from console.core.profile.schema import AlertsSection, Cluster, FleetProfile, Node
    from console.core.state import FleetState, NodeStatus


# a published port's host IP as docker reports it when bound to every interface
EVERY_INTERFACE = ("", "0.0.0.0", "::")  # noqa: S104 - read from docker, never bound


@dataclass(frozen=True)
class InferenceApi:
    """How a provider of the stack is asked for one short answer (the load test)."""

    port_setting: str | None  # the stack setting that holds the port (node's 127.0.0.1)
    path: str
    body: Callable[[str, str, int], dict]  # (model, prompt, tokens) -> the JSON request
    tokens: Callable[[dict], int]  # the tokens generated, read from the JSON answer
    port: int = 0  # the port where no setting moves it

    def port_of(self, settings: object) -> int:
        return int(getattr(settings, self.port_setting)) if self.port_setting else self.port


@dataclass(frozen=True)
class MetricsEndpoint:
    """A stack's endpoint that serves all its workers' metrics at once (one GET per node
    that serves it, instead of SSH to each worker): a [[sources]] kind of its own."""

    kind: str  # the [[sources]] kind that reads it
    role: str  # the role whose nodes serve it
    port_setting: str  # the stack setting that holds its port
    path: str
    # its Prometheus text -> {worker node name: probe-shaped data, with "up": bool}
    read: Callable[[str], dict[str, dict]]
    vendor: str = ""  # whose devices its workers' series are (an accelerator's name)


class CommonSettings(Strict):
    """Settings every stack reads, in [stack] and [clusters.settings]: where the deploy
    keeps its files on the node, and the model cache (HF_HOME)."""

    deploy_dir: str | None = None
    hf_home: str | None = None


# (title, running, [(label, value, alarming)]): a provider's status on the node screen
ProviderView = tuple[str, bool, list[tuple[str, object, bool]]]


@dataclass(frozen=True)
class Remedy:
    """A fix a stack offers for an alert: the runbook card offers it (d), the operator types
    `target` to confirm, the stack's action side runs it (StackActions.remedies) through
    `node`, and the console journals it as `action`."""

    action: str  # its name on the stack's action side and in the journal
    node: str  # the node it runs through
    target: str  # what it acts on, typed to confirm
    label: str  # what the card offers
    confirm: str  # what the confirmation asks


@dataclass(frozen=True)
class Stack:
    name: str
    roles: tuple[str, ...]
    # its own settings ([stack] and a cluster's [clusters.settings] of this stack), beside
    # CommonSettings; a key of another stack in a cluster of this one is refused
    settings: type[Strict] = Strict
    # what its settings' names start with in the model (`ollama_`): a table of this stack
    # alone writes them without it (`port`; console/core/profile/names.py)
    key_prefix: str = ""
    # stacks whose settings and steps it uses too (Golem fronts a host Ollama)
    builds_on: tuple[str, ...] = ()
    # settings it accepts (example profiles set them) that nothing reads yet, and why
    not_read_yet: dict[str, str] = field(default_factory=dict)
    # roles a cluster of this stack must have exactly one of (Gonka: the network node)
    singleton_roles: tuple[str, ...] = ()
    # ports that must never be reachable from the world (reference/protocols.md §1.1)
    private_ports: tuple[int, ...] = ()
    # what each role serves to the world (a cloud firewall opens these, and SSH, only)
    public_ports: tuple[tuple[str, tuple[int, ...]], ...] = ()
    description: str = ""
    # the containers a deployed node of each role runs (names as the compose files fix them)
    containers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # added to a node that serves a model although its role does not imply it
    model_containers: tuple[str, ...] = ()
    # containers of some releases only (Gonka's versiond since 0.2.12): watched where they
    # run, never called missing where they do not (older hosts stay readable)
    optional_containers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # roles that run a chain node (their status has a chain part)
    chain_roles: tuple[str, ...] = ()
    # alert kinds this stack reads in its own words: the runbook card speaks its language
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    # its providers' inference API, where it has providers to load-test
    inference: InferenceApi | None = None
    # what `fleetdeck setup` writes: short node names per role (c1-net), and the secrets
    # the stack needs, (name, what it protects)
    short_roles: tuple[tuple[str, str], ...] = ()
    tensor_parallel: bool = False  # its models' args name their GPUs (vLLM's -tp)
    secrets: tuple[tuple[str, str], ...] = ()
    metrics: MetricsEndpoint | None = None  # its workers' metrics in one place, if any
    # its own alert rules beside the generic ones: (node, [alerts], now) -> findings
    rules: Callable[[NodeStatus, AlertsSection, float], Iterable[Finding]] | None = None
    # how a node is taken out of service, in its words (an alert's next step says it)
    drain: str = ""
    # the chain's event an epoch counts down to, in its words (its phases of that name
    # stand out on screen); "" where its chain has none
    epoch_event: str = ""
    # its part of the node probe (a file the probe script takes in: its own readings, under
    # a line key), and how that reading becomes the node's provider status:
    # (the line's value) -> {"provider": …, "provider_error": …}
    probe_part: Path | None = None
    probe_key: str = ""
    read_probe: Callable[[dict], dict] | None = None
    # the provider status as the node screen shows it: (title, ok, [(label, value, alarming)])
    provider_view: Callable[[object], tuple[str, bool, list[tuple[str, object, bool]]]] | None = (
        None
    )

    def serves_models(self, role: str) -> bool:
        """Whether a node of this role serves a model (a chain node does not)."""
        return role not in self.chain_roles

    def setup_settings(
        self, release: str | None, https: bool, domain: str | None, seeds: dict | None
    ) -> list[tuple[str, object, str]]:
        """[stack] settings a new fleet's profile starts with: (key, value, comment)."""
        return []

    def setup_cluster_settings(
        self, cluster: str, public_url: str | None, first_host: str | None, domain: str | None
    ) -> list[tuple[str, object, str]]:
        """A new cluster's own [clusters.settings]: (key, value, comment)."""
        return []

    def expected_containers(self, role: str, serves_model: bool = False) -> list[str]:
        names = list(dict(self.containers).get(role, ()))
        for extra in self.model_containers if serves_model else ():
            if extra not in names:
                names.append(extra)
        return names

    def exposed(self, published: Iterable[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
        """The (container port, host IP, host port) bindings that put one of this stack's
        private ports on every interface of the host (Docker's rules come before ufw's)."""
        return [
            (port, ip, host_port)
            for port, ip, host_port in published
            if ip in EVERY_INTERFACE
            and (port in self.private_ports or host_port in self.private_ports)
        ]

    def public_ports_of(self, role: str) -> tuple[int, ...]:
        return dict(self.public_ports).get(role, ())

    def known_containers(self, role: str, serves_model: bool = False) -> list[str]:
        """The expected containers, then the optional ones of the role."""
        names = self.expected_containers(role, serves_model)
        return names + [n for n in dict(self.optional_containers).get(role, ()) if n not in names]

    def runbook(self, kind: str) -> Runbook | None:
        base = kind.split(":")[0]
        return self.runbooks.get(base) or device_runbook(base) or RUNBOOKS.get(base)

    def operator_command(self, profile: FleetProfile, node: Node, kind: str) -> str | None:
        """A command for the operator to run by hand for alert `kind` (where fleetdeck
        holds no key to run it itself), or None."""
        return None

    def deploy_gaps(self, profile: FleetProfile, cluster: Cluster) -> list[str]:
        """What a valid profile still lacks before this cluster can be deployed: a profile
        `check` accepts may still name no release or no key (`check` says so)."""
        return [
            f"node {n.name} serves no model (model = …)"
            for n in cluster.nodes
            if not (n.model or n.models)
        ]

    def remedy(self, profile: FleetProfile, node_name: str, kind: str) -> Remedy | None:
        """The fix this stack offers for alert `kind` on a node, if it has one."""
        return None

    def hold_changes(self, profile: FleetProfile, state: FleetState, node_name: str) -> str | None:
        """Why restarting or stopping a container of this node should wait now (a chain's
        busy phase), or None: the console then asks for a reason to go on anyway."""
        return None
