"""The Gonka deploy, step by step: the Ansible plan's phases, corrected by the official
docs (reference/protocols.md §1.1-1.3).

preflight → dependencies → firewall → repository → models → images → configuration →
network-init → network-full → ml-nodes → validation. Each step's check says whether it is
already done and what it would change; nothing here runs a command that changes a node
outside an apply.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from actions.engine import Action, Change, NodeContext, Step, StepFailed, sh_path
from actions.stacks.gonka_window import wait_for_window
from actions.stacks.node_http import http_ok, note, url_answers, wait_http
from actions.stacks.weights import (
    hf_home,
    missing_models,
    models_apply,
    models_check,
    models_of,
    space_needed_gb,
)
from console.core.profile.schema import Node
from console.core.stacks.gonka import (
    CHAIN_CONTAINER,
    GONKA,
    GPUS,
    RPC_PORT,
    chain_rpc_address,
    inspect_networking,
    private_bindings,
)
from console.core.times import rfc3339_seconds

DEFAULT_REPO = "https://github.com/gonka-ai/gonka.git"
DEFAULT_DEPLOY_DIR = "/opt/gonka/deploy/join"
COMPOSE_MAIN = "docker-compose.yml"
COMPOSE_MLNODE = "docker-compose.mlnode.yml"
# fleetdeck's own override: the private ports Gonka's files publish on every interface,
# bound to the loopback and the private address instead (private_bindings)
COMPOSE_PORTS = "docker-compose.fleetdeck.yml"
P2P_PORT = 5000
ML_PORTS = (5050, 8080)  # inference and ML node management: open to the network node only
MIN_DOCKER = (20, 10)
MIN_COMPOSE = (2, 24, 4)  # `ports: !override` in COMPOSE_PORTS
MIN_MEMORY_GB = 8


# ---------------------------------------------------------------- what a node is


def serves_model(ctx: NodeContext) -> bool:
    return ctx.node.role == "ml" or bool(models_of(ctx.node))


def deploy_dir(ctx: NodeContext) -> str:
    return (ctx.settings.deploy_dir or DEFAULT_DEPLOY_DIR).rstrip("/")


def repo_dir(ctx: NodeContext) -> str:
    d = deploy_dir(ctx)
    if not d.endswith("/deploy/join"):
        raise StepFailed(
            f"[stack].deploy_dir = {d!r} must end in deploy/join: it is the directory of the "
            "gonka repository the compose files live in"
        )
    return d[: -len("/deploy/join")] or "/"


def compose_files(ctx: NodeContext) -> list[str]:
    if ctx.node.role == "network":
        return [COMPOSE_MAIN] + ([COMPOSE_MLNODE] if serves_model(ctx) else [])
    return [COMPOSE_MLNODE]


def expected_containers(ctx: NodeContext) -> list[str]:
    return GONKA.expected_containers(ctx.node.role, serves_model(ctx))


def network_node(ctx: NodeContext) -> Node:
    for n in ctx.cluster.nodes:
        if n.role == "network":
            return n
    raise StepFailed(f"cluster {ctx.cluster.name} has no network node")


def private_address(node: Node) -> str:
    return node.private_ip or node.host


def compose(ctx: NodeContext) -> str:
    """`docker compose` where the plugin is there, else `docker-compose`."""
    found = ctx.facts.get("compose")
    if found is None:
        out = ctx.run(
            "if docker compose version --short >/dev/null 2>&1; then echo 'docker compose'; "
            "elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi",
            quiet=True,
            check=False,
        )
        found = out.stdout.strip()
        if not found:
            raise StepFailed(
                "neither `docker compose` nor `docker-compose` is installed; the dependencies "
                "step installs docker-compose-v2"
            )
        ctx.facts["compose"] = found
    return found


def in_deploy_dir(ctx: NodeContext, command: str, env: bool = True) -> str:
    """`command` run from the deploy directory, with config.env exported like the docs'
    `source config.env && docker compose …`. Before config.env is written (the images step
    comes first), the variables compose needs to parse the files are given directly: an
    unset HF_HOME makes the mlnode file's volume `:/root/.cache`, which compose refuses."""
    if env:
        source = "set -a && . ./config.env && set +a && "
    else:
        source = f"export HF_HOME={shlex.quote(ctx.home_path(hf_home(ctx)))} && "
    return f"cd {sh_path(deploy_dir(ctx))} && {source}{command}"


def _files(ctx: NodeContext) -> str:
    return " ".join(f"-f {shlex.quote(f)}" for f in compose_files(ctx))


