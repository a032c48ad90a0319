"""The Ollama deploy: Ollama installed on the host at a pinned version, as the systemd
service its install script makes, bound to 127.0.0.1 with the profile's parallelism,
queue and keep-alive; the node's models pulled and warmed; readiness checked.

Steps: gpus (the node's VRAM, each model's tier fits) → install (the official script, or
a mirror, with OLLAMA_VERSION) → service (a drop-in beside the unit file systemd names:
OLLAMA_HOST and the settings; reloaded, enabled, restarted) → models (`ollama pull`) →
ready (/api/version, /api/tags, one short generation warming each model, /api/ps on the
GPU, and the port listening on the loopback only, as `ss` on the node shows it).
"""

from __future__ import annotations

import json
import re
import shlex

from actions.devices import inventory
from actions.engine import Action, Change, NodeContext, Step, StepFailed
from actions.stacks import systemd
from actions.stacks.node_http import node_json, note, url_answers
from actions.stacks.weights import models_of, room_for
from actions.types import StackActions, file_diff
from console.core.profile.schema import FleetProfile

UNIT = "ollama"
STANDARD_UNIT_FILE = "/etc/systemd/system/ollama.service"  # where the install script puts it
DROP_IN = "fleetdeck.conf"
MODELS_DIR = "/usr/share/ollama/.ollama/models"  # the install script's service user's home
BYTES_PER_PARAMETER = 0.6  # Ollama's default tags are 4-bit (Q4_K_M), a little over 0.5
READY_WAIT_S = 60.0
VERSION = re.compile(r"(\d+\.\d+\.\d+)")


def tagged(model: str) -> str:
    """A model as Ollama lists it: `llama3.1` is `llama3.1:latest`."""
    return model if ":" in model else f"{model}:latest"


def node_models(ctx: NodeContext) -> list[str]:
    models = models_of(ctx.node)
    if not models:
        raise StepFailed(f"{ctx.name} serves no model: set model = … on the node")
    return models


def api(ctx: NodeContext, path: str) -> str:
    return f"http://127.0.0.1:{ctx.settings.ollama_port}{path}"


def client_env(ctx: NodeContext) -> str:
    """What the `ollama` client needs to find this server (its port may be moved)."""
    return f"OLLAMA_HOST=127.0.0.1:{ctx.settings.ollama_port}"


# ---------------------------------------------------------------- gpus


def vram_gb(ctx: NodeContext) -> float:
    """The node's GPU memory in GB (decimal, as tiers are sold: a "48 GB" L40S reports
    46068 MiB), from its vendor's tool (actions/devices.py): each of Ollama's builds
    alike."""
    if "vram_gb" not in ctx.facts:
        try:
            _, _, listed = inventory(ctx)
        except StepFailed as exc:
            raise StepFailed(f"{exc} (Ollama would quietly run every model on the CPU)") from None
        ctx.facts["gpus"] = len(listed)
        ctx.facts["vram_gb"] = sum(mib for _, mib in listed) * 1.048576 / 1000
    return ctx.facts["vram_gb"]


def gpus_check(ctx: NodeContext) -> Change | None:
    have = vram_gb(ctx)
    too_big = []
    for m in node_models(ctx):
        spec = ctx.profile.models.get(m)
        if spec is not None and spec.vram_gb is not None and spec.vram_gb > have:
            too_big.append(f"{m} is for the {spec.vram_gb:g} GB tier")
    if too_big:
        raise StepFailed(
            f"{ctx.name} has {have:.0f} GB of GPU memory: {'; '.join(too_big)}. Ollama "
            "would load it partly on the CPU (tens of times slower): pick a model of this "
            "node's tier"
        )
    note(ctx, f"{ctx.facts['gpus']} GPU(s), {have:.0f} GB: {', '.join(node_models(ctx))} fit")
    return None


# ---------------------------------------------------------------- install


def installed_version(ctx: NodeContext) -> str | None:
    out = ctx.run(
        f"command -v ollama >/dev/null && {client_env(ctx)} ollama --version",
        quiet=True,
        check=False,
    )
    if out.exit != 0:
        return None
    found = VERSION.findall(out.stdout + out.stderr)
    return found[-1] if found else "unknown"


def install_command(ctx: NodeContext) -> str:
    s = ctx.settings
    url = shlex.quote(s.ollama_install_url)
    return f"curl -fsSL {url} | {ctx.sudo}env OLLAMA_VERSION={shlex.quote(s.ollama_version)} sh"


def install_check(ctx: NodeContext) -> Change | None:
    have, want = installed_version(ctx), ctx.settings.ollama_version
    if have == want:
        return None
    what = f"install Ollama {want}" if have is None else f"upgrade Ollama {have} → {want}"
    return Change(what, (install_command(ctx),))


