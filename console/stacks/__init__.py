"""The stack registry: one adapter per stack, the only table that names them.

The core and the screens ask `STACKS[name]` (or `stack_of`) for a stack's roles, ports,
containers, runbook words and remedies; they never import a stack's module by name. A new
stack is one module here (its facts, a `Stack`) plus its actions in actions/stacks/, and a
line in each registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.stacks.base import Stack
from console.stacks.gonka import GONKA
from console.stacks.ollama import OLLAMA
from console.stacks.vllm import VLLM

if TYPE_CHECKING:
    from console.profile_schema import FleetProfile

STACKS: dict[str, Stack] = {s.name: s for s in (GONKA, OLLAMA, VLLM)}
STACK_NAMES: tuple[str, ...] = tuple(STACKS)


def stack_of(profile: FleetProfile, node_name: str) -> Stack | None:
    """The stack of the cluster a node belongs to."""
    for cluster, node in profile.all_nodes():
        if node.name == node_name:
            return STACKS.get(profile.cluster_stack(cluster))
    return None


__all__ = ["STACKS", "STACK_NAMES", "Stack", "stack_of"]