def _up_files(ctx: NodeContext) -> str:
    """The files that create containers: Gonka's, then fleetdeck's port override (written
    by the configuration step, so not there yet for the images step's `config --images`)."""
    return f"{_files(ctx)} -f {COMPOSE_PORTS}"


def compose_cmd(ctx: NodeContext, *args: str) -> str:
    return f"{compose(ctx)} {_files(ctx)} {' '.join(args)}"


def running_containers(ctx: NodeContext) -> dict[str, str]:
    out = ctx.run("docker ps -a --format '{{.Names}}\\t{{.State}}'", quiet=True, check=False).stdout
    states = {}
    for line in out.splitlines():
        name, _, state = line.partition("\t")
        if name:
            states[name.strip()] = state.strip()
    return states


def chain_rpc_url(ctx: NodeContext, path: str) -> str:
    """The chain node's RPC as its host reaches it: published, or at the container's
    address (Gonka's compose files publish only P2P since 0.2.9)."""
    out = ctx.run(f"docker inspect {CHAIN_CONTAINER}", quiet=True, check=False)
    try:
        inspect = json.loads(out.stdout)[0] if out.exit == 0 else {}
    except (ValueError, IndexError, TypeError):
        inspect = {}
    host, port = chain_rpc_address(*inspect_networking(inspect))
    return f"http://{host}:{port}{path}"


def _version(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in m.groups(default="0")) if m else None


# ---------------------------------------------------------------- preflight

PREFLIGHT = r"""
echo "os=$(. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME")"
echo "docker=$(docker version --format '{{.Server.Version}}' 2>/dev/null)"
c=$(docker compose version --short 2>/dev/null || docker-compose version --short 2>/dev/null)
echo "compose=$c"
echo "runtimes=$(docker info --format '{{json .Runtimes}}' 2>/dev/null | tr -d '\n')"
echo "gpus=$(COUNT_GPUS)"
echo "mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
p=HF_HOME; while [ ! -e "$p" ]; do p=$(dirname "$p"); done
echo "disk_kb=$(df -Pk "$p" | awk 'NR==2 {print $4}')"
echo "ntp=$(timedatectl show -p NTPSynchronized --value 2>/dev/null)"
"""


def preflight(ctx: NodeContext) -> Change | None:
    # Gonka's ML node image runs on its adapter's devices alone (its vendor: GPUS)
    script = PREFLIGHT.replace("HF_HOME", sh_path(hf_home(ctx))).replace(
        "COUNT_GPUS", GPUS.deploy.count_in_container
    )
    facts = dict(
        line.split("=", 1)
        for line in ctx.run(script, quiet=True).stdout.splitlines()
        if "=" in line
    )
    problems: list[str] = []
    docker = _version(facts.get("docker", ""))
    if docker is None:
        note(ctx, "docker: not installed yet (the dependencies step installs it)")
    elif docker < MIN_DOCKER:
        problems.append(f"docker {facts['docker']} is older than {'.'.join(map(str, MIN_DOCKER))}")
    composev = _version(facts.get("compose", ""))
    if composev is not None and composev < MIN_COMPOSE:
        problems.append(
            f"compose {facts['compose']} is older than {'.'.join(map(str, MIN_COMPOSE))}, "
            f"which fleetdeck's {COMPOSE_PORTS} needs (it keeps the private ports off the "
            "world): upgrade the docker compose plugin"
        )
    want_gpus = ctx.node.gpus or 0
    have_gpus = int(facts.get("gpus") or 0)
    if serves_model(ctx):
        if have_gpus < want_gpus:
            problems.append(
                f"{have_gpus} GPUs visible ({GPUS.tool}), the profile expects "
                f"{want_gpus}: check the driver ({GPUS.tool}) or fix gpus in the profile"
            )
        if docker is not None and GPUS.deploy.runtime not in facts.get("runtimes", ""):
            fix = "; ".join(c.format(sudo="") for c in GPUS.deploy.runtime_fix)
            problems.append(
                f"docker has no {GPUS.deploy.runtime} runtime: install "
                f"{GPUS.deploy.runtime_words} ({fix})"
            )
    mem_gb = int(facts.get("mem_kb") or 0) / 1024**2
    if mem_gb < MIN_MEMORY_GB:
        problems.append(f"{mem_gb:.1f} GiB of memory, at least {MIN_MEMORY_GB} GiB needed")
    need_gb = space_needed_gb(ctx, missing_models(ctx))  # those there take no more
    free_gb = int(facts.get("disk_kb") or 0) / 1024**2
    if free_gb < need_gb:
        problems.append(
            f"{free_gb:.0f} GB free under {hf_home(ctx)}, {need_gb:.0f} GB needed for the "
            "node's models and images: free space or move [stack].hf_home"
        )
    if facts.get("ntp") == "no":
        problems.append("the clock is not synchronised (timedatectl): enable NTP (chrony)")
    note(
        ctx,
        f"{facts.get('os') or 'unknown OS'}; docker {facts.get('docker') or '-'}, compose "
        f"{facts.get('compose') or '-'}; {have_gpus} GPUs; {mem_gb:.0f} GiB memory; "
        f"{free_gb:.0f} GB free; clock synchronised: {facts.get('ntp') or 'unknown'}",
    )
    if problems:
        raise StepFailed("; ".join(problems))
    return None


