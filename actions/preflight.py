"""`preflight`: is each machine ready for its stack, and the fix where one exists
(operations.md §3, the newcomer's step 4). Any stack; the plan shows each fix, command for
command, before anything is changed.

Steps: gpu-health (a GPU answering [N/A] is faulty: reset it) → toolkit (docker without
the nvidia runtime: install the NVIDIA container toolkit and register it) → compose (only
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
    out = ctx.run(
        "nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader,nounits",
        quiet=True,
        check=False,
    )
    if out.exit == 127:
        raise StepFailed("nvidia-smi is missing: install the NVIDIA driver first")
    faulty = [
        fields[0].strip()
        for line in out.stdout.splitlines()
        if len(fields := line.split(",")) >= 2
        and "N/A" in fields[1]
        and fields[0].strip().isdigit()  # the node's words become a command: digits only
    ]
    if not faulty:
        note(ctx, f"{len(out.stdout.splitlines())} GPUs answer")
        return None
    return Change(
        f"reset GPU {', '.join(faulty)}: it answers [N/A] (faulty until reset; if a reset does "
        "not bring it back, take it out of the node's gpus)",
        tuple(f"{ctx.sudo}nvidia-smi --gpu-reset -i {i}" for i in faulty),
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


def toolkit_check(ctx: NodeContext) -> Change | None:
    found = runtimes(ctx)
    if found is None or "nvidia" in found:
        return None
    s = ctx.sudo
    return Change(
        "install the NVIDIA container toolkit (docker has no nvidia runtime: the containers "
        "would see no GPU) and register it with docker",
        (
            f"{s}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nvidia-container-toolkit",
            f"{s}nvidia-ctk runtime configure --runtime=docker",
            f"{s}systemctl restart docker",
        ),
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
        description="each machine's readiness for its stack, with the fixes: faulty GPUs, "
        "the container toolkit, compose v2, room for the models, private ports open",
        destructive=True,
        steps=(
            Step("gpu-health", "GPUs answer", gpu_health, gpu_reset, when=serving, retries=0),
            Step(
                "toolkit",
                "NVIDIA container toolkit",
                toolkit_check,
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
