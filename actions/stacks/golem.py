"""The Golem provider deploy (reference/golem-provider.md): the provider's own user, the
installer at the pinned versions, ya-provider's settings and presets as the profile says,
golemsp under systemd as that user, readiness; on a node that names a model, Ollama's
steps first (actions/stacks/ollama.py: the provider fronts a host Ollama).

Steps: user → install (the as-provider script, BATCH_MODE, GOLEM_ACCEPT_TOS only where the
profile accepts the terms) → runtimes (each preset's runtime installed; the VM check passes
for a vm runtime, IOMMU and VFIO for vm-nvidia) → settings (`ya-provider config set`, always
with --subnet, and the hardware profile) → presets (one per runtime, named after it, the
profile's prices; every installed runtime gets one) → service (the unit, the secrets file,
restart) → ready (/me, /healthcheck, the offers).

The three traps of a naive deploy, and how each is kept out:
- `golemsp run` resets every price when a runtime lacks a preset of its own name: the
  presets step writes one for every installed runtime (inactive where the profile has none);
- `ya-provider config set` (and `golemsp settings set --node-name/--account`) without
  `--subnet` puts the subnet back to `public`: the settings step always passes it, and the
  unit's SUBNET says it again at each start;
- `golemsp setup --no-interactive` invents a new node name each time: never run; the name is
  set with `config set` and NODE_NAME, and golemsp run only invents one where none is stored.

ya-provider watches its files (globals.json, presets.json, hardware.json) and publishes new
offers when they change: a price or a resource changes without a restart. What the unit's
environment carries (node name, subnet, payment network, account, secrets) restarts it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex

from actions.engine import Action, Change, NodeContext, Step, StepFailed, StepRefused, StepSkipped
from actions.stacks import ollama, systemd
from actions.stacks.node_http import note
from actions.types import StackActions, file_diff

UNIT = "golemsp"
TERMS = "https://handbook.golem.network/see-also/terms"
NETWORKS = {
    "mainnet": ("mainnet", "polygon"),
    "testnet": ("holesky", "hoodi", "amoy", "sepolia"),
}
# secrets yagna takes from its environment at start (never in argv or the unit file)
SECRETS = {"golem_app_key": "YAGNA_AUTOCONF_APPKEY", "golem_wallet_key": "YAGNA_AUTOCONF_ID_SECRET"}
READY_WAIT_S = 60
q = shlex.quote


def provider(ctx: NodeContext, command: str) -> str:
    """`command` as the provider's user, with its installer's ~/.local/bin on PATH."""
    user = q(ctx.settings.golem_user)
    path = q('PATH="$HOME/.local/bin:$PATH"; exec "$@"')
    return f"sudo -n -u {user} -H sh -c {path} sh {command}"


def provider_json(ctx: NodeContext, command: str, what: str) -> object:
    out = ctx.run(provider(ctx, command), quiet=True, check=False)
    if out.exit != 0:
        raise StepFailed(f"{what}: {(out.stderr or out.stdout).strip()[-200:] or out.exit}")
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise StepFailed(f"{what} printed no JSON: {out.stdout.strip()[:160]}") from None


def runtimes(ctx: NodeContext) -> dict[str, str]:
    """The installed runtimes: name -> version."""
    units = provider_json(ctx, "ya-provider --json exe-unit list", "ya-provider exe-unit list")
    return {str(u.get("name")): str(u.get("version")) for u in units or [] if isinstance(u, dict)}


# ---------------------------------------------------------------- user


def user_check(ctx: NodeContext) -> Change | None:
    user = ctx.settings.golem_user
    if ctx.run(f"id -u {q(user)}", quiet=True, check=False).exit == 0:
        return None
    return Change(
        f"create the provider's user {user}",
        (
            f"{ctx.sudo}useradd --system --create-home --home-dir /home/{q(user)} "
            f"--shell /usr/sbin/nologin {q(user)}",
        ),
    )


def user_apply(ctx: NodeContext, change: Change) -> None:
    ctx.run(change.commands[0])


# ---------------------------------------------------------------- install


def installed(ctx: NodeContext) -> tuple[str | None, dict[str, str]]:
    """(yagna's version, the runtimes' versions), or (None, {}) before the install."""
    out = ctx.run(provider(ctx, "yagna --version"), quiet=True, check=False)
    if out.exit != 0:
        return None, {}
    words = out.stdout.split()
    return (words[1] if len(words) > 1 else "unknown"), runtimes(ctx)


def wanted(ctx: NodeContext) -> dict[str, str]:
    s = ctx.settings
    return {"core": s.golem_version, "vm": s.golem_vm_version, "wasmtime": s.golem_wasi_version}


def install_command(ctx: NodeContext) -> str:
    s = ctx.settings
    pins = (
        f"YA_INSTALLER_CORE=v{q(s.golem_version)} YA_INSTALLER_VM=v{q(s.golem_vm_version)} "
        f"YA_INSTALLER_WASI=v{q(s.golem_wasi_version)}"
    )
    # the PATH the script checks is the provider user's (else it exits 1 after success)
    env = f"env GOLEM_ACCEPT_TOS=yes BATCH_MODE=yes YA_CONSENT_STATS={q(s.golem_consent_stats)}"
    return f"curl -sSf {q(s.golem_install_url)} | {provider(ctx, f'{env} {pins} bash -')}"


def install_check(ctx: NodeContext) -> Change | None:
    core, have = installed(ctx)
    want = wanted(ctx)
    now = {"core": core, "vm": have.get("vm"), "wasmtime": have.get("wasmtime")}
    if now == want:
        return None
    if not ctx.settings.golem_accept_terms:
        raise StepRefused(
            f"Golem's installer asks to accept its terms ({TERMS}): once the operator has "
            "read them, set accept_terms = true in [stack]"
        )
    what = ", ".join(f"{k} {now[k] or '-'} → {v}" for k, v in want.items() if now[k] != v)
    commands = (install_command(ctx),)
    if core is not None:  # an upgrade: the docs stop the provider first
        commands = (f"{ctx.sudo}systemctl stop {UNIT}", *commands)
    verb = "install" if core is None else "upgrade"
    return Change(f"{verb} the Golem provider ({what})", commands)


def install_apply(ctx: NodeContext, change: Change) -> None:
    for command in change.commands:
        out = ctx.run(command, check=False, timeout=900)
        if out.exit != 0:
            said = [line for line in (out.stderr + out.stdout).splitlines() if line.strip()]
            raise StepFailed(
                f"Golem's installer failed (exit {out.exit}): {' / '.join(said[-2:])} "
                f"(from {ctx.settings.golem_install_url})"
            )
    note(ctx, f"Golem provider {ctx.settings.golem_version} installed")


# ---------------------------------------------------------------- runtimes


def vm_state(ctx: NodeContext) -> str:
    """golemsp's VM check (valid, no access, invalid environment), with its problem."""
    out = ctx.run(provider(ctx, "golemsp status"), quiet=True, check=False)
    vm = next(
        (
            line.split("VM", 1)[1].strip(" │")
            for line in out.stdout.splitlines()
            if "│  VM " in line
        ),
        "unknown",
    )
    problem = next((line.strip() for line in out.stdout.splitlines() if "VM problem:" in line), "")
    return f"{vm}. {problem}" if problem else vm


