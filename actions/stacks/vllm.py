"""The vLLM deploy: one OpenAI-compatible vLLM server container per node, from a compose
file fleetdeck writes, on the devices the node should have, named one by one, in their
vendor's way (actions/devices.py asks the vendor's adapter: its runtime, its device
selection, the image built for its devices).

`count: all` in a compose file gives the container whatever GPUs the runtime sees at
start: on a rented host with a GPU gone (fallen off the bus) vLLM then starts on fewer and
dies with "World size (4) is larger than the number of available GPUs (3)", or worse,
serves with less (operations.md §3). So the GPUs are counted first (gpus), and the
compose file names each device (`device_ids`): a missing one stops the container at
start, with the runtime's own words, instead of a silently smaller server.

Steps: gpus → models (weights in HF_HOME) → compose (the file, as the plan shows it) →
server (started, or recreated when its file changed since; waits for /health) →
validation (/v1/models lists the model; the container sees its GPUs).
"""

from __future__ import annotations

import json
import re
import shlex

from actions.devices import inventory
from actions.engine import Action, Change, NodeContext, Step, StepFailed, sh_path
from actions.stacks.node_http import node_json, note, url_answers
from actions.stacks.weights import hf_home, models_apply, models_check, models_of
from actions.types import StackActions, file_diff
from console.core.times import rfc3339_seconds

DEFAULT_DIR = "/opt/vllm"
# the vLLM project's image for each platform it publishes one for; elsewhere (Habana's
# build, ROCm's) the profile names the image
IMAGES = {"cuda": "vllm/vllm-openai:v0.11.0"}
CONTAINER = "vllm"
HEALTH_WAIT_S = 900.0  # loading a 70B model's weights takes minutes
# what a server's log says when it cannot start: the lines worth the operator's eyes
CAUSE = re.compile(
    r"World size|available GPUs|CUDA|out of memory|device error|unknown device|"
    r"RuntimeError|ValueError|Error:",
    re.IGNORECASE,
)


def vllm_dir(ctx: NodeContext) -> str:
    return (ctx.settings.deploy_dir or DEFAULT_DIR).rstrip("/")


def compose_path(ctx: NodeContext) -> str:
    return f"{vllm_dir(ctx)}/docker-compose.yml"


def served_model(ctx: NodeContext) -> str:
    models = models_of(ctx.node)
    if not models:
        raise StepFailed(f"{ctx.name} serves no model: set model = … on the node")
    return models[0]


def wanted_gpus(ctx: NodeContext) -> int:
    """The GPUs the server must have: the node's count, else its tensor parallelism."""
    if ctx.node.gpus:
        return ctx.node.gpus
    args = model_args(ctx)
    for i, arg in enumerate(args):
        if arg in ("--tensor-parallel-size", "-tp") and i + 1 < len(args):
            return int(args[i + 1])
    return 1


def model_args(ctx: NodeContext) -> list[str]:
    spec = ctx.profile.models.get(served_model(ctx))
    return list(spec.args) if spec else []


# ---------------------------------------------------------------- gpus


def devices(ctx: NodeContext) -> list[str]:
    """The device ids the server gets: the first `wanted_gpus` its vendor's tool lists now
    (a lost one is not among them). Fewer than wanted is a failure named here, not a
    server started on what is left."""
    if "devices" not in ctx.facts:
        accelerator, _, listed = inventory(ctx)
        seen, want = [i for i, _ in listed], wanted_gpus(ctx)
        if len(seen) < want:
            noun = accelerator.noun
            raise StepFailed(
                f"{accelerator.tool} sees {len(seen)} of the {want} {noun}s this node should have "
                f"({', '.join(seen) or 'none'}): a {noun} is lost or hidden ({accelerator.tool} on "
                f"the node; {accelerator.missing_fix}); vLLM would start on fewer or not at all"
            )
        ctx.facts["devices"] = seen[:want]
    return ctx.facts["devices"]


def image(ctx: NodeContext) -> str:
    """The server's image: the profile's, else the one built for the node's devices."""
    accelerator, deploy, _ = inventory(ctx)
    chosen = ctx.settings.vllm_image or IMAGES.get(deploy.platform)
    if not chosen:
        raise StepFailed(
            f"vLLM on {accelerator.label} runs its vendor's build of vLLM: set image = … in "
            "the cluster's settings (or [stack]) to it"
        )
    return chosen


