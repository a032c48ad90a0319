"""Fake `golemsp`, `ya-provider` and `yagna` for simulated nodes: the commands a provider's
operator (and fleetdeck's deploy) runs, with their real output and JSON shapes
(reference/golem-provider.md §2–§5), reading and writing the files the real ones keep
under ~/.local/share (console/sim/golem.py). `golemsp run` itself is the unit's: the
simulator does what it does when systemd starts the unit.

The first argument names the tool (the shims in the node's ~/.local/bin pass it)."""

from __future__ import annotations

import json
import re
import socket
import sys

from console.sim.golem import NETWORKS, GolemHost, coeffs
from console.sim.tools import option as flag
from console.sim.tools import sim_dir
from console.sim.tools.systemctl import ask

GOLEMSP_VERSION = "0.3.0"
SIZE = re.compile(r"^([\d.]+)\s*(GiB|GB|MiB|MB|TiB|TB)?$", re.I)
GIB = {"gib": 1.0, "gb": 1e9 / 2**30, "mib": 1 / 1024, "mb": 1e6 / 2**30, "tib": 1024.0}
GIB["tb"] = 1e12 / 2**30


def host() -> GolemHost:
    return GolemHost(sim_dir().parent)


def env() -> dict[str, str]:
    import os  # noqa: PLC0415

    return dict(os.environ)


def fail(text: str, code: int = 1) -> int:
    print(f"Error: {text}", file=sys.stderr)
    return code


def running() -> bool:
    """As golemsp: a TCP connect to yagna's REST port."""
    try:
        socket.create_connection(("127.0.0.1", 7465), timeout=2).close()
        return True
    except OSError:
        return False


def flags(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name and i + 1 < len(args)]


def prices(args: list[str]) -> list[tuple[str, str]] | str:
    """--price K=V [K=V …] (several pairs after one flag, or the flag repeated)."""
    out, taking = [], False
    for a in args:
        if a == "--price":
            taking = True
            continue
        if taking and not a.startswith("--") and "=" in a:
            key, _, value = a.partition("=")
            out.append((key, value))
            continue
        taking = False
    return out


def coefficient(key: str) -> str | None:
    k = key.strip().lower()
    if k in ("initial", "init price"):
        return "initial"
    if k in ("cpu", "golem.usage.cpu_sec"):
        return "golem.usage.cpu_sec"
    if k in ("duration", "golem.usage.duration_sec"):
        return "golem.usage.duration_sec"
    return None


# ---------------------------------------------------------------- ya-provider


def preset_block(p: dict) -> str:
    lines = [f"{'Name:':20}{p['name']}", f"{'ExeUnit:':20}{p['exeunit-name']}"]
    lines += [f"{'Pricing model:':20}{p.get('pricing-model', 'linear')}", "Coefficients:"]
    names = {"golem.usage.cpu_sec": "CPU", "golem.usage.duration_sec": "Duration"}
    for k, v in sorted(p["usage-coeffs"].items()):
        lines.append(f"    {names.get(k, k):16}{v} GLM")
    return "\n".join(lines)


def apply_prices(p: dict, pairs: list[tuple[str, str]]) -> str | None:
    for key, value in pairs:
        which = coefficient(key)
        if which is None:
            return f"invalid coefficient name = {key}"
        if which == "initial":
            p["initial-price"] = float(value)
        else:
            p["usage-coeffs"][which] = float(value)
    p["usage-coeffs"] = dict(sorted(p["usage-coeffs"].items()))
    return None