def vfio_problems(ctx: NodeContext) -> list[str]:
    """vm-nvidia's preconditions: IOMMU on, and a GPU bound to vfio-pci."""
    out = ctx.run(
        "ls /sys/kernel/iommu_groups 2>/dev/null | wc -l; "
        "ls /sys/bus/pci/drivers/vfio-pci 2>/dev/null | grep -c '^0000:' || true",
        quiet=True,
        check=False,
    )
    counts = [int(w) for w in out.stdout.split() if w.isdigit()] + [0, 0]
    problems = []
    if counts[0] == 0:
        problems.append(
            "IOMMU is off (no /sys/kernel/iommu_groups): enable VT-d/AMD-Vi in the BIOS and "
            "boot with intel_iommu=on amd_iommu=on"
        )
    if counts[1] == 0:
        problems.append(
            "no GPU is bound to vfio-pci: bind it (driver_override = vfio-pci) and keep it "
            "alone in its IOMMU group"
        )
    return problems


def runtimes_check(ctx: NodeContext) -> Change | None:
    """Each preset's runtime installed and usable: vm-nvidia's host needs (IOMMU, VFIO) at
    any time, the rest once Golem is installed (preflight runs it on a bare host too)."""
    wanted_gpu = "vm-nvidia" in ctx.settings.golem_presets
    problems = [f"vm-nvidia: {p}" for p in vfio_problems(ctx)] if wanted_gpu else []
    if installed(ctx)[0] is None:
        if problems:
            raise StepFailed("; ".join(problems))
        raise StepSkipped("checked once Golem is installed")
    have = runtimes(ctx)
    for runtime in ctx.settings.golem_presets:
        if runtime not in have:
            problems.append(
                f"runtime {runtime} is not installed (ya-provider exe-unit list has "
                f"{', '.join(sorted(have)) or 'none'})"
            )
    if any(r.startswith("vm") for r in ctx.settings.golem_presets) and not problems:
        vm = vm_state(ctx)
        if not vm.startswith("valid"):
            problems.append(
                f"golemsp's VM check says {vm}: ya-provider tests every runtime at start and "
                "stops on a failed one. Make /dev/kvm usable by the provider's user (the kvm "
                "group), or remove the vm presets from golem_presets"
            )
    if problems:
        raise StepFailed("; ".join(problems))
    note(ctx, f"runtimes {', '.join(sorted(ctx.settings.golem_presets))} ready to offer")
    return None


