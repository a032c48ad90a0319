"""A node's model weights in its HF_HOME, as the model servers of every stack read them:
checked complete shard by shard, downloaded with `hf download` (the token on stdin)."""

from __future__ import annotations

import re
import shlex

from actions.engine import Change, NodeContext, StepRefused, sh_path
from console.core.profile.schema import Node

DEFAULT_HF_HOME = "/mnt/shared"


def models_of(node: Node) -> list[str]:
    return [node.model] if node.model else list(node.models)


def hf_home(ctx: NodeContext) -> str:
    return ctx.settings.hf_home or DEFAULT_HF_HOME


DISK_HEADROOM_GB = 20  # images and logs beside the models


# "Qwen3-235B-A22B", "qwen3:235b", "Llama-3.1-8B": the first count of parameters in a name
PARAMETERS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")
QUANTISED_4 = ("awq", "gptq", "int4", "4bit", "q4", "nf4")
QUANTISED_8 = ("fp8", "int8", "8bit", "q8", "w8a8")


def model_size_gb(ctx: NodeContext, model: str, bytes_per_parameter: float = 2.0) -> float | None:
    """The room a model takes on disk: its tier's VRAM where the profile gives one (more
    than its weights: an upper bound), else its parameters times their width as its name
    says them (bf16 unless it says fp8/int8 or a 4-bit format); None when neither is known."""
    spec = ctx.profile.models.get(model)
    if spec is not None and spec.vram_gb:
        return spec.vram_gb
    name = model.rsplit("/", 1)[-1].lower()
    found = PARAMETERS.search(name)
    if not found:
        return None
    if any(q in name for q in QUANTISED_4):
        bytes_per_parameter = 0.5
    elif any(q in name for q in QUANTISED_8):
        bytes_per_parameter = 1.0
    return float(found.group(1)) * bytes_per_parameter


def space_needed_gb(ctx: NodeContext, models: list[str], bytes_per_parameter: float = 2.0) -> float:
    """What the disk must still hold for MODELS (the ones not there yet) and some headroom;
    a model of unknown size counts nothing (room_for says so)."""
    sizes = (model_size_gb(ctx, m, bytes_per_parameter) for m in models)
    return DISK_HEADROOM_GB + sum(s or 0 for s in sizes)


def free_kb_command(where: str) -> str:
    """Prints the free KiB of the file system that holds WHERE (or would: its nearest
    existing parent, as a directory not made yet will be made there)."""
    return (
        f'p={sh_path(where)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; '
        "df -Pk \"$p\" | awk 'NR==2 {print $4}'"
    )


def free_gb(ctx: NodeContext, where: str) -> float:
    """Free space, in GB, on the file system that holds WHERE."""
    out = ctx.run(free_kb_command(where), quiet=True, check=False)
    text = out.stdout.strip()
    return int(text) / 1024**2 if text.isdigit() else 0.0


def room_for(
    ctx: NodeContext, models: list[str], where: str, bytes_per_parameter: float = 2.0
) -> None:
    """Refuse to fetch MODELS into WHERE when its disk cannot hold them: a download that
    fills the disk stops the node's containers and chain too, and fails hours in."""
    need = space_needed_gb(ctx, models, bytes_per_parameter)
    free = free_gb(ctx, where)
    if free < need:
        raise StepRefused(
            f"{free:.0f} GB free under {where}, {need:.0f} GB needed for "
            f"{', '.join(models)}: free space, give the node a larger disk, or point the "
            "models elsewhere (fleetdeck plan PROFILE preflight says where there is room)"
        )
    unknown = [m for m in models if model_size_gb(ctx, m, bytes_per_parameter) is None]
    if unknown and ctx.on_line:
        ctx.on_line(
            "stdout",
            f'size of {", ".join(unknown)} unknown (set [models."…"] vram_gb): '
            f"{free:.0f} GB free under {where}",
        )


def model_dir(ctx: NodeContext, model: str) -> str:
    return f"{hf_home(ctx).rstrip('/')}/hub/models--{model.replace('/', '--')}"


# a model is there when a snapshot has a config.json that parses and every weight shard
# (`-0000k-of-0000n`): hf links a file into the snapshot only once it is complete, but a
# download cut short leaves the snapshot with only some of its files
MODEL_COMPLETE = """
import glob, json, os, re, sys
for snap in glob.glob(os.path.join(sys.argv[1], "snapshots", "*")):
    try:
        json.load(open(os.path.join(snap, "config.json")))
    except Exception:
        continue
    weights = [f for f in os.listdir(snap) if f.endswith((".safetensors", ".bin"))]
    shards = {}
    for f in weights:
        m = re.search(r"-(\\d+)-of-(\\d+)\\.", f)
        if m:
            shards.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    if weights and all(len(got) == n for n, got in shards.items()):
        sys.exit(0)
sys.exit(1)
"""


def missing_models(ctx: NodeContext) -> list[str]:
    """The node's models not complete under HF_HOME, asked in one command."""
    models = models_of(ctx.node)
    if not models:
        return []
    probe = "; ".join(
        f"python3 -c {shlex.quote(MODEL_COMPLETE)} {sh_path(model_dir(ctx, m))} "
        f"|| echo {shlex.quote(m)}"
        for m in models
    )
    said = set(ctx.run(probe, quiet=True, check=False).stdout.split())
    return [m for m in models if m in said]


def models_check(ctx: NodeContext) -> Change | None:
    missing = missing_models(ctx)
    if not missing:
        return None
    room_for(ctx, missing, hf_home(ctx))
    home = sh_path(hf_home(ctx))
    commands = [f"{ctx.sudo}mkdir -p {home}"] + [
        f"HF_HOME={home} hf download {shlex.quote(m)}" for m in missing
    ]
    return Change(f"download {', '.join(missing)} into {hf_home(ctx)}", tuple(commands))


def models_apply(ctx: NodeContext, change: Change) -> None:
    home = sh_path(hf_home(ctx))
    token = ctx.secret("hf_token") if "hf_token" in ctx.profile.secrets else ""
    ctx.run(f"{ctx.sudo}mkdir -p {home}")
    for command in change.commands[1:]:
        model = shlex.split(command)[-1]
        # the token travels on stdin; hf resumes a partial download by itself
        ctx.run(
            'IFS= read -r HF_TOKEN; [ -n "$HF_TOKEN" ] && export HF_TOKEN || unset HF_TOKEN; '
            f"export HF_HOME={home}; "
            f"if command -v hf >/dev/null 2>&1; then hf download {shlex.quote(model)}; "
            f"else huggingface-cli download {shlex.quote(model)}; fi",
            stdin=token + "\n",
        )
