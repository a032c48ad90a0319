"""Deploy phases per stack, and the actions `fleetdeck plan` and `fleetdeck run` know."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from actions.engine import Action
from actions.preflight import preflight_action
from actions.registry import STACK_ACTIONS
from console.core.profile.schema import FleetProfile


def deploy_action(model: FleetProfile | None = None) -> Action:
    """The deploy of the stacks `model` runs (Gonka's where no profile is given). A fleet
    of several stacks gets each stack's steps, each on that stack's nodes only; a step
    name two stacks share is told apart by its stack (`vllm.models`)."""
    if model is None:
        stacks = ["gonka"]
    else:
        present = {model.cluster_stack(c) for c in model.clusters}
        stacks = [s for s in STACK_ACTIONS if s in present] or ["gonka"]
    built = [STACK_ACTIONS[s].deploy() for s in stacks]  # each its own clusters' nodes
    if len(built) == 1:
        return built[0]
    steps, taken = [], set()
    for stack, action in zip(stacks, built, strict=True):
        names = {
            s.name: (s.name if s.name not in taken else f"{stack}.{s.name}") for s in action.steps
        }
        for step in action.steps:
            steps.append(
                replace(
                    step,
                    name=names[step.name],
                    after=tuple(names.get(a, a) for a in step.after),
                    when=_on_stack(stack, step.when),
                )
            )
        taken |= set(names.values())
    return Action(
        name="deploy",
        description="; ".join(a.description for a in built),
        steps=tuple(steps),
        destructive=True,
        stacks=tuple(stacks),
        notes=lambda m: [n for a in built if a.notes is not None for n in a.notes(m)],
    )


def provision_action() -> Action:
    """The provision action, its cloud drivers imported only when it is built: libcloud's
    import cost every other command's start ~75 ms."""
    from actions.provision.action import provision_action as build  # noqa: PLC0415

    return build()


def _on_stack(stack: str, when):
    return lambda ctx: ctx.stack == stack and (when is None or when(ctx))


def actions() -> dict[str, Callable[..., Action]]:
    """Action name -> how to build it for a profile, the stacks' own read from the registry
    when asked (a stack registered later is there); each action says which stacks it knows."""
    return {
        "deploy": deploy_action,
        **{name: build for t in STACK_ACTIONS.values() for name, build in t.more.items()},
        "provision": provision_action,
        "preflight": preflight_action,
    }


def action_named(name: str, model: FleetProfile | None = None) -> Action:
    known = actions()
    build = known.get(name)
    if build is None:
        raise KeyError(f"unknown action {name!r}; one of: {', '.join(sorted(known))}")
    return build(model) if build is deploy_action else build()