def install_apply(ctx: NodeContext, change: Change) -> None:
    out = ctx.run(change.commands[0], check=False, timeout=900)
    if out.exit != 0:
        said = [line for line in (out.stderr + out.stdout).splitlines() if line.strip()]
        raise StepFailed(
            f"Ollama's install script failed (exit {out.exit}): {' / '.join(said[-3:])}"
            f" (from {ctx.settings.ollama_install_url})"
        )
    have = installed_version(ctx)
    if have != ctx.settings.ollama_version:
        raise StepFailed(
            f"after the install script, ollama reports version {have or 'nothing'}, not "
            f"{ctx.settings.ollama_version}"
        )
    note(ctx, f"Ollama {have} installed")


# ---------------------------------------------------------------- service


def drop_in_text(ctx: NodeContext) -> str:
    s = ctx.settings
    env = {
        "OLLAMA_HOST": f"127.0.0.1:{s.ollama_port}",  # never public: SSH forwards reach it
        "OLLAMA_NUM_PARALLEL": str(s.ollama_num_parallel),
        "OLLAMA_MAX_QUEUE": str(s.ollama_max_queue),
        "OLLAMA_KEEP_ALIVE": s.ollama_keep_alive,
    }
    return (
        f"# written by fleetdeck for {ctx.name}: the next deploy replaces any edit\n"
        "[Service]\n" + "".join(f'Environment="{k}={v}"\n' for k, v in env.items())
    )


def unit_facts(ctx: NodeContext) -> dict[str, str]:
    """What systemd says of the unit, with when it last started and when fleetdeck's
    drop-in (beside the unit file systemd names) last changed."""
    drop_in = f'"$(systemctl show {UNIT} -p FragmentPath --value).d/{DROP_IN}"'
    return systemd.unit_facts(ctx, UNIT, drop_in, ("FragmentPath", "Environment"))


def drop_in_path(ctx: NodeContext, facts: dict[str, str]) -> str:
    fragment = facts.get("FragmentPath") or STANDARD_UNIT_FILE
    return f"{fragment}.d/{DROP_IN}"


def service_commands(ctx: NodeContext, path: str) -> tuple[str, ...]:
    folder = shlex.quote(path.rsplit("/", 1)[0])
    return (
        f"{ctx.sudo}mkdir -p {folder} && {ctx.sudo}tee {shlex.quote(path)} >/dev/null",
        f"{ctx.sudo}systemctl daemon-reload",
        f"{ctx.sudo}systemctl enable {UNIT}",
        f"{ctx.sudo}systemctl restart {UNIT}",
        f"wait for Ollama at {api(ctx, '/api/version')}",
    )


def service_check(ctx: NodeContext) -> Change | None:
    facts = unit_facts(ctx)
    if facts.get("LoadState") != "loaded":
        raise StepFailed(
            "systemd knows no ollama unit although ollama is installed: the install "
            "script's service is missing (systemctl status ollama)"
        )
    path = drop_in_path(ctx, facts)
    want = drop_in_text(ctx)
    have = ctx.read(path)
    if have is None or have[1] != want:
        return _service_change(ctx, path, have[1] if have else None, want, "settings")
    stale = systemd.runs_stale(facts)
    if stale:
        return Change(f"reload and restart {UNIT} ({stale})", service_commands(ctx, path))
    configured = facts.get("Environment", "").split()
    overridden = [e for e in re.findall(r'Environment="([^"]*)"', want) if e not in configured]
    if overridden:
        names = {e.split("=")[0] for e in overridden}
        theirs = [e for e in configured if e.split("=")[0] in names]
        raise StepFailed(
            f"another drop-in overrides fleetdeck's {path}: systemd configures "
            f"{', '.join(theirs) or 'no ' + ', '.join(sorted(names))} (systemctl cat {UNIT} "
            "shows which file; remove it or move its settings into the profile)"
        )
    down = systemd.not_running(facts)
    return Change(f"start {UNIT} ({down})", service_commands(ctx, path)) if down else None


def _service_change(ctx: NodeContext, path: str, have: str | None, want: str, why: str) -> Change:
    diff = file_diff(have, want, path)
    return Change(
        f"write {path} ({why}) and restart {UNIT}",
        service_commands(ctx, path),
        diff=diff,
        payload=(path, want),
    )


def service_foresee(ctx: NodeContext, because: list[str]) -> Change:
    path = drop_in_path(ctx, unit_facts(ctx))
    have = ctx.read(path)
    return _service_change(ctx, path, have[1] if have else None, drop_in_text(ctx), "settings")