# ---------------------------------------------------------------- firewall


def firewall_rules(ctx: NodeContext) -> list[tuple[str, str]]:
    """(ufw arguments, the `To`/`From` it shows as) of every rule this node must have."""
    ssh_port = ctx.node.port or ctx.profile.ssh.port
    rules = [(f"allow {ssh_port}/tcp", f"{ssh_port}/tcp|Anywhere")]
    if ctx.node.role == "network":
        stack = ctx.settings
        for port in (P2P_PORT, stack.api_port, stack.api_ssl_port):
            rules.append((f"allow {port}/tcp", f"{port}/tcp|Anywhere"))
    else:
        net = private_address(network_node(ctx))
        for port in ML_PORTS:
            rules.append(
                (f"allow from {shlex.quote(net)} to any port {port} proto tcp", f"{port}/tcp|{net}")
            )
    return rules


def ufw_status(ctx: NodeContext) -> tuple[bool, dict[str, str], list[str]]:
    """(active, defaults, rules as 'To|From') from `ufw status verbose`."""
    out = ctx.run(f"{ctx.sudo}ufw status verbose", quiet=True, check=False)
    if out.exit == 127 or "not found" in out.stderr:
        raise StepFailed("ufw is not installed: the dependencies step installs it")
    active = "Status: active" in out.stdout
    defaults = {}
    m = re.search(r"Default: (\w+) \(incoming\), (\w+) \(outgoing\)", out.stdout)
    if m:
        defaults = {"incoming": m.group(1), "outgoing": m.group(2)}
    rules = []
    for line in out.stdout.splitlines():
        if "(v6)" in line or not re.search(r"\s(ALLOW|DENY|REJECT|LIMIT)(\s+IN)?\s", line + " "):
            continue
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 3 and parts[1].startswith("ALLOW"):
            rules.append(f"{parts[0]}|{parts[-1]}")
    return active, defaults, rules


def firewall_check(ctx: NodeContext) -> Change | None:
    active, defaults, have = ufw_status(ctx)
    want = firewall_rules(ctx)
    ufw = f"{ctx.sudo}ufw"
    commands = [f"{ufw} {args}" for args, shown in want if shown not in have]
    private = {str(p) for p in GONKA.private_ports}
    for shown in have:  # a private port open to the world is removed, whoever opened it
        to, _, src = shown.partition("|")
        if to.split("/")[0] in private and src == "Anywhere":
            commands.append(f"{ufw} delete allow {shlex.quote(to)}")  # text read from the node
    if defaults.get("incoming") != "deny":
        commands.append(f"{ufw} default deny incoming")
    if defaults.get("outgoing") != "allow":
        commands.append(f"{ufw} default allow outgoing")
    if not active:
        commands.append(f"{ufw} --force enable")
    if not commands:
        return None
    extra = [s for s in have if s not in {shown for _, shown in want}]
    summary = f"{len(commands)} firewall changes (SSH stays open)"
    if extra:
        summary += f"; kept rules fleetdeck did not ask for: {', '.join(extra)}"
    return Change(summary, tuple(commands))


def firewall_apply(ctx: NodeContext, change: Change) -> None:
    for command in change.commands:  # the SSH rule is first: the operator is never locked out
        ctx.run(command)


# ---------------------------------------------------------------- dependencies

PACKAGES = {"git": "git", "docker": "docker.io", "ufw": "ufw", "python3": "python3"}


def dependencies_check(ctx: NodeContext) -> Change | None:
    probe = "; ".join(f"command -v {tool} >/dev/null 2>&1 || echo {tool}" for tool in PACKAGES)
    probe += (
        "; docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 "
        "|| echo compose"
    )
    missing = ctx.run(probe, quiet=True, check=False).stdout.split()
    if not missing:
        return None
    packages = [PACKAGES.get(t, "docker-compose-v2") for t in missing]
    return Change(
        f"install {', '.join(packages)}",
        (
            f"{ctx.sudo}env DEBIAN_FRONTEND=noninteractive apt-get update -q",
            f"{ctx.sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
            + " ".join(shlex.quote(p) for p in packages),
        ),
    )


