"""The stack registry: one adapter per stack, the only table that names them.

The core and the screens ask `STACKS[name]` (or `stack_of`) for a stack's roles, ports,
containers, settings, alert rules, runbook words and remedies; they never import a stack's
module by name. A new stack is one module here (its facts, a `Stack`), its collectors (a line
in collectors.py) and its action side in actions/stacks/ (a line in actions/registry.py):
tests/data/fifth_stack/ is one, registered by those three lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.core.stacks.base import CommonSettings, Remedy, Stack
from console.core.stacks.golem import GOLEM
from console.core.stacks.gonka import GONKA
from console.core.stacks.ollama import OLLAMA
from console.core.stacks.vllm import VLLM

if TYPE_CHECKING:
    from console.core.profile.schema import FleetProfile

STACKS: dict[str, Stack] = {s.name: s for s in (GONKA, OLLAMA, VLLM, GOLEM)}
STACK_NAMES: tuple[str, ...] = tuple(STACKS)
# [[sources]] kinds the stacks' own metrics endpoints add (Stack.metrics)
STACK_SOURCE_KINDS: tuple[str, ...] = tuple(s.metrics.kind for s in STACKS.values() if s.metrics)


class StackSection(CommonSettings, *(s.settings for s in STACKS.values())):
    """[stack] for the whole fleet, and a cluster's own [clusters.settings] over it (two
    Gonka clusters are two participants, each with its own keys and URL): the common
    settings and every stack's own, as each stack declares them. Which keys a cluster may
    set is its stack's (the profile's rules refuse another stack's: settings_of)."""


COMMON_SETTINGS = frozenset(CommonSettings.model_fields)


def settings_of(stack: str) -> frozenset[str]:
    """The keys a cluster of `stack` may set: the common ones, the stack's own, and those
    of the stacks it builds on (a Golem provider's host Ollama)."""
    info = STACKS.get(stack)
    if info is None:
        return COMMON_SETTINGS
    own = frozenset(info.settings.model_fields)
    return COMMON_SETTINGS | own.union(*(settings_of(s) for s in info.builds_on))


def stacks_knowing(key: str) -> list[str]:
    """The stacks whose settings have `key`."""
    return [s.name for s in STACKS.values() if key in s.settings.model_fields]


# settings taken that nothing reads yet, and why (`fleetdeck check` names them)
SETTINGS_NOT_READ_YET: dict[str, str] = {
    k: v for s in STACKS.values() for k, v in s.not_read_yet.items()
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
    "COMMON_SETTINGS",
    "Remedy",
    "Stack",
    "StackSection",
    "settings_of",
    "stack_of",
    "stacks_knowing",
]
