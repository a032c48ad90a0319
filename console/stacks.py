"""The facts about each stack that the core needs: its roles and its private ports.

Deploy steps and probes per stack live in `actions/stacks/`; this module only holds what
profile validation and provisioning checks must know without importing the action layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class StackInfo:
    name: str
    roles: tuple[str, ...]
    # roles a cluster of this stack must have exactly one of (Gonka: the network node)
    singleton_roles: tuple[str, ...] = ()
    # ports that must never be reachable from the world (reference/protocols.md §1.1)
    private_ports: tuple[int, ...] = ()
    description: str = ""
    # the containers a deployed node of each role runs (names as the compose files fix them)
    containers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # added to a node that serves a model although its role does not imply it
    model_containers: tuple[str, ...] = ()

    def expected_containers(self, role: str, serves_model: bool = False) -> list[str]:
        names = list(dict(self.containers).get(role, ()))
        for extra in self.model_containers if serves_model else ():
            if extra not in names:
                names.append(extra)
        return names


STACKS: dict[str, StackInfo] = {
    "gonka": StackInfo(
        name="gonka",
        roles=("network", "ml"),
        singleton_roles=("network",),
        # CometBFT RPC, ML callback, admin API, inference, ML node management
        private_ports=(26657, 9100, 9200, 5050, 8080),
        description="Gonka network node (chain, API, proxy) and ML nodes (vLLM behind mlnode)",
        containers=(
            ("network", ("tmkms", "node", "api", "bridge", "proxy")),
            ("ml", ("mlnode-308", "inference")),
        ),
        model_containers=("mlnode-308", "inference"),
    ),
    "ollama": StackInfo(
        name="ollama",
        roles=("provider",),
        private_ports=(11434,),
        description="Ollama GPU inference providers",
        containers=(("provider", ("ollama",)),),
    ),
    "vllm": StackInfo(
        name="vllm",
        roles=("server",),
        private_ports=(),
        description="vLLM OpenAI-compatible servers",
        containers=(("server", ("vllm",)),),
    ),
}

STACK_NAMES: tuple[str, ...] = tuple(STACKS)

CHAIN_CONTAINER, RPC_PORT = "node", 26657


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
            wildcard = host_ip in ("", "0.0.0.0", "::")  # noqa: S104 - read, not bound
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