def run_commands(ctx: NodeContext, change: Change) -> None:
    for command in change.commands:
        ctx.run(command)


# ---------------------------------------------------------------- repository


def repository_check(ctx: NodeContext) -> Change | None:
    stack = ctx.settings
    url, ref = stack.repo or DEFAULT_REPO, stack.ref
    if not ref:
        raise StepFailed(
            "[stack].ref is not set: pin the gonka release to deploy (a tag such as v0.2.14 or "
            "a commit); a deploy never follows a moving branch"
        )
    root = sh_path(repo_dir(ctx))
    q_ref = shlex.quote(f"{ref}^{{commit}}")
    out = ctx.run(
        f"if [ ! -d {root}/.git ]; then echo missing; exit 0; fi; "
        f"git -C {root} remote get-url origin; git -C {root} rev-parse HEAD; "
        f"git -C {root} rev-parse -q --verify {q_ref} || echo unknown",
        quiet=True,
    ).stdout.split()
    checkout = (
        f"git -C {root} -c advice.detachedHead=false checkout -q -f --detach {shlex.quote(ref)}"
    )
    if out[:1] == ["missing"]:
        parent = repo_dir(ctx).rsplit("/", 1)[0] or "/"
        mkdir = () if parent in ("~", "/") else (f"{ctx.sudo}mkdir -p {sh_path(parent)}",)
        return Change(
            f"clone {url} at {ref} into {repo_dir(ctx)}",
            (*mkdir, f"git clone -q --no-checkout {shlex.quote(url)} {root}", checkout),
        )
    origin, head, wanted = (out + ["", "", ""])[:3]
    if origin != url:
        raise StepFailed(
            f"{repo_dir(ctx)} is a clone of {origin}, not {url}: move it away or fix [stack].repo"
        )
    if wanted == head:
        return None
    return Change(
        f"update {repo_dir(ctx)} from {head[:12]} to {ref}",
        (f"git -C {root} fetch -q --tags origin", checkout),
    )


# ---------------------------------------------------------------- images


def images_check(ctx: NodeContext) -> Change | None:
    join = sh_path(deploy_dir(ctx))
    listing = ctx.run(
        f"[ -d {join} ] || exit 3; "
        + in_deploy_dir(ctx, compose_cmd(ctx, "config", "--images"), env=False),
        quiet=True,
        check=False,
    )
    pull = in_deploy_dir(ctx, compose_cmd(ctx, "pull", "-q"), env=False)
    if listing.exit != 0:
        return Change("pull the stack's images (after the repository is in place)", (pull,))
    images = sorted(set(listing.stdout.split()))
    # one docker call when every image is there (a converged node); one per image to name
    # the missing ones only when some are
    each = "; ".join(
        f"docker image inspect {shlex.quote(i)} >/dev/null 2>&1 || echo {shlex.quote(i)}"
        for i in images
    )
    every = " ".join(shlex.quote(i) for i in images)
    probe = f"docker image inspect --format . {every} >/dev/null 2>&1 || {{ {each}; }}"
    missing = ctx.run(probe, quiet=True, check=False).stdout.split() if images else []
    if not missing:
        return None
    return Change(f"pull {len(missing)} images: {', '.join(missing)}", (pull,))


# ---------------------------------------------------------------- configuration


def _q(value: str) -> str:
    return shlex.quote(str(value))


def participant_url(ctx: NodeContext) -> str:
    """The participant's public URL: the node's, the cluster's, else its API's address."""
    node, stack = ctx.node, ctx.settings
    fallback = f"http://{private_address(node)}:{stack.api_port}"
    return str(node.public_url or stack.public_url or fallback)


