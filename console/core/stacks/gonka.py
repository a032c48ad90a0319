"""The Gonka stack, as the core sees it: a network node (chain, API, proxy) per cluster and
its ML nodes; where the chain's RPC answers; the runbook words and remedies of its alerts.

Its deploy and the other actions that run on nodes are in actions/stacks/gonka.py.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from console.core.accelerators.nvidia import NVIDIA
from console.core.monitor.runbooks import Runbook
from console.core.schema import Port, Strict, Url
from console.core.stacks.base import (
    EVERY_INTERFACE,
    InferenceApi,
    MetricsEndpoint,
    Remedy,
    Stack,
)
from console.core.stacks.gonka_api import poc_hold
from console.core.stacks.gonka_cosmovisor import reading as cosmovisor_reading
from console.core.stacks.gonka_metrics import read_mlnode_metrics
from console.core.stacks.gonka_rules import chain_findings
from console.core.stacks.vllm import chat_body, chat_tokens

if TYPE_CHECKING:
    from console.core.profile.schema import Cluster, FleetProfile, Node
    from console.core.state import FleetState

CHAIN_CONTAINER, RPC_PORT = "node", 26657
DEFAULT_CHAIN_ID = "gonka-mainnet"

# the devices Gonka's ML node image (CUDA) runs on: its deploy and metrics ask this adapter
GPUS = NVIDIA


class GonkaSettings(Strict):
    """Gonka's settings in [stack] and [clusters.settings] (profiles/README.md)."""

    # the deploy repository and where it lives on the node
    repo: str | None = None
    ref: str | None = None
    chain_id: str | None = None
    key_name: str | None = None  # the warm (ML operational) key's name
    account_key_name: str = "gonka-account-key"  # the cold key's name in its local keyring
    account_pubkey: str | None = None  # the cold key's public key (public, not a secret)
    account_address: str | None = None  # the cold key's address (written by `keys`)
    ml_ops_address: str | None = None  # the warm key's address (written by `keys`)
    public_url: Url | None = None  # the participant's public URL (its network node's API)
    # the cold key's keyring directory on this machine (default: one per cluster under
    # $XDG_DATA_HOME/fleetdeck/keyrings/), and the `inferenced` CLI that uses it
    keyring_home: str | None = None
    cli: str = "inferenced"
    seed_api_url: Url | None = None
    seed_rpc_url: Url | None = None
    seed_p2p_url: Url | None = None
    rpc_servers: list[Url] = []
    api_port: Port = 8000
    api_ssl_port: Port = 8443
    nginx_mode: Literal["http", "https"] = "http"
    mlnode_image: str | None = None


# settings taken (example profiles set them) that nothing reads yet, and why
NOT_READ_YET = {"mlnode_image": "the Gonka deploy runs the compose files' own ML node image"}


# the network's own seeds and RPC servers (deploy/join/config.env.template of the release)
SEEDS = {
    "seed_api_url": "http://node2.gonka.ai:8000",
    "seed_rpc_url": "http://node2.gonka.ai:8000/chain-rpc/",
    "seed_p2p_url": "tcp://node2.gonka.ai:5000",
}
RPC_SERVERS = ["http://node1.gonka.ai:8000/chain-rpc/", "http://node2.gonka.ai:8000/chain-rpc/"]
RELEASE = "v0.2.14"  # the release the reference describes