def service_apply(ctx: NodeContext, change: Change) -> None:
    path, text = change.payload if change.payload else (None, None)
    if path is None:  # only a restart: the file is as it should be
        path = drop_in_path(ctx, unit_facts(ctx))
        text = drop_in_text(ctx)
    ctx.run(change.commands[0], stdin=text, quiet=True)
    for command in change.commands[1:-1]:
        ctx.run(command)
    url = api(ctx, "/api/version")
    ok, said = url_answers(ctx, url, READY_WAIT_S)
    if not ok:
        log = ctx.run(f"{ctx.sudo}journalctl -u {UNIT} -n 20 --no-pager", quiet=True, check=False)
        raise StepFailed(
            f"Ollama did not answer at {url} after its restart: {said}; "
            f"{(log.stdout or log.stderr).strip()[-300:]}"
        )
    note(ctx, f"Ollama answers at {url}")


# ---------------------------------------------------------------- models


def pulled(ctx: NodeContext) -> set[str]:
    status, body = node_json(ctx, api(ctx, "/api/tags"))
    if status != 200 or not isinstance(body, dict):
        raise StepFailed(f"Ollama's /api/tags answers {status or 'nothing'}: {str(body)[:160]}")
    return {str(m.get("name")) for m in body.get("models") or [] if isinstance(m, dict)}


def models_missing(ctx: NodeContext, answering: bool = False) -> list[str]:
    """The node's models Ollama has not pulled (its list asked once); while it does not
    answer yet (not installed, or not started: the deploy's earlier steps see to both), all
    of them, unless `answering` says it must answer (its StepFailed then)."""
    try:
        have = pulled(ctx)
    except StepFailed:
        if answering:
            raise
        have = set()
    return [m for m in node_models(ctx) if tagged(m) not in have]


def models_check(ctx: NodeContext) -> Change | None:
    missing = models_missing(ctx, answering=True)
    if not missing:
        return None
    room_for(ctx, missing, MODELS_DIR, BYTES_PER_PARAMETER)
    return Change(
        f"pull {', '.join(missing)}",
        tuple(f"{client_env(ctx)} ollama pull {shlex.quote(m)}" for m in missing),
    )


def models_foresee(ctx: NodeContext, because: list[str]) -> Change:
    return Change(
        f"pull {', '.join(node_models(ctx))} (unless Ollama already has them)",
        tuple(f"{client_env(ctx)} ollama pull {shlex.quote(m)}" for m in node_models(ctx)),
    )


def models_apply(ctx: NodeContext, change: Change) -> None:
    for command in change.commands:
        out = ctx.run(command, check=False, timeout=3600)
        if out.exit != 0:
            said = [line for line in (out.stderr + out.stdout).splitlines() if line.strip()]
            raise StepFailed(f"{command.split()[-1]}: {' / '.join(said[-2:])}")


# ---------------------------------------------------------------- ready


def listening_addresses(ctx: NodeContext) -> list[str] | None:
    """The local addresses Ollama's port listens on, as `ss` on the node shows them; None
    where ss cannot say."""
    port = ctx.settings.ollama_port
    out = ctx.run(f"ss -ltnH 'sport = :{port}'", quiet=True, check=False)
    if out.exit != 0:
        return None
    found = []
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            found.append(fields[3].rsplit(":", 1)[0].strip("[]"))
    return found


def ready_check(ctx: NodeContext) -> Change | None:
    problems = []
    status, body = node_json(ctx, api(ctx, "/api/version"))
    version = body.get("version") if isinstance(body, dict) else None
    if status != 200:
        raise StepFailed(f"Ollama's /api/version answers {status or 'nothing'}: {str(body)[:160]}")
    if version != ctx.settings.ollama_version:
        problems.append(f"the server runs {version}, not {ctx.settings.ollama_version}")
    have = pulled(ctx)
    speeds = []
    for m in node_models(ctx):
        if tagged(m) not in have:
            problems.append(f"/api/tags does not list {m}")
            continue
        request = {
            "model": m,
            "prompt": "Reply with the single word: ready",
            "stream": False,
            "keep_alive": ctx.settings.ollama_keep_alive,
            "options": {"num_predict": 8},
        }
        status, answer = node_json(ctx, api(ctx, "/api/generate"), request, "POST")
        if status != 200 or not isinstance(answer, dict) or not answer.get("done"):
            problems.append(f"a generation with {m} answers {status or 'nothing'}: {answer}"[:200])
            continue
        try:
            speeds.append(f"{m} {answer['eval_count'] / answer['eval_duration'] * 1e9:.0f} tok/s")
        except (KeyError, TypeError, ZeroDivisionError):
            speeds.append(f"{m} answers")
    status, ps = node_json(ctx, api(ctx, "/api/ps"))
    for m in ps.get("models") or [] if isinstance(ps, dict) else []:
        size, vram = m.get("size") or 0, m.get("size_vram") or 0
        if size and vram < size:
            problems.append(
                f"{m.get('name')} runs {100 * (size - vram) / size:.0f} % on the CPU "
                f"({vram / 1e9:.1f} of {size / 1e9:.1f} GB in GPU memory): "
                f"{inventory(ctx)[0].tool} on the node, journalctl -u ollama"
            )
    bound = listening_addresses(ctx)
    public = [a for a in bound or [] if not (a.startswith("127.") or a in ("::1", "localhost"))]
    if public:
        problems.append(
            f"Ollama listens on {', '.join(public)}:{ctx.settings.ollama_port}, reachable from "
            "outside the node: OLLAMA_HOST must be 127.0.0.1 (a drop-in or the environment "
            "overrides fleetdeck's)"
        )
    if problems:
        raise StepFailed("; ".join(problems))
    where = "127.0.0.1 only" if bound else "bind not seen (no ss on the node)"
    note(ctx, f"Ollama {version} ready, listening on {where}: {', '.join(speeds)}")
    return None