def preset(h: GolemHost, args: list[str], as_json: bool) -> int:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    doc = h.presets()
    by_name = {p["name"]: p for p in doc["presets"]}
    if verb == "list":
        if as_json:
            print(json.dumps(sorted(doc["presets"], key=lambda p: p["name"]), indent=2))
        else:
            print("Available Presets:\n")
            print("\n\n".join(preset_block(p) for p in doc["presets"]))
        return 0
    if verb == "active":
        print(json.dumps(doc["active"]) if as_json else "\n".join(doc["active"]))
        return 0
    if as_json and verb in ("create", "update"):
        return fail("json output not implemented")
    units = {u["name"] for u in h.exe_units()}
    if verb == "create":
        name, unit = flag(rest, "--preset-name"), flag(rest, "--exe-unit")
        if not name or not unit:
            return fail("--preset-name and --exe-unit are needed with --no-interactive")
        if name in by_name:
            return fail(f"Preset name [{name}] already exists.")
        if unit not in units:
            return fail(f"ExeUnit [{unit}] doesn't exist in registry.")
        new = {"name": name, "exeunit-name": unit, "pricing-model": "linear"}
        new |= {"initial-price": 0.0, "usage-coeffs": coeffs(0.0, 0.0)}
        problem = apply_prices(new, prices(rest))
        if problem:
            return fail(problem)
        doc["presets"] = sorted([*doc["presets"], new], key=lambda p: p["name"])
        h.write("presets.json", doc)
        print("\nPreset created:\n" + preset_block(new))
        return 0
    if verb == "update":
        names = list(by_name) if "--all" in rest else flags(rest, "--name")
        for name in names:
            if name not in by_name:
                return fail(f"Preset [{name}] doesn't exists.")
            p = by_name[name]
            unit = flag(rest, "--exe-unit")
            if unit:
                if unit not in units:
                    return fail(f"ExeUnit [{unit}] doesn't exist in registry.")
                p["exeunit-name"] = unit
            problem = apply_prices(p, prices(rest))
            if problem:
                return fail(problem)
        h.write("presets.json", doc)
        print("\nPresets updated")
        return 0
    if verb in ("activate", "deactivate", "remove") and rest:
        name = rest[0]
        if name not in by_name:
            return fail(f'Unknown preset: "{name}"')
        if verb == "activate" and name not in doc["active"]:
            doc["active"] = sorted([*doc["active"], name])
        elif verb == "deactivate":
            if name not in doc["active"]:
                return fail(f'Preset not active: "{name}"')
            doc["active"].remove(name)
        elif verb == "remove":
            doc["active"] = [a for a in doc["active"] if a != name]
            doc["presets"] = [p for p in doc["presets"] if p["name"] != name]
        h.write("presets.json", doc)
        return 0
    return fail(f"unknown preset command {verb!r}", 2)


def profile(h: GolemHost, args: list[str]) -> int:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    doc = h.read("hardware.json") or {"active": "default", "profiles": {}}
    if verb == "list":
        print(json.dumps(doc["profiles"]))  # always JSON
        return 0
    if verb == "active":
        print(json.dumps(doc["active"]))
        return 0
    if verb == "update":
        names = list(doc["profiles"]) if "--all" in rest else flags(rest, "--name")
        changes = {
            "cpu_threads": flag(rest, "--cpu-threads"),
            "mem_gib": flag(rest, "--mem-gib"),
            "storage_gib": flag(rest, "--storage-gib"),
        }
        if not any(changes.values()):
            return fail("at least one of --cpu-threads, --mem-gib, --storage-gib is required")
        for name in names:
            if name not in doc["profiles"]:
                return fail(f"unknown name: '{name}'")
            for key, value in changes.items():
                if value is not None:
                    doc["profiles"][name][key] = (
                        int(value) if key == "cpu_threads" else float(value)
                    )
        h.write("hardware.json", doc)
        return 0
    return fail(f"unknown profile command {verb!r}", 2)


def config(h: GolemHost, args: list[str], as_json: bool) -> int:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "get":
        g = h.globals()
        if rest:
            value = g.get(rest[0])
            print(json.dumps({rest[0]: value}) if as_json else value)
        elif as_json:
            print(json.dumps(g))
        else:
            print(f"Node name: {g['node_name']}\nSubnet: {g['subnet']}\nAccount: {g['account']}")
        return 0
    if verb == "set":
        node_name, subnet = flag(rest, "--node-name"), flag(rest, "--subnet")
        h.set_globals(node_name, subnet, flag(rest, "--account"), env())
        return 0
    return fail(f"unknown config command {verb!r}", 2)


def ya_provider(args: list[str]) -> int:
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    if args[:1] == ["--version"]:
        print(f"ya-provider {(host().installed() or {}).get('core', '?')}")
        return 0
    h = host()
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "preset":
        return preset(h, rest, as_json)
    if verb == "profile":
        return profile(h, rest)
    if verb == "config":
        return config(h, rest, as_json)
    if verb == "exe-unit" and rest[:1] == ["list"]:
        units = h.exe_units()
        if as_json:
            print(json.dumps(units, indent=2))
        else:
            print("\n".join(f"{u['name']:20}{u.get('description', '')}" for u in units))
        return 0
    if verb == "pre-install":
        h.pre_install()
        return 0
    if verb in ("rule", "whitelist"):
        return 0
    if verb == "clean":
        print(f"Using data dir: {h.provider_dir}\nFreed 0 B of disk space")
        return 0
    return fail(f"unrecognized subcommand {verb!r}", 2)


# ---------------------------------------------------------------- yagna


