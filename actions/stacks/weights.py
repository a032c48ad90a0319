"""A node's model weights in its HF_HOME, as the model servers of every stack read them:
checked complete shard by shard, downloaded with `hf download` (the token on stdin)."""

from __future__ import annotations

import shlex

from actions.engine import Change, NodeContext, sh_path
from console.profile_schema import Node

DEFAULT_HF_HOME = "/mnt/shared"


def models_of(node: Node) -> list[str]:
    return [node.model] if node.model else list(node.models)


def hf_home(ctx: NodeContext) -> str:
    return ctx.settings.hf_home or DEFAULT_HF_HOME


DISK_HEADROOM_GB = 20  # images and logs beside the models


def space_needed_gb(ctx: NodeContext) -> float:
    """What the node's disk under HF_HOME must hold: its models (their tiers' VRAM as the
    size) and some headroom."""
    models = ctx.profile.models
    return DISK_HEADROOM_GB + sum(
        (models[m].vram_gb or 0) for m in models_of(ctx.node) if m in models
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


def models_check(ctx: NodeContext) -> Change | None:
    missing = []
    for model in models_of(ctx.node):
        out = ctx.run(
            f"python3 -c {shlex.quote(MODEL_COMPLETE)} {sh_path(model_dir(ctx, model))}",
            quiet=True,
            check=False,
        )
        if out.exit != 0:
            missing.append(model)
    if not missing:
        return None
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