def config_env(ctx: NodeContext) -> str:
    """config.env as the docs' template lays it out, from the profile (secrets resolved)."""
    stack = ctx.settings
    node = ctx.node
    lines: list[tuple[str, str]] = []
    if node.role == "network":
        required = {
            "key_name": stack.key_name,
            "account_pubkey": stack.account_pubkey,
            "seed_api_url": stack.seed_api_url,
            "seed_rpc_url": stack.seed_rpc_url,
            "seed_p2p_url": stack.seed_p2p_url,
        }
        unset = [k for k, v in required.items() if not v]
        if unset:
            raise StepFailed(
                f"[stack] {', '.join(unset)} not set for cluster {ctx.cluster.name}: "
                "config.env needs them (in [stack], or the cluster's [clusters.settings]; "
                "reference: deploy/join/config.env.template)"
            )
        public_url = participant_url(ctx)
        p2p_host = re.sub(r"^\w+://", "", public_url).split(":")[0].split("/")[0]
        remote_ml = any(n.role == "ml" for n in ctx.cluster.nodes)
        callback = f"http://{private_address(node)}:9100" if remote_ml else "http://api:9100"
        lines += [
            ("KEY_NAME", stack.key_name or ""),
            ("KEYRING_PASSWORD", ctx.secret("keyring_password")),
            ("API_PORT", str(stack.api_port)),
            ("API_SSL_PORT", str(stack.api_ssl_port)),
            ("PUBLIC_URL", public_url),
            ("P2P_EXTERNAL_ADDRESS", f"tcp://{p2p_host}:{P2P_PORT}"),
            ("ACCOUNT_PUBKEY", stack.account_pubkey or ""),
            ("NODE_CONFIG", "./node-config.json"),
            ("HF_HOME", ctx.home_path(hf_home(ctx))),
            ("SEED_API_URL", stack.seed_api_url or ""),
            ("SEED_NODE_RPC_URL", stack.seed_rpc_url or ""),
            ("SEED_NODE_P2P_URL", stack.seed_p2p_url or ""),
            ("DAPI_API__POC_CALLBACK_URL", callback),
            ("DAPI_CHAIN_NODE__URL", "http://node:26657"),
            ("DAPI_CHAIN_NODE__P2P_URL", "http://node:26656"),
        ]
        lines += [(f"RPC_SERVER_URL_{i}", u) for i, u in enumerate(stack.rpc_servers, start=1)]
        lines += [("NGINX_MODE", stack.nginx_mode)]
    else:
        lines += [("HF_HOME", ctx.home_path(hf_home(ctx)))]
    lines += [("PORT", "8080"), ("INFERENCE_PORT", "5050")]
    if node.role == "network":
        lines += [("KEYRING_BACKEND", "file")]
    header = f"# written by fleetdeck for {node.name} ({ctx.cluster.name}); edit the profile\n"
    return header + "".join(f"export {k}={_q(v)}\n" for k, v in lines)


def node_config(ctx: NodeContext) -> str:
    """node-config.json on the network node: one entry per node of the cluster that serves
    models, remote ML nodes by private address with ports 5050/8080 (§1.3)."""
    entries = []
    for n in ctx.cluster.nodes:
        served = models_of(n)
        if not served and n.role != "ml":
            continue
        if not served:
            raise StepFailed(f"ML node {n.name} has no model assigned: set model in the profile")
        local = n.name == ctx.node.name
        entry: dict = {
            "id": n.name,
            "host": "inference" if local else private_address(n),
            "inference_port": 5000 if local else 5050,
            "poc_port": 8080,
            "max_concurrent": 500,
            "models": {
                m: {"args": list(ctx.profile.models[m].args) if m in ctx.profile.models else []}
                for m in served
            },
        }
        if n.gpu_type and n.gpus:
            entry["hardware"] = [{"type": n.gpu_type, "count": n.gpus}]
        entries.append(entry)
    return json.dumps(entries, indent=2) + "\n"


def bind_address(node: Node) -> str:
    """The address another node of the cluster reaches this one at, to bind private ports
    to: it must be on a private network (or the loopback), never a public one."""
    address = private_address(node)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is None or not (ip.is_private or ip.is_loopback) or ip.is_unspecified:
        raise StepFailed(
            f"{node.name}: its private ports (9100, 8080, 5050) must be bound to a private "
            f"address, and {address!r} is not one: set private_ip for {node.name} in the "
            "profile (the address the cluster's other nodes reach it on, e.g. a VPC or "
            "WireGuard address)"
        )
    return address


def ports_override(ctx: NodeContext) -> str:
    """fleetdeck's compose override: each private port bound where private_bindings says."""
    node = ctx.node
    remote_ml = any(n.role == "ml" for n in ctx.cluster.nodes)
    needs_address = node.role == "ml" or remote_ml
    bindings = private_bindings(
        node.role,
        serves_model(ctx),
        bind_address(node) if needs_address else "127.0.0.1",
        remote_ml,
    )
    lines = [
        f"# written by fleetdeck for {node.name}; edit the profile, not this file.",
        "# Gonka's compose files publish these ports on every interface, and docker's own",
        "# rules come before ufw's: here they are bound to the loopback and to the private",
        "# address the cluster's other nodes reach this one at.",
        "services:",
    ]
    for service in sorted(bindings):
        lines += [f"  {service}:", "    ports: !override"]
        lines += [
            f'      - "{f"[{ip}]" if ":" in ip else ip}:{host}:{port}"'
            for ip, host, port in bindings[service]
        ]
    return "\n".join(lines) + "\n"