def yagna(args: list[str]) -> int:
    args = [a for a in args if a not in ("--json", "--quiet")]
    h = host()
    core = (h.installed() or {}).get("core", "?")
    if args[:1] == ["--version"]:
        print(f"yagna {core} (37060503 2025-10-04 build #296)")
        return 0
    words = [a for a in args if not a.startswith("-")]
    if words[:2] == ["id", "show"]:
        ok = {"alias": None, "nodeId": h.identity(), "isLocked": False, "isDefault": True}
        ok["deleted"] = False
        print(json.dumps({"Ok": ok}))
        return 0
    if words[:2] == ["app-key", "list"]:
        print(json.dumps(h.app_keys()))
        return 0
    if words[:2] == ["app-key", "create"] and len(words) > 2:
        print(h.add_app_key(words[2]))
        return 0
    if not running():
        return fail("Called service `/local/identity/Get` is unavailable")
    if words[:2] == ["net", "status"]:
        relay = "relay" not in h.faults()
        bw = {"outKiBps": 0.0, "outAvgKiBps": 0.0, "outMib": 0.1, "inKiBps": 0.0}
        bw |= {"inAvgKiBps": 0.0, "inMib": 0.2}
        doc = {"nodeId": h.identity(), "listenAddress": "udp://0.0.0.0:11500"}
        doc |= {"publicAddress": None, "sessions": 3 if relay else 0, "bandwidth": bw}
        print(json.dumps(doc))
        return 0
    if words[:2] == ["activity", "status"]:
        print(json.dumps({"last1h": {}, "total": {}, "lastActivityTs": None}))
        return 0
    if words[:3] == ["payment", "driver", "status"]:
        print(json.dumps(h.driver_problems()))
        return 0
    if words[:2] == ["version", "show"]:
        current = {"version": core, "name": f"v{core}", "seen": False}
        print(json.dumps({"current": current, "pending": None}))
        return 0
    if words[:1] == ["consent"]:
        return 0
    return fail(f"unrecognized subcommand {' '.join(words[:2])!r}", 2)


# ---------------------------------------------------------------- golemsp


def settings_set(h: GolemHost, args: list[str]) -> int:
    """Each flag as golemsp turns it into ya-provider calls (command/provider.rs)."""
    e = env()
    group = flag(args, "--payment-network") or e.get("YA_PAYMENT_NETWORK_GROUP", "mainnet")
    if group not in NETWORKS:
        return fail(f"invalid value '{group}' for '--payment-network <network>'", 2)
    node_name, account = flag(args, "--node-name"), flag(args, "--account")
    if node_name is not None or account is not None:
        h.set_globals(node_name, None, account, e)  # no --subnet: trap 2
    hw = {"--cores": "cpu_threads", "--memory": "mem_gib", "--disk": "storage_gib"}
    doc = h.read("hardware.json")
    for name, key in hw.items():
        value = flag(args, name)
        if value is None:
            continue
        if key == "cpu_threads":
            doc["profiles"]["default"][key] = int(value)
            continue
        m = SIZE.match(value.strip())
        if not m:
            return fail(f'invalid size {value!r} (like "1.5GiB")', 2)
        doc["profiles"]["default"][key] = float(m.group(1)) * GIB[(m.group(2) or "gib").lower()]
    h.write("hardware.json", doc)
    fee, env_h, cpu_h = (
        flag(args, f) for f in ("--starting-fee", "--env-per-hour", "--cpu-per-hour")
    )
    if any(v is not None for v in (fee, env_h, cpu_h)):
        presets = h.presets()
        for p in presets["presets"]:
            if p["name"] not in ("wasmtime", "vm"):  # only the classic ones
                continue
            if cpu_h is not None:
                p["usage-coeffs"]["golem.usage.cpu_sec"] = float(cpu_h) / 3600
            if env_h is not None:
                p["usage-coeffs"]["golem.usage.duration_sec"] = float(env_h) / 3600
            if fee is not None:
                p["initial-price"] = float(fee)
        h.write("presets.json", presets)
    return 0


def settings_show(h: GolemHost) -> int:
    g, hw, doc = h.globals(), h.read("hardware.json"), h.presets()
    if not doc["presets"]:
        return fail("No preset defined")
    p = hw["profiles"][hw["active"]]
    out = [f"node name: {json.dumps(g.get('node_name'))}", "Shared resources:"]
    out += [f"\tcores:\t{p['cpu_threads']}", f"\tmemory:\t{p['mem_gib']} GiB"]
    out += [f"\tdisk:\t{p['storage_gib']} GiB"]
    words = {
        "golem.usage.cpu_sec": (3600, "GLM per cpu hour"),
        "golem.usage.duration_sec": (3600, "GLM per hour"),
        "initial": (1, "GLM for start"),
    }
    for preset_ in sorted(doc["presets"], key=lambda x: x["name"]):
        if preset_["name"] not in doc["active"]:
            continue
        out.append(f'\n\nPricing for preset "{preset_["name"]}":\n')
        values = dict(preset_["usage-coeffs"]) | {"initial": preset_["initial-price"]}
        for key in sorted(values):
            times, desc = words.get(key, (1, key))
            out.append(f"\t{values[key] * times:.18f} {desc}")
    print("\n".join(out))
    return 0