def gpus_check(ctx: NodeContext) -> Change | None:
    accelerator, deploy, _ = inventory(ctx)
    how = f"through {deploy.runtime_words}" if deploy.runtime_words else "by its device files"
    note(
        ctx,
        f"{accelerator.label} {accelerator.noun}s for vLLM: {', '.join(devices(ctx))} ({how}); "
        f"image {image(ctx)}",
    )
    return None


# ---------------------------------------------------------------- compose


def compose_text(ctx: NodeContext) -> str:
    """The compose file: one service, its GPUs by id, its port on the loopback only (the
    console and the load tests reach it through SSH)."""
    port = ctx.settings.vllm_port
    command = ["--model", served_model(ctx), "--port", str(port), *model_args(ctx)]
    _, deploy, _ = inventory(ctx)
    lines = deploy.compose(devices(ctx))
    # the device lines may bring an environment of their own: one list, compose has one
    extra_env = [line for line in lines if line.startswith("      - ")]
    device_lines = [line for line in lines if line not in extra_env and line != "    environment:"]
    return "\n".join(
        [
            f"# written by fleetdeck for {ctx.name}: the next deploy replaces any edit",
            "services:",
            f"  {CONTAINER}:",
            f"    image: {image(ctx)}",
            f"    container_name: {CONTAINER}",
            "    restart: unless-stopped",
            "    ipc: host",
            f"    command: {json.dumps(command)}",
            "    environment:",
            "      - HF_HOME=/root/.cache/huggingface",
            "      - HF_HUB_OFFLINE=1",
            *extra_env,
            "    volumes:",
            f"      - {json.dumps(ctx.home_path(hf_home(ctx)) + ':/root/.cache/huggingface')}",
            "    ports:",
            f'      - "127.0.0.1:{port}:{port}"',
            *device_lines,
            "    healthcheck:",
            f'      test: ["CMD", "curl", "-fs", "http://127.0.0.1:{port}/health"]',
            "      interval: 30s",
            "      start_period: 900s",
            "",
        ]
    )


def compose_check(ctx: NodeContext) -> Change | None:
    want = compose_text(ctx)
    have = ctx.read(compose_path(ctx))
    if have is not None and have[1] == want:
        return None
    diff = file_diff(have[1] if have else None, want, compose_path(ctx))
    return Change(f"write {compose_path(ctx)}", diff=diff, payload=(want,))


def compose_apply(ctx: NodeContext, change: Change) -> None:
    ctx.write(compose_path(ctx), change.payload[0])


# ---------------------------------------------------------------- server


def compose_cmd(ctx: NodeContext, *args: str) -> str:
    return f"docker compose -f {sh_path(compose_path(ctx))} " + " ".join(args)


def health_url(ctx: NodeContext) -> str:
    return f"http://127.0.0.1:{ctx.settings.vllm_port}/health"


def inspected(ctx: NodeContext) -> dict | None:
    out = ctx.run(f"docker inspect {CONTAINER}", quiet=True, check=False)
    try:
        found = json.loads(out.stdout or "[]")
    except ValueError:
        return None
    return found[0] if found else None


def file_mtime(ctx: NodeContext, path: str) -> float | None:
    out = ctx.run(f"stat -c %Y {sh_path(path)}", quiet=True, check=False)
    return float(out.stdout.strip()) if out.exit == 0 and out.stdout.strip() else None


def server_check(ctx: NodeContext) -> Change | None:
    c = inspected(ctx)
    url = health_url(ctx)
    if c is None or not c.get("State", {}).get("Running"):
        return Change(
            f"start {CONTAINER}",
            (compose_cmd(ctx, "up", "-d"), f"wait for vLLM at {url}"),
        )
    created = rfc3339_seconds(c.get("Created"))
    changed = file_mtime(ctx, compose_path(ctx))
    if created is not None and changed is not None and changed > created:
        return Change(
            f"recreate {CONTAINER} (its compose file changed since it was created)",
            (compose_cmd(ctx, "up", "-d", "--force-recreate"), f"wait for vLLM at {url}"),
        )
    if not url_answers(ctx, url)[0]:
        return Change(f"vLLM does not answer at {url} although it runs", (f"wait for {url}",))
    return None