def config_files(ctx: NodeContext) -> list[tuple[str, str, int]]:
    join = ctx.home_path(deploy_dir(ctx))
    files = [(f"{join}/config.env", config_env(ctx), 0o600)]
    if ctx.node.role == "network":
        files.append((f"{join}/node-config.json", node_config(ctx), 0o644))
    files.append((f"{join}/{COMPOSE_PORTS}", ports_override(ctx), 0o644))
    return files


def configuration_check(ctx: NodeContext) -> Change | None:
    r = ctx.engine.redactor.redact
    diffs, commands = [], []
    wanted = config_files(ctx)
    for path, text, mode in wanted:
        current = ctx.read(path)
        old_mode, old_text = current if current else ("", "")
        if current is not None and old_text == text and old_mode == f"{mode:o}":
            continue
        commands.append(f"write {path} (mode {mode:o})")
        if old_text != text:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        r(old_text).splitlines(keepends=True),
                        r(text).splitlines(keepends=True),
                        fromfile=f"{path} (on the node)" if current else "/dev/null",
                        tofile=f"{path} (from the profile)",
                    )
                )
            )
        else:
            diffs.append(f"{path}: mode {old_mode} -> {mode:o}\n")
    if not commands:
        return None
    files = "1 configuration file" if len(commands) == 1 else f"{len(commands)} configuration files"
    return Change(f"write {files}", tuple(commands), "".join(diffs), payload=tuple(wanted))


def configuration_apply(ctx: NodeContext, change: Change) -> None:
    """Writes the files as the check computed them (the plan's diff), not anew."""
    for path, text, mode in change.payload:
        ctx.write(path, text, mode)
        note(ctx, f"wrote {path} (mode {mode:o})")


# ---------------------------------------------------------------- recreate (a handler)

# which containers read which file when they are created: compose interpolates config.env
# into every service, and the compose files define them all; node-config.json is mounted
# into the API, which reads it at start (every: None)
CONSUMERS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("config.env", None),
    ("node-config.json", ("api",)),
    (COMPOSE_MAIN, None),
    (COMPOSE_MLNODE, None),
    (COMPOSE_PORTS, ("api", "inference")),
)
MTIMES = (
    "import os,sys\n"
    "for p in sys.argv[1:]:\n"
    "    if os.path.exists(p): print(repr(os.stat(p).st_mtime), p)\n"
)


def _running(ctx: NodeContext) -> list[str]:
    """This node's containers that run now."""
    states = running_containers(ctx)
    known = GONKA.known_containers(ctx.node.role, serves_model(ctx))  # versiond reads config.env
    return [n for n in known if states.get(n) == "running"]


def stale_containers(ctx: NodeContext) -> list[tuple[str, str]]:
    """(container, why) for each running container of this node created before an input it
    reads changed (config, compose files) or whose image tag now names another image: a
    running container keeps what it was created with, so a deploy must recreate it."""
    present = _running(ctx)
    if not present:
        return []
    files = " ".join(shlex.quote(f) for f, _ in CONSUMERS)
    out = ctx.run(
        in_deploy_dir(ctx, f"python3 -c {shlex.quote(MTIMES)} {files}", env=False),
        quiet=True,
        check=False,
    ).stdout
    mtimes = {}
    for line in out.splitlines():
        stamp, _, name = line.partition(" ")
        with contextlib.suppress(ValueError):
            mtimes[name] = float(stamp)
    names = " ".join(shlex.quote(n) for n in present)
    inspected = ctx.run(f"docker inspect {names}", quiet=True, check=False).stdout
    try:
        containers = json.loads(inspected or "[]")
    except ValueError:
        return []
    images = {}
    tags = sorted({c.get("Config", {}).get("Image") for c in containers} - {None})
    if tags:
        listed = ctx.run(
            "docker image inspect --format '{{.Id}}' " + " ".join(shlex.quote(t) for t in tags),
            quiet=True,
            check=False,
        ).stdout.split()
        images = dict(zip(tags, listed, strict=False)) if len(listed) == len(tags) else {}
    stale = []
    for c in containers:
        name = str(c.get("Name", "")).lstrip("/")
        created = rfc3339_seconds(c.get("Created"))
        if created is None:
            continue
        why = [
            f"{f} changed since it was created"
            for f, readers in CONSUMERS
            if f in mtimes and mtimes[f] > created and (readers is None or name in readers)
        ]
        tag = c.get("Config", {}).get("Image")
        if tag in images and images[tag] != c.get("Image"):
            why.append(f"{tag} is a new image")
        if why:
            stale.append((name, "; ".join(why)))
    return stale