class GonkaStack(Stack):
    def operator_command(self, profile: FleetProfile, node: Node, kind: str) -> str | None:
        if kind.split(":")[0] in ("validator_not_in_set", "participant_not_in_epoch"):
            return unjail_command(profile, node)  # jailed, and so out of the epoch
        return None

    def hold_changes(self, profile: FleetProfile, state: FleetState, node_name: str) -> str | None:
        cluster = profile.cluster_of(node_name)
        network = next((n for n in cluster.nodes if n.role == "network"), None) if cluster else None
        status = state.nodes.get(network.name) if network is not None else None
        chain = status.chain if status is not None else None
        if chain is None or cluster is None:
            return None
        return poc_hold(
            chain.phase, chain.confirmation_poc, chain.height, chain.window_at, cluster.name
        )

    def remedy(self, profile: FleetProfile, node_name: str, kind: str) -> Remedy | None:
        found = ml_node_to_disable(profile, node_name, kind)
        if found is None:
            return None
        network, ml_id = found
        return Remedy(
            "disable-ml-node",
            network,
            ml_id,
            f"disable ML node {ml_id} in {network}'s admin API (skips the next PoC)",
            f"Disable ML node {ml_id} in {network}'s admin API: it skips the next PoC",
        )

    def setup_settings(
        self, release: str | None, https: bool, domain: str | None, seeds: dict | None
    ) -> list[tuple[str, object, str]]:
        out: list[tuple[str, object, str]] = [
            ("ref", release or RELEASE, "the gonka release deployed"),
            ("nginx_mode", "https" if https else "http", "the configurator's HTTP or HTTPS"),
        ]
        given = seeds or SEEDS
        for key in ("seed_api_url", "seed_rpc_url", "seed_p2p_url"):
            out.append((key, given[key], "the network's seed" if seeds else "the network's"))
        if not seeds:
            out.append(("rpc_servers", RPC_SERVERS, "state sync from these"))
        return out

    def setup_cluster_settings(
        self, cluster: str, public_url: str | None, first_host: str | None, domain: str | None
    ) -> list[tuple[str, object, str]]:
        url = public_url or (
            f"https://{domain}:8443"  # the proxy's TLS port (api_ssl_port)
            if domain
            else f"http://{first_host}:8000"
            if first_host
            else None
        )
        out: list[tuple[str, object, str]] = [
            ("key_name", f"{cluster}-ml-ops-key", "the warm key, in the api container"),
        ]
        if url:
            out.append(("public_url", url, "the participant's URL (its network node)"))
        return out

    def deploy_gaps(self, profile: FleetProfile, cluster: Cluster) -> list[str]:
        """What the deploy's config.env and the keys need (deploy/join/config.env.template)."""
        s = profile.stack_settings(cluster)
        gaps = []
        if not s.ref:
            gaps.append("no release to deploy ([stack] ref, e.g. v0.2.14)")
        if not s.account_pubkey:
            gaps.append("no account key (account_pubkey: `fleetdeck run PROFILE keys` makes it)")
        if not s.key_name:
            gaps.append("no warm key name (key_name)")
        seeds = ("seed_api_url", "seed_rpc_url", "seed_p2p_url")
        missing = [k for k in seeds if not getattr(s, k)]
        if missing:
            gaps.append(f"no seeds ({', '.join(missing)}: the network's, to join it)")
        for secret in ("keyring_password", "account_keyring_password"):
            if secret not in profile.secrets:
                gaps.append(f"no [secrets] {secret} (a keyring: or env: reference)")
        return gaps