# ---------------------------------------------------------------- provider


# what a container has to ask a URL with: whichever of these it carries
REACH = (
    "curl -fsS --max-time 5 {url} || wget -qO- -T 5 {url} || "
    "python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], "
    "timeout=5).read().decode())' {url}"
)


def provider_check(ctx: NodeContext) -> Change | None:
    """The provider's container reaches Ollama on the host: it runs, on the host's network
    (Ollama listens on 127.0.0.1 only), and asks /api/version from inside."""
    name = ctx.settings.ollama_provider_container
    out = ctx.run(f"docker inspect {shlex.quote(str(name))}", quiet=True, check=False)
    try:
        found = json.loads(out.stdout or "[]")
    except ValueError:
        found = []
    if not found:
        raise StepFailed(
            f"the provider container {name} is not on this node (docker ps -a): start it, "
            "or unset provider_container"
        )
    c = found[0]
    if not (c.get("State") or {}).get("Running"):
        raise StepFailed(f"the provider container {name} is not running (docker logs {name})")
    network = (c.get("HostConfig") or {}).get("NetworkMode")
    if network != "host":
        raise StepFailed(
            f"the provider container {name} runs on the {network!r} network: Ollama listens "
            f"on 127.0.0.1 only, which {name} cannot reach from there. Run it with "
            "network_mode: host (opening Ollama to 0.0.0.0 would open it to the world)"
        )
    url = shlex.quote(api(ctx, "/api/version"))
    reached = ctx.run(
        f"docker exec {shlex.quote(str(name))} sh -c {shlex.quote(REACH.format(url=url))}",
        quiet=True,
        check=False,
    )
    if reached.exit != 0 or "version" not in reached.stdout:
        said = (reached.stderr or reached.stdout).strip().splitlines()[-1:] or ["no answer"]
        raise StepFailed(f"{name} cannot reach Ollama at {api(ctx, '/api/version')}: {said[0]}")
    note(ctx, f"{name} reaches Ollama on the host")
    return None


# ---------------------------------------------------------------- the action


def slo_notes(model: FleetProfile) -> list[str]:
    """A provider kept at Ollama's default of one request at a time while its SLO asks for
    many at once: every other request waits in the queue."""
    want = model.alerts.inference_concurrency
    out = []
    for cluster in model.clusters:
        if model.cluster_stack(cluster) != "ollama" or not cluster.nodes:
            continue
        parallel = model.stack_settings(cluster).ollama_num_parallel
        if want and want > 1 and parallel == 1:
            out.append(
                f"{cluster.name}: Ollama serves one request at a time (num_parallel = 1, "
                f"its default) while the SLO asks for {want} concurrent: the others queue "
                "behind it and time out; set num_parallel in [stack] (VRAM allowing)"
            )
    return out


def deploy_action() -> Action:
    return Action(
        name="deploy",
        stacks=("ollama",),
        description="deploy Ollama providers: GPUs, Ollama on the host at a pinned version, "
        "its service bound to 127.0.0.1, the models pulled, readiness",
        destructive=True,
        notes=slo_notes,
        steps=(
            Step("gpus", "GPU memory for the models", gpus_check, retries=0),
            Step("install", "Ollama installed", install_check, install_apply, retries=1),
            Step(
                "service",
                "Ollama service",
                service_check,
                service_apply,
                after=("install",),
                foresee=service_foresee,
                retries=1,
            ),
            Step(
                "models",
                "models pulled",
                models_check,
                models_apply,
                after=("install", "service"),
                foresee=models_foresee,
                retries=2,
                backoff=1.0,
                progress=re.compile(r"(?P<pct>\d{1,3})%"),
                timeout=3700,
            ),
            Step("ready", "readiness", ready_check, retries=2, backoff=1.0),
            Step(
                "provider",
                "provider container reaches Ollama",
                provider_check,
                when=lambda ctx: bool(ctx.settings.ollama_provider_container),
                retries=1,
            ),
        ),
    )


ACTIONS = StackActions(deploy=deploy_action)  # ollama's action side: its deploy
