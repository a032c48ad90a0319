"""`preflight`: is each machine ready for its stack, and the fix where one exists
(operations.md §3, the newcomer's step 4). Any stack; the plan shows each fix, command for
command, before anything is changed.

Steps: gpu-health (a device its vendor's tool calls faulty: reset it) → toolkit (docker
without the runtime the devices need: the vendor's container runtime, installed and
registered where it comes from a package, named with its fix where it does not; each
vendor's words are its adapter's, console/core/accelerators/) → compose (only
the old docker-compose: install the compose v2 plugin) → disk (room for the models under
HF_HOME, or Ollama's models directory, for the models not there yet; no fix but where
there is room) → exposure (a container publishing one of the
stack's private ports on every interface: stopped, for its deploy to bind it privately).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace

from actions.devices import inventory
from actions.engine import Action, Change, NodeContext, Step, StepFailed
from actions.stacks import ollama
from actions.stacks.node_http import note
from actions.stacks.weights import (
    free_kb_command,
    hf_home,
    missing_models,
    models_of,
    space_needed_gb,
)
from console.core.stacks import STACKS
from console.core.stacks.base import EVERY_INTERFACE


def serving(ctx: NodeContext) -> bool:
    return STACKS[ctx.stack].serves_models(ctx.node.role) or bool(models_of(ctx.node))


# ---------------------------------------------------------------- gpus


def gpu_health(ctx: NodeContext) -> Change | None:
    accelerator, deploy, listed = inventory(ctx)
    noun = accelerator.noun
    if not deploy.health_query:
        note(ctx, f"{len(listed)} {accelerator.label} {noun}s answer")
        return None
    out = ctx.run(deploy.health_query, quiet=True, check=False)
    faulty = deploy.faulty(out.stdout)
    if not faulty:
        note(ctx, f"{len(out.stdout.splitlines())} {noun}s answer")
        return None
    return Change(
        f"reset {noun} {', '.join(faulty)}: it answers [N/A] (faulty until reset; if a reset "
        "does not bring it back, take it out of the node's gpus)",
        tuple(deploy.reset.format(sudo=ctx.sudo, index=i) for i in faulty),
    )


def gpu_reset(ctx: NodeContext, change: Change) -> None:
    for command in change.commands:
        out = ctx.run(command, check=False)
        if out.exit != 0:
            raise StepFailed(
                f"{command}: {(out.stdout + out.stderr).strip()[-200:]} (a process may hold "
                "the GPU: stop the node's containers first)"
            )


# ---------------------------------------------------------------- toolkit and compose


def runtimes(ctx: NodeContext) -> dict | None:
    out = ctx.run("docker info --format '{{json .Runtimes}}'", quiet=True, check=False)
    if out.exit != 0:
        return None  # no docker yet: the deploy installs it
    try:
        return json.loads(out.stdout or "{}")
    except ValueError:
        return None


def runtime_check(ctx: NodeContext) -> Change | None:
    """The container runtime the node's devices need (their vendor's), registered with
    docker; installed by the plan's commands where the vendor's come from a package,
    else named with how to do it by hand."""
    found = runtimes(ctx)
    if found is None:
        return None
    accelerator, deploy, _ = inventory(ctx)
    if not deploy.runtime or deploy.runtime in found:
        return None
    missing = (
        f"docker has no {deploy.runtime} runtime: {accelerator.label} containers would see no "
        f"{accelerator.noun}"
    )
    if not deploy.runtime_fix:
        raise StepFailed(f"{missing}; install {deploy.runtime_words}: {deploy.runtime_by_hand}")
    return Change(
        f"install {deploy.runtime_words} ({missing}) and register it with docker",
        tuple(command.format(sudo=ctx.sudo) for command in deploy.runtime_fix),
    )


def compose_check(ctx: NodeContext) -> Change | None:
    v2 = ctx.run("docker compose version --short", quiet=True, check=False)
    if v2.exit == 0 or runtimes(ctx) is None:
        return None
    v1 = ctx.run("docker-compose version --short", quiet=True, check=False)
    was = f"only docker-compose {v1.stdout.strip()}" if v1.exit == 0 else "no compose at all"
    return Change(
        f"install the `docker compose` plugin ({was}: the deploy runs `docker compose`)",
        (f"{ctx.sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose-v2",),
    )


def commands_apply(ctx: NodeContext, change: Change) -> None:
    for command in change.commands:
        out = ctx.run(command, check=False, timeout=900)
        if out.exit != 0:
            raise StepFailed(f"{command}: {(out.stderr or out.stdout).strip()[-300:]}")


# ---------------------------------------------------------------- disk


def models_to_come(ctx: NodeContext) -> tuple[str, list[str], float]:
    """Where the node's models go, those not there yet (what is there takes no more room),
    and the bytes a parameter takes when a model's size is read from its name."""
    if ctx.stack == "ollama":
        return ollama.MODELS_DIR, ollama.models_missing(ctx), ollama.BYTES_PER_PARAMETER
    return hf_home(ctx), missing_models(ctx), 2.0


