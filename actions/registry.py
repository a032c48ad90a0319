"""The stacks' action sides, one line each: each stack's table (its deploy, the actions it
adds, its doctor) lives in that stack's own module."""

from __future__ import annotations

from actions.stacks import golem, gonka_actions, ollama, vllm
from actions.types import StackActions

STACK_ACTIONS: dict[str, StackActions] = {
    "gonka": gonka_actions.GONKA,
    "vllm": vllm.ACTIONS,
    "ollama": ollama.ACTIONS,
    "golem": golem.ACTIONS,
}