# ---------------------------------------------------------------- settings


def networks(ctx: NodeContext) -> str:
    return " ".join(f"--payment-network {n}" for n in NETWORKS[ctx.settings.golem_payment_network])


def settings_check(ctx: NodeContext) -> Change | None:
    s = ctx.settings
    config = provider_json(ctx, "ya-provider --json config get", "ya-provider config get")
    want = {"node_name": ctx.name, "subnet": s.golem_subnet}
    if s.golem_account:
        want["account"] = s.golem_account
    differs = {k: v for k, v in want.items() if (config or {}).get(k) != v}
    commands, what = [], []
    if differs:
        # always with --subnet: without it ya-provider puts the subnet back to public
        account = f" --account {q(s.golem_account)}" if s.golem_account else ""
        commands.append(
            provider(
                ctx,
                f"ya-provider config set --node-name {q(ctx.name)} --subnet "
                f"{q(s.golem_subnet)}{account} {networks(ctx)}",
            )
        )
        what += [f"{k} {(config or {}).get(k)} → {v}" for k, v in differs.items()]
    profiles = provider_json(ctx, "ya-provider profile list", "ya-provider profile list")
    have = (profiles or {}).get("default") or {}
    limits = {
        "cpu_threads": ("--cpu-threads", s.golem_cores),
        "mem_gib": ("--mem-gib", s.golem_memory_gib),
        "storage_gib": ("--storage-gib", s.golem_disk_gib),
    }
    changed = {
        flag: value
        for key, (flag, value) in limits.items()
        if value is not None and abs(float(have.get(key) or 0) - value) > 1e-6
    }
    if changed:
        args = " ".join(f"{flag} {value:g}" for flag, value in changed.items())
        commands.append(provider(ctx, f"ya-provider profile update --name default {args}"))
        what += [f"{flag[2:]} → {value:g}" for flag, value in changed.items()]
    if not commands:
        return None
    return Change(f"set {', '.join(what)}", tuple(commands))


def run_all(ctx: NodeContext, change: Change) -> None:
    for command in change.commands:
        out = ctx.run(command, check=False)
        if out.exit != 0:
            raise StepFailed(f"{(out.stderr or out.stdout).strip()[-200:]} (exit {out.exit})")


# ---------------------------------------------------------------- presets


def price_args(p) -> str:
    return " ".join(
        (
            f"CPU={p.cpu_per_hour / 3600!r}",
            f"Duration={p.env_per_hour / 3600!r}",
            q(f"Init price={p.start_fee!r}"),
        )
    )


def same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 + 1e-9 * abs(b)