def disk_check(ctx: NodeContext) -> Change | None:
    where, missing, width = models_to_come(ctx)
    need = space_needed_gb(ctx, missing, width)
    out = ctx.run(
        f"{free_kb_command(where)}; echo ---; df -Pk | awk 'NR>1 {{print $4, $6}}'",
        quiet=True,
        check=False,
    )
    here, _, mounts = out.stdout.partition("---")
    free = int(here.strip() or 0) / 1024**2
    if free >= need:
        note(ctx, f"{free:.0f} GB free under {where}, {need:.0f} GB needed")
        return None
    roomy = sorted(
        (int(m.group(1)) / 1024**2, m.group(2))
        for line in mounts.splitlines()
        if (m := re.match(r"^(\d+)\s+(\S+)$", line.strip()))
    )
    best = roomy[-1] if roomy else None
    setting = "Ollama's OLLAMA_MODELS" if ctx.stack == "ollama" else "[stack].hf_home"
    offer = (
        f"set {setting} under {best[1]} ({best[0]:.0f} GB free there)"
        if best and best[0] >= need
        else "free space, or give the node a larger disk"
    )
    raise StepFailed(
        f"{free:.0f} GB free under {where}, {need:.0f} GB needed for the node's models: {offer}"
    )


# ---------------------------------------------------------------- exposure


def exposure_check(ctx: NodeContext) -> Change | None:
    private = set(STACKS[ctx.stack].private_ports)
    out = ctx.run("docker ps --format '{{.Names}}\t{{.Ports}}'", quiet=True, check=False)
    if out.exit != 0 or not private:
        return None
    open_to_world: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        name, _, ports = line.partition("\t")
        for item in ports.split(","):  # 0.0.0.0:9100->9100/tcp, :::9100->9100/tcp, …
            published, arrow, _ = item.strip().partition("->")
            ip, _, port = published.rpartition(":")
            exposed = arrow and port.isdigit() and ip.strip("[]") in EVERY_INTERFACE
            if exposed and int(port) in private:
                open_to_world.setdefault(name.strip(), []).append(port)
    if not open_to_world:
        return None
    said = "; ".join(f"{n} publishes {', '.join(sorted(set(p)))}" for n, p in open_to_world.items())
    return Change(
        f"stop what opens private ports to the world ({said} on every interface; docker's "
        "rules come before the firewall's): the deploy starts it again bound to 127.0.0.1",
        tuple(f"docker stop {shlex.quote(n)}" for n in open_to_world),
    )


def stacks_checks() -> tuple[Step, ...]:
    """The checks each stack adds (StackActions.preflight), each on that stack's nodes."""
    from actions.registry import STACK_ACTIONS  # noqa: PLC0415 - the registry imports steps

    def on(stack: str, when):
        return lambda ctx: ctx.stack == stack and (when is None or when(ctx))

    return tuple(
        replace(step, when=on(stack, step.when))
        for stack, table in STACK_ACTIONS.items()
        for step in table.preflight
    )


def preflight_action() -> Action:
    return Action(
        name="preflight",
        description="each machine's readiness for its stack, with the fixes: faulty devices, "
        "their container runtime, compose v2, room for the models, private ports open",
        destructive=True,
        steps=(
            Step("gpu-health", "GPUs answer", gpu_health, gpu_reset, when=serving, retries=0),
            Step(
                "toolkit",
                "container runtime",
                runtime_check,
                commands_apply,
                when=serving,
                retries=1,
            ),
            Step("compose", "compose v2", compose_check, commands_apply, retries=1),
            Step("disk", "room for the models", disk_check, when=serving, retries=0),
            Step("exposure", "private ports", exposure_check, commands_apply, retries=0),
            *stacks_checks(),
        ),
    )
