"""The facts about each stack that the core needs: its roles and its private ports.

Deploy steps and probes per stack live in `actions/stacks/`; this module only holds what
profile validation and provisioning checks must know without importing the action layer.
"""

from __future__ import annotations

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