def presets_check(ctx: NodeContext) -> Change | None:
    presets = provider_json(ctx, "ya-provider --json preset list", "ya-provider preset list")
    active = provider_json(ctx, "ya-provider --json preset active", "ya-provider preset active")
    have = {str(p["name"]): p for p in presets or [] if isinstance(p, dict) and "name" in p}
    want = ctx.settings.golem_presets
    commands, what = [], []
    for runtime, price in sorted(want.items()):
        p = have.get(runtime)
        if p is None:
            commands.append(
                f"ya-provider preset create --no-interactive --preset-name {q(runtime)} "
                f"--exe-unit {q(runtime)} --pricing linear --price {price_args(price)}"
            )
            what.append(f"create preset {runtime}")
            continue
        coeffs = p.get("usage-coeffs") or {}
        now = (
            float(coeffs.get("golem.usage.cpu_sec", 0)) * 3600,
            float(coeffs.get("golem.usage.duration_sec", 0)) * 3600,
            float(p.get("initial-price") or 0),
        )
        target = (price.cpu_per_hour, price.env_per_hour, price.start_fee)
        if p.get("exeunit-name") != runtime or not all(map(same, now, target)):
            commands.append(
                f"ya-provider preset update --no-interactive --name {q(runtime)} --exe-unit "
                f"{q(runtime)} --pricing linear --price {price_args(price)}"
            )
            old = f"{now[0]:g}/{now[1]:g}/{now[2]:g}"
            what.append(f"{runtime} {old} → {target[0]:g}/{target[1]:g}/{target[2]:g} GLM")
    # a runtime without a preset of its own name makes golemsp run reset every price
    for runtime in sorted(set(runtimes(ctx)) - set(want) - set(have)):
        commands.append(
            f"ya-provider preset create --no-interactive --preset-name {q(runtime)} "
            f"--exe-unit {q(runtime)} --pricing linear --price CPU=0.0 Duration=0.0"
        )
        what.append(f"create preset {runtime} (inactive: golemsp would reset prices)")
    active = set(active or [])
    for name in sorted(set(want) - active):
        commands.append(f"ya-provider preset activate {q(name)}")
        what.append(f"activate {name}")
    for name in sorted(active - set(want)):
        commands.append(f"ya-provider preset deactivate {q(name)}")
        what.append(f"deactivate {name}")
    if not commands:
        return None
    return Change("; ".join(what), tuple(provider(ctx, c) for c in commands))


# ---------------------------------------------------------------- service


def unit_dir(ctx: NodeContext) -> str:
    """Where systemd keeps the administrator's unit files on this node."""
    out = ctx.run("systemctl show -p UnitPath --value", quiet=True, check=False)
    for path in out.stdout.split():
        if path.endswith("/etc/systemd/system"):
            return path
    return "/etc/systemd/system"


def paths(ctx: NodeContext) -> tuple[str, str]:
    """(the unit file, the secrets file beside /etc's other configuration)."""
    if "golem_paths" not in ctx.facts:
        units = unit_dir(ctx)
        etc = units.removesuffix("/systemd/system")
        ctx.facts["golem_paths"] = (f"{units}/{UNIT}.service", f"{etc}/golemsp/secrets.env")
    return ctx.facts["golem_paths"]


def home(ctx: NodeContext) -> str:
    """The provider user's home (its installer's ~/.local), as sudo -H gives it."""
    user = q(ctx.settings.golem_user)
    out = ctx.run(f"sudo -n -u {user} -H sh -c 'echo \"$HOME\"'", quiet=True, check=False)
    return out.stdout.strip() if out.exit == 0 else f"/home/{ctx.settings.golem_user}"


