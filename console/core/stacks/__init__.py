"""The stack registry: one adapter per stack, the only table that names them.

The core and the screens ask `STACKS[name]` (or `stack_of`) for a stack's roles, ports,
containers, runbook words and remedies; they never import a stack's module by name. A new
stack is one module here (its facts, a `Stack`) plus its actions in actions/stacks/, and a
line in each registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.core.stacks import gonka, ollama, vllm
from console.core.stacks.base import Stack
from console.core.stacks.gonka import GONKA, GonkaSettings
from console.core.stacks.ollama import OLLAMA, OllamaSettings
from console.core.stacks.vllm import VLLM, VllmSettings

if TYPE_CHECKING:
    from console.core.profile.schema import FleetProfile

STACKS: dict[str, Stack] = {s.name: s for s in (GONKA, OLLAMA, VLLM)}
STACK_NAMES: tuple[str, ...] = tuple(STACKS)
# [[sources]] kinds the stacks' own metrics endpoints add (Stack.metrics)
STACK_SOURCE_KINDS: tuple[str, ...] = tuple(s.metrics.kind for s in STACKS.values() if s.metrics)


class StackSection(GonkaSettings, OllamaSettings, VllmSettings):
    """A stack's settings: [stack] for the whole fleet, and a cluster's own
    [clusters.settings] over it (two Gonka clusters are two participants, each with its own
    keys and URL). Every stack's settings, as each stack's module declares them."""


# settings taken that nothing reads yet, and why (`fleetdeck check` names them)
SETTINGS_NOT_READ_YET: dict[str, str] = {
    **gonka.NOT_READ_YET,
    **ollama.NOT_READ_YET,
    **vllm.NOT_READ_YET,
}


def stack_of(profile: FleetProfile, node_name: str) -> Stack | None:
    """The stack of the cluster a node belongs to."""
    for cluster, node in profile.all_nodes():
        if node.name == node_name:
            return STACKS.get(profile.cluster_stack(cluster))
    return None


__all__ = [
    "SETTINGS_NOT_READ_YET",
    "STACKS",
    "STACK_NAMES",
    "STACK_SOURCE_KINDS",
    "Stack",
    "StackSection",
    "stack_of",
]
