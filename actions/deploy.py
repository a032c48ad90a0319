"""Deploy phases per stack, and the actions `fleetdeck plan` and `fleetdeck run` know."""

from __future__ import annotations

from collections.abc import Callable

from actions.engine import Action
from actions.provision.action import provision_action
from actions.stacks import gonka, gonka_keys, gonka_register

# action name -> how to build it; each action says which stacks it knows
ACTIONS: dict[str, Callable[[], Action]] = {
    "deploy": gonka.deploy_action,
    "keys": gonka_keys.keys_action,
    "register": gonka_register.register_action,
    "provision": provision_action,
}


def action_named(name: str) -> Action:
    build = ACTIONS.get(name)
    if build is None:
        raise KeyError(f"unknown action {name!r}; one of: {', '.join(sorted(ACTIONS))}")
    return build()