def box(rows: list[list[str]], width: int = 46) -> str:
    """Stacked boxes, as golemsp draws them on a terminal of 120 columns or fewer."""
    line = "─" * (width + 2)
    out = [f"┌{line}┐"]
    for i, part in enumerate(rows):
        if i:
            out.append(f"├{line}┤")
        out += [f"│  {text:<{width}}│" for text in part]
    out.append(f"└{line}┘")
    return "\n".join(out)


def status(h: GolemHost) -> int:
    g, core = h.globals(), (h.installed() or {}).get("core", "?")
    up = running()
    vm = "valid" if h.kvm_ok() else "no access"
    state = [
        "Status",
        "",
        f"{'Service':<11}{'is running' if up else 'is not running'}",
        f"{'Version':<11}{core}",
        f"{'Commit':<11}37060503",
        f"{'Date':<11}2025-10-04",
        f"{'Build':<11}296",
        "",
        f"{'Node Name':<11}{g.get('node_name')}",
        f"{'Subnet':<11}{g.get('subnet')}",
        f"{'VM':<11}{vm}",
    ]
    if not up:
        print(box([state]))
        return 0
    offers = read_offers(h)
    if not offers:
        return fail("Provider is not functioning properly. No offers Subscribed.")
    problems = h.driver_problems()
    state += ["", f"{'Driver':<11}{'Ok' if not problems else f'{len(problems)} Issue'}"]
    state += [f"{p['network']:<11}RPC Error" for p in problems]
    address = next((v for k, v in offers[-1]["properties"].items() if k.endswith(".address")), None)
    nets = {
        k.split(".")[4].split("-")[1] for k in offers[-1]["properties"] if k.endswith(".address")
    }
    network = "mainnet" if "polygon" in nets else "testnet"
    token = "GLM" if network == "mainnet" else "tGLM"
    wallet = ["Wallet", str(address), "", f"{'network':<22}{network}"]
    wallet += [f"{'amount (total)':<22}0 {token}"]
    wallet += [
        f"    {'(on-chain)' if n == 'mainnet' else f'({n})':<18}0 {token}" for n in sorted(nets)
    ]
    wallet += ["", f"{'pending':<22}0 {token} (0)", f"{'issued':<22}0 {token} (0)"]
    tasks = ["Tasks", "", f"{'last 1h processed':<22}0", f"{'last 1h in progress':<22}0"]
    tasks += [f"{'total processed':<22}0", "(including failures)"]
    print(box([state, wallet, tasks]))
    if not h.kvm_ok():
        print(f"\n VM problem: {h.vm_problem()}")
    if problems:
        print("\n Payment Driver issues detected, run yagna payment status for details")
    return 0


def read_offers(h: GolemHost) -> list[dict]:
    """The provider's own offers, from yagna's REST API with golemsp's app-key."""
    import urllib.request  # noqa: PLC0415

    key = next((k["key"] for k in h.app_keys() if k["name"] == "golem-cli"), None)
    if key is None:
        return []
    req = urllib.request.Request(
        "http://127.0.0.1:7465/market-api/v1/offers", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - the node's yagna
            return json.loads(r.read())
    except (OSError, ValueError):
        return []


def golemsp(args: list[str]) -> int:
    h = host()
    if args[:1] in (["--version"], ["-V"]):
        print(f"golemsp {GOLEMSP_VERSION}")
        return 0
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "status":
        return status(h)
    if verb == "settings" and rest[:1] == ["set"]:
        return settings_set(h, rest[1:])
    if verb == "settings" and rest[:1] == ["show"]:
        return settings_show(h)
    if verb == "setup":
        # with --no-interactive and force: always a new random name (trap 3)
        g = h.globals()
        g["node_name"] = h.random_name()
        print(f"Node name (default={g['node_name']})", file=sys.stderr)
        h.write("globals.json", g)
        if not h.presets_for_every_runtime():
            h.reset_presets()
        return 0
    if verb == "manifest-bundle":
        return 0
    if verb in ("run", "stop"):
        unit = ask("GET", "/units/golemsp")[0] == 200
        return fail(
            f"`golemsp {verb}` runs from its systemd unit on the simulator"
            + ("" if unit else " (none is installed)")
        )
    return yagna(["--quiet", *args])  # anything else goes to yagna, as the real one does


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    tool, rest = args[0], args[1:]
    return {"golemsp": golemsp, "ya-provider": ya_provider, "yagna": yagna}[tool](rest)


if __name__ == "__main__":
    sys.exit(main())