GONKA = GonkaStack(
    name="gonka",
    settings=GonkaSettings,
    not_read_yet=NOT_READ_YET,
    rules=chain_findings,
    # Cosmovisor's files on a network node, read each line (a halt at an upgrade's height)
    probe_part=Path(__file__).with_name("gonka_probe.py"),
    probe_key="gonka",
    read_probe=cosmovisor_reading,
    drain="disable it in the admin API before the next PoC",
    # every ML node's GPUs from the network node's public API: no SSH to the ML nodes
    metrics=MetricsEndpoint(
        "gonka-metrics",
        "network",
        "api_port",
        "/v1/mlnodes/metrics",
        read_mlnode_metrics,
        vendor=NVIDIA.name,  # its ML nodes' series are their NVIDIA GPUs'
    ),
    roles=("network", "ml"),
    singleton_roles=("network",),
    # CometBFT RPC, ML callback, admin API, inference, ML node management
    private_ports=(26657, 9100, 9200, 5050, 8080),
    # P2P, and the proxy's API (http, https); an ML node serves only its network node
    public_ports=(("network", (5000, 8000, 8443)),),
    description="Gonka network node (chain, API, proxy) and ML nodes (vLLM behind mlnode)",
    containers=(
        ("network", ("tmkms", "node", "api", "bridge", "proxy")),
        ("ml", ("mlnode-308", "inference")),
    ),
    model_containers=("mlnode-308", "inference"),
    optional_containers=(("network", ("versiond",)),),
    epoch_event="PoC",  # proof of compute: ML nodes busy, inference paused
    chain_roles=("network",),
    short_roles=(("network", "net"),),
    # what serves a model: vLLM behind the ML node's `inference` container, on 5050
    inference=InferenceApi(None, "/v1/chat/completions", chat_body, chat_tokens, port=5050),
    tensor_parallel=True,
    secrets=(
        ("keyring_password", "the warm key's keyring, in the network node's api container"),
        ("account_keyring_password", "the cold account key's keyring on this machine"),
    ),
    runbooks={
        # the generic cards, in Gonka's words (its PoC, its admin API, its ML node)
        "unreachable": Runbook(
            "Node unreachable",
            "fleetdeck cannot reach the node over SSH, or its probe went silent. Its last "
            "values stay on screen, marked stale. Requests routed to it (inference, the "
            "chain's PoC) fail too.",
            (
                "Is the machine up (cloud console, IPMI)?",
                "Is port 22 reachable from here?",
                "A hung host accepts TCP and never answers: look for kernel panics or OOM.",
            ),
            ("disable the ML node in the admin API before the next PoC",),
        ),
        "gpu_hot": Runbook(
            "GPU hot",
            "GPUs at or above the temperature threshold slow down, and at 92 °C the "
            "driver throttles hard: PoC nonces and tokens per second drop.",
            ("Fans and airflow; neighbouring machines; data centre temperature.",),
            NVIDIA.runbooks["gpu_hot"].actions,  # its ML nodes' GPUs are NVIDIA's
        ),
        "container_restarting": Runbook(
            "Container restarting",
            "The container crashes and restarts. For mlnode-308 this "
            "often means the model does not fit in GPU memory, or a bad model argument.",
            ("docker logs --tail 100 <name>", NVIDIA.memory_check),
            ("open logs", "restart the container"),
        ),
        "port_public": Runbook(
            "Private port open to the world",
            "A container publishes a port that must stay private (an admin API, an ML node's "
            "management or inference port, a callback port) on every interface. Docker writes "
            "its own iptables rules, which come before ufw's: the host's firewall does not "
            "protect it, and anyone who finds it can load or drive the node.",
            (
                "docker ps --format '{{.Names}} {{.Ports}}' on the node: 0.0.0.0:PORT is public",
                "the compose files that publish it (an override with ports: !override rebinds it)",
            ),
            ("bind it to 127.0.0.1 and the private address, then recreate the container",),
        ),
        "chain_behind": Runbook(
            "Chain node behind",
            "The chain node follows the chain but is more than [alerts].chain_lag_blocks "
            "blocks behind the fleet's highest: it may miss votes and PoC deadlines.",
            ("its peer count and the P2P port", "disk I/O (iostat) on the chain's data disk"),
            ("restart the node container; state-sync it if it keeps falling behind",),
        ),
        "chain_stalled": Runbook(
            "Chain stalled",
            "No new block for longer than the threshold: the node is stuck or the network halted.",
            ("docker logs node and tmkms", "disk space", "peers"),
        ),
        "chain_catching_up": Runbook(
            "Chain catching up",
            "The chain node is behind and syncing; its API answers may be "
            "stale, and the validator may miss blocks.",
            ("watch the height converge",),
        ),
        "chain_no_peers": Runbook(
            "No peers",
            "The chain node has no P2P peers: it cannot follow the chain.",
            ("P2P port 5000 open to the world", "SEED_NODE_P2P_URL in config.env"),
        ),
        "validator_not_in_set": Runbook(
            "Validator not in the set",
            "Our consensus key is not among the active validators: "
            "jailed (fewer than 50 of the last 100 blocks signed) or not registered.",
            ("inferenced query staking delegator-validators <cold address> shows jailed: true",),
            (
                "unjail with the cold key, where it lives: c on this card copies the exact "
                "command for this cluster",
            ),
        ),
        "participant_not_in_epoch": Runbook(
            "Not in the current epoch",
            "The participant is missing from the epoch's active set: no weight, no rewards "
            "this epoch.",
            ("the admin API setup report", "PoC results"),
        ),
        "chain_upgrade_halted": Runbook(
            "Chain halted at an upgrade",
            "An approved software upgrade's height came, and Cosmovisor found no binary for "
            "it: the chain node stops there, its container only restarts, and the node misses "
            "every block until the binary is in place.",
            (
                "cat .inference/data/upgrade-info.json (the upgrade's name and height)",
                "ls .inference/cosmovisor/upgrades/*/bin/ and .dapi/cosmovisor/upgrades/*/bin/",
                "docker logs node | grep 'UPGRADE.*NEEDED'",
            ),
            (
                "download both binaries of the release, check their sha256 against the "
                "notice, put them in place, docker start node",
            ),
        ),
        "inference_misses": Runbook(
            "Missed inference requests",
            "The chain counts requests routed to this host that it did not answer in time "
            "(or answered with an error, since gonka#1652). Misses cost weight and rewards; "
            "above 25 % the network's circuit breaker stops routing to the host.",
            (
                "each ML node's /health and inference latency (the node screen)",
                "docker logs of the ML nodes' inference containers for timeouts or errors",
                "the node's GPUs: a hot, throttled or lost GPU slows every answer",
            ),
            (
                "disable an ML node that cannot keep up until it is fixed, so requests go to "
                "the healthy ones",
            ),
        ),
        "ml_node_failed": Runbook(
            "ML node FAILED",
            "The network node's broker marked an ML node FAILED: it gets no "
            "inference and will miss PoC.",
            ("that ML node's containers and /health",),
            ("disable it in the admin API before the next PoC: POST /admin/v1/nodes/<id>/disable",),
        ),
        "service_slow": Runbook(
            "Inference over its latency objective",
            "The ML node's vLLM answers slower than the objective (p95 < 2 s by default).",
            ("vllm:num_requests_waiting on the ML node's /metrics", "GPU utilization"),
        ),
    },
)


