"""The answers as a commented profile. The same answers give the same bytes (nothing is
taken from the clock or the machine), so a scripted setup can be reviewed and diffed; the
text is loaded back before it is handed out, so what is written is always a valid profile.
"""

from __future__ import annotations

import json

from console.app.setup.answers import Answers, ClusterAnswers
from console.core.profile import loads
from console.core.stacks import STACKS


def value(v: object) -> str:
    """A TOML value: strings, numbers, booleans and lists of strings are all we write."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string is a JSON string


def setting(key: str, v: object, comment: str = "") -> str:
    """`key = value`, its comment on the line above (a line stays readable at 80 columns)."""
    line = f"{key} = {value(v)}"
    return f"# {comment}\n{line}" if comment else line


def node_names(c: ClusterAnswers, stack_name: str) -> list[tuple[str, str]]:
    """(name, role) of the cluster's nodes, in the stack's role order."""
    stack = STACKS[stack_name]
    short = dict(stack.short_roles)
    out = []
    for role in stack.roles:
        count = c.roles.get(role, 0)
        for n in range(1, count + 1):
            if role in stack.singleton_roles:
                out.append((f"{c.name}-{short.get(role, role)}", role))
            else:
                out.append((f"{c.name}-{short.get(role, role)}{n}", role))
    return out


def models_of(a: Answers) -> dict[str, int]:
    """Each model served, with the fewest GPUs a node serving it has (its tensor parallelism)."""
    out: dict[str, int] = {}
    for c in a.clusters:
        if c.model:
            gpus = c.gpus or 1
            out[c.model] = min(out.get(c.model, gpus), gpus)
    return out


def profile_text(a: Answers, answers_name: str = "answers") -> str:
    stack = STACKS[a.stack]
    lines = [
        f"# {a.fleet}: written by `fleetdeck setup` from {answers_name}.",
        "# Edit freely: `fleetdeck check` validates it, and says what is still missing before a",
        "# deploy. Secrets are references only: their values live in the OS keyring or the",
        "# environment, never here.",
        "",
        "[fleet]",
        setting("name", a.fleet),
        setting("stack", a.stack),
        "",
        "[ssh]",
        setting("user", a.ssh_user, "the login on every machine (sudo without a password)"),
        setting("key", a.ssh_key, "its private key on this machine"),
        "",
    ]
    if stack.secrets:
        lines.append("[secrets]")
        for name, purpose in stack.secrets:
            ref = f"keyring:fleetdeck/{a.fleet}-{name.replace('_', '-')}"
            lines.append(setting(name, ref, purpose))
        lines.append("")
    seeds = a.seeds.model_dump() if not isinstance(a.seeds, str) else None
    settings = stack.setup_settings(a.release, a.https, a.domain, seeds)
    if settings:
        lines.append("[stack]")
        lines += [setting(k, v, why) for k, v, why in settings]
        lines.append("")
    for model, gpus in models_of(a).items():
        lines += [f"[models.{value(model)}]"]
        if stack.tensor_parallel:
            lines.append(setting("args", ["--tensor-parallel-size", str(gpus)], "its GPUs"))
        lines.append("")
    pools = []
    for c in a.clusters:
        lines += ["[[clusters]]", setting("name", c.name), ""]
        nodes = node_names(c, a.stack)
        first_host = c.hosts[0] if c.hosts else None
        # with HTTPS, the first cluster answers at the domain, the others at a name under it
        domain = None
        if a.https and a.domain:
            domain = a.domain if c is a.clusters[0] else f"{c.name}.{a.domain}"
        own = stack.setup_cluster_settings(
            c.name, str(c.public_url) if c.public_url else None, first_host, domain
        )
        if own:
            lines.append("[clusters.settings]")
            lines += [setting(k, v, why) for k, v, why in own]
            lines.append("")
        if c.rent is not None:
            pools.append(c)
            continue
        for (name, role), host in zip(nodes, c.hosts, strict=True):
            lines += ["[[clusters.nodes]]", setting("name", name), setting("host", host)]
            lines.append(setting("role", role))
            if stack.serves_models(role):
                if c.model:
                    lines.append(setting("model", c.model))
                if c.gpus is not None:
                    lines.append(setting("gpus", c.gpus))
                if c.gpu_type:
                    lines.append(setting("gpu_type", c.gpu_type))
            else:
                lines.append(setting("gpus", 0))
            lines.append("")
    for c in pools:
        assert c.rent is not None
        for role in stack.roles:
            count = c.roles.get(role, 0)
            if not count:
                continue
            short = dict(stack.short_roles).get(role, role)
            lines += [
                "[[provision.pools]]",
                setting("name", f"{c.name}-{short}"),
                setting("cluster", c.name),
                setting("role", role),
                setting("count", count),
                setting("names", f"{c.name}-{short}" if count == 1 else f"{c.name}-{short}{{n}}"),
            ]
            for key, v in c.rent.model_dump(exclude_none=True).items():
                lines.append(setting(key, v))
            if stack.serves_models(role) and c.gpus is not None:
                lines.append(setting("gpus", c.gpus))
            lines.append("")
    text = "\n".join(lines).rstrip("\n") + "\n"
    loads(text, f"{a.fleet}.toml")  # a valid profile, or a bug here: never handed out
    return text