def server_foresee(ctx: NodeContext, because: list[str]) -> Change | None:
    url = health_url(ctx)
    c = inspected(ctx)
    args = ("up", "-d") if c is None else ("up", "-d", "--force-recreate")
    verb = "start" if c is None else "recreate"
    return Change(
        f"{verb} {CONTAINER} (its compose file changes)",
        (compose_cmd(ctx, *args), f"wait for vLLM at {url}"),
    )


def cause(ctx: NodeContext) -> str:
    """What the server's log says went wrong, the lines that say it."""
    out = ctx.run(f"docker logs --tail 60 {CONTAINER}", quiet=True, check=False)
    lines = [line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    said = [line for line in lines if CAUSE.search(line)][-3:]
    return " / ".join(said or lines[-2:])


def server_apply(ctx: NodeContext, change: Change) -> None:
    if len(change.commands) > 1:
        out = ctx.run(change.commands[0], check=False)
        if out.exit != 0:
            said = [line for line in (out.stderr + out.stdout).splitlines() if line.strip()]
            runtime = [line for line in said if CAUSE.search(line)] or said[-2:]
            raise StepFailed(
                f"{CONTAINER} did not start: {' / '.join(runtime)}"
                + (
                    f" (a device it names is missing: {inventory(ctx)[0].tool} on the node)"
                    if any("unknown device" in line for line in runtime)
                    else ""
                )
            )
    url = health_url(ctx)
    ok, said = url_answers(ctx, url, HEALTH_WAIT_S)
    if not ok:
        raise StepFailed(f"vLLM did not answer at {url}: {said}; its log: {cause(ctx)}")
    note(ctx, f"vLLM answers at {url}")


# ---------------------------------------------------------------- validation


def validation(ctx: NodeContext) -> Change | None:
    problems = []
    port = ctx.settings.vllm_port
    status, body = node_json(ctx, f"http://127.0.0.1:{port}/v1/models")
    served = [m.get("id") for m in (body.get("data") or [])] if isinstance(body, dict) else []
    if status != 200:
        problems.append(f"/v1/models answers {status or 'nothing'}: {str(body)[:120]}")
    elif served_model(ctx) not in served:
        problems.append(
            f"/v1/models lists {', '.join(map(str, served)) or 'nothing'}, not {served_model(ctx)}"
        )
    accelerator, deploy, _ = inventory(ctx)
    seen = ctx.run(
        f"docker exec {CONTAINER} sh -c {shlex.quote(deploy.count_in_container)}",
        quiet=True,
        check=False,
    ).stdout.strip()
    want, noun = wanted_gpus(ctx), accelerator.noun
    if not seen.isdigit() or int(seen) < want:
        problems.append(f"{CONTAINER} sees {seen or 0} {noun}s, it was given {want}: {cause(ctx)}")
    if problems:
        raise StepFailed("; ".join(problems))
    note(ctx, f"vLLM serves {served_model(ctx)} on {want} {noun}s")
    return None


def deploy_action() -> Action:
    progress = re.compile(r"(?P<pct>\d{1,3})%\|")
    return Action(
        name="deploy",
        stacks=("vllm",),
        description="deploy vLLM servers: GPUs counted, model weights, a compose file naming "
        "each GPU, the server, validation",
        destructive=True,
        steps=(
            Step("gpus", "GPUs counted", gpus_check, retries=0),
            Step(
                "models",
                "models",
                models_check,
                models_apply,
                retries=3,
                backoff=1.0,
                progress=progress,
            ),
            Step("compose", "compose file", compose_check, compose_apply, exact=True),
            Step(
                "server",
                "vLLM server",
                server_check,
                server_apply,
                after=("compose",),
                foresee=server_foresee,
                retries=0,
                timeout=HEALTH_WAIT_S + 60,  # its wait runs as one command on the node
            ),
            Step("validation", "validation", validation, retries=2, backoff=1.0),
        ),
    )


ACTIONS = StackActions(deploy=deploy_action)  # vllm's action side: its deploy