def unjail_command(profile: FleetProfile, node: Node) -> str:
    """The exact `tx slashing unjail` for the operator to run where the cold key lives
    (reference/protocols.md §1.4). fleetdeck never holds the cold key, so it shows the
    command rather than running it."""
    cluster = profile.cluster_of(node.name)
    stack = profile.stack_settings(cluster) if cluster is not None else profile.stack
    public = node.public_url or stack.public_url
    rpc = stack.seed_rpc_url or (f"{public.rstrip('/')}/chain-rpc/" if public else None)
    # without a URL in the profile, the docs' $NODE_URL, left for the shell to expand
    where = shlex.quote(rpc) if rpc else '"$NODE_URL"/chain-rpc/'
    return (
        f"./inferenced tx slashing unjail --from {shlex.quote(stack.account_key_name)} "
        f"--keyring-backend file --chain-id {shlex.quote(stack.chain_id or DEFAULT_CHAIN_ID)} "
        f"--fees 200000ngonka --node {where}"
    )


# alerts about an ML node that do not stop it serving: no reason to disable it
NOT_SERVING_PROBLEMS = frozenset({"port_public", "slow_link"})


def ml_node_to_disable(
    profile: FleetProfile, node_name: str, alert_kind: str
) -> tuple[str, str] | None:
    """(network node, ML node id) for an alert the admin API can act on: an alert about a
    Gonka ML node (its id in node-config.json is its name), or `ml_node_failed:<id>` raised
    on the network node."""
    for cluster, node in profile.all_nodes():
        if node.name != node_name or profile.cluster_stack(cluster) != GONKA.name:
            continue
        network = next((n for n in cluster.nodes if n.role == "network"), None)
        if network is None:
            return None
        kind, _, detail = alert_kind.partition(":")
        if kind == "ml_node_failed" and detail:
            return network.name, detail
        if kind in NOT_SERVING_PROBLEMS:
            return None  # the node serves well: taking it out of PoC fixes nothing
        if node.role == "ml":
            return network.name, node.name
    return None