def unit_text(ctx: NodeContext, secrets: str) -> str:
    s = ctx.settings
    where = ctx.facts.get("golem_home") or home(ctx)
    ctx.facts["golem_home"] = where
    env = {
        "HOME": where,
        "PATH": f"{where}/.local/bin:/usr/local/bin:/usr/bin:/bin",
        "NODE_NAME": ctx.name,
        "SUBNET": s.golem_subnet,  # said again at each start: never back to public
        "YA_PAYMENT_NETWORK_GROUP": s.golem_payment_network,
        "YA_CONSENT_STATS": s.golem_consent_stats,
    }
    if s.golem_account:
        env["YA_ACCOUNT"] = s.golem_account
    gpu = "LimitMEMLOCK=infinity\n" if "vm-nvidia" in s.golem_presets else ""
    return (
        f"# written by fleetdeck for {ctx.name}: the next deploy replaces any edit\n"
        "[Unit]\nDescription=Golem provider (golemsp)\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        f"[Service]\nType=simple\nUser={s.golem_user}\nGroup={s.golem_user}\n"
        + "".join(f"Environment={k}={v}\n" for k, v in env.items())
        + f"EnvironmentFile=-{secrets}\n"
        f"ExecStart={where}/.local/bin/golemsp run --no-interactive\n"
        f"Restart=always\nRestartSec=5\nLimitNOFILE=65535\n{gpu}\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def secrets_text(ctx: NodeContext) -> str:
    """yagna's secrets as KEY="VALUE" lines, quoted as systemd reads an EnvironmentFile
    (root's alone); '' for none."""
    lines = []
    for key, env in SECRETS.items():
        if key not in ctx.profile.secrets:
            continue
        value = ctx.secret(key)
        if "\n" in value or "\r" in value:
            raise StepRefused(f"the secret {key} holds a line break: an environment value cannot")
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{env}="{quoted}"\n')
    return "".join(lines)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def secrets_digest(ctx: NodeContext, secrets: str) -> str:
    """The sha256 of the secrets file on the node ('' where there is none): compared, never
    read back."""
    out = ctx.run(f"{ctx.sudo}sha256sum {q(secrets)}", quiet=True, check=False)
    return out.stdout[:64] if out.exit == 0 else ""


def service_commands(ctx: NodeContext) -> tuple[str, ...]:
    unit, secrets = paths(ctx)
    folder = q(secrets.rsplit("/", 1)[0])
    return (
        f"{ctx.sudo}tee {q(unit)} >/dev/null",
        f"{ctx.sudo}install -d -m 700 {folder} && (umask 077 && {ctx.sudo}tee {q(secrets)} "
        ">/dev/null)",
        f"{ctx.sudo}systemctl daemon-reload",
        f"{ctx.sudo}systemctl enable {UNIT}",
        f"{ctx.sudo}systemctl restart {UNIT}",
    )


def service_check(ctx: NodeContext) -> Change | None:
    unit, secrets = paths(ctx)
    want = unit_text(ctx, secrets)
    have = ctx.read(unit)
    facts = systemd.unit_facts(ctx, UNIT, f"{q(unit)} {q(secrets)}")
    why = []
    if have is None or have[1] != want:
        why.append(f"write {unit}")
    secret, written = secrets_text(ctx), secrets_digest(ctx, secrets)
    if (written or digest("")) != digest(secret) and (secret or written):
        why.append(f"write {secrets} (yagna's secrets, root's alone)")
    if not why:
        problem = systemd.runs_stale(facts) or systemd.not_running(facts)
        why += [problem] if problem else []
    if not why:
        return None
    same = have is not None and have[1] == want
    diff = "" if same else file_diff(have[1] if have else None, want, unit)
    return Change(
        f"{'; '.join(why)}; restart {UNIT}",
        service_commands(ctx),
        diff=diff,
        payload=(want, secret),
    )


def service_apply(ctx: NodeContext, change: Change) -> None:
    unit, secrets = paths(ctx)
    text, secret = change.payload or (unit_text(ctx, secrets), secrets_text(ctx))
    write_unit, write_secrets, *rest = change.commands
    ctx.run(write_unit, stdin=text, quiet=True)
    ctx.run(write_secrets, stdin=secret, quiet=True)  # on stdin: never in argv
    for command in rest:
        ctx.run(command)


# ---------------------------------------------------------------- ready


# asked on the node as the provider's user: its app-key never leaves the node
READY = (
    "import json,subprocess,sys,time,urllib.request,urllib.error\n"
    "end=time.time()+float(sys.argv[1]); seen={}\n"
    "def get(path,key):\n"
    "    req=urllib.request.Request('http://127.0.0.1:7465'+path,"
    "headers={'Authorization':'Bearer '+key})\n"
    "    try:\n"
    "        r=urllib.request.urlopen(req,timeout=5); return r.status,json.loads(r.read())\n"
    "    except urllib.error.HTTPError as e:\n"
    "        return e.code,e.read().decode(errors='replace')[:300]\n"
    "    except Exception as e:\n"
    "        return 0,str(e)\n"
    "while True:\n"
    "    try:\n"
    "        keys=json.loads(subprocess.run(['yagna','--json','app-key','list'],"
    "capture_output=True,text=True,timeout=20).stdout or '[]')\n"
    "    except Exception as e:\n"
    "        keys=[]; seen['keys']=str(e)\n"
    "    key=next((k['key'] for k in keys if k.get('name')=='golem-cli'),None)\n"
    "    if key:\n"
    "        seen={'me':get('/me',key),'health':get('/healthcheck',key),"
    "'offers':get('/market-api/v1/offers',key)}\n"
    "        o=seen['offers']\n"
    "        if seen['health'][0]==200 and o[0]==200 and o[1]: break\n"
    "    if time.time()>end: break\n"
    "    time.sleep(1)\n"
    "print(json.dumps(seen))\n"
)


def ready_check(ctx: NodeContext) -> Change | None:
    wait = 0 if ctx.read_only else READY_WAIT_S
    out = ctx.run(provider(ctx, f"python3 -c {q(READY)} {wait}"), quiet=True, check=False)
    try:
        seen = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise StepFailed(f"no answer from yagna's REST API: {out.stderr.strip()[-200:]}") from None
    if "me" not in seen:
        raise StepFailed(f"yagna has no golem-cli app-key yet (is {UNIT} running?) {seen}")
    problems = []
    me, health, offers = seen["me"], seen["health"], seen["offers"]
    if me[0] != 200:
        problems.append(f"/me answers {me[0]}: {me[1]}")
    if health[0] != 200:
        problems.append(f"/healthcheck answers {health[0]}: {json.dumps(health[1])[:200]}")
    listed = offers[1] if offers[0] == 200 and isinstance(offers[1], list) else []
    runtimes_offered = sorted(
        {str((o.get("properties") or {}).get("golem.runtime.name")) for o in listed}
    )
    missing = sorted(set(ctx.settings.golem_presets) - set(runtimes_offered))
    if not listed:
        problems.append("no offers subscribed (ya-provider --json preset active)")
    elif missing:
        problems.append(f"no offer for {', '.join(missing)} (its runtime's test may fail)")
    subnets = {(o.get("properties") or {}).get("golem.node.debug.subnet") for o in listed}
    if listed and subnets != {ctx.settings.golem_subnet}:
        problems.append(
            f"offers in subnet {', '.join(map(str, subnets))}, not {ctx.settings.golem_subnet}"
        )
    if problems:
        raise StepFailed("; ".join(problems))
    identity = me[1].get("identity") if isinstance(me[1], dict) else "?"
    note(ctx, f"provider {identity} ready: {len(listed)} offers ({', '.join(runtimes_offered)})")
    return None


# ---------------------------------------------------------------- the action


def foreseen(summary: str):
    """What a step will do once an earlier one (the install) has run: its own check cannot
    ask a tool that is not there yet."""

    def foresee(ctx: NodeContext, because: list[str]) -> Change:
        return Change(f"{summary} (once {', '.join(because)} ran)")

    return foresee


def service_foresee(ctx: NodeContext, because: list[str]) -> Change:
    unit, secrets = paths(ctx)
    have = ctx.read(unit)
    want = unit_text(ctx, secrets)
    return Change(
        f"write {unit} and {secrets}; restart {UNIT}",
        service_commands(ctx),
        diff=file_diff(have[1] if have else None, want, unit),
        payload=(want, secrets_text(ctx)),
    )


def serves_model(ctx: NodeContext) -> bool:
    return bool(ctx.node.model or ctx.node.models)


def ollama_steps() -> tuple[Step, ...]:
    """Ollama's deploy steps, for a provider that serves a model through a host Ollama."""
    out = []
    for step in ollama.deploy_action().steps:
        if step.name == "provider":
            continue
        out.append(
            dataclasses.replace(
                step,
                name=f"ollama-{step.name}",
                title=f"Ollama: {step.title}",
                when=serves_model,
                after=tuple(f"ollama-{a}" for a in step.after),
            )
        )
    return tuple(out)


def deploy_action() -> Action:
    return Action(
        name="deploy",
        stacks=("golem",),
        description="deploy Golem providers: the provider's user, the pinned installer, "
        "ya-provider's settings and presets, golemsp under systemd, readiness (and the host "
        "Ollama of a provider that serves a model)",
        destructive=True,
        steps=(
            *ollama_steps(),
            Step("user", "the provider's user", user_check, user_apply, retries=0),
            Step("install", "Golem installed", install_check, install_apply, retries=1),
            RUNTIMES,
            Step(
                "settings",
                "node name, subnet, resources",
                settings_check,
                run_all,
                after=("install",),
                foresee=foreseen("set the node name, subnet and resources the profile gives"),
                retries=1,
            ),
            Step(
                "presets",
                "presets and prices",
                presets_check,
                run_all,
                after=("install",),
                foresee=foreseen(
                    "write and activate a preset per runtime, at the profile's prices"
                ),
                retries=1,
            ),
            Step(
                "service",
                "golemsp service",
                service_check,
                service_apply,
                after=("user", "install"),
                foresee=service_foresee,
                retries=1,
            ),
            Step("ready", "offers subscribed, health ok", ready_check, retries=1, backoff=2.0),
        ),
    )


RUNTIMES = Step("runtimes", "runtimes ready to offer", runtimes_check, retries=0)

# golem's action side: its deploy, and the runtimes' host needs checked by preflight too
ACTIONS = StackActions(deploy=deploy_action, preflight=(RUNTIMES,))