def _recreate(ctx: NodeContext, stale: list[tuple[str, str]]) -> Change:
    """Recreate the stale containers the compose files (as they are then: a new release's)
    declare, and remove those they no longer do (a move to an older release leaves a newer
    one's versiond behind, and compose refuses to name it). Names are fleetdeck's own
    container names ([a-z0-9-]), safe unquoted in the loop."""
    names = [n for n, _ in stale]
    files = f"{compose(ctx)} {_up_files(ctx)}"
    command = in_deploy_dir(
        ctx,
        f"declared=$({files} config --services) && keep= && gone= && "
        f"for s in {' '.join(shlex.quote(n) for n in names)}; do "
        'if printf \'%s\\n\' "$declared" | grep -qx "$s"; then keep="$keep $s"; '
        'else gone="$gone $s"; fi; done && '
        f'if [ -n "$keep" ]; then {files} up -d --no-deps --force-recreate $keep; fi && '
        'if [ -n "$gone" ]; then docker rm -f $gone; fi',
    )
    why = "; ".join(f"{n}: {w}" for n, w in stale)
    return Change(f"recreate {', '.join(names)} ({why})", (command,))


def recreate_check(ctx: NodeContext) -> Change | None:
    stale = stale_containers(ctx)
    return _recreate(ctx, stale) if stale else None


def recreate_foresee(ctx: NodeContext, because: list[str]) -> Change | None:
    """What recreate will do once the earlier steps in `because` have changed the node."""
    running = _running(ctx)
    if not running:
        return None  # nothing runs yet: the bring-ups create them with the new inputs
    if "repository" in because or "images" in because:
        word = " and ".join(s for s in ("repository", "images") if s in because)
        return _recreate(ctx, [(n, f"{word} change") for n in running])
    changed = set()
    for path, text, _ in config_files(ctx):
        current = ctx.read(path)
        if current is None or current[1] != text:
            changed.add(path.rsplit("/", 1)[-1])
    stale = [
        (n, f"{', '.join(sorted(hit))} changes")
        for n in running
        if (hit := {f for f, who in CONSUMERS if f in changed and (who is None or n in who)})
    ]
    return _recreate(ctx, stale) if stale else None


def recreate_apply(ctx: NodeContext, change: Change) -> None:
    wait_for_window(ctx, change.summary.split(" (", 1)[0])
    ctx.run(change.commands[0])


# ---------------------------------------------------------------- bring-up


@dataclass(frozen=True)
class BringUp:
    """A step that starts containers with compose, then waits until a URL on the node
    answers. Done when every one of its containers runs and the URL answers: a wait that
    timed out stays failed on the next attempt until it answers."""

    services: Callable[[NodeContext], list[str]]
    compose_args: Callable[[NodeContext], str]
    url: Callable[[NodeContext], str]  # asked once the containers run
    seconds: float
    what: str
    where: str | None = None  # how the plan names a URL known only once they run

    def check(self, ctx: NodeContext) -> Change | None:
        states = running_containers(ctx)
        down = [n for n in self.services(ctx) if states.get(n) != "running"]
        if not down:
            url = self.url(ctx)
            if url_answers(ctx, url)[0]:
                return None
            # running is not serving: the last wait may have timed out
            return Change(
                f"{self.what} does not answer at {url} although its containers run",
                (f"wait for {self.what} at {url}",),
            )
        command = in_deploy_dir(ctx, f"{compose(ctx)} {self.compose_args(ctx)}")
        where = self.where or self.url(ctx)
        return Change(f"start {', '.join(down)}", (command, f"wait for {self.what} at {where}"))

    def apply(self, ctx: NodeContext, change: Change) -> None:
        if len(change.commands) > 1:  # what the plan showed: start, then wait
            ctx.run(change.commands[0])
        wait_http(ctx, self.url(ctx), self.seconds, self.what)


NETWORK_INIT = BringUp(
    lambda ctx: ["tmkms", CHAIN_CONTAINER],
    lambda ctx: f"-f {COMPOSE_MAIN} up -d --no-deps tmkms {CHAIN_CONTAINER}",
    lambda ctx: chain_rpc_url(ctx, "/status"),
    120,
    "CometBFT RPC",
    f"the {CHAIN_CONTAINER} container's {RPC_PORT}",
)