def chain_rpc_address(
    published: Iterable[tuple[int, str, int]], addresses: Iterable[str]
) -> tuple[str, int]:
    """Where the Gonka chain node's CometBFT RPC answers, as seen from its host.

    Gonka's compose files publish only P2P (5000:26656) since 0.2.9 (earlier ones also
    published 26657): the RPC is then reached at the `node` container's own address on
    the compose network. `published` is the container's (port, host IP, host port)
    list and `addresses` its network addresses, both as `docker inspect` gives them.
    """
    for port, host_ip, host_port in published:
        if port == RPC_PORT and host_port:
            # published on every address (0.0.0.0, ::): the host's loopback reaches it
            wildcard = host_ip in EVERY_INTERFACE
            return ("127.0.0.1" if wildcard else host_ip), host_port
    for address in addresses:
        if address:
            return address, RPC_PORT
    return "127.0.0.1", RPC_PORT  # not in a container: the node's own default


def inspect_networking(inspect: dict) -> tuple[list[tuple[int, str, int]], list[str]]:
    """(published ports, network addresses) of a container from its `docker inspect`."""
    settings = inspect.get("NetworkSettings") or {}
    published = []
    for key, bindings in (settings.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        if proto in ("", "tcp") and port.isdigit():
            for b in bindings or []:
                if str(b.get("HostPort", "")).isdigit():
                    published.append((int(port), b.get("HostIp") or "", int(b["HostPort"])))
    addresses = [
        n.get("IPAddress") for n in (settings.get("Networks") or {}).values() if n.get("IPAddress")
    ]
    return published, addresses


ML_CALLBACK_PORT, ADMIN_PORT_HOST = 9100, 9200
ML_NODE_PORTS = ((8080, 8080), (5050, 5000))  # (host, container): management/PoC, inference


def private_bindings(
    role: str, serves_model: bool, address: str, remote_ml: bool
) -> dict[str, tuple[tuple[str, int, int], ...]]:
    """Where a node's private ports are published: {service: ((host IP, host port, container
    port), ...)}. Gonka's compose files publish the API's ML callback port (9100) and the
    ML node's 8080 and 5050 on every interface, and Docker's own iptables rules come before
    ufw's, so the firewall cannot keep them private (reference/protocols.md §1.1: 26657, 9100,
    9200, 5050, 8080 must stay private). fleetdeck binds them instead: to the node's
    loopback, and to its private `address` only where another node must reach them (a
    remote ML node's PoC callbacks to 9100; the network node's calls to an ML node)."""
    out: dict[str, tuple[tuple[str, int, int], ...]] = {}

    def on(*ips: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(ips))  # one binding when the address is the loopback

    if role == "network":
        callback = on("127.0.0.1", address) if remote_ml else on("127.0.0.1")
        out["api"] = tuple((ip, ML_CALLBACK_PORT, ML_CALLBACK_PORT) for ip in callback) + (
            ("127.0.0.1", ADMIN_PORT_HOST, ADMIN_PORT_HOST),
        )
    if role == "ml" or serves_model:
        ips = on("127.0.0.1", address) if role == "ml" else on("127.0.0.1")
        out["inference"] = tuple((ip, h, c) for h, c in ML_NODE_PORTS for ip in ips)
    return out
