"""The setup's questions, one at a time: which comes next given the answers so far, with
its default, and the answers as the same TOML file `--answers` reads (so a wizard's setup
can be replayed headless and gives the same profile, byte for byte).

Plain data, no terminal: the wizard's screens (screens/setup.py) show a `Question` and
hand back the text typed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from console.core.schema import check_name
from console.core.stacks import STACK_NAMES, STACKS

# documentation addresses (RFC 5737): a rehearsal's machines are simulated, any will do
REHEARSAL_HOSTS = ("192.0.2", "198.51.100", "203.0.113")


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    default: str = ""
    help: str = ""
    choices: tuple[str, ...] = ()
    kind: str = "text"  # text | name | number | hosts
    count: int = 0  # hosts: how many


def problem(q: Question, value: str) -> str | None:
    """What is wrong with an answer, in words; None when it will do."""
    if q.kind == "name":
        try:
            check_name(value)
        except ValueError as exc:
            return str(exc)
    if q.kind == "number" and not value.isdigit():
        return f"{value!r} is not a number"
    if q.kind == "hosts" and len(hosts_of(value)) != q.count:
        return f"{len(hosts_of(value))} addresses given, {q.count} needed (one per node)"
    if q.key == "clusters" and value == "0":
        return "a fleet has at least one cluster"
    return None


def _int(state: dict[str, str], key: str, default: int = 0) -> int:
    try:
        return int(state.get(key, default))
    except ValueError:
        return default


def questions(state: dict[str, str], rehearse: bool) -> list[Question]:
    """Every question, as far as the answers so far decide them."""
    out = [
        Question("fleet", "The fleet's name", "first-fleet", "letters, digits and -", kind="name"),
        Question("stack", "What it runs", STACK_NAMES[0], "", STACK_NAMES),
        Question("ssh_user", "The SSH login on every machine", "ubuntu", "sudo without a password"),
        Question("ssh_key", "Its private key on this machine", "~/.ssh/id_ed25519"),
        Question(
            "clusters",
            "How many clusters",
            "2",
            "a cluster is one participant or region",
            kind="number",
        ),
    ]
    stack = STACKS.get(state.get("stack", STACK_NAMES[0]), STACKS[STACK_NAMES[0]])
    for i in range(1, _int(state, "clusters", 1) + 1):
        c = f"c{i}"
        out.append(Question(f"{c}.name", f"Cluster {i}: its name", c, kind="name"))
        count = 0
        for role in stack.roles:
            if role in stack.singleton_roles:
                count += 1
                continue
            out.append(
                Question(f"{c}.{role}", f"Cluster {i}: how many {role} nodes", "2", kind="number")
            )
            count += _int(state, f"{c}.{role}", 2)
        hosts = " ".join(f"{REHEARSAL_HOSTS[(i - 1) % 3]}.{10 + n}" for n in range(count))
        out.append(
            Question(
                f"{c}.hosts",
                f"Cluster {i}: its {count} machines' addresses, in the roles' order",
                hosts if rehearse else "",
                "separated by spaces"
                + (" (a rehearsal simulates them: these will do)" if rehearse else ""),
                kind="hosts",
                count=count,
            )
        )
        out.append(Question(f"{c}.gpus", f"Cluster {i}: GPUs per serving node", "8", kind="number"))
        out.append(Question(f"{c}.gpu_type", f"Cluster {i}: GPU type", "H100"))
        out.append(
            Question(f"{c}.model", f"Cluster {i}: the model it serves", "Qwen/Qwen3-32B-FP8")
        )
    if stack.chain_roles:
        out.append(
            Question("https", "Serve the API over HTTPS", "n", "y needs a domain", ("n", "y"))
        )
        if state.get("https", "n") == "y":
            out.append(Question("domain", "The domain its certificate is for", ""))
    return out


def next_question(state: dict[str, str], rehearse: bool) -> Question | None:
    return next((q for q in questions(state, rehearse) if q.key not in state), None)


def previous_key(state: dict[str, str], rehearse: bool) -> str | None:
    """The last question answered (to go back to it)."""
    asked = [q.key for q in questions(state, rehearse) if q.key in state]
    return asked[-1] if asked else None


def hosts_of(text: str) -> list[str]:
    return [h for h in re.split(r"[\s,]+", text) if h]


def answers_toml(state: dict[str, str], rehearse: bool) -> str:
    """The answers as the file `fleetdeck setup --answers` reads."""
    stack = STACKS.get(state.get("stack", ""), STACKS[STACK_NAMES[0]])

    def s(v: str) -> str:
        return json.dumps(v)

    lines = [
        "# Answers given to `fleetdeck setup`: `fleetdeck setup --answers THIS` replays them.",
        f"fleet = {s(state['fleet'])}",
        f"stack = {s(state['stack'])}",
        f"ssh_user = {s(state['ssh_user'])}",
        f"ssh_key = {s(state['ssh_key'])}",
    ]
    if stack.chain_roles:
        lines.append(f"https = {'true' if state.get('https') == 'y' else 'false'}")
        if state.get("domain"):
            lines.append(f"domain = {s(state['domain'])}")
    for i in range(1, _int(state, "clusters", 1) + 1):
        c = f"c{i}"
        roles = {
            role: 1 if role in stack.singleton_roles else _int(state, f"{c}.{role}", 0)
            for role in stack.roles
        }
        lines += [
            "",
            "[[clusters]]",
            f"name = {s(state[f'{c}.name'])}",
            "roles = { " + ", ".join(f"{r} = {n}" for r, n in roles.items()) + " }",
            "hosts = ["
            + ", ".join(s(h) for h in re.split(r"[\s,]+", state[f"{c}.hosts"]) if h)
            + "]",
            f"gpus = {_int(state, f'{c}.gpus', 0)}",
            f"gpu_type = {s(state[f'{c}.gpu_type'])}",
            f"model = {s(state[f'{c}.model'])}",
        ]
    return "\n".join(lines) + "\n"