def release_containers(ctx: NodeContext) -> list[str]:
    """The expected containers and the optional ones this release's compose files declare
    (versiond since 0.2.12): a move up to such a release starts them."""
    known = GONKA.known_containers(ctx.node.role, serves_model(ctx))
    expected = expected_containers(ctx)
    if known == expected:
        return expected
    try:
        tool = compose(ctx)
    except StepFailed:  # a bare host, planned before the dependencies step installs it
        return expected
    out = ctx.run(
        in_deploy_dir(ctx, f"{tool} {_files(ctx)} config --services", env=False),
        quiet=True,
        check=False,
    )
    declared = set(out.stdout.split()) if out.exit == 0 else set()
    return expected + [n for n in known if n not in expected and n in declared]


NETWORK_FULL = BringUp(
    release_containers,
    lambda ctx: f"{_up_files(ctx)} up -d",
    lambda ctx: f"http://127.0.0.1:{ctx.settings.api_port}/health",
    180,
    "the API proxy",
)
ML_NODES = BringUp(
    expected_containers,
    lambda ctx: f"{_up_files(ctx)} up -d",
    lambda ctx: "http://127.0.0.1:8080/health",
    300,
    "the ML node",
)


# ---------------------------------------------------------------- validation


def validation(ctx: NodeContext) -> Change | None:
    states = running_containers(ctx)
    problems = [
        f"{n} is {states.get(n, 'missing')}"
        for n in expected_containers(ctx)
        if states.get(n) != "running"
    ]
    if ctx.node.role == "network":
        rpc = chain_rpc_url(ctx, "/status")
        if not http_ok(ctx, rpc):
            problems.append(f"CometBFT RPC does not answer at {rpc}")
        if not http_ok(ctx, f"http://127.0.0.1:{ctx.settings.api_port}/health"):
            problems.append("the API proxy /health does not answer")
    if serves_model(ctx) and "mlnode-308" in states:
        if not http_ok(ctx, "http://127.0.0.1:8080/health"):
            problems.append("the ML node /health does not answer on 8080")
        seen = ctx.run(
            f"docker exec mlnode-308 sh -c {shlex.quote(GPUS.deploy.count_in_container)}",
            quiet=True,
            check=False,
        ).stdout.strip()
        want = ctx.node.gpus or 0
        if want and int(seen or 0) != want:
            problems.append(
                f"mlnode-308 sees {seen or 0} GPUs, the node has {want}: check the "
                f"{GPUS.deploy.runtime} runtime and the compose file's GPU reservation"
            )
        else:
            note(ctx, f"mlnode-308 sees {seen or 0} GPUs")
    if problems:
        raise StepFailed("; ".join(problems))
    note(ctx, "all services answer")
    return None


# ---------------------------------------------------------------- runbook actions


# ---------------------------------------------------------------- the action


def deploy_action() -> Action:
    progress = re.compile(r"(?P<pct>\d{1,3})%\|")
    return Action(
        name="deploy",
        stacks=("gonka",),
        description="deploy the Gonka stack: firewall, repository, models, images, config, "
        "network node, ML nodes, validation",
        destructive=True,
        steps=(
            Step("preflight", "preflight", preflight, retries=0),
            # dependencies first: the firewall step needs ufw, which a bare host lacks
            Step("dependencies", "dependencies", dependencies_check, run_commands, timeout=900),
            Step("firewall", "firewall (ufw)", firewall_check, firewall_apply),
            Step("repository", "repository", repository_check, run_commands),
            Step(
                "models",
                "models",
                models_check,
                models_apply,
                when=lambda ctx: bool(models_of(ctx.node)),
                retries=3,
                backoff=1.0,
                progress=progress,
            ),
            Step("images", "images", images_check, run_commands, timeout=1800),
            Step(
                "configuration",
                "configuration",
                configuration_check,
                configuration_apply,
                exact=True,
            ),
            # the handler: running containers keep what they were created with
            Step(
                "recreate",
                "recreate changed containers",
                recreate_check,
                recreate_apply,
                after=("repository", "images", "configuration"),
                foresee=recreate_foresee,
            ),
            Step(
                "network-init",
                "network init (tmkms, node)",
                NETWORK_INIT.check,
                NETWORK_INIT.apply,
                roles=("network",),
            ),
            Step(
                "network-full",
                "network (all services)",
                NETWORK_FULL.check,
                NETWORK_FULL.apply,
                roles=("network",),
            ),
            Step(
                "ml-nodes",
                "ML node containers",
                ML_NODES.check,
                ML_NODES.apply,
                roles=("ml",),
                throttle=2,
            ),
            Step("validation", "validation", validation, retries=4, backoff=1.0),
        ),
    )
